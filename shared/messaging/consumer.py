"""The consumer pipeline every service runs: parse, authorize, validate, deduplicate, apply.

A batch of records is processed in ONE database transaction, each record inside its own
savepoint: the inbox row, the state change and the outgoing events (outbox) of a record
commit together, and the batch's offsets are committed to Kafka only after that
transaction has committed. Whatever a record's fate, the pipeline records it durably:

    applied        state changed, events in the outbox
    duplicate      (source, id) already in the inbox: nothing happens, nothing is emitted
    ignored        another service's event this service does not consume
    rejected       a business rule refused it: dead letter + EventRejected to the sender
    dead-lettered  not JSON / not a CloudEvent / unknown type / unauthorized / schema violation /
                   handler error after bounded retries: dead letter (+ EventRejected when the
                   sender is known)

A database or broker outage is not the message's fault: the batch rolls back, nothing is
committed, and the whole batch is redelivered after a backoff (TransientFailure). A record
cannot hide behind that: a batch that keeps failing while the database answers is processed
`distrusting` its records (each record's error, whatever its type, is its own: dead-lettered),
and nothing read from a record (its bytes, headers or JSON) can raise past `_prepare`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from pydantic import BaseModel, ValidationError

from shared.clock import Clock
from shared.contract.authorization import SourcePolicy
from shared.contract.envelope import Envelope, EnvelopeError, new_envelope, parse_record
from shared.contract.events.base import EventData
from shared.contract.events.system import EventRejected
from shared.contract.registry import REGISTRY, EventRegistry, service_source
from shared.db.types import Connection
from shared.policy import ProgrammePolicy
from shared.retry import Backoff
from shared.rules import RuleBroken
from shared.topics import REJECTIONS, deadletter, with_prefix

from . import inbox, outbox
from .context import MessageContext, Note
from .deadletter import DeadLetter, dead_letter_message, record_dead_letter
from .records import Record
from .routing import Handler, Subscription, check_wiring
from .unit import UnitOfWork

log = structlog.get_logger("shared.messaging.consumer")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.OperatorInterventionError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    ConnectionError,
    OSError,
    TimeoutError,
)


class TransientFailure(Exception):
    """The database (or broker) is unreachable: roll back and redeliver the whole batch."""


@dataclass(slots=True)
class _Outcome:
    kind: str
    record: Record
    envelope: Envelope | None = None
    notes: list[Note] = field(default_factory=list)
    letter: DeadLetter | None = None
    error: BaseException | None = None


class EventConsumer:
    def __init__(
        self,
        *,
        service: str,
        pool: asyncpg.Pool[Any],
        subscriptions: Sequence[Subscription],
        clock: Clock,
        source_policy: SourcePolicy | None = None,
        registry: EventRegistry = REGISTRY,
        topic_prefix: str = "",
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        rebuilding: bool = False,
        policy: ProgrammePolicy | None = None,
        settings: object = None,
    ) -> None:
        check_wiring(service, subscriptions, registry)
        self.service = service
        self._policy_numbers = policy or ProgrammePolicy()
        self._settings = settings
        self.rebuilding = rebuilding
        """Rebuilding state from the topics: apply and record every event as usual, but emit
        nothing (what it caused is already on the topics) and log one line per batch."""
        self._pool = pool
        self._routes = {with_prefix(topic_prefix, s.topic): s for s in subscriptions}
        self._clock = clock
        self._policy = source_policy or SourcePolicy.of(registry)
        self._registry = registry
        self._prefix = topic_prefix
        self._max_attempts = max(1, max_attempts)
        self._retry_backoff_s = retry_backoff_s
        self._deadletter_topic = with_prefix(topic_prefix, deadletter(service))
        self._rejections_topic = with_prefix(topic_prefix, REJECTIONS)
        self.counts: dict[str, int] = {}

    @property
    def topics(self) -> list[str]:
        return list(self._routes)

    async def process_batch(self, records: Sequence[Record], *, distrust: bool = False) -> None:
        """Apply a batch in one transaction; raise TransientFailure to have it redelivered.

        Optimistic first: no savepoint per record. If a handler refuses or fails, that
        transaction is rolled back and the batch is applied again with a savepoint around each
        record, so that one record's refusal never undoes another's effect.

        `distrust` (for a batch that failed again and again with database errors while the
        database answers): record by record from the start, and an error of any type inside a
        record's savepoint is that record's, unless the connection itself no longer answers."""
        try:
            async with self._pool.acquire() as conn:
                if distrust:
                    outcomes = await self._run(conn, records, _Batch(careful=True, distrust=True))
                else:
                    try:
                        outcomes = await self._run(conn, records, _Batch(careful=False))
                    except _NeedsCare as needed:
                        outcomes = await self._run(conn, records, _Batch(careful=True, attempted=needed.record))
        except TRANSIENT_ERRORS as exc:
            raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
        for outcome in outcomes:
            self.counts[outcome.kind] = self.counts.get(outcome.kind, 0) + 1
        if self.rebuilding:
            self._log_rebuilt(outcomes)
            return
        for outcome in outcomes:
            self._log(outcome)

    async def _run(self, conn: Connection, records: Sequence[Record], batch: _Batch) -> list[_Outcome]:
        async with conn.transaction():
            prepared = [self._prepare(record) for record in records]
            if not batch.careful:  # the optimistic run claims the whole batch in one statement
                await self._claim_all(conn, prepared)
                await self._prefetch(conn, prepared, batch.unit)
            outcomes = [await self._guarded(conn, item, batch) for item in prepared]
            if not batch.careful:
                await self._flush(conn, batch.unit)
            if self.rebuilding:
                batch.outbox.clear()
            await outbox.append(conn, batch.outbox, notify=True)
        return outcomes

    async def _prefetch(self, conn: Connection, prepared: Sequence[_Prepared], unit: UnitOfWork) -> None:
        wanted: dict[str, list[Envelope]] = {}
        for item in prepared:
            if item.envelope is not None and item.handler is not None and item.claim is inbox.Claim.NEW:
                wanted.setdefault(item.record.topic, []).append(item.envelope)
        for topic, envelopes in wanted.items():
            prefetch = self._routes[topic].prefetch
            if prefetch is not None:
                await prefetch(unit, conn, envelopes)

    async def _flush(self, conn: Connection, unit: UnitOfWork) -> None:
        """The optimistic run's writes; if PostgreSQL refuses one, the careful run finds whose."""
        try:
            await unit.flush(conn)
        except _NEVER_ABSORBED:
            raise
        except Exception as exc:
            raise _NeedsCare(None) from exc

    def _prepare(self, record: Record) -> _Prepared:
        """Parse and route a record (no I/O). Never raises: whatever goes wrong while reading a
        record makes it a dead letter with a reason."""
        try:
            envelope = parse_record(record.value, record.headers, record.key)
            subscription = self._routes.get(record.topic)
            handler = subscription.handlers.get(envelope.type) if subscription else None
            strict = bool(subscription and subscription.strict)
        except EnvelopeError as exc:
            return _Prepared(record, error=exc)
        except Exception as exc:
            detail = f"reading the record failed: {type(exc).__name__}: {exc}"[:2000]
            return _Prepared(record, error=EnvelopeError("unreadable", detail))
        return _Prepared(record, envelope=envelope, handler=handler, consumed=handler is not None or strict)

    async def _claim_all(self, conn: Connection, prepared: Sequence[_Prepared]) -> None:
        wanted = [item for item in prepared if item.envelope is not None and item.consumed]
        try:
            claims = await inbox.claim_many(conn, [(item.envelope, item.record) for item in wanted])  # type: ignore[misc]
        except _NEVER_ABSORBED:
            raise
        except Exception as exc:
            raise _NeedsCare(wanted[0].record) from exc
        for item, claim in zip(wanted, claims, strict=True):
            item.claim = claim

    async def _guarded(self, conn: Connection, item: _Prepared, batch: _Batch) -> _Outcome:
        """A record that fails outside its handler (e.g. PostgreSQL refuses a value) must not
        stall its partition: in the careful run it is dead-lettered like a failing handler."""
        record = item.record
        if not batch.careful:
            try:
                return await self._process(conn, item, batch)
            except _NEVER_ABSORBED:
                raise
            except Exception as exc:
                raise _NeedsCare(record) from exc
        mark = len(batch.outbox)
        try:
            async with conn.transaction():
                return await self._process(conn, item, batch)
        except TRANSIENT_ERRORS as exc:
            if not batch.distrust or not await _answers(conn):
                raise
            return await self._dead_letter_failed(conn, item.record, exc, batch, mark)
        except Exception as exc:
            return await self._dead_letter_failed(conn, item.record, exc, batch, mark)

    async def _dead_letter_failed(
        self, conn: Connection, record: Record, exc: BaseException, batch: _Batch, mark: int
    ) -> _Outcome:
        """The record failed outside its handler's own refusals: dead-letter it, drop what it emitted."""
        del batch.outbox[mark:]
        detail = f"the record could not be processed: {type(exc).__name__}: {exc}"
        letter = DeadLetter("handler_error", detail)
        async with conn.transaction():
            new = await record_dead_letter(conn, record, letter, None)
        outcome = self._dead_letter_later(new, record, None, letter, batch)
        outcome.error = exc
        return outcome

    async def _process(self, conn: Connection, item: _Prepared, batch: _Batch) -> _Outcome:
        record, envelope, handler = item.record, item.envelope, item.handler
        if envelope is None:
            assert item.error is not None
            letter = DeadLetter(item.error.reason, item.error.detail)
            new = await record_dead_letter(conn, record, letter, None)
            return self._dead_letter_later(new, record, None, letter, batch)
        if not item.consumed:
            return _Outcome("ignored", record, envelope)
        claim = item.claim or await inbox.claim(conn, envelope, record)
        if claim is inbox.Claim.DUPLICATE:
            return _Outcome("duplicate", record, envelope)
        if claim is inbox.Claim.CONFLICT:
            detail = f"event id {envelope.id!r} from {envelope.source} was already used for different content"
            return await self._refuse(conn, record, envelope, DeadLetter("id_reused", detail), batch, claimed=False)
        if handler is None:
            detail = f"{envelope.type!r} is not an event type accepted on {record.topic}"
            return await self._refuse(conn, record, envelope, DeadLetter("unknown_type", detail), batch)
        if not self._policy.allows(envelope.type, envelope.source):
            allowed = ", ".join(self._policy.senders(envelope.type)) or "nobody"
            detail = f"source {envelope.source!r} may not send {envelope.type} (allowed: {allowed})"
            return await self._refuse(conn, record, envelope, DeadLetter("unauthorized_source", detail), batch)
        try:
            data = self._validate(envelope)
        except _SchemaViolation as exc:
            return await self._refuse(conn, record, envelope, DeadLetter("schema_violation", str(exc)), batch)
        return await self._apply(conn, record, envelope, handler, data, batch)

    def _validate(self, envelope: Envelope) -> EventData:
        spec = self._registry[envelope.type]
        if envelope.dataschema and envelope.dataschema != spec.dataschema:
            raise _SchemaViolation(
                f"dataschema {envelope.dataschema!r} is not supported; this service reads {spec.dataschema}"
            )
        try:
            data = spec.model.model_validate(envelope.data)
        except ValidationError as exc:
            raise _SchemaViolation(_summarize(exc)) from exc
        except Exception as exc:  # a validator that fails on hostile data must not stall the partition
            raise _SchemaViolation(f"the data could not be validated: {type(exc).__name__}: {exc}"[:2000]) from exc
        if data.subject() != envelope.subject:
            raise _SchemaViolation(
                f"subject {envelope.subject!r} does not match the event's business key {data.subject()!r}"
            )
        return data

    def _context(self, conn: Connection, envelope: Envelope, unit: UnitOfWork | None = None) -> MessageContext:
        return MessageContext(
            conn=conn,
            unit=unit,
            emitting=not self.rebuilding,
            envelope=envelope,
            service=self.service,
            clock=self._clock,
            registry=self._registry,
            topic_prefix=self._prefix,
            policy=self._policy_numbers,
            settings=self._settings,
        )

    async def _apply(
        self,
        conn: Connection,
        record: Record,
        envelope: Envelope,
        handler: Handler,
        data: BaseModel,
        batch: _Batch,
    ) -> _Outcome:
        if not batch.careful:
            context = self._context(conn, envelope, batch.unit)
            try:
                await handler(context, data)
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                raise _NeedsCare(record) from exc
            batch.outbox.extend(context.emitted)
            return _Outcome("applied", record, envelope, notes=context.notes)
        first = 2 if record == batch.attempted else 1  # its optimistic run was the first attempt
        backoff = Backoff(self._retry_backoff_s, self._retry_backoff_s * 8)
        for attempt in range(first, self._max_attempts + 1):
            context = self._context(conn, envelope)
            try:
                async with conn.transaction():
                    await handler(context, data)
                    await context.unit.flush(conn)
                batch.outbox.extend(context.emitted)
                return _Outcome("applied", record, envelope, notes=context.notes)
            except RuleBroken as rejection:
                letter = DeadLetter("business_rule", rejection.reason, rule=rejection.rule)
                return await self._refuse(conn, record, envelope, letter, batch)
            except Exception as exc:
                if isinstance(exc, TRANSIENT_ERRORS) and (not batch.distrust or not await _answers(conn)):
                    raise
                if attempt == self._max_attempts:
                    letter = DeadLetter("handler_error", f"{type(exc).__name__}: {exc} (after {attempt} attempts)")
                    outcome = await self._refuse(conn, record, envelope, letter, batch)
                    outcome.error = exc
                    return outcome
                log.warning(
                    "handler failed; retrying",
                    service=self.service,
                    event_type=envelope.type,
                    event_id=envelope.id,
                    subject=envelope.subject,
                    correlation_id=envelope.correlation_id,
                    attempt=attempt,
                    error=f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(backoff.next())
        letter = DeadLetter("handler_error", f"failed {self._max_attempts} times")
        return await self._refuse(conn, record, envelope, letter, batch)

    async def _refuse(
        self,
        conn: Connection,
        record: Record,
        envelope: Envelope,
        letter: DeadLetter,
        batch: _Batch,
        *,
        claimed: bool = True,
    ) -> _Outcome:
        """Dead-letter a parsed event and answer its sender with EventRejected."""
        new = await record_dead_letter(conn, record, letter, envelope)
        outcome = self._dead_letter_later(new, record, envelope, letter, batch)
        if outcome.kind == "duplicate":
            return outcome
        if claimed:
            kind = "rejected" if letter.reason == "business_rule" else "dead_lettered"
            await inbox.set_outcome(conn, envelope, kind, letter.rule or letter.reason)
        answer = EventRejected(
            rejected_event_id=envelope.id[:120],
            rejected_event_type=envelope.type[:120],
            rejected_source=envelope.source[:120],
            rejected_subject=envelope.subject[:120] or None,
            reason_code=letter.rule or letter.reason,
            reason=letter.detail[:4000] or letter.reason,
            service=self.service,
            rejected_at=self._clock.now(),
        )
        rejection = new_envelope(
            source=service_source(self.service),
            type=EventRejected.EVENT_TYPE,
            subject=answer.subject(),
            data=answer.model_dump(mode="json"),
            time=self._clock.now(),
            correlation_id=envelope.correlation_id,
            causation_id=envelope.id,
            dataschema=self._registry[EventRejected.EVENT_TYPE].dataschema,
        )
        batch.outbox.append(outbox.OutboxMessage.for_event(self._rejections_topic, rejection))
        outcome.kind = "rejected" if letter.reason == "business_rule" else "dead_lettered"
        return outcome

    def _dead_letter_later(
        self, letter_id: int | None, record: Record, envelope: Envelope | None, letter: DeadLetter, batch: _Batch
    ) -> _Outcome:
        """The dead letter (recorded as `letter_id`; None: recorded before, a redelivery) joins the batch's outbox."""
        if letter_id is None:
            return _Outcome("duplicate", record, envelope)
        message = dead_letter_message(
            record,
            letter,
            service=self.service,
            topic=self._deadletter_topic,
            at=self._clock.now(),
            letter_id=letter_id,
        )
        batch.outbox.append(message)
        return _Outcome("dead_lettered", record, envelope, letter=letter)

    def _log_rebuilt(self, outcomes: Sequence[_Outcome]) -> None:
        kinds: dict[str, int] = {}
        for outcome in outcomes:
            kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
        last = outcomes[-1].record if outcomes else None
        log.info(
            "rebuilt from the topics: batch applied, nothing emitted",
            service=self.service,
            records=len(outcomes),
            up_to=last.origin if last else None,
            total_applied=self.counts.get("applied", 0),
            **kinds,
        )

    def _log(self, outcome: _Outcome) -> None:
        envelope = outcome.envelope
        bound = log.bind(service=self.service)
        replay_of = next(
            (v.decode(errors="replace") for n, v in outcome.record.headers if n == inbox.REPLAY_HEADER), None
        )
        if replay_of:
            bound = bound.bind(replay_of=replay_of)
        if envelope is not None:
            bound = bound.bind(
                event_type=envelope.type,
                event_id=envelope.id,
                subject=envelope.subject,
                correlation_id=envelope.correlation_id,
                source=envelope.source,
            )
        if outcome.kind == "applied":
            for note in outcome.notes:
                bound.info(note.message, **note.fields)
            if not outcome.notes:
                bound.info("event applied")
        elif outcome.kind == "duplicate":
            bound.info("duplicate delivery ignored: already processed", origin=outcome.record.origin)
        elif outcome.kind == "ignored":
            bound.debug("event not consumed by this service", origin=outcome.record.origin)
        elif outcome.letter is not None:
            letter = outcome.letter
            fields: dict[str, Any] = {
                "reason": letter.reason,
                "detail": letter.detail,
                "origin": outcome.record.origin,
            }
            if letter.rule:
                fields["rule"] = letter.rule
            if outcome.error is not None:
                bound.error("handler failed on every retry; event dead-lettered", exc_info=outcome.error, **fields)
            elif outcome.kind == "rejected":
                bound.warning("event rejected by a programme rule; sender answered", **fields)
            else:
                bound.warning("message dead-lettered", **fields)


class _SchemaViolation(Exception):
    pass


@dataclass(slots=True)
class _Prepared:
    record: Record
    envelope: Envelope | None = None
    error: EnvelopeError | None = None
    handler: Handler | None = None
    consumed: bool = False
    """This service takes the type on this topic (or must refuse it: its own inbound topic)."""
    claim: inbox.Claim | None = None


@dataclass(slots=True)
class _Batch:
    careful: bool
    distrust: bool = False
    """Every error inside a record's savepoint is the record's while the connection answers."""
    attempted: Record | None = None
    """The record whose handler failed in the optimistic run (its first attempt)."""
    outbox: list[outbox.OutboxMessage] = field(default_factory=list)
    unit: UnitOfWork = field(default_factory=UnitOfWork)
    """The optimistic run's unit of work, shared by all its records."""


class _NeedsCare(Exception):
    """A handler refused or failed in the optimistic run: redo the batch with savepoints."""

    def __init__(self, record: Record | None) -> None:
        super().__init__(record.origin if record else "the batch's writes")
        self.record = record


_NEVER_ABSORBED: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, _NeedsCare)


async def _answers(conn: Connection) -> bool:
    """Whether the database still answers on this connection (after a record's savepoint rolled back)."""
    try:
        async with asyncio.timeout(5):
            return bool(await conn.fetchval("SELECT 1"))
    except Exception:
        return False


def _summarize(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "data"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
