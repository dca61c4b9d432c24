"""One consumer hop's wait: FastStream's batch fetch against the prompt fetch, in the same run.

    .venv/bin/python -m bench.fetch_latency [--samples 150] [--batch-timeout-ms 50] [--rounds 2]

A FastStream batch subscriber on the embedded broker receives one record at a time, sent 50 to
150 ms apart (an idle consumer between events); the figure is the time from the producer's
acknowledged send to the handler's call. FastStream's own fetch sleeps `batch_timeout_ms` after
every empty fetch; the prompt fetch (shared/runtime/fetching.py, what the services run) waits in
aiokafka's fetch instead. Rounds alternate the two, so the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker as FastStreamBroker

from bench.common import percentiles, write_result
from shared.messaging.kafka import ensure_topics
from shared.runtime.fetching import prompt_batches
from shared.topics import TopicSpec
from tools.stack.embedded import DATA_DIR
from tools.stack.kafka import KafkaBroker


async def one_hop(bootstrap: str, *, prompt: bool, samples: int, batch_timeout_ms: int, label: str) -> list[float]:
    """Milliseconds from each acknowledged send to the handler's call."""
    topic = f"bench.fetch.{label}"
    await ensure_topics(bootstrap, [TopicSpec(topic, 1, "bench")])
    broker = FastStreamBroker(bootstrap)
    handled: asyncio.Queue[float] = asyncio.Queue()
    subscriber = broker.subscriber(
        topic, group_id=topic, batch=True, batch_timeout_ms=batch_timeout_ms, auto_offset_reset="latest"
    )
    if prompt:
        prompt_batches(subscriber)

    @subscriber
    async def handle(records: list[bytes]) -> None:
        now = time.perf_counter()
        for _ in records:
            handled.put_nowait(now)

    await broker.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    waits: list[float] = []
    try:
        await producer.send_and_wait(topic, b"warm-up")  # the group has joined once this is handled
        await asyncio.wait_for(handled.get(), timeout=60)
        for _ in range(samples):
            await asyncio.sleep(random.uniform(0.05, 0.15))
            sent = time.perf_counter()
            await producer.send_and_wait(topic, b"TeamAccepted")
            waits.append((await asyncio.wait_for(handled.get(), timeout=30) - sent) * 1000)
    finally:
        await producer.stop()
        await broker.stop()
    return waits


async def run(bootstrap: str, samples: int, batch_timeout_ms: int, rounds: int) -> dict[str, Any]:
    faststream: list[float] = []
    prompt: list[float] = []
    for n in range(rounds):
        faststream += await one_hop(
            bootstrap, prompt=False, samples=samples, batch_timeout_ms=batch_timeout_ms, label=f"faststream{n}"
        )
        prompt += await one_hop(
            bootstrap, prompt=True, samples=samples, batch_timeout_ms=batch_timeout_ms, label=f"prompt{n}"
        )
    baseline, ours = percentiles(faststream), percentiles(prompt)
    return {
        "batch_timeout_ms": batch_timeout_ms,
        "faststream_fetch_ms": baseline,
        "prompt_fetch_ms": ours,
        "ratio_p99_prompt_to_faststream": round(ours["p99"] / baseline["p99"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--batch-timeout-ms", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    data = DATA_DIR / "bench-fetch-kafka"
    shutil.rmtree(data, ignore_errors=True)
    broker = KafkaBroker(data).start()
    try:
        result = asyncio.run(run(broker.bootstrap_servers, args.samples, args.batch_timeout_ms, args.rounds))
    finally:
        broker.stop()
    for name in ("faststream_fetch_ms", "prompt_fetch_ms"):
        print(f"{name:20s} {result[name]}")
    print(f"p99 ratio prompt / FastStream: {result['ratio_p99_prompt_to_faststream']}")
    print(f"written to {write_result('fetch_latency', result)}")


if __name__ == "__main__":
    from shared.logging import configure_logging

    configure_logging("bench", fmt="console", level="WARNING")
    main()
