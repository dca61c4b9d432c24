"""The stages a record goes through, each a small function that can be tested alone:

read        bytes -> envelope, routed to its handler (never raises: a bad record is a letter)
verify      the signature of an event on the service's inbound topic, against the key registry
            (before the batch's transaction: it may read the registry; its verdict is kept)
deduplicate the inbox claims the batch's events (inbox.py)
authenticate the verdict of `verify` is applied (unauthorized_source)
authorize   the sender may send this type
validate    the data is the type's model and the subject its business key
bind        the source speaks only as itself (a reviewer for itself, a county for its county)
apply       the handler over the batch's unit of work (consumer.py)
answer      dead letter, EventRejected to the sender (answers.py)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from shared.contract.authorization import SourcePolicy
from shared.contract.envelope import Envelope, EnvelopeError, parse_record
from shared.contract.events.base import EventData
from shared.contract.partners import PartnerRecord, SignatureRefusal, signature_refusal
from shared.contract.registry import EventRegistry
from shared.contract.signing import SigningError, record_document
from shared.contract.speakers import speaker_refusal

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
    """This service takes the type on this topic (or must refuse it: its own inbound topic)."""
    claim: inbox.Claim | None = None
    unauthenticated: SignatureRefusal | None = None
    """Why the event's signature does not bind it to its source (None: it does, or it need not)."""


class KeyLookup(Protocol):
    """The key registry as the pipeline reads it (shared.messaging.partners.PartnerDirectory)."""

    def key_for(self, source: str) -> PartnerRecord | None: ...

    async def refresh(self) -> None: ...


def read(record: Record, routes: Mapping[str, Subscription]) -> Prepared:
    """Parse and route a record (no I/O). Never raises: whatever goes wrong while reading a
    record makes it a dead letter with a reason."""
    try:
        envelope = parse_record(record.value, record.headers, record.key)
        subscription = routes.get(record.topic)
        handler = subscription.handlers.get(envelope.type) if subscription else None
        strict = bool(subscription and subscription.strict)
    except EnvelopeError as exc:
        return Prepared(record, error=exc)
    except Exception as exc:
        detail = f"reading the record failed: {type(exc).__name__}: {exc}"[:2000]
        return Prepared(record, error=EnvelopeError("unreadable", detail))
    return Prepared(record, envelope=envelope, handler=handler, consumed=handler is not None or strict)


def signature_verdict(item: Prepared, keys: KeyLookup) -> SignatureRefusal | None:
    """Why the item's event is not signed by its source's registered key (None: it is). No I/O."""
    assert item.envelope is not None
    try:
        document = record_document(item.record.value or b"", item.record.headers)
    except (SigningError, UnicodeDecodeError) as exc:
        return SignatureRefusal("unreadable", f"the event could not be read for its signature: {exc}")
    return signature_refusal(document, item.envelope.source, keys.key_for(item.envelope.source))


async def verify(items: list[Prepared], keys: KeyLookup) -> None:
    """Set each item's `unauthenticated` verdict. A signed event whose source has no usable key
    yet (or whose signature does not verify) makes the registry be read up to its end once,
    then is judged again: a key registered before the event was sent is always seen."""
    await _judge(items, keys)
    doubtful = [item for item in items if item.unauthenticated and item.unauthenticated.registry_may_know_better]
    if doubtful:
        await keys.refresh()
        await _judge(doubtful, keys)


VERIFIERS = 2
"""Worker threads that check a batch's signatures: Ed25519 verification (~180 µs an event here)
releases the GIL, so the event loop goes on fetching and publishing meanwhile."""


async def _judge(items: list[Prepared], keys: KeyLookup) -> None:
    def judge(chunk: list[Prepared]) -> None:
        for item in chunk:
            item.unauthenticated = signature_verdict(item, keys)

    if len(items) < 8:
        judge(items)
        return
    size = -(-len(items) // VERIFIERS)
    await asyncio.gather(*(asyncio.to_thread(judge, items[i : i + size]) for i in range(0, len(items), size)))


def authenticate(item: Prepared) -> None:
    """Raises Refused when the event is not signed by the key registered for its source."""
    if item.unauthenticated is not None:
        assert item.envelope is not None
        detail = f"source {item.envelope.source!r} is not proven: {item.unauthenticated.detail}"
        raise Refused(DeadLetter("unauthorized_source", detail))


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
