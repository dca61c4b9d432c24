"""The fault suites' checks catch real bugs: each test plants one in the service processes of a
small embedded stack (tests/faults/planted/), plays a programme, and shows which check fails, and
that a check which reads the topics alone would not have caught the first."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faults.checks import ServiceFindings, check_services
from tests.faults.harness import FaultyStack, fault_stack, programme_on, session
from tests.faults.invariants import Findings, check_topics
from tests.faults.planted import planted_env
from tests.programme_checks import assert_a_consistent_year, state_of
from tools.scenario.seed import generate

pytestmark = pytest.mark.faults

ORDERS = 4
SEED = 2019
PHASE_TIMEOUT_S = 10.0
"""How long the scenario waits for an answer a planted bug may have lost."""


@dataclass
class PlantedRun:
    report: Any
    narration: str
    state: dict[str, Any]
    services: ServiceFindings
    topics: Findings
    bug_state: Path


@pytest.fixture
def play_with_bug(tmp_path: Path) -> Iterator[Any]:
    stacks: list[FaultyStack] = []

    def play(bug: str) -> PlantedRun:
        with pytest.MonkeyPatch.context() as env:
            env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
            env.delenv("DATABASE_URL", raising=False)
            stack = fault_stack(tmp_path / "data", crash_points=None)
            stack.extra_env |= planted_env(bug, tmp_path / "planted-bug-state")
            stack.start()
        faulty = FaultyStack(stack).__enter__()  # restarts a process the bug killed
        stacks.append(faulty)
        narration = io.StringIO()

        async def run() -> tuple[Any, Findings]:
            async with session(stack) as (client, observer):
                report = await programme_on(
                    stack, client, observer, generate(ORDERS, seed=SEED), narration, timeout_s=PHASE_TIMEOUT_S
                ).play()
                await observer.settle(1.0)
                return report, check_topics(observer, stack.topic_prefix)

        report, topics = asyncio.run(run())
        state = asyncio.run(state_of(stack.database_url, stack.services))
        services = asyncio.run(check_services(stack.database_url, stack.services))
        return PlantedRun(report, narration.getvalue(), state, services, topics, tmp_path / "planted-bug-state")

    yield play
    for faulty in stacks:
        faulty.__exit__(None, None, None)
        faulty.stack.stop()


def test_a_handler_that_makes_its_effect_twice_is_caught_by_counting_effects_by_business_key(
    play_with_bug: Any,
) -> None:
    run = play_with_bug("effect_made_twice")

    assert run.services.duplicated_effects, run.services.as_dict()
    assert all("IncentiveGranted" in d and "made 2 times" in d for d in run.services.duplicated_effects)
    assert run.topics.duplicated_effects == [], "the copies carry one id: on the topics they look republished"
    assert run.services.applied_out_of_order == []


def test_a_relay_that_skips_a_row_is_caught_as_a_lost_effect(play_with_bug: Any) -> None:
    run = play_with_bug("relay_skips_a_row")

    unpaid = [release for release in run.state["releases"] if release[2] != "paid"]
    assert len(unpaid) == 1, "funding's state says released; the treasury never heard of it"
    with pytest.raises(AssertionError):
        assert_a_consistent_year(run.report, run.state, run.narration, ORDERS, seed=SEED)
    assert run.services.duplicated_effects == []


def test_a_consumer_that_commits_before_its_transaction_is_caught_as_a_lost_effect(play_with_bug: Any) -> None:
    run = play_with_bug("commit_before_transaction")

    assert run.bug_state.read_text().startswith("acknowledged"), "the planted bug acknowledged a batch unapplied"
    assert set(run.state["grants"]) < run.state["awarded_orders"], "accepted teams without a grant"
    with pytest.raises(AssertionError, match="grants opened or held by funding"):
        assert_a_consistent_year(run.report, run.state, run.narration, ORDERS, seed=SEED)
