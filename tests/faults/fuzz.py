"""Hypothesis strategies for hostile input to every inbound topic: broken bytes, JSON that is
no CloudEvent, wrong attributes, unknown types, schema violations, huge fields, NUL characters,
forged sources, and well-formed events that break programme rules while carrying SQL- and
log-injection strings. Every one of them must end in its service's dead-letter topic."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

from shared.client import binary_headers, envelope_for
from shared.contract.envelope import new_envelope
from shared.contract.events.base import EventData
from shared.contract.events.funding import PaymentConfirmed, PaymentFailed
from shared.contract.events.matching import AwardOrder, WithdrawApplication
from shared.contract.events.orders import CancelOrder, DemandEndorsed, DemandReturned, WithdrawDemand
from shared.contract.events.reviews import CloseReviewCycle, CriterionScore, PanelScoreSubmitted, Reviewer
from shared.contract.registry import REGISTRY
from shared.topics import inbound

STRUCTURED = [("content-type", b"application/cloudevents+json")]
INJECTIONS = (
    "'; DROP TABLE orders; --",
    '" OR 1=1 --',
    '\n{"level": "critical", "event": "forged log line"}\r\n',
    "${jndi:ldap://127.0.0.1/x}",
    "<script>alert(1)</script>",
    "石柱县'); DELETE FROM inbox; --",
)
SENDERS = {
    "orders": "/counties/500240",
    "matching": "/portal/applications",
    "funding": "/treasury/cq-finance",
    "reviews": "/reviewers/panel",
}


@dataclass(frozen=True)
class Message:
    service: str
    kind: str
    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def topic(self) -> str:
        return inbound(self.service)


def _fuzz_id() -> str:
    return f"FUZZ{uuid.uuid4().hex[:12]}"


def _envelope_bytes(data: EventData, source: str) -> bytes:
    return envelope_for(data, source=source, time=datetime.now(UTC)).to_structured_json()


def _rule_breaker(service: str, text: str) -> EventData:
    """A well-formed event from an entitled sender about something that does not exist."""
    name = text[:100] or "x"
    fuzz = _fuzz_id()
    order_id = f"500240-{fuzz}"
    by_service: dict[str, list[EventData]] = {
        "orders": [
            DemandEndorsed(order_id=order_id, endorsed_by=name),
            DemandReturned(order_id=order_id, returned_by=name, reason=text or "x"),
            WithdrawDemand(order_id=order_id, withdrawn_by=name, reason=text or "x"),
        ],
        "matching": [WithdrawApplication(application_id=f"APP-{fuzz}", order_id=order_id, reason=text or "x")],
        "funding": [
            PaymentConfirmed(release_id=f"R-{fuzz}", amount_fen=1, payment_reference=name, paid_on=date(2026, 1, 1)),
            PaymentFailed(release_id=f"R-{fuzz}", reason=text or "x"),
        ],
        "reviews": [
            PanelScoreSubmitted(
                cycle_id=fuzz,
                order_id=order_id,
                reviewer=Reviewer(reviewer_id="REV-FUZZ", name=name, institution=name),
                scores=(CriterionScore(criterion="outcomes_achieved", score=50),),
            )
        ],
    }
    return by_service[service][len(text) % len(by_service[service])]


def _forged(service: str) -> tuple[EventData, str]:
    """A well-formed event from a sender that may not send it."""
    fuzz = _fuzz_id()
    forged: dict[str, tuple[EventData, str]] = {
        "orders": (CancelOrder(order_id=f"500240-{fuzz}", cancelled_by="石柱县", reason="伪造"), "/counties/500240"),
        "matching": (AwardOrder(order_id=f"500240-{fuzz}", application_id=f"APP-{fuzz}", awarded_by="x"), "/portal/x"),
        "funding": (PaymentFailed(release_id=f"R-{fuzz}", reason="forged"), "/bureau/hrss"),
        "reviews": (CloseReviewCycle(cycle_id=fuzz, closed_by="x"), "/reviewers/panel"),
    }
    return forged[service]


def _types_of(service: str) -> list[str]:
    return [spec.type for spec in REGISTRY if spec.topic == inbound(service)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=4,
)


KINDS = (
    "garbage",
    "json_not_object",
    "ce_missing",
    "ce_bad_attribute",
    "unknown_type",
    "schema_violation",
    "huge_field",
    "nul",
    "forged_source",
    "rule_breaker",
    "binary_bad_specversion",
    "tombstone",
)


@st.composite
def hostile(draw: st.DrawFn, service: str, kind: str) -> Message:
    key = draw(st.one_of(st.none(), st.binary(max_size=16)))
    source = SENDERS[service]
    if kind == "garbage":
        value = b"\xff" + draw(st.binary(max_size=200))
        return Message(service, kind, value, key, STRUCTURED)
    if kind == "json_not_object":
        top = draw(json_values.filter(lambda v: not isinstance(v, dict)))
        return Message(service, kind, json.dumps(top).encode(), key, STRUCTURED)
    if kind == "tombstone":
        return Message(service, kind, None, b"500240-tombstone", STRUCTURED)
    event_type = draw(st.sampled_from(_types_of(service)))
    document: dict[str, Any] = {
        "specversion": "1.0",
        "id": _fuzz_id(),
        "source": source,
        "type": event_type,
        "time": datetime.now(UTC).isoformat(),
        "subject": "500240-FUZZ",
        "data": draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
    }
    if kind == "ce_missing":
        del document[draw(st.sampled_from(("id", "source", "type", "time", "subject", "specversion")))]
    elif kind == "ce_bad_attribute":
        attribute, bad = draw(
            st.sampled_from(
                (
                    ("specversion", "0.3"),
                    ("time", "yesterday"),
                    ("id", "x" * 300),
                    ("subject", ""),
                    ("specversion", 1),
                    ("source", ""),
                    ("id", 42),
                )
            )
        )
        document[attribute] = bad
    elif kind == "unknown_type":
        document["type"] = "Fuzz" + draw(
            st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij", min_size=1, max_size=12)
        )
    elif kind == "huge_field":
        document["data"] = {"order_id": "500240-FUZZ", "reason": "长" * draw(st.integers(5_000, 60_000))}
    elif kind == "nul":
        document["data"] = {"order_id": "500240-FUZZ", "reason": "a\x00b"}
    elif kind == "forged_source":
        data, forged_source = _forged(service)
        return Message(service, kind, _envelope_bytes(data, forged_source), data.subject().encode(), STRUCTURED)
    elif kind == "rule_breaker":
        data = _rule_breaker(service, draw(st.sampled_from(INJECTIONS)))
        return Message(service, kind, _envelope_bytes(data, source), data.subject().encode(), STRUCTURED)
    elif kind == "binary_bad_specversion":
        envelope = new_envelope(source=source, type=event_type, subject="500240-FUZZ", data={}, time=datetime.now(UTC))
        headers = [(n, b"2.0" if n == "ce_specversion" else v) for n, v in binary_headers(envelope)]
        return Message(service, kind, b"{}", key, headers)
    return Message(service, kind, json.dumps(document, ensure_ascii=False).encode(), key, STRUCTURED)


def hostile_batch(size: int) -> st.SearchStrategy[list[Message]]:
    """Every kind of hostile message for every service, in turn; hypothesis draws the details."""
    plan = [(service, kind) for kind in KINDS for service in sorted(SENDERS)]
    return st.tuples(*(hostile(*plan[i % len(plan)]) for i in range(size))).map(list)
