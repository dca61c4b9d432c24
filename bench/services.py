"""Each service's throughput next to the raw limit measured in the same run.

    .venv/bin/python -m bench.services [--events 4000] [--replicas 2]

For each service, N events it consumes are written to its topic while it is down; then the
service starts as its own process and drains them: consume -> validate -> inbox + state +
outbox in one transaction -> relay -> publish. Throughput = events/s from the first of them in
the service's inbox to the last output published (see `drain`). Then N more, drained by
`--replicas` processes of the service sharing the partitions, as compose and Kubernetes run
it. Beside it, on the same records, the two hand-written loops of
bench/baselines.py: `tuned` (one transaction and one COPY per fetched batch, outputs produced
unawaited, one offset commit per batch), which `ratio` is against; `naive` (one
autocommitted INSERT and one awaited produce per event), kept for continuity; and `guaranteed`
(the tuned loop with an inbox claim, an outbox row and a relay per event: the ceiling of any
service that keeps those guarantees), `guaranteed_ratio` being its own ratio to the tuned one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import asyncpg

from bench import baselines
from bench.common import BENCH_DATA, write_result
from shared.contract.events.base import EventData
from shared.contract.events.matching import ExpertRef, ExpertRegistered, TeamAccepted
from shared.contract.events.orders import DemandSubmitted, OrderPublished, ServicePeriod
from shared.messaging.kafka import track_topic
from shared.topics import events, inbound
from tools.client import ProgrammeClient, envelope_for
from tools.scenario.seed import generate
from tools.stack.launcher import Stack


@dataclass(frozen=True)
class Workload:
    service: str
    topic: str
    source: str
    output: str
    """The event type the service emits for each input (counted to measure throughput)."""
    make: Callable[[int, str], EventData]


@lru_cache(maxsize=64)
def _synthetic_order(seed: int) -> Any:
    return generate(3, seed=seed).orders[2]


def _demand(i: int, run: str) -> EventData:
    order = _synthetic_order(i % 50)
    county = order.county_code
    return DemandSubmitted(order_id=f"{county}-{run}-{i}", demand=order.demand, submitted_by=order.submitted_by)


def _expert(i: int, run: str) -> EventData:
    return ExpertRegistered(
        expert_id=f"EXP-{run}-{i}",
        name=f"专家{i}",
        institution="重庆大学",
        qualifications=("young_talent",),
        specialties=("中药材", "天麻种源繁育"),
    )


def _accepted(i: int, run: str) -> EventData:
    order_id = f"500240-{run}-{i}"

    def ref(n: int) -> ExpertRef:
        return ExpertRef(expert_id=f"EXP-{run}-{i}-{n}", name=f"专家{n}", institution="重庆大学")

    return TeamAccepted(
        project_id=f"P-{order_id}",
        order_id=order_id,
        application_id=f"APP-{run}-{i}",
        team_id=f"TEAM-{run}-{i}",
        team_name=f"团队{i}",
        lead=ref(0),
        members=(ref(1), ref(2)),
        local_talents=(ref(3),),
        place=_synthetic_order(0).demand.place,
        site="洗新乡保合村",
        industry="中药材",
        service_period=ServicePeriod(start=date(2026, 12, 1), months=24),
        funding_asked_fen=10_000_000,
        call="2026年基准测试",
        awarded_by="bench",
        accepted_at=datetime(2090, 1, 1, tzinfo=UTC),
    )


def _published(i: int, run: str) -> EventData:
    order = _synthetic_order(i % 50)
    return OrderPublished(
        order_id=f"{order.county_code}-{run}-{i}",
        demand=order.demand,
        call="2026年基准测试",
        published_by="bench",
        published_at=datetime.now(UTC),
    )


WORKLOADS = (
    Workload("orders", inbound("orders"), "/counties/{county}", "OrderSubmitted", _demand),
    Workload("matching", inbound("matching"), "/registry/talent", "ExpertProfileRecorded", _expert),
    Workload("funding", events("matching"), "/services/matching", "FundingReleased", _accepted),
    Workload("reviews", events("orders"), "/services/orders", "", _published),
)


async def preload(stack: Stack, workload: Workload, n: int, run: str) -> None:
    async with ProgrammeClient(
        stack.kafka,
        topic_prefix=stack.topic_prefix,
        keyring=stack.partner_keyring(),
        enrol=True,
        operator=stack.operator,
    ) as client:
        producer = client._producer
        for i in range(n):
            data = workload.make(i, run)
            county = data.subject()[:6]
            envelope = envelope_for(data, source=workload.source.format(county=county), time=datetime.now(UTC))
            topic = client.topic_of(envelope.type, envelope.source)
            value, headers = await client.signed(
                topic,
                envelope.source,
                envelope.to_structured_json(),
                [("content-type", b"application/cloudevents+json")],
            )
            track_topic(producer, topic)
            await producer.send(topic, value, key=envelope.subject.encode(), headers=headers)
        await producer.flush()


async def drain(stack: Stack, workload: Workload, n: int, run: str, instances: list[str]) -> float:
    """Events/s of the service, read afterwards from its own tables: from the first of the run's
    events in its inbox to the last of its outbox rows published (to the last inbox row for a
    service that emits nothing here). Nothing else reads the topics meanwhile, as nothing does
    while the baselines run: a Python consumer of the outputs took CPU from the service on this
    2-core machine. (The clock starts once the first batch is read and checked: one batch early.)"""
    for instance in instances:
        stack.start_service(instance)
    for instance in instances:
        stack.wait_ready(instance)
    conn = await asyncpg.connect(stack.database_url(workload.service))
    pattern = f"%{run}%"
    try:
        while True:
            done = await conn.fetchval("SELECT count(*) FROM inbox WHERE subject LIKE $1", pattern)
            waiting = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            if done >= n and waiting == 0:
                break
            await asyncio.sleep(0.2)
        span = await conn.fetchrow(
            "SELECT min(received_at) AS first, max(received_at) AS last FROM inbox WHERE subject LIKE $1", pattern
        )
        assert span is not None
        first, last_in = span["first"], span["last"]
        last_out = await conn.fetchval("SELECT max(published_at) FROM outbox WHERE subject LIKE $1", pattern)
        last = last_out if workload.output and last_out is not None else last_in
        return float(n / (last - first).total_seconds())
    finally:
        await conn.close()


async def measure(stack: Stack, workload: Workload, n: int, replicas: int = 1) -> dict[str, Any]:
    run = f"B{uuid.uuid4().hex[:6]}"
    await preload(stack, workload, n, run)
    service = await drain(stack, workload, n, run, [workload.service])
    stack.stop_service(workload.service)
    result: dict[str, Any] = {"events": n, "service_events_per_s": round(service)}
    if replicas > 1:  # as compose and Kubernetes run it: the partitions shared by the replicas
        run = f"R{uuid.uuid4().hex[:6]}"
        await preload(stack, workload, n, run)
        instances = [f"{workload.service}-{i}" for i in range(1, replicas + 1)]
        result[f"replicas_{replicas}_events_per_s"] = round(await drain(stack, workload, n, run, instances))
        for instance in instances:
            stack.stop_service(instance)
    limits = await baselines.both(stack, workload.topic, n, produce_to=f"{stack.topic_prefix}rejections")
    return result | {
        "tuned_events_per_s": round(limits["tuned"]),
        "naive_events_per_s": round(limits["naive"]),
        "guaranteed_events_per_s": round(limits["guaranteed"]),
        "ratio": round(service / limits["tuned"], 3),
        "ratio_to_naive": round(service / limits["naive"], 3),
        "ratio_to_guaranteed": round(service / limits["guaranteed"], 3),
        "guaranteed_ratio": round(limits["guaranteed"] / limits["tuned"], 3),
        **(
            {f"replicas_{replicas}_ratio": round(result[f"replicas_{replicas}_events_per_s"] / limits["tuned"], 3)}
            if replicas > 1
            else {}
        ),
    }


def main() -> None:
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--only", default=None, help="comma-separated services")
    parser.add_argument("--replicas", type=int, default=2, help="also drain with this many replicas (1: not)")
    args = parser.parse_args()
    configure_logging("bench", fmt="console", level="WARNING")
    chosen = [w for w in WORKLOADS if not args.only or w.service in args.only.split(",")]
    results: dict[str, Any] = {}
    for workload in chosen:
        stack = Stack(
            services=(), data_dir=BENCH_DATA, fresh=True, extra_env={"POLICY_ANNUAL_ENVELOPE_FEN": str(10**12)}
        )
        stack.start()
        try:
            results[workload.service] = asyncio.run(measure(stack, workload, args.events, args.replicas))
        finally:
            stack.stop()
        print(f"{workload.service:9} {json.dumps(results[workload.service])}", flush=True)
    print(f"written to {write_result('services', results)}")


if __name__ == "__main__":
    main()
