"""Orders service throughput (events/s), against the raw consume+insert limit in the same run.

    .venv/bin/python -m bench.orders_throughput [--events 5000]

N `DemandSubmitted` events (N distinct orders, 石柱县 and 巫溪县) are written to
orders.inbound while the service is down; then the orders service starts as its own process
and drains them: consume -> validate -> inbox + order + history + outbox in one transaction
-> relay -> OrderSubmitted on orders.events. Throughput = outputs/s between the first and the
last OrderSubmitted seen. The baselines, on the same records: bench/baselines.py's `tuned`
loop (one transaction and one COPY per batch, outputs produced unawaited) and `naive` loop (one
autocommitted INSERT and one awaited produce per event).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench import baselines
from bench.common import BENCH_DATA, write_result
from shared.contract.events.orders import DemandSubmitted
from shared.messaging.kafka import track_topic
from tests.builders import tea_demand, tianma_demand
from tools.client import ProgrammeClient, TopicObserver, envelope_for
from tools.stack.launcher import Stack


async def preload(stack: Stack, n: int, run: str) -> float:
    demands = {"500240": tianma_demand(), "500238": tea_demand()}
    started = time.perf_counter()
    async with ProgrammeClient(
        stack.kafka,
        topic_prefix=stack.topic_prefix,
        keyring=stack.partner_keyring(),
        enrol=True,
        operator=stack.operator,
    ) as client:
        producer = client._producer
        for i in range(n):
            county = "500240" if i % 2 else "500238"
            data = DemandSubmitted(order_id=f"{county}-{run}-{i}", demand=demands[county], submitted_by="县人力社保局")
            envelope = envelope_for(data, source=f"/counties/{county}", time=datetime.now(UTC))
            topic = client.topic_of("DemandSubmitted", envelope.source)
            value, headers = await client.signed(
                topic,
                envelope.source,
                envelope.to_structured_json(),
                [("content-type", b"application/cloudevents+json")],
            )
            track_topic(producer, topic)
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


async def run(stack: Stack, n: int) -> dict[str, Any]:
    tag = f"B{uuid.uuid4().hex[:6]}"
    produce_rate = await preload(stack, n, tag)
    service = await drain_through_service(stack, n, tag)
    stack.stop_service("orders")
    limits = await baselines.both(stack, "orders.inbound", n, produce_to=f"{stack.topic_prefix}rejections")
    return {
        "preload_produce_per_s": round(produce_rate),
        "orders_service": service,
        "tuned_events_per_s": round(limits["tuned"]),
        "naive_events_per_s": round(limits["naive"]),
        "guaranteed_events_per_s": round(limits["guaranteed"]),
        "ratio_service_to_tuned": round(service["events_per_s"] / limits["tuned"], 3),
        "ratio_service_to_naive": round(service["events_per_s"] / limits["naive"], 3),
        "ratio_service_to_guaranteed": round(service["events_per_s"] / limits["guaranteed"], 3),
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
