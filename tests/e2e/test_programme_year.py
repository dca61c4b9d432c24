"""The whole programme over two programme years, through the four services running as separate
processes: the demo scenario (2027 call, review, 公示 and objections, consequences, rectification,
the 2028 second call), then the final state of every service and the consistency across them."""

from __future__ import annotations

import asyncio
import io
import signal
from pathlib import Path

import pytest

from tests.conftest import Infrastructure
from tests.programme_checks import ORDERS, assert_a_consistent_year, assert_on_the_programme_calendar, state_of
from tools.scenario.calendar import PROGRAMME_START
from tools.scenario.demo import play_programme
from tools.stack.launcher import Stack

pytestmark = pytest.mark.e2e


def test_a_programme_year_flows_through_four_service_processes_and_every_service_agrees(
    infrastructure: Infrastructure, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in infrastructure.kafka.environment().items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("DATABASE_URL", infrastructure.postgres_url)
    stack = Stack(
        data_dir=tmp_path / "data",
        topic_prefix=f"t{run_id}e2e.",
        database_prefix=f"test_{run_id}_e2e_",
        extra_env={"REVIEWS_EXPORT_DIR": str(tmp_path / "exports")},
    )
    stack.start()
    try:
        assert set(stack.processes) == {"orders", "matching", "funding", "reviews"}
        assert len({p.process.pid for p in stack.processes.values()}) == 4
        narration = io.StringIO()
        report = asyncio.run(
            play_programme(
                stack.kafka,
                stack.topic_prefix,
                orders=ORDERS,
                out=narration,
                exports_dir=tmp_path / "exports",
                clock_file=stack.clock_file,
                operator=stack.operator,
            )
        )
        state = asyncio.run(state_of(stack.database_url, stack.services))
        exit_codes = {name: stack.stop_service(name, sig=signal.SIGTERM) for name in list(stack.processes)}
    finally:
        stack.stop()

    assert_a_consistent_year(report, state, narration.getvalue(), ORDERS, start=PROGRAMME_START, two_years=True)
    assert_on_the_programme_calendar(report, ORDERS)
    assert exit_codes == {"orders": 0, "matching": 0, "funding": 0, "reviews": 0}
