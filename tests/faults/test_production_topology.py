"""The long fault suite on production's topology (`python3 tasks.py faults`): three Kafka nodes
(KRaft; replication factor 3, min ISR 2, acks=all, idempotent producers) and two replicas of every
service, through a programme year of FAULTS_TOPOLOGY_ORDERS orders [2000]: a broker killed, then
the active controller, a rolling restart of the three nodes, a replica stopped past its
max.poll.interval, PostgreSQL's postmaster killed, a node cut off while clients write, and
FAULTS_SERVICE_KILLS [16] kill -9 of service replicas drawn over the whole year (FAULTS_SEED
replays a plan); crash points armed in every process. Every check stands on its own
(tests/faults/checks.py, invariants.py, programme_checks.py)."""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path
from typing import Any

import pytest

from shared.faults import POINTS
from tests.faults.checks import check_services
from tests.faults.harness import FaultyStack, fault_stack, programme_on, record_figures, session, wait_consumed
from tests.faults.invariants import check_topics
from tests.faults.topology import CalendarChaos, FaultPlan, fault_seed, longest_wait
from tests.programme_checks import assert_a_consistent_year, state_of
from tools.scenario.seed import generate
from tools.stack.embedded import DATA_DIR

pytestmark = pytest.mark.faults

ORDERS = int(os.environ.get("FAULTS_TOPOLOGY_ORDERS", "2000"))
SERVICE_KILLS = int(os.environ.get("FAULTS_SERVICE_KILLS", "16"))
PROGRAMME_SEED = 19
FIGURES_FILE = DATA_DIR / "faults" / "topology.json"


def play_through_faults(stack_dir: Path, orders: int, service_kills: int, seed: int) -> dict[str, Any]:
    """Play a programme year on the production topology while the plan's faults happen; check
    everything; return the figures (assertions are the caller's)."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        env.delenv("DATABASE_URL", raising=False)
        stack = fault_stack(stack_dir, brokers=3, replicas=2)
        stack.start()
    started = time.monotonic()
    try:
        with FaultyStack(stack) as faulty:
            plan = FaultPlan.draw(seed, stack.instances, service_kills=service_kills)
            programme = generate(orders, seed=PROGRAMME_SEED)
            narration = io.StringIO()

            async def play() -> dict[str, Any]:
                async with session(stack) as (client, observer):
                    with CalendarChaos(faulty, plan, programme.start) as chaos:
                        scenario = programme_on(stack, client, observer, programme, narration, timeout_s=900)
                        report = await scenario.play()
                        await asyncio.to_thread(chaos.finish)
                    await observer.settle(2.0)
                    await wait_consumed(stack, observer, "", timeout_s=600)
                    waited, what = longest_wait(observer, client.sent_at)
                    return {
                        "report": report,
                        "chaos": chaos,
                        "topics": check_topics(observer, stack.topic_prefix),
                        "events": len(observer.distinct),
                        "longest_wait": (waited, what),
                        "longest_catch_up_s": round(max(scenario.catch_up_waits, default=0.0), 2),
                    }

            run = asyncio.run(play())
            unhealthy = None
            try:
                faulty.wait_all_healthy(180)
            except TimeoutError as exc:
                unhealthy = str(exc)
            state = asyncio.run(state_of(stack.database_url, stack.services))
            services = asyncio.run(check_services(stack.database_url, stack.services))
            report, chaos = run["report"], run["chaos"]
            return {
                "seed": seed,
                "plan": plan,
                "programme": programme,
                "report": report,
                "narration": narration.getvalue(),
                "state": state,
                "faulty": faulty,
                "chaos": chaos,
                "topics": run["topics"],
                "services": services,
                "figures": {
                    "seed": seed,
                    "orders": orders,
                    "events": run["events"],
                    "wall_time_s": round(time.monotonic() - started, 1),
                    "faults_planned": plan.kinds(),
                    "faults_done": [f["fault"] for f in chaos.done],
                    "fault_log": chaos.done,
                    "fault_errors": chaos.errors,
                    "crash_points_hit": faulty.crash_points_hit(),
                    "rebalances_seen": faulty.rebalances(),
                    "lost": len(report.failures),
                    **{f"topics_{k}": v for k, v in run["topics"].as_dict().items()},
                    **{f"services_{k}": v for k, v in services.as_dict().items()},
                    "longest_wait_s": run["longest_wait"][0],
                    "longest_wait_for": run["longest_wait"][1],
                    "longest_catch_up_s": run["longest_catch_up_s"],
                    "unhealthy_after_run": unhealthy,
                    **faulty.log.as_dict(),
                },
            }
    finally:
        stack.stop()


def record(name: str, figures: dict[str, Any]) -> None:
    record_figures(FIGURES_FILE, name, figures)


def assert_survived(run: dict[str, Any], orders: int) -> None:
    """What must hold after the faults: every one made, nothing lost, nothing made twice, every
    partition applied in order, every death explained, every armed crash point proven hit."""
    faulty: FaultyStack = run["faulty"]
    figures = run["figures"]
    assert run["chaos"].errors == [], run["chaos"].errors
    assert figures["unhealthy_after_run"] is None, figures["unhealthy_after_run"]
    assert len(run["chaos"].done) == len(run["plan"].faults), figures["fault_log"]
    assert faulty.log.unexpected_exits == {}, figures
    assert_a_consistent_year(run["report"], run["state"], run["narration"], orders, seed=PROGRAMME_SEED)
    assert run["services"].duplicated_effects == [], run["services"].duplicated_effects[:5]
    assert run["services"].applied_out_of_order == [], run["services"].applied_out_of_order[:5]
    assert run["topics"].duplicated_effects == [], run["topics"].duplicated_effects[:5]
    assert run["topics"].out_of_order == [], run["topics"].out_of_order[:5]
    assert faulty.crash_points_hit() == faulty.log.crash_point_deaths, "every recorded crash point is a death"
    assert figures["rebalances_seen"] > 0, "replicas were killed and paused: partitions must have moved"


@pytest.mark.timeout(7200)
def test_a_programme_year_on_three_brokers_and_two_replicas_of_each_service_survives_every_fault(
    tmp_path: Path,
) -> None:
    seed = fault_seed(os.environ.get)
    print(f"fault plan seed {seed} (FAULTS_SEED={seed} replays it)", flush=True)  # noqa: T201 (tasks.py faults: -s)
    run = play_through_faults(tmp_path / "data", ORDERS, SERVICE_KILLS, seed)
    record("production_topology", run["figures"])
    assert_survived(run, ORDERS)
    assert set(run["faulty"].crash_points_hit()) == set(POINTS), "each armed crash point was hit at least once"
    kinds = set(run["figures"]["faults_done"])
    assert kinds == {
        "kill_broker",
        "kill_active_controller",
        "rolling_restart",
        "pause_replica",
        "crash_database",
        "cut_off_broker",
        "kill_replica",
    }
