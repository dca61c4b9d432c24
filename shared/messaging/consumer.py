"""The consumer pipeline every service runs: parse, verify, deduplicate, authorize, validate, apply.

A batch of records is processed in ONE database transaction, each record inside its own
savepoint: the inbox row, the state change and the outgoing events (outbox) of a record
commit together, and the batch's offsets are committed to Kafka only after that
transaction has committed. Whatever a record's fate, the pipeline records it durably:

    applied        state changed, events in the outbox
    refused first  not proven to be its source's (signature, key, writer) or not fresh: dead letter +
                   EventRejected to its writer, and nothing of it is remembered in the inbox, so
                   that no forgery can take a genuine event's (source, id)
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
and nothing read from a record (its bytes, headers or JSON) can raise past `stages.read`.

The stages themselves are in stages.py (read, authorize, validate), inbox.py (deduplicate) and
answers.py (dead letters and EventRejected); this module runs them over a batch in one
transaction and decides when to go record by record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from pydantic import BaseModel

from shared.clock import Clock
from shared.contract.authorization import SourcePolicy
from shared.contract.envelope import Envelope
from shared.contract.partners import OperatorKeys
from shared.contract.registry import REGISTRY, EventRegistry
from shared.contract.replays import has_marker
from shared.db.types import Connection
from shared.policy import ProgrammePolicy
from shared.retry import Backoff
from shared.rules import RuleBroken
from shared.topics import with_prefix
from shared.tracing import NO_TRACING, Tracing, record_outcome, trace_id_of

from . import inbox, outbox, stages
from .answers import Answers
from .context import MessageContext
from .deadletter import OUR_FAULT, DeadLetter
from .outcomes import ConsumerObserver, Outcome, do_after_commit, log_outcome, log_rebuilt
from .partners import RegistryUnavailable
from .records import Record
from .routing import Handler, Subscription, check_wiring
from .stages import Freshness, KeyLookup, Prepared
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


FRESHNESS = frozenset({"stale", "from_the_future"})
"""Refusals of a proven event for its time alone: a copy of an event received before is still a duplicate."""


class TransientFailure(Exception):
    """The database (or broker) is unreachable: roll back and redeliver the whole batch."""


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
        observer: ConsumerObserver | None = None,
        tracing: Tracing = NO_TRACING,
        partners: KeyLookup | None = None,
        operators: OperatorKeys | None = None,
    ) -> None:
        """`partners`: the key registry every event on a partner's inbound topic is verified
        against; None only where signatures are not required (SIGNATURES_REQUIRED=false, for
        benchmarks: never in production). `operators`: the operator's keys, whose replay markers
        are taken (without them no marker is)."""
        check_wiring(service, subscriptions, registry)
        self._observer = observer
        self._tracing = tracing
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
        self._partners = partners
        self._operators = operators or (partners.history.operators if partners is not None else OperatorKeys())
        self._freshness = Freshness(
            timedelta(days=self._policy_numbers.event_max_age_days),
            timedelta(seconds=self._policy_numbers.event_max_ahead_s),
            clock.at,
        )
        self._max_attempts = max(1, max_attempts)
        self._retry_backoff_s = retry_backoff_s
        self._answers = Answers(
            service=service, clock=clock, registry=registry, topic_prefix=topic_prefix, tracing=tracing
        )
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
        started = time.perf_counter()
        prepared = [stages.read(record, self._routes, self._prefix) for record in records]
        await self._verify(prepared)
        try:
            async with self._pool.acquire() as conn:
                if distrust:
                    outcomes = await self._run(conn, prepared, _Batch(careful=True, distrust=True))
                else:
                    try:
                        outcomes = await self._run(conn, prepared, _Batch(careful=False))
                    except _NeedsCare as needed:
                        outcomes = await self._run(conn, prepared, _Batch(careful=True, attempted=needed.record))
                if not self.rebuilding:
                    await do_after_commit(self.service, conn, outcomes)
        except TRANSIENT_ERRORS as exc:
            raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
        for outcome in outcomes:
            self.counts[outcome.kind] = self.counts.get(outcome.kind, 0) + 1
        if self._observer is not None:
            self._observer.batch_done(outcomes, time.perf_counter() - started)
        if self.rebuilding:
            log_rebuilt(self.service, outcomes, self.counts)
            return
        for outcome in outcomes:
            log_outcome(self.service, outcome)

    async def _verify(self, prepared: Sequence[Prepared]) -> None:
        """Judge the events on partners' inbound topics (their signatures, writers and freshness)
        before the batch's transaction: reading the key registry may wait for the broker, and no
        connection is held meanwhile."""
        partner = [item for item in prepared if item.partner_event]
        if not partner:
            return
        fetched_at = datetime.now(UTC)
        for item in partner:
            stages.arrival(item, self._operators, fetched_at)
            if item.replay is None and has_marker(item.record.headers):
                log.warning(
                    "a replay marker that is not the operator's was ignored: the event is judged as sent",
                    service=self.service,
                    writer=item.writer,
                    origin=item.record.origin,
                )
        try:
            await stages.verify(partner, self._partners, self._freshness, fetched_at)
        except RegistryUnavailable as exc:
            raise TransientFailure(str(exc)) from exc

    async def _run(self, conn: Connection, read: Sequence[Prepared], batch: _Batch) -> list[Outcome]:
        async with conn.transaction():
            prepared = [replace(item, claim=None) for item in read]  # this run's own inbox claims
            if not batch.careful:  # the optimistic run claims the whole batch in one statement
                await self._claim_all(conn, prepared)
                await self._prefetch(conn, prepared, batch.unit)
            outcomes = [await self._guarded(conn, item, batch) for item in prepared]
            if not batch.careful:
                await self._flush(conn, batch.unit)
            if self.rebuilding:
                batch.outbox.clear()
            await outbox.append(conn, batch.outbox)
        return outcomes

    async def _prefetch(self, conn: Connection, prepared: Sequence[Prepared], unit: UnitOfWork) -> None:
        wanted: dict[str, list[Envelope]] = {}
        for item in prepared:
            if item.envelope is not None and item.handler is not None and item.claim is inbox.Claim.NEW:
                wanted.setdefault(item.route, []).append(item.envelope)
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

    async def _claim_all(self, conn: Connection, prepared: Sequence[Prepared]) -> None:
        wanted = [item for item in prepared if item.envelope is not None and item.consumed and item.refusal is None]
        try:
            claims = await inbox.claim_many(
                conn,
                [(item.envelope, item.record, item.replay is not None) for item in wanted],  # type: ignore[misc]
            )
        except _NEVER_ABSORBED:
            raise
        except Exception as exc:
            raise _NeedsCare(wanted[0].record) from exc
        for item, claim in zip(wanted, claims, strict=True):
            item.claim = claim

    async def _guarded(self, conn: Connection, item: Prepared, batch: _Batch) -> Outcome:
        record = item.record
        with self._tracing.consuming(record.topic, record.partition, record.offset, item.envelope) as span:
            try:
                outcome = await self._guarded_untraced(conn, item, batch)
            except BaseException as exc:
                if span is not None:
                    span.set_attribute("expert_teams.outcome", f"not decided: {type(exc).__name__}")
                    span.set_attribute(
                        "expert_teams.abandoned",
                        "this run of the batch was rolled back; the record is processed again",
                    )
                raise
            letter = outcome.letter
            record_outcome(span, outcome.kind, (letter.rule or letter.reason) if letter is not None else None)
            return outcome

    async def _guarded_untraced(self, conn: Connection, item: Prepared, batch: _Batch) -> Outcome:
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
    ) -> Outcome:
        """The record failed outside its handler's own refusals: dead-letter it, drop what it emitted."""
        del batch.outbox[mark:]
        detail = f"the record could not be processed: {type(exc).__name__}: {exc}"
        letter = DeadLetter("handler_error", detail, answer=OUR_FAULT)
        async with conn.transaction():
            outcome = await self._answers.dead_letter(conn, record, letter, None, batch.outbox)
        outcome.error = exc
        return outcome

    async def _process(self, conn: Connection, item: Prepared, batch: _Batch) -> Outcome:
        record, envelope, handler = item.record, item.envelope, item.handler
        if envelope is None:
            assert item.error is not None
            letter = DeadLetter(item.error.reason, item.error.detail)
            return await self._answers.dead_letter(conn, record, letter, None, batch.outbox)
        if not item.consumed:
            return Outcome("ignored", record, envelope)
        if item.refusal is not None:
            if item.refusal.reason in FRESHNESS and await inbox.received_before(conn, envelope):
                return Outcome("duplicate", record, envelope)  # the same event again, late: already answered
            return await self._refuse(conn, record, envelope, item.refusal, batch, claimed=False)
        claim = item.claim or await inbox.claim(conn, envelope, record, replay=item.replay is not None)
        if claim is inbox.Claim.DUPLICATE:
            return Outcome("duplicate", record, envelope)
        if claim is inbox.Claim.CONFLICT:
            detail = f"event id {envelope.id!r} from {envelope.source} was already used for different content"
            return await self._refuse(conn, record, envelope, DeadLetter("id_reused", detail), batch, claimed=False)
        if handler is None:
            detail = f"{envelope.type!r} is not an event type accepted on {record.topic}"
            return await self._refuse(conn, record, envelope, DeadLetter("unknown_type", detail), batch)
        try:
            stages.authorize(envelope, self._policy)
            data = stages.validate(envelope, self._registry)
            stages.bind_speaker(envelope, data)
        except stages.Refused as refused:
            return await self._refuse(conn, record, envelope, refused.letter, batch)
        return await self._apply(conn, record, envelope, handler, data, batch)

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
            tracing=self._tracing,
        )

    async def _apply(
        self,
        conn: Connection,
        record: Record,
        envelope: Envelope,
        handler: Handler,
        data: BaseModel,
        batch: _Batch,
    ) -> Outcome:
        if not batch.careful:
            context = self._context(conn, envelope, batch.unit)
            try:
                await self._timed(handler, context, data)
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                raise _NeedsCare(record) from exc
            batch.outbox.extend(context.emitted)
            return Outcome("applied", record, envelope, notes=context.notes, after_commit=context.work_after_commit)
        first = 2 if record == batch.attempted else 1  # its optimistic run was the first attempt
        backoff = Backoff(self._retry_backoff_s, self._retry_backoff_s * 8)
        for attempt in range(first, self._max_attempts + 1):
            context = self._context(conn, envelope)
            try:
                async with conn.transaction():
                    await self._timed(handler, context, data)
                    await context.unit.flush(conn)
                batch.outbox.extend(context.emitted)
                return Outcome("applied", record, envelope, notes=context.notes, after_commit=context.work_after_commit)
            except RuleBroken as rejection:
                letter = DeadLetter("business_rule", rejection.reason, rule=rejection.rule, answer=rejection.answer)
                return await self._refuse(conn, record, envelope, letter, batch)
            except Exception as exc:
                if isinstance(exc, TRANSIENT_ERRORS) and (not batch.distrust or not await _answers(conn)):
                    raise
                if attempt == self._max_attempts:
                    detail = f"{type(exc).__name__}: {exc} (after {attempt} attempts)"
                    letter = DeadLetter("handler_error", detail, answer=OUR_FAULT)
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
                    trace_id=trace_id_of(envelope),
                    attempt=attempt,
                    error=f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(backoff.next())
        letter = DeadLetter("handler_error", f"failed {self._max_attempts} times", answer=OUR_FAULT)
        return await self._refuse(conn, record, envelope, letter, batch)

    async def _timed(self, handler: Handler, context: MessageContext, data: BaseModel) -> None:
        with self._tracing.handling(context.envelope.type):
            if self._observer is None:
                await handler(context, data)
                return
            started = time.perf_counter()
            try:
                await handler(context, data)
            finally:
                self._observer.handled(context.envelope.type, time.perf_counter() - started)

    async def _refuse(
        self, conn: Connection, record: Record, envelope: Envelope, letter: DeadLetter, batch: _Batch, **kw: bool
    ) -> Outcome:
        return await self._answers.refuse(conn, record, envelope, letter, batch.outbox, **kw)


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
