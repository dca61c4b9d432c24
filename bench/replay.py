"""Rebuilding a service's state from its input topics.

    .venv/bin/python -m bench.replay [--events 1000000] [--consumers 2]
    BENCH_SERVICE_LOG_LEVEL=INFO ...   # the rebuild processes log one line per batch (its size)

The orders service's input topic holds `--events` events (half DemandSubmitted, half
DemandEndorsed of the same orders: each endorsement reads the order the submission wrote).
A fresh orders service (empty database) in rebuild mode (REBUILD=true, docs/messaging.md)
then consumes the topic from the beginning: every event is parsed, authorized, validated,
claimed in the inbox and applied to the order through the same handlers and unit of work as
in normal running; nothing is emitted. Figures: events/s of the rebuild, beside the raw limit
measured in the same run (a plain aiokafka consumer reading the same topic and doing nothing
else), and the producer's rate of writing the topic, for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench import baselines
from bench.common import BENCH_DATA, write_result
from shared.contract.events.orders import DemandEndorsed, DemandSubmitted
from shared.contract.partners import principal_of
from shared.messaging.kafka import track_topic
from shared.topics import partner_inbound
from tools.client import ProgrammeClient, envelope_for
from tools.scenario.seed import generate
from tools.stack.embedded import REPO_ROOT, free_port
from tools.stack.launcher import Stack


async def fill(stack: Stack, events: int) -> float:
    order = generate(3).orders[2]
    county, source = order.county_code, f"/counties/{order.county_code}"
    started = time.perf_counter()
    async with ProgrammeClient(
        stack.kafka,
        topic_prefix=stack.topic_prefix,
        keyring=stack.partner_keyring(),
        enrol=True,
        operator=stack.operator,
    ) as client:
        producer, topic = client._producer, client.topic_of("DemandSubmitted", source)
        futures = []
        for i in range(events // 2):
            order_id = f"{county}-R{i}"
            for data in (
                DemandSubmitted(order_id=order_id, demand=order.demand, submitted_by=order.submitted_by),
                DemandEndorsed(order_id=order_id, endorsed_by=order.submitted_by),
            ):
                envelope = envelope_for(data, source=source, time=datetime.now(UTC))
                value, headers = await client.signed(
                    topic, source, envelope.to_structured_json(), [("content-type", b"application/cloudevents+json")]
                )
                track_topic(producer, topic)
                futures.append(await producer.send(topic, value, key=order_id.encode(), headers=headers))
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    return events / (time.perf_counter() - started)


async def read_raw(stack: Stack, events: int) -> float:
    """The broker's limit: a plain consumer reading the topic from the beginning."""
    consumer = AIOKafkaConsumer(
        stack.topic_prefix + partner_inbound("orders", principal_of(f"/counties/{generate(3).orders[2].county_code}")),
        **stack.kafka.aiokafka(),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    try:
        seen, started = 0, time.perf_counter()
        while seen < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batches.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def start_rebuilders(stack: Stack, consumers: int) -> list[subprocess.Popen[bytes]]:
    """`consumers` orders processes in rebuild mode, one consumer group sharing the partitions."""
    log_level = os.environ.get("BENCH_SERVICE_LOG_LEVEL", "WARNING")  # INFO: one line per rebuilt batch
    stack.extra_env.update({"REBUILD": "true", "KAFKA_MAX_POLL_RECORDS": "2000", "LOG_LEVEL": log_level})
    stack.start_service("orders")
    stack.wait_ready("orders")
    more = []
    for _ in range(consumers - 1):
        env = stack.service_env("orders") | {"HTTP_PORT": str(free_port())}
        more.append(subprocess.Popen([sys.executable, "-m", "services.orders"], cwd=REPO_ROOT, env=env))
    return more


async def rebuild(stack: Stack, events: int) -> dict[str, Any]:
    conn = await asyncpg.connect(stack.database_url("orders"))
    try:
        first_at, first_count, last_report = None, 0, time.monotonic()
        while True:
            done = int(await conn.fetchval("SELECT count(*) FROM inbox"))
            now = time.monotonic()
            if done and first_at is None:
                first_at, first_count = now, done
            if now - last_report > 30:
                print(f"  rebuilt {done}/{events}", flush=True)
                last_report = now
            if done >= events:
                break
            await asyncio.sleep(0.25)
        orders = int(await conn.fetchval("SELECT count(*) FROM orders WHERE status = 'endorsed'"))
    finally:
        await conn.close()
    assert first_at is not None
    return {"events_per_s": round((done - first_count) / (now - first_at)), "orders_endorsed": orders}


def main() -> None:
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--consumers", type=int, default=1, help="rebuild processes sharing the partitions")
    args = parser.parse_args()
    configure_logging("bench", fmt="console", level="WARNING")
    stack = Stack(services=(), data_dir=BENCH_DATA, fresh=True)
    stack.start()
    try:
        produce_rate = asyncio.run(fill(stack, args.events))
        print(f"  topic filled: {args.events} events at {produce_rate:.0f}/s", flush=True)
        raw_rate = asyncio.run(read_raw(stack, args.events))
        print(f"  raw read: {raw_rate:.0f} events/s", flush=True)
        tuned_rate = asyncio.run(baselines.tuned(stack, "orders.inbound", args.events))
        print(f"  tuned consume + COPY per batch: {tuned_rate:.0f} events/s", flush=True)
        guaranteed_rate = asyncio.run(baselines.guaranteed(stack, "orders.inbound", args.events))
        print(f"  the tuned loop with an inbox claim per event: {guaranteed_rate:.0f} events/s", flush=True)
        more = start_rebuilders(stack, args.consumers)
        try:
            rebuilt = asyncio.run(rebuild(stack, args.events))
        finally:
            for process in more:
                process.terminate()
                process.wait(30)
        result = {
            "events": args.events,
            "consumers": args.consumers,
            "fill_events_per_s": round(produce_rate),
            "raw_read_events_per_s": round(raw_rate),
            "tuned_events_per_s": round(tuned_rate),
            "guaranteed_events_per_s": round(guaranteed_rate),
            **rebuilt,
            "ratio_to_tuned": round(rebuilt["events_per_s"] / tuned_rate, 3),
            "ratio_to_raw_read": round(rebuilt["events_per_s"] / raw_rate, 3),
            "ratio_to_guaranteed": round(rebuilt["events_per_s"] / guaranteed_rate, 3),
        }
    finally:
        stack.stop()
    print(result)
    print(f"written to {write_result('replay', result)}")


if __name__ == "__main__":
    main()
