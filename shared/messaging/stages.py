"""The stages a record goes through, each a small function that can be tested alone:

read        bytes -> envelope, routed to its handler (never raises: a bad record is a letter)
deduplicate the inbox claims the batch's events (inbox.py)
authorize   the sender may send this type
validate    the data is the type's model and the subject its business key
apply       the handler over the batch's unit of work (consumer.py)
answer      dead letter, EventRejected to the sender (answers.py)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from shared.contract.authorization import SourcePolicy
from shared.contract.envelope import Envelope, EnvelopeError, parse_record
from shared.contract.events.base import EventData
from shared.contract.registry import EventRegistry

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
