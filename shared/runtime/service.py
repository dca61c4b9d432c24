"""One skeleton for every service process: settings -> database -> migrations -> outbox relay
-> Kafka consumer (FastStream) -> health endpoints. A service only supplies its name, its
subscriptions (event type -> handler) and its migrations folder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import structlog
from aiokafka.abc import ConsumerRebalanceListener
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST

from shared.clock import Clock, SystemClock
from shared.contract.authorization import SourcePolicy
from shared.contract.partners import PartnerRecord
from shared.db.migrations import load_stream, migrate
from shared.db.pool import create_pool, ensure_database
from shared.faults import CrashPoints
from shared.logging import RateLimit
from shared.messaging import transport
from shared.messaging.consumer import EventConsumer, TransientFailure
from shared.messaging.kafka import ensure_topics, faststream_security, make_producer, start_with_retry
from shared.messaging.partners import PartnerDirectory
from shared.messaging.records import Record
from shared.messaging.relay import OutboxRelay
from shared.messaging.routing import Subscription
from shared.policy import ProgrammePolicy
from shared.retry import Backoff, until_reachable
from shared.settings import KafkaSettings, ServiceSettings, load_policy
from shared.topics import (
    PARTNERS,
    REJECTIONS,
    SERVICES,
    TopicSpec,
    all_topics,
    deadletter,
    events,
    inbound_pattern,
    with_prefix,
)
from shared.tracing import Tracing, shut_down, tracer_provider_from_environment

from . import heap
from .clock_file import DrivenClock
from .fetching import prompt_batches
from .metrics import ServiceMetrics
from .timers import Timer, run_timer_forever, run_timer_once
from .watch import Partition, PartitionWatch, Stall

log = structlog.get_logger("shared.runtime")

MESSAGING_MIGRATIONS = Path(__file__).resolve().parent.parent / "messaging" / "migrations"


def _no_settings() -> None:
    return None


class MissingSetting(Exception):
    """A setting the service cannot start without, in words."""


@dataclass(frozen=True, slots=True)
class Page:
    """A page the service serves over HTTP beside its health endpoints (e.g. the public results).
    `render(pool, query, settings, now)` reads with the pool and answers (status, content type,
    body); `query` holds the URL's query parameters (the last value of each), `now` is the
    service's clock."""

    path: str
    render: Callable[[Any, Mapping[str, str], Any, datetime], Awaitable[tuple[int, str, bytes]]]


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    name: str
    subscriptions: Sequence[Subscription]
    migrations: Path
    description: str = ""
    timers: Sequence[Timer] | Callable[[Any], Sequence[Timer]] = ()
    """The service's scheduled work, or a function of its settings that makes it."""
    settings: Callable[[], object] = _no_settings
    """Reads the service's own settings from the environment; called once, at start. Its handlers
    and timers find the result in `ctx.settings`, beside the programme policy in `ctx.policy`."""
    pages: Sequence[Page] = ()


class PartitionsLog(ConsumerRebalanceListener):  # type: ignore[misc]
    """One log line each time the group gives this process partitions or takes them away (a
    replica joined or left, or a broker moved leadership), so that an operator sees rebalances."""

    def __init__(self, service: str) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            log.info("partitions revoked", service=self.service, partitions=_listed(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned", service=self.service, partitions=_listed(assigned), count=len(assigned))


def _listed(partitions: Any) -> str:
    return ",".join(sorted(f"{tp.topic}-{tp.partition}" for tp in partitions))


class ServiceRuntime:
    """The running parts of one service; `asgi_app()` wraps them for uvicorn."""

    def __init__(
        self,
        definition: ServiceDefinition,
        settings: ServiceSettings,
        kafka: KafkaSettings,
        *,
        clock: Clock | None = None,
        policy: ProgrammePolicy | None = None,
        service_settings: object = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """`tracer_provider`: where this service's spans go (tests give an in-memory one);
        by default the one OTEL_TRACES_EXPORTER describes, or none (shared/tracing.py)."""
        self.definition = definition
        self.settings = settings
        self.kafka = kafka
        self.policy = policy or load_policy()
        self.crash_points = CrashPoints.parse(settings.faults, record_to=settings.faults_log)
        self.service_settings = service_settings if service_settings is not None else definition.settings()
        timers = definition.timers
        self.timers: Sequence[Timer] = timers(self.service_settings) if callable(timers) else timers
        self.clock = clock or (DrivenClock(settings.clock_file) if settings.clock_file else SystemClock())
        if clock is None and settings.clock_file is not None:
            log.warning(
                "the programme's clock is driven from a file: a demo or test stack, not production",
                service=definition.name,
                clock_file=str(settings.clock_file),
                now=self.clock.now().isoformat(),
            )
        self.pool: asyncpg.Pool[Any] | None = None
        self.consumer: EventConsumer | None = None
        self.relay: OutboxRelay | None = None
        self.partners: PartnerDirectory | None = None
        """The key registry the consumer verifies signatures against (None: not required)."""
        self._relay_task: asyncio.Task[None] | None = None
        self._timer_tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._producer: Any = None
        self._backoff = Backoff(0.25, settings.transient_retry_max_backoff_s)
        self._failing: tuple[str, int] = ("", 0)
        self.records_in_flight = 0
        """Records of the batch being processed now (0 between batches)."""
        self.stopping_since: float | None = None
        self.batches_finished_while_stopping = 0
        self.stopped_cleanly = False
        """The first record of the batch that keeps failing, and how many times it failed."""
        self._rate = RateLimit(settings.repeated_error_log_interval_s)
        self.watch = PartitionWatch(settings.stall_after_s)
        self.stalls: list[Stall] = []
        self.outbox_age_s: float | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._subscriber: Any = None
        transport.install()
        self.metrics = ServiceMetrics(definition.name)
        self._own_tracer_provider = None if tracer_provider else tracer_provider_from_environment(definition.name)
        self.tracing = Tracing.of(tracer_provider or self._own_tracer_provider)
        self.broker = KafkaBroker(
            kafka.access.servers,
            security=faststream_security(kafka.access),
            middlewares=(
                [KafkaPrometheusMiddleware(registry=self.metrics.registry, app_name=definition.name)]
                if settings.metrics_enabled
                else []
            ),
            client_id=f"expert-teams-{definition.name}",
            allow_auto_create_topics=False,
            graceful_timeout=settings.shutdown_grace_s,
            logger=logging.getLogger(f"{definition.name}.faststream"),
            log_level=logging.DEBUG,
            request_timeout_ms=kafka.request_timeout_ms,
            metadata_max_age_ms=kafka.metadata_max_age_ms,
        )
        self.operators = settings.operators()
        """The operator's keys (OPERATOR_PUBLIC_KEYS): the registry's records and replay markers they sign are taken."""
        self._register_subscriber()

    def _topics_to_ensure(self) -> list[TopicSpec]:
        """Every topic of the programme when this service manages topics; otherwise the ones it
        reads and writes (all its principal may see on an authorizing broker)."""
        name = self.definition.name
        specs = all_topics(self.kafka.partitions, services=(*SERVICES, name))
        if self.kafka.manage_topics:
            return specs
        used = {s.topic for s in self.definition.subscriptions} | {events(name), deadletter(name), REJECTIONS, PARTNERS}
        return [spec for spec in specs if spec.name in used]

    # ---- consuming ------------------------------------------------------------------------

    @property
    def group_id(self) -> str:
        return f"{self.kafka.topic_prefix}{self.definition.name}{self.kafka.group_suffix}"

    @property
    def subscription_pattern(self) -> str:
        """Every topic the service reads: each partner's `<service>.inbound.<principal>` and the other
        services' events it takes, as one regular expression (a new partner's topic is joined at the
        consumer's next metadata refresh, or at once when the key registry names a new principal)."""
        prefix = self.kafka.topic_prefix
        names = [
            inbound_pattern(s.topic.removesuffix(".inbound"), prefix)
            if s.topic.endswith(".inbound")
            else re.escape(with_prefix(prefix, s.topic))
            for s in self.definition.subscriptions
        ]
        return "^(?:" + "|".join(names) + ")$"

    def _register_subscriber(self) -> None:
        pattern = self.subscription_pattern

        async def raw_records(message: Any) -> Any:
            return message.raw_message

        self._subscriber = self.broker.subscriber(
            pattern=pattern,
            group_id=self.group_id,
            batch=True,
            max_records=self.kafka.max_poll_records,
            batch_timeout_ms=self.kafka.batch_timeout_ms,
            fetch_max_wait_ms=self.kafka.fetch_max_wait_ms,
            session_timeout_ms=self.kafka.session_timeout_ms,
            heartbeat_interval_ms=self.kafka.heartbeat_interval_ms,
            max_poll_interval_ms=self.kafka.max_poll_interval_ms,
            listener=PartitionsLog(self.definition.name),
            auto_offset_reset="earliest",
            # Offsets are committed after our transaction commits (ack); any exception
            # seeks back to the batch's first offsets (nack) so nothing is skipped.
            ack_policy=AckPolicy.NACK_ON_ERROR,
            # Records reach us as stored: FastStream decodes no header (shared.messaging.transport).
            parser=transport.raw_batch_parser,
            decoder=raw_records,
            title=f"{self.definition.name} consumer",
            description=f"Consumer group {self.definition.name}: topics matching {pattern}",
        )

        prompt_batches(self._subscriber)  # a record that arrives is handled at once, not after a sleep

        @self._subscriber  # type: ignore[untyped-decorator]
        async def consume(records: Any) -> None:
            await self.handle_records([Record.from_consumer_record(r) for r in records])

    async def handle_records(self, records: list[Record]) -> None:
        """Process one fetched batch. A database outage rolls it back and has it redelivered
        (with backoff); a batch that keeps failing while the database answers is processed
        distrusting its records, so that nothing read from outside is retried forever."""
        assert self.consumer is not None, "the service has not started"
        if not records:
            return
        self.records_in_flight = len(records)
        try:
            await self._handle_batch(records)
        finally:
            self.records_in_flight = 0
        if self.stopping_since is not None:
            self.batches_finished_while_stopping += 1

    async def _handle_batch(self, records: list[Record]) -> None:
        assert self.consumer is not None
        first = records[0].origin
        failing_origin, failures = self._failing
        failures = failures if failing_origin == first else 0
        distrust = failures >= self.settings.redeliveries_before_distrust
        try:
            await self.consumer.process_batch(records, distrust=distrust)
            self.crash_points.hit("consumer.after_commit")  # committed in PostgreSQL, offsets not yet in Kafka
        except Exception as exc:
            self._failing = (first, failures + 1)
            delay = self._backoff.next()
            transient = isinstance(exc, TransientFailure)
            self._log_repeating(
                "database unreachable: batch rolled back, will be redelivered"
                if transient
                else "batch failed in the consumer pipeline (a defect): rolled back, will be redelivered",
                first=first,
                records=len(records),
                error=str(exc) if transient else f"{type(exc).__name__}: {exc}",
                failures=failures + 1,
                retry_in_s=delay,
                exc_info=None if transient else exc,
            )
            await asyncio.sleep(delay)
            raise NackMessage() from exc
        if distrust:
            log.warning(
                "a batch that failed repeatedly was processed record by record; failing records were dead-lettered",
                service=self.definition.name,
                first=first,
                failures=failures,
                records=len(records),
            )
        self._failing = ("", 0)
        self._backoff.reset()
        now = asyncio.get_running_loop().time()
        last: dict[Partition, int] = {}
        for record in records:
            partition = Partition(record.topic, record.partition)
            last[partition] = max(record.offset, last.get(partition, -1))
        for partition, offset in last.items():
            self.watch.applied(partition, offset, now)

    def _log_repeating(self, message: str, *, first: str, exc_info: BaseException | None = None, **fields: Any) -> None:
        allowed, held = self._rate.allow(message + first, asyncio.get_running_loop().time())
        if not allowed:
            return
        if held:
            fields["same_lines_held_back"] = held
        log.warning(message, service=self.definition.name, first=first, exc_info=exc_info, **fields)

    # ---- watching the consumer and the outbox -----------------------------------------------

    async def check_progress(self) -> None:
        """Look for stalled partitions and an outbox falling behind; log changes (rate-limited)."""
        now = asyncio.get_running_loop().time()
        consumer = self._subscriber.consumer if self._subscriber is not None else None
        stalls: list[Stall] = []
        if consumer is not None:
            assigned = consumer.assignment()
            self.watch.forget({Partition(tp.topic, tp.partition) for tp in assigned})
            highs: dict[Partition, int | None] = {}
            for tp in assigned:
                partition = Partition(tp.topic, tp.partition)
                if self.watch.needs_start(partition):
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(2):
                            self.watch.started_at(partition, await consumer.committed(tp), now)
                highs[partition] = consumer.highwater(tp)
            stalls = self.watch.stalls(highs, now)
            self.metrics.progress(self.watch.lag(highs), len(stalls))
        for stall in stalls:
            allowed, _ = self._rate.allow(f"stall {stall.partition}", now)
            if allowed:
                log.error(
                    "partition stalled: records are waiting and none has been applied",
                    service=self.definition.name,
                    partition=str(stall.partition),
                    backlog=stall.backlog,
                    waiting_at_offset=stall.next_offset,
                    stalled_for_s=round(stall.stalled_for_s),
                )
        for recovered in {s.partition for s in self.stalls} - {s.partition for s in stalls}:
            log.info("partition moving again", service=self.definition.name, partition=str(recovered))
        self.stalls = stalls
        backlog, self.outbox_age_s = await self._outbox_state()
        if backlog is not None:
            self.metrics.outbox(backlog, self.outbox_age_s or 0.0)
        limit = self.settings.outbox_max_age_s
        if self.outbox_age_s is not None and self.outbox_age_s > limit:
            allowed, _ = self._rate.allow("outbox", now)
            if allowed:
                log.error(
                    "outbox falling behind: its oldest unpublished row is older than allowed",
                    service=self.definition.name,
                    oldest_unpublished_s=round(self.outbox_age_s),
                    allowed_s=limit,
                )

    async def _outbox_state(self) -> tuple[int | None, float | None]:
        """Unpublished outbox rows and the age of the oldest (None, None: the database did not answer)."""
        if self.pool is None:
            return None, None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                row = await self.pool.fetchrow(_UNPUBLISHED)
            assert row is not None
            return int(row["backlog"]), float(row["oldest_age_s"] or 0.0)
        return None, None

    async def _watch_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.check_progress()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("progress check failed", service=self.definition.name, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.progress_check_interval_s)

    # ---- lifecycle ------------------------------------------------------------------------

    async def start_dependencies(self) -> None:
        settings, name = self.settings, self.definition.name
        if settings.database_create_if_missing:
            await until_reachable(
                lambda: ensure_database(settings.database_url), "database", errors=_UNREACHABLE_DATABASE
            )
        self.pool = await until_reachable(
            lambda: create_pool(
                settings.database_url,
                min_size=settings.database_pool_min,
                max_size=settings.database_pool_max,
            ),
            "database",
            errors=_UNREACHABLE_DATABASE,
        )
        async with self.pool.acquire() as conn:
            await migrate(
                conn,
                load_stream("messaging", MESSAGING_MIGRATIONS) + load_stream(name, self.definition.migrations),
            )
        await ensure_topics(
            self.kafka.access,
            self._topics_to_ensure(),
            prefix=self.kafka.topic_prefix,
            settings=self.kafka,
            create=self.kafka.manage_topics,
            fix=self.kafka.manage_topics,
        )
        await self._start_partner_directory()
        self.consumer = EventConsumer(
            service=name,
            pool=self.pool,
            subscriptions=self.definition.subscriptions,
            clock=self.clock,
            topic_prefix=self.kafka.topic_prefix,
            max_attempts=settings.handler_max_attempts,
            retry_backoff_s=settings.handler_retry_backoff_s,
            rebuilding=settings.rebuild,
            source_policy=SourcePolicy.of(overrides=settings.authorized_sources),
            policy=self.policy,
            settings=self.service_settings,
            observer=self.metrics if settings.metrics_enabled else None,
            tracing=self.tracing,
            partners=self.partners,
            operators=self.operators,
        )
        self._producer = make_producer(self.kafka, client_id=f"expert-teams-{name}-relay")
        await start_with_retry(self._producer.start, "relay producer")
        url = settings.database_url
        self.relay = OutboxRelay(
            pool=self.pool,
            connect=lambda: asyncpg.connect(url),
            producer=self._producer,
            renew_producer=self._renew_producer,
            batch_size=settings.outbox_batch_size,
            poll_interval_s=settings.outbox_poll_interval_s,
            max_backoff_s=settings.transient_retry_max_backoff_s,
            crash_points=self.crash_points,
            on_published=self.metrics.published if settings.metrics_enabled else None,
            tracing=self.tracing,
        )
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{name}-outbox-relay")
        self._watch_task = asyncio.create_task(self._watch_forever(), name=f"{name}-progress-watch")
        if settings.timers_enabled and not settings.rebuild:
            self._timer_tasks = [
                asyncio.create_task(
                    run_timer_forever(
                        self.pool,
                        timer if settings.timers_every_s is None else replace(timer, every_s=settings.timers_every_s),
                        service=name,
                        clock=self.clock,
                        topic_prefix=self.kafka.topic_prefix,
                        stopping=self._stopping,
                        policy=self.policy,
                        settings=self.service_settings,
                        observe=self.metrics.timer_ran,
                        tracing=self.tracing,
                    ),
                    name=f"{name}-timer-{timer.name}",
                )
                for timer in self.timers
            ]

    async def _start_partner_directory(self) -> None:
        if not self.settings.signatures_required:
            log.warning(
                "SIGNATURES_REQUIRED=false: events on the inbound topic are not verified, any client that may "
                "write it can claim any source; for benchmarks only, never in production",
                service=self.definition.name,
            )
            return
        if not self.operators:
            raise MissingSetting(
                "OPERATOR_PUBLIC_KEYS is required while SIGNATURES_REQUIRED is on: without the operator's keys no "
                "record of the key registry can be trusted (`expert-teams operator-key` prints the operator's)"
            )
        topic = with_prefix(self.kafka.topic_prefix, PARTNERS)
        self.partners = await PartnerDirectory(
            self.kafka.access, topic, self.operators, on_change=self._new_partner_key
        ).start()

    def _new_partner_key(self, record: PartnerRecord) -> None:
        """A key registered for a principal whose topics the consumer may not have joined yet: the
        operator creates a partner's topics before registering its key, so a metadata refresh now
        joins them without waiting for the periodic one (KAFKA_METADATA_MAX_AGE_MS)."""
        consumer = self._subscriber.consumer if self._subscriber is not None else None
        client = getattr(consumer, "_client", None)  # aiokafka offers no public call for this
        if record.active and client is not None:
            refreshed = asyncio.ensure_future(client.force_metadata_update())
            refreshed.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _renew_producer(self, old: Any) -> Any:
        """A new producer session for the relay after a failed publish (see shared.messaging.relay)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.stop(), timeout=5)
        self._producer = make_producer(self.kafka, client_id=f"expert-teams-{self.definition.name}-relay")
        await start_with_retry(self._producer.start, "relay producer")
        log.info("outbox relay producer restarted after a failed publish", service=self.definition.name)
        return self._producer

    async def run_timers_once(self) -> int:
        """Run every timer now (tests with a fixed clock; operators' manual trigger)."""
        assert self.pool is not None, "the service has not started"
        return sum(
            [
                await run_timer_once(
                    self.pool,
                    timer,
                    service=self.definition.name,
                    clock=self.clock,
                    topic_prefix=self.kafka.topic_prefix,
                    policy=self.policy,
                    settings=self.service_settings,
                    tracing=self.tracing,
                )
                for timer in self.timers
            ]
        )

    async def stop_dependencies(self) -> None:
        self._stopping.set()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        for task in self._timer_tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=self.settings.shutdown_grace_s)
        if self.relay is not None:
            self.relay.stop()
        if self._relay_task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._relay_task, timeout=self.settings.shutdown_grace_s)
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), timeout=5)
        if self.partners is not None:
            await self.partners.stop()
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), timeout=5)
        with contextlib.suppress(Exception):
            shut_down(self._own_tracer_provider)
        # clean only if the consumer stopped first (its batch in flight committed): a shutdown
        # hook that raised leaves the broker running and its consumer in the group
        self.stopped_cleanly = not self.broker.running
        log.info(
            "service stopped" if self.stopped_cleanly else "service stopped, but its Kafka consumer did not",
            service=self.definition.name,
            batches_finished_while_stopping=self.batches_finished_while_stopping,
        )

    async def start(self) -> None:
        """Start everything in-process (tests, tools); `asgi_app()` is the production path."""
        await self.start_dependencies()
        await self.broker.start()
        self._log_ready()

    async def stop(self) -> None:
        await self.broker.stop()
        await self.stop_dependencies()

    async def _log_stopping(self) -> None:
        """SIGTERM: the consumer stops fetching; a batch in flight is finished and committed first.
        A coroutine: FastStream runs a plain function hook in a worker thread, where there is no
        event loop, and a hook that raises ends the shutdown before the consumer is stopped."""
        self.stopping_since = asyncio.get_running_loop().time()
        log.info(
            "stopping: no new batch is fetched; the batch in flight is finished first",
            service=self.definition.name,
            records_in_flight=self.records_in_flight,
        )

    def _log_ready(self) -> None:
        assert self.consumer is not None
        log.info(
            "service ready",
            service=self.definition.name,
            consumes=self.consumer.topics,
            group=self.group_id,
            health=f"http://{self.settings.http_host}:{self.settings.http_port}/health/ready",
        )

    # ---- health ---------------------------------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        """Each check's state: "ok", or what is wrong in words."""
        checks = {"database": "down", "broker": "down", "outbox_relay": "down", "consumer": "ok", "outbox": "ok"}
        if self.pool is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self.pool.fetchval("SELECT 1")
                checks["database"] = "ok"
        with contextlib.suppress(Exception):
            if await self.broker.ping(timeout=1.0):
                checks["broker"] = "ok"
        if self._relay_task is not None and not self._relay_task.done():
            checks["outbox_relay"] = "ok" if self.relay and self.relay.is_leader else "standby"
        if self._subscriber is not None and any(task.done() for task in getattr(self._subscriber, "tasks", ())):
            checks["consumer"] = "stopped: the consume loop ended (see the log)"
        elif self.stalls:
            checks["consumer"] = "stalled: " + "; ".join(stall.describe() for stall in self.stalls)
        if self.outbox_age_s is not None and self.outbox_age_s > self.settings.outbox_max_age_s:
            checks["outbox"] = (
                f"behind: the oldest unpublished row is {self.outbox_age_s:.0f} s old "
                f"(allowed {self.settings.outbox_max_age_s:.0f} s)"
            )
        return checks

    @staticmethod
    def is_ready(checks: dict[str, str]) -> bool:
        return (
            checks["database"] == "ok"
            and checks["broker"] == "ok"
            and checks["outbox_relay"] != "down"
            and checks["consumer"] == "ok"
            and checks["outbox"] == "ok"
        )

    def asgi_app(self) -> AsgiFastStream:
        runtime = self

        @get(include_in_schema=False)
        async def live(scope: Any) -> AsgiResponse:
            return AsgiResponse(b'{"status":"alive"}', 200, headers={"content-type": "application/json"})

        @get(include_in_schema=False)
        async def ready(scope: Any) -> AsgiResponse:
            checks = await runtime.readiness()
            healthy = runtime.is_ready(checks)
            body = json.dumps(
                {
                    "status": "ready" if healthy else "unavailable",
                    **checks,
                    "records_in_flight": runtime.records_in_flight,  # what it is doing, for operators
                }
            ).encode()
            return AsgiResponse(body, 200 if healthy else 503, headers={"content-type": "application/json"})

        @asynccontextmanager
        async def lifespan() -> AsyncIterator[None]:
            await runtime.start_dependencies()
            try:
                yield
            finally:
                await runtime.stop_dependencies()

        @get(include_in_schema=False)
        async def metrics(scope: Any) -> AsgiResponse:
            if not runtime.settings.metrics_enabled:
                return AsgiResponse(b"metrics are off (METRICS_ENABLED=false)\n", 404)
            runtime.metrics.ready.labels(runtime.definition.name).set(
                1 if runtime.is_ready(await runtime.readiness()) else 0
            )
            return AsgiResponse(runtime.metrics.exposition(), 200, headers={"content-type": CONTENT_TYPE_LATEST})

        app = AsgiFastStream(
            self.broker,
            asgi_routes=[
                ("/health/live", live),
                ("/health/ready", ready),
                ("/metrics", metrics),
                *((page.path, self._page_handler(page)) for page in self.definition.pages),
            ],
            lifespan=lifespan,
            after_startup=[self._log_ready],
            on_shutdown=[self._log_stopping],
            logger=logging.getLogger(f"{self.definition.name}.faststream"),
        )
        return app

    def _page_handler(self, page: Page) -> Any:
        runtime = self

        @get(include_in_schema=False)
        async def handle(scope: Any) -> AsgiResponse:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("utf-8", errors="replace")))
            if runtime.pool is None:
                return AsgiResponse(b"starting\n", 503)
            status, content_type, body = await page.render(
                runtime.pool, query, runtime.service_settings, runtime.clock.now()
            )
            return AsgiResponse(body, status, headers={"content-type": content_type})

        return handle


_UNPUBLISHED = """
SELECT count(*) AS backlog, extract(epoch FROM clock_timestamp() - min(created_at)) AS oldest_age_s
FROM outbox WHERE published_at IS NULL
"""


_UNREACHABLE_DATABASE = (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError)


EXIT_STOP_INCOMPLETE = 3
"""The exit status when SIGTERM's shutdown did not finish stopping (the grace period ran out)."""


def _exit_after_shutdown(runtime: ServiceRuntime) -> Callable[[int, object], None]:
    """The status the re-raised signal ends the process with: 0 only when everything stopped."""

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(0 if runtime.stopped_cleanly else EXIT_STOP_INCOMPLETE)

    return exit_now


def run_service(definition: ServiceDefinition) -> None:
    """Entry point of `python -m services.<name>`: runs until SIGTERM / Ctrl-C."""
    from shared.logging import configure_logging

    settings = ServiceSettings()  # from the environment
    kafka = KafkaSettings()
    configure_logging(
        definition.name, fmt=settings.log_format, level=settings.log_level, instance=settings.service_instance
    )
    runtime = ServiceRuntime(definition, settings, kafka)
    app = runtime.asgi_app()
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal: the process
    # ends with status 0 if everything stopped (the batch in flight committed, the relay stopped).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_after_shutdown(runtime))
    heap.settle_after_start()  # the process's own: in-process services (the tests) keep theirs
    asyncio.run(
        app.run(
            log_level=logging.WARNING,
            run_extra_options={
                "host": settings.http_host,
                "port": settings.http_port,
                "log_config": None,
                "timeout_graceful_shutdown": int(settings.shutdown_grace_s),
            },
        )
    )
