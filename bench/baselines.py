"""The hand-written loops each benchmark compares a service with, on the same records, in the
same run: what Kafka, PostgreSQL and this machine allow without our framework.

- `naive`: one autocommitted INSERT and one awaited produce per event, one offset commit per
  fetch (the baseline of the first benchmarks; kept for continuity).
- `tuned`: per fetch (up to 2,000 records over every partition), one transaction with one
  `COPY` of every record, every output
  produced without waiting for each (the producer batches them), then one offset commit once
  the batch's outputs are acknowledged. This is the limit a service should be compared with.
- `guaranteed`: the tuned loop plus what the handbook requires of every consumer, and nothing
  else (no validation, no signatures, no domain state): per fetch one transaction that claims
  each record in an inbox keyed by the event's (source, id) (`INSERT .. ON CONFLICT DO NOTHING`,
  the only parse is reading those two members) and writes one outbox row per claimed record with
  one `COPY`; offsets are committed after it; a relay task in the same process publishes the
  outbox rows in order and marks them published. Its events/s run to the last row marked. It
  is the ceiling of any service that keeps the inbox, the outbox and the relay on this machine.

Both consume the topic from the beginning with a new group and store (topic, partition, offset,
key, value) per event; `produce_to` (a topic) re-publishes each value, as a service publishes an
output per input; None produces nothing (a rebuild emits nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.db.pool import ensure_database, with_database
from shared.topics import inbound_pattern
from tools.stack.launcher import Stack

Loop = Callable[[Stack, str, int, "str | None"], Awaitable[float]]

_TABLE = "CREATE TABLE raw_events (topic text, part int, off bigint, key bytea, value bytea)"


async def naive(stack: Stack, topic: str, n: int, produce_to: str | None = None) -> float:
    """Events/s of one autocommitted INSERT and one awaited produce per event."""

    async def handle(conn: asyncpg.Connection, producer: AIOKafkaProducer | None, records: Sequence[Any]) -> None:
        futures = []
        for r in records:
            await conn.execute("INSERT INTO raw_events VALUES ($1, $2, $3, $4, $5)", *_row(r))
            if producer is not None and produce_to is not None:
                futures.append(await producer.send(produce_to, r.value, key=r.key))
        await asyncio.gather(*futures)

    return await _loop(stack, topic, n, produce_to, handle, linger_ms=2)


async def tuned(stack: Stack, topic: str, n: int, produce_to: str | None = None) -> float:
    """Events/s of one transaction and one COPY per fetched batch, outputs produced unawaited."""

    async def handle(conn: asyncpg.Connection, producer: AIOKafkaProducer | None, records: Sequence[Any]) -> None:
        async with conn.transaction():
            await conn.copy_records_to_table("raw_events", records=[_row(r) for r in records])
        if producer is not None and produce_to is not None:
            sent = [producer.send(produce_to, r.value, key=r.key) for r in records]
            await asyncio.gather(*(await asyncio.gather(*sent)))

    return await _loop(stack, topic, n, produce_to, handle, linger_ms=5, max_records=2000, batch_bytes=1024 * 1024)


_GUARANTEED_TABLES = """
CREATE TABLE inbox (source text, event_id text, topic text, part int, off bigint, value bytea,
                    PRIMARY KEY (source, event_id));
CREATE TABLE outbox (seq bigserial PRIMARY KEY, topic text NOT NULL, key bytea, value bytea NOT NULL,
                     published_at timestamptz);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
"""
_CLAIM = """
INSERT INTO inbox SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::bytea[])
ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id
"""


async def guaranteed(stack: Stack, topic: str, n: int, produce_to: str | None = None) -> float:
    """Events/s of the tuned loop with an inbox claim and an outbox row per event in its
    transaction, and a relay publishing the outbox (to the last row marked published)."""
    relay = _FloorRelay()

    async def handle(conn: asyncpg.Connection, producer: AIOKafkaProducer | None, records: Sequence[Any]) -> None:
        ids = [orjson.loads(r.value) for r in records]
        columns = (
            [d["source"] for d in ids],
            [d["id"] for d in ids],
            [r.topic for r in records],
            [r.partition for r in records],
            [r.offset for r in records],
            [r.value for r in records],
        )
        async with conn.transaction():
            claimed = {(row["source"], row["event_id"]) for row in await conn.fetch(_CLAIM, *columns)}
            if produce_to is not None:
                new = [(d["source"], d["id"]) in claimed for d in ids]
                outputs = [(produce_to, r.key, r.value) for r, is_new in zip(records, new, strict=True) if is_new]
                await conn.copy_records_to_table("outbox", records=outputs, columns=("topic", "key", "value"))
        relay.wake()

    return await _loop(
        stack,
        topic,
        n,
        produce_to,
        handle,
        linger_ms=5,
        max_records=2000,
        batch_bytes=1024 * 1024,
        tables=_GUARANTEED_TABLES,
        relay=relay,
    )


class _FloorRelay:
    """The guaranteed loop's relay: outbox rows in seq order, sent together, marked once
    acknowledged, until the loop has consumed everything and no row is left unpublished."""

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()
        self._consumed = False

    def wake(self) -> None:
        self._wakeup.set()

    def consumed(self) -> None:
        self._consumed = True
        self._wakeup.set()

    async def run(self, url: str, producer: AIOKafkaProducer | None) -> None:
        if producer is None:
            return
        conn = await asyncpg.connect(url)
        try:
            while True:
                self._wakeup.clear()
                rows = await conn.fetch(
                    "SELECT seq, topic, key, value FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 2000"
                )
                if not rows:
                    if self._consumed:
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), timeout=0.1)
                    continue
                sent = [producer.send(row["topic"], row["value"], key=row["key"]) for row in rows]
                await asyncio.gather(*(await asyncio.gather(*sent)))
                await conn.execute(
                    "UPDATE outbox SET published_at = clock_timestamp() WHERE seq = ANY($1::bigint[])",
                    [row["seq"] for row in rows],
                )
        finally:
            await conn.close()


def _row(r: Any) -> tuple[str, int, int, bytes | None, bytes | None]:
    return (r.topic, r.partition, r.offset, r.key, r.value)


async def _loop(
    stack: Stack,
    topic: str,
    n: int,
    produce_to: str | None,
    handle: Callable[[asyncpg.Connection, AIOKafkaProducer | None, Sequence[Any]], Awaitable[None]],
    linger_ms: int,
    max_records: int = 500,
    batch_bytes: int = 16384,
    tables: str = _TABLE,
    relay: _FloorRelay | None = None,
) -> float:
    url = with_database(stack.server_url, f"bench_raw_{uuid.uuid4().hex[:6]}")
    await ensure_database(url)
    conn = await asyncpg.connect(url)
    await conn.execute(tables)
    consumer = AIOKafkaConsumer(
        **stack.kafka.aiokafka(),
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    producer = (
        AIOKafkaProducer(**stack.kafka.aiokafka(), acks="all", linger_ms=linger_ms, max_batch_size=batch_bytes)
        if produce_to is not None
        else None
    )
    if topic.endswith(".inbound"):  # every partner's topic of the service, as the service reads them
        consumer.subscribe(pattern="^" + inbound_pattern(topic.removesuffix(".inbound"), stack.topic_prefix) + "$")
    else:
        consumer.subscribe([f"{stack.topic_prefix}{topic}"])
    await consumer.start()
    if producer is not None and produce_to is not None:
        await producer.start()
        # the clock starts at the first record: connect and authenticate to every leader of the
        # output topic first, as a running service already has
        for partition in sorted(await producer.partitions_for(produce_to)):
            await producer.send_and_wait(produce_to, b"{}", key=b"bench-warm-up", partition=partition)
    await conn.execute("SELECT 1")
    done, first = 0, None
    relaying = asyncio.create_task(relay.run(url, producer)) if relay is not None else None
    try:
        while done < n:
            batches = await consumer.getmany(timeout_ms=100, max_records=max_records)
            fetched = [r for records in batches.values() for r in records]
            if fetched:
                first = first or time.perf_counter()
                await handle(conn, producer, fetched)
                done += len(fetched)
                await consumer.commit()
        if relay is not None and relaying is not None:
            relay.consumed()
            await relaying
        assert first is not None
        return n / (time.perf_counter() - first)
    finally:
        if relaying is not None and not relaying.done():
            relaying.cancel()
        await consumer.stop()
        if producer is not None:
            await producer.stop()
        await conn.close()


async def both(stack: Stack, topic: str, n: int, produce_to: str | None = None) -> dict[str, float]:
    """The baselines on the same records, one after the other (each with its own group)."""
    return {
        "naive": await naive(stack, topic, n, produce_to),
        "tuned": await tuned(stack, topic, n, produce_to),
        "guaranteed": await guaranteed(stack, topic, n, produce_to),
    }
