"""The outbox relay: publishes committed outbox rows to Kafka, in order, and marks them sent.

- Order: rows are read by `seq`; one relay per database holds an advisory lock, so replicas
  of a service never publish concurrently (per-key order = commit order).
- Prompt: a trigger on the outbox notifies the relay when the writing transaction commits
  (messaging migration 0004); a poll every `poll_interval_s` covers a lost notification.
- Batches: up to `batch_size` rows are handed to the producer at once and awaited together.
- At least once: a crash between the broker's ack and the UPDATE republishes those rows;
  consumers drop the copies by (source, id) in their inbox.
- Order per key under broker errors: a row is marked published only if no earlier row of its
  key (topic, Kafka key) failed in the same batch; the failed row and every later row of its
  key are published again, in order. The producer is idempotent (acks=all), so within one
  producer session the broker refuses a batch that would overtake a lost earlier one of its
  partition; after a failure the relay starts a new producer session (`renew_producer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from shared.faults import NO_CRASHES, CrashPoints
from shared.retry import Backoff
from shared.tracing import NO_TRACING, Tracing

from .kafka import track_topic
from .outbox import NOTIFY_CHANNEL

log = structlog.get_logger("shared.messaging.relay")

RELAY_LOCK_KEY = 0x5EED_0002

_SELECT = """
SELECT seq, topic, kafka_key, value, header_names, header_values, event_type
FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1
"""
_MARK = "UPDATE outbox SET published_at = clock_timestamp() WHERE seq = ANY($1::bigint[])"


class RelayPublishError(RuntimeError):
    pass


class UnpublishableRow(RelayPublishError):
    """The broker can never take this row as it is (e.g. larger than its message size limit):
    retrying cannot help, and every row after it waits (per-key order). An operator must act."""


class OutboxRelay:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        connect: Callable[[], Awaitable[asyncpg.Connection[Any]]],
        producer: AIOKafkaProducer,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        max_backoff_s: float = 10.0,
        renew_producer: Callable[[AIOKafkaProducer], Awaitable[AIOKafkaProducer]] | None = None,
        crash_points: CrashPoints = NO_CRASHES,
        on_published: Callable[[Sequence[str], float], None] | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._pool = pool
        self._tracing = tracing
        self._on_published = on_published
        """Told the event types of the rows each batch published (a dead letter is "") and how long the
        broker took to acknowledge the batch."""
        self._crash_points = crash_points
        self._connect = connect
        self._producer = producer
        self._renew_producer = renew_producer
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._max_backoff_s = max_backoff_s
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self.published_total = 0
        self.is_leader = False

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Relay until stop(); survives database and broker outages with backoff."""
        backoff = Backoff(0.2, self._max_backoff_s)
        while not self._stopping.is_set():
            try:
                await self._lead_or_stand_by()
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except UnpublishableRow as exc:
                self.is_leader = False
                delay = backoff.next()
                log.error(
                    "outbox row can never be published; the relay is blocked behind it until an operator acts",
                    error=str(exc),
                    retry_in_s=round(delay, 1),
                )
                await self._sleep(delay)
            except Exception as exc:
                self.is_leader = False
                delay = backoff.next()
                log.warning(
                    "outbox relay interrupted; retrying",
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in_s=round(delay, 1),
                )
                await self._sleep(delay)
                if isinstance(exc, RelayPublishError) and self._renew_producer is not None:
                    with contextlib.suppress(Exception):
                        self._producer = await self._renew_producer(self._producer)

    async def _lead_or_stand_by(self) -> None:
        conn = await self._connect()
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                log.debug("another relay holds the outbox lock; standing by")
                await self._sleep(max(self._poll_interval_s, 2.0))
                return
            self.is_leader = True
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            await self._pump(conn)
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _pump(self, lock_conn: asyncpg.Connection[Any]) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            published = await self.publish_pending()
            if published >= self._batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval_s)
            if lock_conn.is_closed():
                raise ConnectionError("the relay's lock connection closed")

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_SELECT, self._batch_size)
        if not rows:
            return 0
        futures = []
        started, started_ns = time.perf_counter(), time.time_ns()
        for row in rows:
            headers = list(zip(row["header_names"], row["header_values"], strict=True))
            try:
                track_topic(self._producer, row["topic"])
                futures.append(
                    await self._producer.send(row["topic"], row["value"], key=row["kafka_key"], headers=headers)
                )
            except MessageSizeTooLargeError as exc:
                raise UnpublishableRow(
                    f"outbox row {row['seq']} ({row['event_type'] or 'dead letter'}, {len(row['value']):,} bytes) "
                    f"is larger than the broker takes: {exc}"
                ) from exc
        acked_ns = self._acknowledgement_times(futures)
        results = await asyncio.gather(*futures, return_exceptions=True)
        acknowledged_in = time.perf_counter() - started
        sent = _publishable_in_order(rows, results)
        self._crash_points.hit("relay.after_publish")  # acknowledged by the broker, not yet marked published
        if sent:
            async with self._pool.acquire() as conn:
                await conn.execute(_MARK, sent)
            self.published_total += len(sent)
            if acked_ns is not None:
                self._trace(rows, sent, acked_ns, started_ns)
            if self._on_published is not None:
                published = set(sent)
                self._on_published(
                    [row["event_type"] or "" for row in rows if row["seq"] in published], acknowledged_in
                )
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            topics = sorted({row["topic"] for row, r in zip(rows, results, strict=True) if isinstance(r, Exception)})
            raise RelayPublishError(
                f"{len(failures)} of {len(rows)} outbox rows were not acknowledged by the broker "
                f"({len(rows) - len(sent)} will be published again, in order; topics {', '.join(topics)}): "
                f"{failures[0]!r}"
            )
        log.debug("outbox batch published", rows=len(sent), first_seq=rows[0]["seq"])
        return len(sent)

    def _acknowledgement_times(self, futures: Sequence[asyncio.Future[Any]]) -> list[int] | None:
        """When tracing, the moment the broker acknowledged each row (filled in as they come)."""
        if not self._tracing.enabled:
            return None
        times = [0] * len(futures)

        def acknowledged(index: int) -> Callable[[object], None]:
            return lambda _: times.__setitem__(index, time.time_ns())

        for index, future in enumerate(futures):
            future.add_done_callback(acknowledged(index))
        return times

    def _trace(self, rows: Sequence[Any], sent: Sequence[int], acked_ns: Sequence[int], started_ns: int) -> None:
        published = set(sent)
        for row, acked in zip(rows, acked_ns, strict=True):
            if row["seq"] in published:
                headers = list(zip(row["header_names"], row["header_values"], strict=True))
                self._tracing.published(row["topic"], headers, started_ns, acked or time.time_ns())

    @property
    def producer(self) -> AIOKafkaProducer:
        return self._producer

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def _publishable_in_order(rows: Sequence[Any], results: Sequence[object]) -> list[int]:
    """The rows acknowledged by the broker that no earlier failed row of their key precedes."""
    failed_keys: set[tuple[str, bytes | None]] = set()
    sent: list[int] = []
    for row, result in zip(rows, results, strict=True):
        key = (row["topic"], row["kafka_key"])
        if isinstance(result, BaseException):
            failed_keys.add(key)
        elif key not in failed_keys:
            sent.append(row["seq"])
    return sent
