"""The README's demo: the seeded programme played through the four services, from villages'
needs to the published review results (programme.py plays it; seed.py makes it; cast.py says
what is real and what is synthetic). `--story` plays a small programme and shows every event.

The scenario acts only as the partner systems and bureau staff would: it sends CloudEvents
and reads what the services emit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from shared.kafka_access import KafkaAccess
from shared.topics import REJECTIONS, SERVICES, deadletter, events
from shared.tracing import shut_down, tracer_provider_from_environment
from tools.client import ProgrammeClient, TopicObserver
from tools.keyring import Keyring, Operator, operator_from_environment
from tools.scenario.calendar import PROGRAMME_START, next_month
from tools.scenario.programme import ProgrammeRun
from tools.scenario.report import Report, print_report
from tools.scenario.seed import generate
from tools.stack.embedded import DATA_DIR
from tools.stack.launcher import Stack, partner_keys_dir

STORY_ORDERS = 8
"""The story's programme: the two real projects and six synthetic ones (the fewest that give every
part of the two years: an objection upheld and one rejected, a rectification accepted and one
rejected, a suspended team refused, continued support)."""


async def play_programme(
    kafka: KafkaAccess | str,
    topic_prefix: str = "",
    *,
    orders: int = 45,
    seed: int = 2019,
    out: Any = sys.stdout,
    exports_dir: Path | None = None,
    narrate: bool = False,
    clock_file: Path | None = None,
    two_years: bool = True,
    keyring: Keyring | None = None,
    operator: Operator | None = None,
) -> Report:
    """Play the seeded programme. With `clock_file` (the one the services' clocks read), on the
    programme's own calendar from 1 January 2027, the same report whatever day it is run, and on
    into 2028 (rectification, the 2028 second call) unless `two_years` is off; without, now, with
    service from the first of next month, one year. The partners it plays sign with `keyring`
    (by default the embedded stack's), each enrolled on its first event: the scenario is the
    operator of its stack too, with `operator`'s key (by default the one EXPERT_TEAMS_OPERATOR_KEY_FILE
    names, else the embedded stack's)."""

    watched = [*(events(s) for s in SERVICES), REJECTIONS, *(deadletter(s) for s in SERVICES)]
    async with (
        ProgrammeClient(
            kafka,
            topic_prefix=topic_prefix,
            keyring=keyring or Keyring(partner_keys_dir()),
            enrol=True,
            operator=operator or operator_from_environment(),
        ) as client,
        TopicObserver(kafka, [f"{topic_prefix}{t}" for t in watched]) as observer,
    ):
        provider = tracer_provider_from_environment("partner-scenario")
        run = ProgrammeRun(
            client,
            observer,
            generate(orders, seed=seed, start=PROGRAMME_START if clock_file is not None else next_month()),
            clock_file=clock_file,
            out=out,
            exports_dir=exports_dir,
            narrate=narrate,
            tracer=provider.get_tracer("expert_teams.scenario") if provider is not None else None,
            two_years=two_years and clock_file is not None,
        )
        try:
            return await run.play()
        finally:
            shut_down(provider)


def run_demo(
    *,
    story: bool = False,
    orders: int = 45,
    seed: int = 2019,
    keep_running: bool = False,
    report_path: Path | None = None,
) -> int:
    """Start the embedded stack, play the seeded programme (the story: a small one, every event shown), report."""
    from tools.stack.monitor import MemoryMonitor

    embedded = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and not os.environ.get("DATABASE_URL")
    earlier = embedded and (DATA_DIR / "kafka").exists()
    if earlier:
        print(
            f"An earlier programme is kept in {DATA_DIR} (broker log directory and service databases): "
            "the demo clears it and plays a fresh programme.",
            flush=True,
        )
    print("Starting the embedded stack (PostgreSQL, Apache Kafka, four services)...", flush=True)
    stack = Stack(fresh=earlier)
    started = time.monotonic()
    try:
        stack.start()
        print(
            f"Stack ready in {time.monotonic() - started:.1f} s: broker {stack.bootstrap_servers}, "
            f"services {', '.join(stack.processes)}; service logs in {stack.data_dir / 'logs'}",
            flush=True,
        )
        exports = stack.data_dir / "exports"
        with MemoryMonitor(stack.pids()) as memory:
            report = asyncio.run(
                play_programme(
                    stack.kafka,
                    stack.topic_prefix,
                    orders=STORY_ORDERS if story else orders,
                    seed=seed,
                    exports_dir=exports,
                    narrate=story,
                    clock_file=stack.clock_file,
                    keyring=stack.partner_keyring(),
                    operator=stack.operator,
                )
            )
        print_report(report)
        print(f"Peak memory of the whole stack (services, broker, PostgreSQL): {memory.peak_mib:.0f} MiB")
        document = report.as_dict() | {
            "scenario": f"{'story, every event shown: ' if story else ''}seeded programme: "
            f"{STORY_ORDERS if story else orders} orders, seed {seed}",
            "synthetic": "all data except the two named projects and their leads",
            "stack_peak_memory_mib": round(memory.peak_mib),
        }
        target = report_path or stack.data_dir / "demo-report.json"
        target.write_text(json.dumps(document, ensure_ascii=False, indent=2))
        print(f"Machine-readable report: {target}")
        followed = f"500240-{PROGRAMME_START.year}-001"
        if keep_running:
            print(f"The stack keeps running (Ctrl-C stops it). Try: .venv/bin/expert-teams follow {followed}")
            while True:
                time.sleep(1)
        print(
            f"The programme's events and state are kept in {stack.data_dir}: `.venv/bin/expert-teams stack` "
            f"starts the stack again on them, and `.venv/bin/expert-teams follow {followed}` shows an order's history."
        )
        return 0 if report.ok else 1
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()
