"""Orders service throughput (events/s), against the raw consume+insert limit in the same run.

    .venv/bin/python -m bench.orders_throughput [--events 5000]

N `DemandSubmitted` events (N distinct orders, 石柱县 and 巫溪县) are written to
orders.inbound while the service is down; then the orders service starts as its own process
and drains them: consume -> validate -> inbox + order + history + outbox in one transaction
-> relay -> OrderSubmitted on orders.events. Throughput = outputs/s between the first and the
last OrderSubmitted seen. The raw baseline, on the same records: a plain aiokafka consumer
that does one asyncpg INSERT (autocommit) per event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.common import BENCH_DATA, write_result
from shared.contract.events.orders import DemandSubmitted
from shared.db.pool import ensure_database, with_database
from tests.builders import tea_demand, tianma_demand
from tools.client import ProgrammeClient, TopicObserver, envelope_for
from tools.stack.launcher import Stack


async def preload(stack: Stack, n: int, run: str) -> float:
    demands = {"500240": tianma_demand(), "500238": tea_demand()}
    started = time.perf_counter()
    async with ProgrammeClient(
        stack.kafka, topic_prefix=stack.topic_prefix, keyring=stack.partner_keyring(), enrol=True
    ) as client:
        producer = client._producer
        for i in range(n):
            county = "500240" if i % 2 else "500238"
            data = DemandSubmitted(order_id=f"{county}-{run}-{i}", demand=demands[county], submitted_by="县人力社保局")
            envelope = envelope_for(data, source=f"/counties/{county}", time=datetime.now(UTC))
            topic = client.topic("orders.inbound")
            value, headers = await client.signed(
                topic,
                envelope.source,
                envelope.to_structured_json(),
                [("content-type", b"application/cloudevents+json")],
            )
            await producer.send(topic, value, key=envelope.subject.encode(), headers=headers)
        await producer.flush()
    return n / (time.perf_counter() - started)


async def drain_through_service(stack: Stack, n: int, run: str) -> dict[str, Any]:
    async with TopicObserver(stack.kafka, [f"{stack.topic_prefix}orders.events"]) as observer:
        started = time.perf_counter()
        stack.start_service("orders")
        stack.wait_ready("orders")
        ready = time.perf_counter() - started
        outputs = await observer.wait_for(
            lambda o: o.type == "OrderSubmitted" and run in (o.subject or ""), count=n, timeout_s=600
        )
        first, last = outputs[0].seen_at, outputs[-1].seen_at
    return {"service_ready_s": round(ready, 2), "events": n, "events_per_s": round((n - 1) / (last - first))}


async def raw_consume_insert(stack: Stack, n: int) -> float:
    url = with_database(stack.server_url, f"bench_raw_{uuid.uuid4().hex[:6]}")
    await ensure_database(url)
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE raw_events (topic text, part int, off bigint, key bytea, value bytea)")
    consumer = AIOKafkaConsumer(
        f"{stack.topic_prefix}orders.inbound",
        **stack.kafka.aiokafka(),
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    done, first = 0, None
    try:
        while done < n:
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            for records in batches.values():
                for r in records:
                    first = first or time.perf_counter()
                    await conn.execute(
                        "INSERT INTO raw_events VALUES ($1, $2, $3, $4, $5)",
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key,
                        r.value,
                    )
                    done += 1
            if batches:
                await consumer.commit()
        assert first is not None
        return n / (time.perf_counter() - first)
    finally:
        await consumer.stop()
        await conn.close()


async def run(stack: Stack, n: int) -> dict[str, Any]:
    tag = f"B{uuid.uuid4().hex[:6]}"
    produce_rate = await preload(stack, n, tag)
    service = await drain_through_service(stack, n, tag)
    raw = await raw_consume_insert(stack, n)
    return {
        "preload_produce_per_s": round(produce_rate),
        "orders_service": service,
        "raw_consume_plus_insert_per_s": round(raw),
        "ratio_service_to_raw": round(service["events_per_s"] / raw, 3),
    }


def main() -> None:
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    n = parser.parse_args().events
    configure_logging("bench", fmt="console", level="WARNING")
    stack = Stack(services=(), data_dir=BENCH_DATA, fresh=True)
    stack.start()
    try:
        result = asyncio.run(run(stack, n))
    finally:
        stack.stop()
    print(json.dumps(result, indent=2))
    print(f"written to {write_result('orders_throughput', result)}")


if __name__ == "__main__":
    main()
