"""The long fault suites (`python3 tasks.py faults`), each on its own embedded stack of four
service processes, each ending with the same invariants: every ask answered, every service
agreeing, no duplicated effect, per-order order kept, the ledger balanced.

Sizes are environment variables (defaults in brackets): FAULTS_SOAK_ORDERS [2000],
FAULTS_LOAD_ORDERS [300]."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.topics import SERVICES
from tests.faults.harness import (
    FaultyStack,
    fault_stack,
    programme_on,
    record_figures,
    session,
    snapshot,
    wait_consumed,
)
from tests.faults.invariants import check_topics
from tests.programme_checks import assert_a_consistent_year, state_of
from tools.scenario.seed import generate
from tools.stack.embedded import DATA_DIR

pytestmark = pytest.mark.faults

SOAK_ORDERS = int(os.environ.get("FAULTS_SOAK_ORDERS", "2000"))
LOAD_ORDERS = int(os.environ.get("FAULTS_LOAD_ORDERS", "300"))
FIGURES_FILE = DATA_DIR / "faults" / "soak.json"


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[FaultyStack]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        env.delenv("DATABASE_URL", raising=False)
        stack = fault_stack(tmp_path / "data")
        stack.start()
    try:
        with FaultyStack(stack) as faults:
            yield faults
    finally:
        stack.stop()


def record(name: str, figures: dict[str, Any]) -> None:
    record_figures(FIGURES_FILE, name, figures)


def play_with(faulty: FaultyStack, orders: int, seed: int, during: Callable[[], None]) -> dict[str, Any]:
    """Play a programme while `during` runs in a thread (the fault); check every invariant."""
    stack = faulty.stack
    programme = generate(orders, seed=seed)
    narration = io.StringIO()
    started = time.monotonic()

    async def play() -> tuple[Any, Any]:
        async with session(stack) as (client, observer):
            fault = threading.Thread(target=during, name="fault", daemon=True)
            fault.start()
            run = programme_on(stack, client, observer, programme, narration, timeout_s=900)
            report = await run.play()
            await asyncio.to_thread(fault.join, 600)
            await observer.settle(2.0)
            # A service killed late in the run may still be catching up on its backlog (e.g.
            # matching on funding's TeamSuspended): state is compared once every group is done.
            await wait_consumed(stack, observer, stack.extra_env.get("KAFKA_GROUP_SUFFIX", ""), timeout_s=600)
            return report, check_topics(observer, stack.topic_prefix)

    report, findings = asyncio.run(play())
    faulty.wait_all_healthy(120)
    state = asyncio.run(state_of(stack.database_url, stack.services))
    figures = {
        "orders": orders,
        "wall_time_s": round(time.monotonic() - started, 1),
        **faulty.log.as_dict(),
        **findings.as_dict(),
        "lost": len(report.failures),
        "ledger_violations": len(state["ledger_violations"]),
    }
    assert report.failures == [], narration.getvalue()[-3000:]
    assert faulty.log.unexpected_exits == {}, faulty.log.as_dict()
    assert_a_consistent_year(report, state, narration.getvalue(), orders, seed=seed)
    assert findings.duplicated_effects == [], findings.duplicated_effects[:5]
    assert findings.out_of_order == [], findings.out_of_order[:5]
    return figures


@pytest.mark.timeout(5400)
def test_kill_9_soak_of_thousands_of_orders_loses_and_duplicates_nothing(faulty: FaultyStack) -> None:
    kills_per_service = 3

    def chaos() -> None:
        faulty.chaos(kills_per_service=kills_per_service, within_s=90.0, seed=11).join()

    figures = play_with(faulty, SOAK_ORDERS, 11, chaos)
    record("kill_9_soak", figures)
    assert all(faulty.log.kills.get(name, 0) >= kills_per_service for name in SERVICES), faulty.log.as_dict()

    before = asyncio.run(snapshot(faulty.stack))
    stack = faulty.stack
    stack.extra_env["KAFKA_GROUP_SUFFIX"] = "-replay"

    async def replay() -> int:
        async with session(stack) as (_, observer):
            await observer.settle(2.0)
            count = len(observer.seen)
            for name in list(stack.processes):
                with faulty.held(name):
                    stack.stop_service(name)
                    stack.start_service(name)
            for name in stack.services:
                await asyncio.to_thread(stack.wait_ready, name)
            await wait_consumed(stack, observer, "-replay", timeout_s=900)
            await observer.settle(2.0)
            return len(observer.seen) - count

    new_messages = asyncio.run(replay())
    record("kill_9_soak_replay", {"new_messages": new_messages})
    assert new_messages == 0
    assert asyncio.run(snapshot(stack)) == before


@pytest.mark.timeout(1800)
def test_a_broker_paused_for_twelve_seconds_under_load_is_survived(faulty: FaultyStack) -> None:
    def pause() -> None:
        time.sleep(4.0)
        faulty.pause_broker(12.0)

    figures = play_with(faulty, LOAD_ORDERS, 12, pause)
    record("broker_pause", figures)
    assert faulty.log.broker_pauses == 1
    assert faulty.log.unhealthy_seen_during_pause == set(SERVICES), "health said unhealthy during the pause"


@pytest.mark.timeout(1800)
def test_postgresql_killed_under_load_recovers_and_loses_nothing(faulty: FaultyStack) -> None:
    def crash() -> None:
        time.sleep(4.0)
        faulty.crash_database()  # kill -9 of the postmaster: a crash, recovered from the WAL

    figures = play_with(faulty, LOAD_ORDERS, 13, crash)
    record("database_crash", figures)
    assert faulty.log.database_crashes == 1


@pytest.mark.timeout(1800)
def test_sigterm_during_processing_finishes_the_batch_in_flight_and_exits_within_the_grace_period(
    faulty: FaultyStack,
) -> None:
    exits: dict[str, tuple[int | None, float]] = {}
    stops: dict[str, dict[str, Any]] = {}

    def terminate_each() -> None:
        for name in SERVICES:
            time.sleep(2.0)
            exits[name] = faulty.graceful_stop(name)
            stops[name] = last_stop_logged(faulty, name)

    figures = play_with(faulty, LOAD_ORDERS, 14, terminate_each)
    record("graceful_shutdown", {**figures, "exits": exits, "stops": stops})
    assert {name: code for name, (code, _) in exits.items()} == dict.fromkeys(SERVICES, 0), "0: the stop completed"
    assert all(seconds < 15.0 for _, seconds in exits.values()), exits
    in_flight = {name: stop for name, stop in stops.items() if stop["records_in_flight"] > 0}
    assert in_flight, f"no SIGTERM found a batch in flight, so none proved it is finished: {stops}"
    assert all(stop["batches_finished_while_stopping"] >= 1 for stop in in_flight.values()), in_flight


def last_stop_logged(faulty: FaultyStack, name: str) -> dict[str, Any]:
    """What the service logged of its last stop: the records in flight when SIGTERM came, and the
    batches it finished (and committed) before it stopped."""
    log_path = faulty.stack.processes[name].log_path
    assert log_path is not None
    stop: dict[str, Any] = {}
    for raw in log_path.read_bytes().splitlines():
        if b'"stopping: ' in raw or b'"service stopped"' in raw:
            line = json.loads(raw)
            stop |= {k: line[k] for k in ("records_in_flight", "batches_finished_while_stopping") if k in line}
    return stop
