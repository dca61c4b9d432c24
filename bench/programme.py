"""The whole programme at growing scale: the seed scenario ×1, ×10, ×100 (45, 450, 4,500 orders).

    .venv/bin/python -m bench.programme [--scales 45,450,4500]

Each scale runs on a fresh embedded stack (four service processes, Apache Kafka, PostgreSQL): wall
time of the year, distinct events on the topics, events/s, peak memory of the whole stack
(services, broker, PostgreSQL and this driver's observer are separate: the driver is not counted),
and the largest event published (the broker refuses a record over 1 MiB: events are limited to it).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time
from typing import Any

from bench.common import BENCH_DATA, write_result
from shared.topics import all_topics
from tools.client import ProgrammeClient, TopicObserver
from tools.scenario.programme import ProgrammeRun
from tools.scenario.seed import generate
from tools.stack.launcher import Stack
from tools.stack.monitor import MemoryMonitor


async def play(stack: Stack, orders: int) -> tuple[Any, int, dict[str, Any]]:
    watched = [f"{stack.topic_prefix}{t.name}" for t in all_topics()]
    async with (
        ProgrammeClient(
            stack.kafka,
            topic_prefix=stack.topic_prefix,
            keyring=stack.partner_keyring(),
            enrol=True,
            operator=stack.operator,
        ) as client,
        TopicObserver(stack.kafka, watched) as observer,
    ):
        run = ProgrammeRun(
            client, observer, generate(orders), out=io.StringIO(), timeout_s=3600, clock_file=stack.clock_file
        )
        report = await run.play()
        largest = max(observer.distinct, key=lambda o: len(o.value or b""))
        return (
            report,
            len(observer.distinct),
            {
                "bytes": len(largest.value or b""),
                "type": largest.type,
                "subject": largest.subject,
                "topic": largest.topic,
            },
        )


def one_scale(orders: int) -> dict[str, Any]:
    stack = Stack(data_dir=BENCH_DATA, fresh=True, extra_env={"TRANSIENT_RETRY_MAX_BACKOFF_S": "2"})
    ready_started = time.monotonic()
    stack.start()
    ready_s = time.monotonic() - ready_started
    try:
        with MemoryMonitor(stack.pids()) as memory:
            idle = memory.sample()
            started = time.monotonic()
            report, distinct, largest = asyncio.run(play(stack, orders))
            wall = time.monotonic() - started
    finally:
        stack.stop()
    return {
        "orders": orders,
        "stack_ready_s": round(ready_s, 2),
        "stack_idle_memory_mib": round(idle / 2**20),
        "wall_time_s": round(wall, 1),
        "events": distinct,
        "events_per_s": round(distinct / wall),
        "ms_per_order": round(1000 * wall / orders, 1),
        "peak_memory_mib": round(memory.peak_mib),
        "largest_event": largest,
        "failures": report.failures[:3],
    }


def main() -> None:
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="45,450,4500")
    args = parser.parse_args()
    configure_logging("bench", fmt="console", level="WARNING")
    results = []
    for orders in (int(x) for x in args.scales.split(",")):
        results.append(one_scale(orders))
        print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    base = results[0]
    for r in results:
        r["cost_growth_vs_smallest"] = round(
            (r["wall_time_s"] / base["wall_time_s"]) / (r["orders"] / base["orders"]), 2
        )
    print(f"written to {write_result('programme', {'scales': results})}")


if __name__ == "__main__":
    main()
