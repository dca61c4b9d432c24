"""Outbox relay latency and throughput, against the raw producer in the same run.

    .venv/bin/python -m bench.relay_latency [--rows 20000]

Latency = the writer's commit (outbox.created_at, clock_timestamp at insert) to the broker's
ack (published_at), read from the outbox table itself; idle (one event at a time, 20 ms
apart) and under load (4 writers committing as fast as they can, each event its own
transaction). Capacity = rows/s the relay drains from a backlog written while it was down.
The raw baseline is aiokafka send_and_wait one message at a time (ack latency) and
send+flush (throughput) in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import time
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.common import percentiles, write_result
from shared.db.migrations import load_stream, migrate
from shared.db.pool import create_pool, drop_database, ensure_database, with_database
from shared.messaging import outbox
from shared.messaging.kafka import ensure_topics, make_producer
from shared.messaging.relay import OutboxRelay
from shared.runtime.service import MESSAGING_MIGRATIONS
from shared.settings import KafkaSettings
from shared.topics import TopicSpec
from tools.stack.embedded import DATA_DIR, EmbeddedPostgres
from tools.stack.kafka import KafkaBroker

TOPIC = "bench.relay"


async def latencies(pool: asyncpg.Pool[Any], since_seq: int) -> list[float]:
    rows = await pool.fetch(
        "SELECT extract(epoch FROM published_at - created_at) * 1000 AS ms FROM outbox WHERE seq > $1", since_seq
    )
    return [float(r["ms"]) for r in rows]


async def wait_published(pool: asyncpg.Pool[Any]) -> None:
    while await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
        await asyncio.sleep(0.01)


async def write(pool: asyncpg.Pool[Any], n: int, key: str) -> None:
    value = json.dumps({"payload": "x" * 180}).encode()
    for _ in range(n):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.append(conn, [outbox.OutboxMessage(topic=TOPIC, key=key.encode(), value=value)])


async def raw_baseline(bootstrap: str, n: int) -> dict[str, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        value = b"x" * 200
        acks = []
        for _ in range(500):
            started = time.perf_counter()
            await producer.send_and_wait(TOPIC, value, key=b"k")
            acks.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for i in range(n):
            await producer.send(TOPIC, value, key=str(i % 64).encode())
        await producer.flush()
        rate = n / (time.perf_counter() - started)
    finally:
        await producer.stop()
    return {"send_and_wait_ms": percentiles(acks), "send_flush_msgs_per_s": round(rate)}


async def main(rows: int) -> dict[str, Any]:
    shutil.rmtree(DATA_DIR / "bench-kafka", ignore_errors=True)
    broker = KafkaBroker(DATA_DIR / "bench-kafka").start()
    postgres = EmbeddedPostgres(DATA_DIR / "bench-postgres").start()
    url = with_database(postgres.url, f"bench_relay_{uuid.uuid4().hex[:6]}")
    try:
        await ensure_database(url)
        await ensure_topics(broker.bootstrap_servers, [TopicSpec(TOPIC, 6, "bench")])
        pool = await create_pool(url, max_size=8)
        async with pool.acquire() as conn:
            await migrate(conn, load_stream("messaging", MESSAGING_MIGRATIONS))
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        producer = make_producer(settings, "bench-relay")
        await producer.start()
        relay = OutboxRelay(pool=pool, connect=lambda: asyncpg.connect(url), producer=producer, batch_size=500)
        task = asyncio.create_task(relay.run())
        await asyncio.sleep(0.5)

        seq0 = int(await pool.fetchval("SELECT coalesce(max(seq), 0) FROM outbox"))
        for _ in range(300):
            await write(pool, 1, "idle")
            await asyncio.sleep(0.02)
        await wait_published(pool)
        idle = percentiles(await latencies(pool, seq0))

        seq1 = int(await pool.fetchval("SELECT coalesce(max(seq), 0) FROM outbox"))
        started = time.perf_counter()
        await asyncio.gather(*(write(pool, rows // 4, f"load-{w}") for w in range(4)))
        committed = time.perf_counter() - started
        await wait_published(pool)
        relayed = time.perf_counter() - started
        loaded = percentiles(await latencies(pool, seq1))
        relay.stop()
        await task

        value = json.dumps({"payload": "x" * 180}).encode()
        async with pool.acquire() as conn, conn.transaction():
            await outbox.append(
                conn, [outbox.OutboxMessage(topic=TOPIC, key=f"k{i % 64}".encode(), value=value) for i in range(rows)]
            )
        backlog = OutboxRelay(pool=pool, connect=lambda: asyncpg.connect(url), producer=producer, batch_size=500)
        task = asyncio.create_task(backlog.run())
        asked = time.perf_counter()
        while not backlog.is_leader:  # the stopped relay's lock may take a moment to go: then it waits 2 s
            await asyncio.sleep(0.001)
        started = time.perf_counter()
        lock_wait = started - asked
        await wait_published(pool)
        drain_rate = rows / (time.perf_counter() - started)
        backlog.stop()
        await task
        await producer.stop()
        await pool.close()
        baseline = await raw_baseline(broker.bootstrap_servers, rows)
        return {
            "rows_under_load": rows,
            "relay_latency_idle_ms": idle,
            "relay_latency_under_load_ms": loaded,
            "writers_commit_rate_per_s": round(rows / committed),
            "relay_kept_up_rows_per_s": round(rows / relayed),
            "relay_backlog_drain_rows_per_s": round(drain_rate),
            "relay_backlog_lock_wait_s": round(lock_wait, 3),
            "raw_producer": baseline,
            "ratio_relay_drain_to_raw_send": round(drain_rate / baseline["send_flush_msgs_per_s"], 3),
        }
    finally:
        with contextlib.suppress(Exception):
            await drop_database(url)
        broker.stop()
        postgres.stop()


if __name__ == "__main__":
    from shared.logging import configure_logging

    configure_logging("bench", fmt="console", level="WARNING")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    result = asyncio.run(main(parser.parse_args().rows))
    print(json.dumps(result, indent=2))
    print(f"written to {write_result('relay_latency', result)}")
