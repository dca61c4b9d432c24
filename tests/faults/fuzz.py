"""Hypothesis strategies for hostile input to every inbound topic: broken bytes, JSON that is
no CloudEvent, wrong attributes, unknown types, schema violations, huge fields, NUL characters,
forged sources, and well-formed events that break programme rules while carrying SQL- and
log-injection strings; and attacks on the transport and the structure: header names that are
not UTF-8, oversized or thousands of headers, lying binary-mode headers, JSON nested 100,000
deep or 100,000 wide, numbers of thousands of digits, duplicate names, odd encodings, values
near the broker's size limit. Every one of them must end in its service's dead-letter topic
with a reason its kind allows (`Message.expected`); `good_events` are the other senders' valid
events sent among them, every one of which must be applied."""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

from shared.contract.envelope import new_envelope
from shared.contract.events.base import EventData
from shared.contract.events.funding import PaymentConfirmed, PaymentFailed, SetBudgetEnvelope
from shared.contract.events.matching import AwardOrder, ExpertRegistered, WithdrawApplication
from shared.contract.events.orders import CancelOrder, DemandEndorsed, DemandReturned, DemandSubmitted, WithdrawDemand
from shared.contract.events.reviews import (
    CloseReviewCycle,
    CriterionScore,
    PanelScoreSubmitted,
    Reviewer,
)
from shared.contract.partners import principal_of
from shared.contract.registry import REGISTRY
from shared.contract.replays import REPLAY_HEADERS
from shared.contract.signing import SigningError
from shared.messaging.transport import header_name_is_text
from shared.topics import inbound, partner_inbound
from tests.hostile import RawName, nested_arrays, with_extra
from tests.signing import signed
from tools.client import binary_headers, envelope_for

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
    "reviews": "/reviewers/REV-FUZZ",  # the reviewer its rule breakers score as (a reviewer speaks for itself)
}


@dataclass(frozen=True)
class Message:
    service: str
    kind: str
    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes]]
    expected: frozenset[str] = frozenset()
    """The dead-letter reasons this kind of message may get (set from EXPECTED)."""

    @property
    def topic(self) -> str:
        """The service's inbound topic of the principal that writes the hostile input (its sender's)."""
        return partner_inbound(self.service, principal_of(SENDERS[self.service]))


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
        "reviews": (CloseReviewCycle(cycle_id=fuzz, closed_by="x"), SENDERS["reviews"]),
    }
    return forged[service]


def _types_of(service: str) -> list[str]:
    return [spec.type for spec in REGISTRY if spec.topic == inbound(service)]


def _text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=max_size)


json_values = st.recursive(  # within the contract's limits: the kinds built on it test other checks
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text(20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text(8), children, max_size=4),
    max_leaves=4,
)


NOT_OURS = frozenset({"unauthorized_source", "schema_violation"})
"""Random data under a random type of the topic: whichever check refuses it first."""
EXPECTED: dict[str, frozenset[str]] = {
    "garbage": frozenset({"not_json"}),
    "json_not_object": frozenset({"not_cloudevent"}),
    "ce_missing": frozenset({"not_cloudevent"}),
    "ce_bad_attribute": frozenset({"not_cloudevent"}),
    "unknown_type": frozenset({"unknown_type"}),
    "schema_violation": NOT_OURS,
    "huge_field": frozenset({"unauthorized_source", "schema_violation"}),
    "nul": frozenset({"schema_violation"}),
    "forged_source": frozenset({"unauthorized_source"}),
    "rule_breaker": frozenset({"business_rule"}),
    "stale": frozenset({"stale"}),
    "replay_marker_forged": frozenset({"business_rule"}),
    "binary_bad_specversion": frozenset({"not_cloudevent"}),
    "tombstone": frozenset({"not_cloudevent"}),
    "header_name_not_utf8": frozenset({"bad_headers"}),
    "header_name_oversized": frozenset({"bad_headers"}),
    "header_value_oversized": frozenset({"bad_headers"}),
    "thousands_of_headers": frozenset({"bad_headers"}),
    "binary_lying": frozenset({"bad_headers"}),
    "deep_nesting": frozenset({"over_limits"}),
    "wide": frozenset({"over_limits", "unauthorized_source", "schema_violation"}),
    "huge_number": frozenset({"over_limits"}),
    "duplicate_names": frozenset({"not_json"}),
    "odd_encoding": frozenset({"not_json"}),
    "near_size_limit": frozenset({"unauthorized_source", "schema_violation"}),
}
KINDS = tuple(EXPECTED)
TRANSPORT_KINDS = KINDS[KINDS.index("header_name_not_utf8") :]


SIGNED_KINDS = frozenset(
    {
        "schema_violation",
        "huge_field",
        "forged_source",
        "rule_breaker",
        "wide",
        "near_size_limit",
        "unknown_type",
        "stale",
        "replay_marker_forged",
    }
)
"""Kinds whose expected reason is decided after the signature is verified (every event on a partner's
topic is verified first, whatever its type): their sender signs them, so that what is refused is what
is wrong with them, not a missing signature."""


@st.composite
def hostile(draw: st.DrawFn, service: str, kind: str) -> Message:
    message = draw(_hostile(service, kind))
    value = message.value
    if kind in SIGNED_KINDS and value is not None:
        with contextlib.suppress(SigningError):  # a document with no canonical form stays unsigned
            value = signed(value)
    return Message(message.service, kind, value, message.key, message.headers, EXPECTED[kind])


@st.composite
def _hostile(draw: st.DrawFn, service: str, kind: str) -> Message:
    if kind in TRANSPORT_KINDS:
        return draw(_structural(service, kind))
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
    document = _document(source, event_type, draw(st.dictionaries(_text(8), json_values, max_size=3)))
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
    elif kind == "unknown_type":  # data any canonical form can sign: the type alone is wrong
        document["data"] = {"order_id": "500240-FUZZ", "note": draw(_text(20))}
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
    elif kind == "stale":  # signed by its sender, dated long before it arrives
        data = _rule_breaker(service, "stale")
        old = envelope_for(data, source=source, time=datetime(2001, 1, 1, tzinfo=UTC)).to_structured_json()
        return Message(service, kind, old, data.subject().encode(), STRUCTURED)
    elif kind == "replay_marker_forged":  # the operator's replay headers, written by the sender: ignored
        data = _rule_breaker(service, draw(st.sampled_from(INJECTIONS)))
        marker = [(name, draw(st.binary(max_size=48))) for name in REPLAY_HEADERS]
        return Message(service, kind, _envelope_bytes(data, source), data.subject().encode(), [*STRUCTURED, *marker])
    elif kind == "rule_breaker":
        data = _rule_breaker(service, draw(st.sampled_from(INJECTIONS)))
        return Message(service, kind, _envelope_bytes(data, source), data.subject().encode(), STRUCTURED)
    elif kind == "binary_bad_specversion":
        envelope = new_envelope(source=source, type=event_type, subject="500240-FUZZ", data={}, time=datetime.now(UTC))
        headers = [(n, b"2.0" if n == "ce_specversion" else v) for n, v in binary_headers(envelope)]
        return Message(service, kind, b"{}", key, headers)
    return Message(service, kind, json.dumps(document, ensure_ascii=False).encode(), key, STRUCTURED)


def _document(source: str, event_type: str, data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": _fuzz_id(),
        "source": source,
        "type": event_type,
        "time": datetime.now(UTC).isoformat(),
        "subject": "500240-FUZZ",
        "data": data,
    }


@st.composite
def _structural(draw: st.DrawFn, service: str, kind: str) -> Message:
    """An otherwise plausible event from its entitled sender, broken in its transport or structure."""
    source = SENDERS[service]
    event_type = draw(st.sampled_from(_types_of(service)))
    document = _document(source, event_type, {"order_id": "500240-FUZZ"})
    value = json.dumps(document, ensure_ascii=False).encode()
    key = b"500240-FUZZ-" + draw(st.binary(min_size=1, max_size=4)).hex().encode()
    headers = list(STRUCTURED)
    if kind == "header_name_not_utf8":
        name = draw(st.binary(min_size=1, max_size=40).filter(lambda raw: not header_name_is_text(as_read(raw))))
        headers.append((RawName(name), draw(st.binary(max_size=20))))
    elif kind == "header_name_oversized":
        headers.append(("x-" + "n" * draw(st.integers(300, 20_000)), b"1"))
    elif kind == "header_value_oversized":
        headers.append(("x-note", draw(st.binary(min_size=1, max_size=8)) * draw(st.integers(20_000, 60_000))))
    elif kind == "thousands_of_headers":
        headers.extend((f"x-{i}", b"\xff") for i in range(draw(st.integers(65, 6_000))))
    elif kind == "binary_lying":
        envelope = new_envelope(source=source, type=event_type, subject="500240-FUZZ", data={}, time=datetime.now(UTC))
        lie = draw(st.sampled_from(("both_modes", "source_not_utf8", "twice")))
        binary = binary_headers(envelope)
        if lie == "both_modes":
            headers = [*STRUCTURED, *((n, v) for n, v in binary if n != "content-type")]
        elif lie == "source_not_utf8":
            headers = [(n, b"\xff\xfe" + v if n == "ce_source" else v) for n, v in binary]
            value = b"{}"
        else:
            headers = [*binary, ("ce_source", b"/bureau/hrss")]
            value = b"{}"
    elif kind == "deep_nesting":
        depth = draw(st.sampled_from((33, 1_100, 5_000, 100_000)))
        value = with_extra(value, draw(st.sampled_from(("x", "data"))), nested_arrays(depth))
    elif kind == "wide":
        width = draw(st.integers(33, 60_000))  # 60,000 members: about 840 KB, within the broker's limit
        if draw(st.booleans()):
            document.update({f"x{i}": "1" for i in range(width)})  # as many extension attributes
        else:
            document["data"] = {"order_id": "500240-FUZZ", "items": list(range(width))}
        value = json.dumps(document).encode()
    elif kind == "huge_number":
        digits = draw(st.sampled_from((20, 400, 4_301, 50_000)))
        value = with_extra(value, "x", b"9" * digits)
    elif kind == "duplicate_names":
        twice = draw(st.sampled_from(("source", "id", "type", "subject", "data")))
        value = b"{" + json.dumps(twice).encode() + b':"/bureau/hrss",' + value[1:]
    elif kind == "odd_encoding":
        encoding = draw(st.sampled_from(("utf-16", "utf-32", "bom", "surrogate", "overlong")))
        if encoding == "bom":
            value = b"\xef\xbb\xbf" + value
        elif encoding == "surrogate":
            value = with_extra(value, "x", b'"\\udc80"')
        elif encoding == "overlong":
            value = value.replace(b"500240-FUZZ", b"500240\xc0\xafFUZZ")
        else:
            value = value.decode().encode(encoding)
    elif kind == "near_size_limit":
        document["data"] = {"order_id": "500240-FUZZ", "padding": "天" * draw(st.integers(300_000, 330_000))}
        value = json.dumps(document, ensure_ascii=False).encode()
    return Message(service, kind, value, key, headers)


def as_read(raw: bytes) -> str:
    """A header name as our reader gives it (shared.messaging.transport)."""
    return raw.decode("utf-8", "surrogateescape")


def hostile_batch(size: int) -> st.SearchStrategy[list[Message]]:
    """Every kind of hostile message for every service, in turn; hypothesis draws the details."""
    plan = [(service, kind) for kind in KINDS for service in sorted(SENDERS)]
    return st.tuples(*(hostile(*plan[i % len(plan)]) for i in range(size))).map(list)


GOOD_SENDERS = {
    "orders": "/counties/500238",
    "matching": "/registry/talent",
    "funding": "/bureau/hrss",
}
FUZZ_SOURCES = (*SENDERS.values(), "/portal/x", *GOOD_SENDERS.values())
"""Every source the fuzz signs as: their keys are registered before it sends."""
GOOD_TABLES = {
    "orders": {"orders", "order_history"},
    "matching": {"experts"},
    "funding": {"budget_years", "journal_entries", "journal_lines"},
    "reviews": set(),
}
"""Tables the good events change (nothing hostile may change any table but inbox, outbox, dead_letters)."""


def good_events(count: int, run: str) -> list[tuple[EventData, str]]:
    """Valid events of other senders, sent among the hostile ones: DemandSubmitted from another
    county, an expert registered, the envelope of a far year set by the bureau. (The reviews
    service takes no event that stands alone: a cycle needs projects in service, a score a cycle.)"""
    from tests.builders import expert_registered, tea_demand

    events: list[tuple[EventData, str]] = []
    for i in range(count):
        service = ("orders", "matching", "funding")[i % 3]
        if service == "orders":
            order_id = f"500238-G{run}{i:05d}"
            submitted = DemandSubmitted(order_id=order_id, demand=tea_demand(), submitted_by="巫溪县人力社保局")
            events.append((submitted, GOOD_SENDERS[service]))
        elif service == "matching":
            expert: ExpertRegistered = expert_registered(f"良好专家{i}", "young_talent", expert_id=f"EXP-G-{run}-{i}")
            events.append((expert, GOOD_SENDERS[service]))
        else:
            envelope = SetBudgetEnvelope(year=2100, amount_fen=(1_000_000 + i) * 100, set_by="市人力社保局")
            events.append((envelope, GOOD_SENDERS[service]))
    return events
