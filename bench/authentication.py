"""What partner identity costs: the same work on the embedded stack as it was before (PLAINTEXT,
no signatures), with SASL/SCRAM-SHA-512 only, with SASL and signed inbound events (the default),
and with SASL over TLS and signatures, measured in turn in one run.

    .venv/bin/python -m bench.authentication [--events 4000] [--rounds 2]

Per mode: (1) the broker alone, N records produced (acks=all, idempotent) and read back by a
plain aiokafka client; (2) the funding service draining N TeamAccepted from matching.events (not
signed: only the authentication); (3) the orders service draining N signed DemandSubmitted from
orders.inbound (authentication and, where on, signature verification). Each service runs as its
own principal. Figures per second, the best of the rounds, and each mode's ratio to the first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import BENCH_DATA, write_result
from bench.services import WORKLOADS, measure
from shared.topics import REJECTIONS
from tools.stack.launcher import Stack


@dataclass(frozen=True)
class Mode:
    name: str
    authentication: bool
    tls: bool
    signatures: bool


MODES: tuple[Mode, ...] = (
    Mode("plaintext-unsigned", authentication=False, tls=False, signatures=False),
    Mode("sasl-unsigned", authentication=True, tls=False, signatures=False),
    Mode("sasl-signed", authentication=True, tls=False, signatures=True),
    Mode("sasl-tls-signed", authentication=True, tls=True, signatures=True),
)


async def broker_round_trip(stack: Stack, n: int) -> dict[str, float]:
    """Records/s produced with acks=all, then read back from the beginning."""
    topic = f"{stack.topic_prefix}{REJECTIONS}"
    value = json.dumps({"order_id": "500240-2027-001", "pad": "天麻" * 200}).encode()
    producer = AIOKafkaProducer(**stack.kafka.aiokafka(), acks="all", enable_idempotence=True, linger_ms=2)
    await producer.start()
    try:
        started = time.perf_counter()
        batch = [await producer.send(topic, value, key=f"500240-{i % 64}".encode()) for i in range(n)]
        await asyncio.gather(*batch)
        produced = n / (time.perf_counter() - started)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        **stack.kafka.aiokafka(),
        group_id=f"bench-auth-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        read, started = 0, time.perf_counter()
        while read < n:
            for records in (await consumer.getmany(timeout_ms=200, max_records=2000)).values():
                read += len(records)
        consumed = n / (time.perf_counter() - started)
    finally:
        await consumer.stop()
    return {"produced_per_s": round(produced), "consumed_per_s": round(consumed)}


def run_mode(mode: Mode, n: int) -> dict[str, Any]:
    stack = Stack(
        services=(),
        data_dir=BENCH_DATA / f"auth-{mode.name}",
        fresh=True,
        authentication=mode.authentication,
        tls=mode.tls,
        extra_env={
            "POLICY_ANNUAL_ENVELOPE_FEN": str(10**12),
            "SIGNATURES_REQUIRED": "true" if mode.signatures else "false",
        },
    )
    stack.start()
    try:
        expected = "SASL_SSL" if mode.tls else "SASL_PLAINTEXT" if mode.authentication else "PLAINTEXT"
        assert stack.kafka.security_protocol == expected, (stack.kafka.security_protocol, mode)
        figures: dict[str, Any] = {"broker": asyncio.run(broker_round_trip(stack, n))}
        for service in ("funding", "orders"):
            (workload,) = [w for w in WORKLOADS if w.service == service]
            figures[service] = asyncio.run(measure(stack, workload, n))
    finally:
        stack.stop()
    return figures


def _best(runs: list[dict[str, Any]]) -> dict[str, int]:
    """The best figure of each kind over the rounds (interference only ever lowers a figure)."""
    return {
        "broker_produced_per_s": max(r["broker"]["produced_per_s"] for r in runs),
        "broker_consumed_per_s": max(r["broker"]["consumed_per_s"] for r in runs),
        "funding_per_s": max(r["funding"]["service_events_per_s"] for r in runs),
        "orders_per_s": max(r["orders"]["service_events_per_s"] for r in runs),
    }


def main() -> None:
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2, help="the modes are measured in turn, this many times")
    args = parser.parse_args()
    configure_logging("bench", fmt="console", level="ERROR")
    runs: dict[str, list[dict[str, Any]]] = {mode.name: [] for mode in MODES}
    for round_number in range(1, args.rounds + 1):
        for mode in MODES:
            runs[mode.name].append(run_mode(mode, args.events))
            print(f"round {round_number} {mode.name:20} {json.dumps(runs[mode.name][-1])}", flush=True)
    best = {name: _best(found) for name, found in runs.items()}
    base = best[MODES[0].name]
    results: dict[str, Any] = {"events": args.events, "rounds": runs, "best": best, "ratio_to_first": {}}
    for name, figures in best.items():
        ratios = {kind: round(value / base[kind], 3) for kind, value in figures.items()}
        results["ratio_to_first"][name] = ratios
        print(f"{name:20} best {json.dumps(figures)}", flush=True)
        print(f"{'':20} vs {MODES[0].name}: {json.dumps(ratios)}", flush=True)
    print(f"written to {write_result('authentication', results)}")


if __name__ == "__main__":
    main()
