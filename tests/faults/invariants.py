"""What must hold after any fault, checked from the topics (every message, duplicates included)
and from the services' databases. Each check returns figures, not just a verdict."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tools.client import Observed, TopicObserver

BUSINESS_KEY = {
    "GrantOpened": "grant_id",
    "FundingReleased": "release_id",
    "ReleasePaid": "release_id",
    "FundingWithheld": "grant_id",
    "IncentiveGranted": "incentive_id",
    "IncentivesDecided": "review_id",
    "TeamAccepted": "order_id",
    "OrderAwarded": "order_id",
    "ReviewCompleted": "review_id",
    "TeamSuspended": "review_id",
}
"""One business effect, one event: two different event ids for one key is a duplicated effect."""

LIFECYCLE = {
    "orders.events": ("OrderSubmitted", "OrderEndorsed", "OrderPublished", "OrderAwarded"),
    "matching.events": ("ApplicationReceived", "TeamAccepted"),
    "reviews.events": ("OutcomeReportAccepted", "ReviewCompleted"),
}
"""Per order, the first appearance of these types on their topic must come in this order."""


@dataclass
class Findings:
    duplicated_effects: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    republished_copies: int = 0
    """Messages published more than once (at-least-once relay after a crash): allowed."""
    distinct_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "duplicated_effects": len(self.duplicated_effects),
            "out_of_order": len(self.out_of_order),
            "republished_copies": self.republished_copies,
            "distinct_events": self.distinct_events,
            "examples": (self.duplicated_effects + self.out_of_order)[:5],
        }


def check_topics(observer: TopicObserver, topic_prefix: str) -> Findings:
    findings = Findings(distinct_events=len(observer.distinct))
    findings.republished_copies = len(observer.seen) - len(observer.distinct)
    ids_per_effect: dict[tuple[str, str], set[str]] = defaultdict(set)
    for o in observer.seen:
        if o.envelope is None or o.type not in BUSINESS_KEY:
            continue
        key = str(o.data.get(BUSINESS_KEY[o.type]))
        ids_per_effect[(o.type, key)].add(o.envelope.id)
    for (event_type, key), ids in sorted(ids_per_effect.items()):
        if len(ids) > 1:
            findings.duplicated_effects.append(f"{event_type} {key}: {len(ids)} different events")
    for topic, lifecycle in LIFECYCLE.items():
        findings.out_of_order += _order_violations(observer.seen, f"{topic_prefix}{topic}", lifecycle)
    return findings


def _order_violations(seen: list[Observed], topic: str, lifecycle: tuple[str, ...]) -> list[str]:
    first: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for o in seen:
        if o.topic != topic or o.type not in lifecycle or o.subject is None:
            continue
        first[o.subject].setdefault(o.type, (o.partition, o.offset))
    problems = []
    for subject, positions in first.items():
        present = [t for t in lifecycle if t in positions]
        partitions = {positions[t][0] for t in present}
        if len(partitions) > 1:
            problems.append(f"{subject}: events of one order on several partitions of {topic}")
            continue
        offsets = [positions[t][1] for t in present]
        if offsets != sorted(offsets):
            problems.append(f"{subject}: {present} at offsets {offsets} on {topic}")
    return problems
