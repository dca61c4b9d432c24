"""What authentication costs: the same work on the embedded stack without it (PLAINTEXT), with
SASL/SCRAM-SHA-512 (the default) and with SASL over TLS, in one run.

    .venv/bin/python -m bench.authentication [--events 4000]

Per mode: (1) the broker alone, N records produced (acks=all, idempotent) and read back by a
plain aiokafka client; (2) the funding service draining N TeamAccepted as its own principal
(consume, inbox + state + outbox in one transaction, relay, publish), with bench.services' raw
loop beside it. Figures per second, and each mode's ratio to PLAINTEXT in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import BENCH_DATA, write_result
from bench.services import WORKLOADS, measure
from shared.topics import REJECTIONS
from tools.stack.launcher import Stack

MODES: tuple[tuple[str, bool, bool], ...] = (
    ("PLAINTEXT", False, False),
    ("SASL_PLAINTEXT", True, False),
    ("SASL_SSL", True, True),
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


def run_mode(mode: str, authentication: bool, tls: bool, n: int) -> dict[str, Any]:
    stack = Stack(
        services=(),
        data_dir=BENCH_DATA / f"auth-{mode.lower()}",
        fresh=True,
        authentication=authentication,
        tls=tls,
        extra_env={"POLICY_ANNUAL_ENVELOPE_FEN": str(10**12)},
    )
    stack.start()
    try:
        assert stack.kafka.security_protocol == mode, (stack.kafka.security_protocol, mode)
        broker = asyncio.run(broker_round_trip(stack, n))
        (funding,) = [w for w in WORKLOADS if w.service == "funding"]
        service = asyncio.run(measure(stack, funding, n))
    finally:
        stack.stop()
    return {"broker": broker, "funding": service}


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The best figure of each kind over the rounds (interference only ever lowers a figure)."""
    return {
        "produced_per_s": max(r["broker"]["produced_per_s"] for r in runs),
        "consumed_per_s": max(r["broker"]["consumed_per_s"] for r in runs),
        "funding_per_s": max(r["funding"]["service_events_per_s"] for r in runs),
        "funding_raw_loop_per_s": max(r["funding"]["raw_events_per_s"] for r in runs),
    }


def main() -> None:
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2, help="the modes are measured in turn, this many times")
    args = parser.parse_args()
    configure_logging("bench", fmt="console", level="ERROR")
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode, _, _ in MODES}
    for round_number in range(1, args.rounds + 1):
        for mode, authentication, tls in MODES:
            runs[mode].append(run_mode(mode, authentication, tls, args.events))
            print(f"round {round_number} {mode:15} {json.dumps(runs[mode][-1])}", flush=True)
    best = {mode: _best(found) for mode, found in runs.items()}
    base = best["PLAINTEXT"]
    results: dict[str, Any] = {"events": args.events, "rounds": runs, "best": best, "ratio_to_plaintext": {}}
    for mode, figures in best.items():
        ratios = {name: round(value / base[name], 3) for name, value in figures.items()}
        results["ratio_to_plaintext"][mode] = ratios
        print(f"{mode:15} best {json.dumps(figures)}; vs PLAINTEXT {json.dumps(ratios)}", flush=True)
    print(f"written to {write_result('authentication', results)}")


if __name__ == "__main__":
    main()
