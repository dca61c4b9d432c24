"""Checks that stand on their own, read from the services' databases after a faulty run:

- duplicated effects, counted from the effects themselves by business key: every event a service
  emitted is a row of its outbox (a relay that publishes a row twice adds no row), so two rows of
  one business effect (one grant per project, one payment per tranche, one incentive per person,
  review and kind, one grade per project and year, ...) mean the effect was made twice, whatever
  ids the two copies carry (ids are derived from their cause: a cause handled twice looks like
  one event published twice on the topics);
- order of application: each service numbers what it applies (inbox.applied_seq, in the
  transaction that applies it); per partition the numbers must follow the offsets. Two consumers
  applying one partition at once (a zombie after a rebalance), or one applying out of order,
  break it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

ONE_EFFECT_PER: dict[str, tuple[str, ...]] = {
    "OrderPublished": ("order_id",),
    "OrderAwarded": ("order_id",),
    "TeamAccepted": ("order_id",),
    "MemberChangeApproved": ("change_id",),
    "ProjectEndedEarly": ("order_id",),
    "GrantOpened": ("order_id",),
    "FundingReleased": ("grant_id", "tranche"),
    "ReleasePaid": ("release_id",),
    "FundingWithheld": ("grant_id", "review_id"),
    "IncentiveGranted": ("expert_id", "review_id", "kind"),
    "TeamSuspended": ("team_id", "review_id"),
    "RectificationRequired": ("review_id",),
    "ProjectEnded": ("order_id",),
    "GrantSettled": ("grant_id",),
    "ServiceActivityRecorded": ("activity_id",),
    "ReviewCompleted": ("order_id", "year"),
}
"""The business key of each effect that is made once: two outbox rows with one key are a duplicate."""


@dataclass
class ServiceFindings:
    """What the checks found in the services' databases (all lists empty after a correct run)."""

    duplicated_effects: list[str] = field(default_factory=list)
    applied_out_of_order: list[str] = field(default_factory=list)
    effects_counted: int = 0
    applications_checked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "duplicated_effects": len(self.duplicated_effects),
            "applied_out_of_order": len(self.applied_out_of_order),
            "effects_counted": self.effects_counted,
            "applications_checked": self.applications_checked,
            "examples": (self.duplicated_effects + self.applied_out_of_order)[:5],
        }


async def check_services(database_url: Callable[[str], str], services: Sequence[str]) -> ServiceFindings:
    findings = ServiceFindings()
    for service in services:
        conn = await asyncpg.connect(database_url(service))
        try:
            await _duplicated_effects(conn, service, findings)
            await _applied_out_of_order(conn, service, findings)
        finally:
            await conn.close()
    return findings


async def _duplicated_effects(conn: asyncpg.Connection[Any], service: str, findings: ServiceFindings) -> None:
    rows = await conn.fetch(
        "SELECT event_type, value FROM outbox WHERE event_type = ANY($1::text[])", list(ONE_EFFECT_PER)
    )
    keys: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for row in rows:
        data = json.loads(row["value"])["data"]
        event_type = row["event_type"]
        keys[(event_type, tuple(str(data.get(name)) for name in ONE_EFFECT_PER[event_type]))] += 1
    findings.effects_counted += len(rows)
    for (event_type, key), count in sorted(keys.items()):
        if count > 1:
            findings.duplicated_effects.append(f"{service}: {event_type} {'/'.join(key)} made {count} times")


async def _applied_out_of_order(conn: asyncpg.Connection[Any], service: str, findings: ServiceFindings) -> None:
    rows = await conn.fetch(
        "SELECT topic, kafka_partition, kafka_offset, applied_seq, event_type, subject FROM inbox "
        "ORDER BY topic, kafka_partition, applied_seq"
    )
    last: dict[tuple[str, int], int] = defaultdict(lambda: -1)
    findings.applications_checked += len(rows)
    for row in rows:
        partition = (row["topic"], row["kafka_partition"])
        if row["kafka_offset"] < last[partition]:
            findings.applied_out_of_order.append(
                f"{service}: {row['event_type']} {row['subject']} at {row['topic']}-{row['kafka_partition']}"
                f"@{row['kafka_offset']} applied after offset {last[partition]}"
            )
        last[partition] = max(last[partition], row["kafka_offset"])
