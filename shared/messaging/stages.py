"""The stages a record goes through, each a small function that can be tested alone:

read        bytes -> envelope, routed to its handler (never raises: a bad record is a letter);
            an event on a partner's inbound topic gets its writer (the topic's principal), its
            arrival (the broker's stamp) and, if the operator really made one, its replay marker
verify      before the batch's transaction (it may read the registry): the signature of every
            event on a partner's topic against the key registry's history, the writer against
            the key's principal, then the event's `time` against its arrival (freshness)
refuse      an event `verify` refused is dead-lettered and answered (unauthorized_source, stale,
            from_the_future) without an inbox claim (consumer.py)
deduplicate the inbox claims the batch's events that passed `verify` (inbox.py): nothing an
            unauthenticated, stale or future event says can take a genuine event's place
authorize   the sender may send this type
validate    the data is the type's model and the subject its business key
bind        the source speaks only as itself (a reviewer for itself, a county for its county)
apply       the handler over the batch's unit of work (consumer.py)
answer      dead letter, EventRejected to the sender (answers.py)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import ValidationError

from shared.contract.authorization import SourcePolicy
from shared.contract.envelope import Envelope, EnvelopeError, parse_record
from shared.contract.events.base import EventData
from shared.contract.partners import KeyHistory, OperatorKeys, signature_refusal
from shared.contract.registry import EventRegistry
from shared.contract.replays import Replay, authentic_replay, has_marker
from shared.contract.signing import SigningError, record_document
from shared.contract.speakers import speaker_refusal
from shared.topics import split_inbound

from . import inbox
from .deadletter import DeadLetter
from .records import Record
from .routing import Handler, Subscription


class Refused(Exception):
    """A record's event may not be applied; `letter` says why."""

    def __init__(self, letter: DeadLetter) -> None:
        super().__init__(f"{letter.reason}: {letter.detail}")
        self.letter = letter


@dataclass(slots=True)
class Prepared:
    record: Record
    envelope: Envelope | None = None
    error: EnvelopeError | None = None
    handler: Handler | None = None
    consumed: bool = False
    """This service takes the type on this topic (or must refuse it: a partner's inbound topic)."""
    claim: inbox.Claim | None = None
    writer: str | None = None
    """The Kafka principal whose inbound topic carried the record (None: not a partner's topic)."""
    arrived_at: datetime | None = None
    """When the record reached the brokers, by their clock (their stamp; a verified replay: the
    original's)."""
    replay: Replay | None = None
    """The operator's replay marker, when one verified."""
    refusal: DeadLetter | None = None
    """Why `verify` refuses the event before anything is remembered of it (None: it does not)."""
    route: str = ""
    """The subscription's topic the record is routed by (a partner's topic: `<service>.inbound`)."""

    @property
    def partner_event(self) -> bool:
        """An event this service takes from a partner's inbound topic: it is verified."""
        return self.envelope is not None and self.consumed and self.writer is not None


class KeyLookup(Protocol):
    """The key registry as the pipeline reads it (shared.messaging.partners.PartnerDirectory)."""

    @property
    def history(self) -> KeyHistory: ...

    async def catch_up(self, arrived_until: datetime, fetched_at: datetime) -> None: ...


def _same(moment: datetime) -> datetime:
    return moment


@dataclass(frozen=True, slots=True)
class Freshness:
    """How far an event's `time` may be from its arrival (shared.policy: event_max_age_days,
    event_max_ahead_s). `programme_time` gives the programme's time at a broker's moment (the
    clock's `at`): an event's `time` is on the programme's clock."""

    max_age: timedelta
    max_ahead: timedelta
    programme_time: Callable[[datetime], datetime] = _same


def read(record: Record, routes: Mapping[str, Subscription], prefix: str = "") -> Prepared:
    """Parse and route a record (no I/O). Never raises: whatever goes wrong while reading a
    record makes it a dead letter with a reason. A partner's inbound topic is routed by its
    logical name (`<service>.inbound`)."""
    partner = split_inbound(record.topic, prefix)
    topic = f"{prefix}{partner[0]}.inbound" if partner else record.topic
    try:
        envelope = parse_record(record.value, record.headers, record.key)
        subscription = routes.get(topic)
        handler = subscription.handlers.get(envelope.type) if subscription else None
        strict = bool(subscription and subscription.strict)
    except EnvelopeError as exc:
        return Prepared(record, error=exc, writer=partner[1] if partner else None, route=topic)
    except Exception as exc:
        detail = f"reading the record failed: {type(exc).__name__}: {exc}"[:2000]
        unreadable = EnvelopeError("unreadable", detail)
        return Prepared(record, error=unreadable, writer=partner[1] if partner else None, route=topic)
    return Prepared(
        record,
        envelope=envelope,
        handler=handler,
        consumed=handler is not None or strict,
        writer=partner[1] if partner else None,
        route=topic,
    )


def arrival(item: Prepared, operators: OperatorKeys, now: datetime) -> None:
    """Set the item's arrival and replay marker: a marker the operator made for this record is
    taken (the record is judged as it arrived the first time); any other is ignored. Arrival is
    the broker's stamp; `now` (this process's wall clock) only where the topic keeps no broker
    stamp (a topic created without LogAppendTime)."""
    record = item.record
    if has_marker(record.headers):
        item.replay = authentic_replay(
            record.headers, topic=record.topic, key=record.key, value=record.value, operators=operators
        )
    stamped = item.replay.arrived_at if item.replay else record.appended_at
    item.arrived_at = stamped if stamped is not None else now


def signature_verdict(
    item: Prepared, history: KeyHistory, programme_time: Callable[[datetime], datetime]
) -> DeadLetter | None:
    """Why the item's event is not taken as its source's, written by its writer (None: it is). No I/O."""
    assert item.envelope is not None
    assert item.arrived_at is not None
    try:
        document = record_document(item.record.value or b"", item.record.headers)
    except (SigningError, UnicodeDecodeError) as exc:
        return DeadLetter("unauthorized_source", f"the event could not be read for its signature: {exc}")
    refusal = signature_refusal(
        document,
        item.envelope.source,
        history=history,
        signed_at=item.envelope.time,
        arrived_at=item.arrived_at,
        writer=item.writer,
        programme_time=programme_time,
    )
    if refusal is None:
        return None
    return DeadLetter("unauthorized_source", f"source {item.envelope.source!r} is not proven: {refusal.detail}")


def freshness_verdict(item: Prepared, freshness: Freshness) -> DeadLetter | None:
    """Why the event's `time` is too far from its arrival (None: it is not, or the operator replays it)."""
    assert item.envelope is not None
    assert item.arrived_at is not None
    if item.replay is not None:
        return None
    signed_at, arrived = item.envelope.time, freshness.programme_time(item.arrived_at)
    if arrived - signed_at > freshness.max_age:
        return DeadLetter(
            "stale",
            f"the event's time {signed_at.isoformat()} is more than {_span(freshness.max_age)} before it arrived "
            f"({arrived.isoformat()}); send it again with the time you send it",
        )
    if signed_at - arrived > freshness.max_ahead:
        return DeadLetter(
            "from_the_future",
            f"the event's time {signed_at.isoformat()} is more than {_span(freshness.max_ahead)} after it arrived "
            f"({arrived.isoformat()}); check the sending system's clock",
        )
    return None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    return f"{seconds} s"


async def verify(
    items: list[Prepared], keys: KeyLookup | None, freshness: Freshness, fetched_at: datetime | None = None
) -> None:
    """Set each item's `refusal`: its signature against the registry's history (after reading
    every registry record appended before the batch arrived: `fetched_at`, when the batch was in
    hand, by this process's clock), then its freshness."""
    if keys is not None and items:
        latest = max(item.record.appended_at or datetime.now(UTC) for item in items)
        await keys.catch_up(latest, fetched_at or datetime.now(UTC))
        await _judge(items, keys.history, freshness.programme_time)
    for item in items:
        if item.refusal is None:
            item.refusal = freshness_verdict(item, freshness)


VERIFIERS = 2
"""Worker threads that check a batch's signatures: Ed25519 verification (~180 µs an event here)
releases the GIL, so the event loop goes on fetching and publishing meanwhile."""


async def _judge(items: list[Prepared], history: KeyHistory, programme_time: Callable[[datetime], datetime]) -> None:
    def judge(chunk: list[Prepared]) -> None:
        for item in chunk:
            item.refusal = signature_verdict(item, history, programme_time)

    if len(items) < 8:
        judge(items)
        return
    size = -(-len(items) // VERIFIERS)
    await asyncio.gather(*(asyncio.to_thread(judge, items[i : i + size]) for i in range(0, len(items), size)))


def bind_speaker(envelope: Envelope, data: EventData) -> None:
    """Raises Refused unless the source speaks only as itself (shared.contract.speakers)."""
    refusal = speaker_refusal(envelope.source, data)
    if refusal is not None:
        raise Refused(DeadLetter("unauthorized_source", refusal))


def authorize(envelope: Envelope, policy: SourcePolicy) -> None:
    """Raises Refused unless the envelope's source may send its type."""
    if not policy.allows(envelope.type, envelope.source):
        allowed = ", ".join(policy.senders(envelope.type)) or "nobody"
        detail = f"source {envelope.source!r} may not send {envelope.type} (allowed: {allowed})"
        raise Refused(DeadLetter("unauthorized_source", detail))


def validate(envelope: Envelope, registry: EventRegistry) -> EventData:
    """The envelope's data as its type's model; raises Refused (schema_violation) otherwise."""
    spec = registry[envelope.type]
    if envelope.dataschema and envelope.dataschema != spec.dataschema:
        detail = f"dataschema {envelope.dataschema!r} is not supported; this service reads {spec.dataschema}"
        raise Refused(DeadLetter("schema_violation", detail))
    try:
        data = spec.model.model_validate(envelope.data)
    except ValidationError as exc:
        raise Refused(DeadLetter("schema_violation", summarize(exc))) from exc
    except Exception as exc:  # a validator that fails on hostile data must not stall the partition
        detail = f"the data could not be validated: {type(exc).__name__}: {exc}"[:2000]
        raise Refused(DeadLetter("schema_violation", detail)) from exc
    if data.subject() != envelope.subject:
        detail = f"subject {envelope.subject!r} does not match the event's business key {data.subject()!r}"
        raise Refused(DeadLetter("schema_violation", detail))
    return data


def summarize(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "data"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
