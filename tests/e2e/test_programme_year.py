"""The whole programme for a year, through the four services running as separate processes:
the demo scenario, then the final state of every service and the consistency across them."""

from __future__ import annotations

import asyncio
import io
import signal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.funding.adapters.invariants import ledger_violations
from shared.policy import YUAN
from shared.scenario.demo import play_demo
from shared.stack.launcher import Stack
from tests.conftest import Infrastructure

pytestmark = pytest.mark.e2e


async def fetch(url: str, query: str) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def state_of(stack: Stack) -> dict[str, Any]:
    db = stack.database_url
    conn = await asyncpg.connect(db("funding"))
    try:
        violations = await ledger_violations(conn)
    finally:
        await conn.close()
    return {
        "awarded_orders": {
            r[0] for r in await fetch(db("orders"), "SELECT order_id FROM orders WHERE status = 'awarded'")
        },
        "projects": {r[0] for r in await fetch(db("matching"), "SELECT order_id FROM projects")},
        "grants": {r[0]: r[1] for r in await fetch(db("funding"), "SELECT order_id, status FROM grants")},
        "reviews": {r[0]: r[1] for r in await fetch(db("reviews"), "SELECT order_id, grade FROM reviews")},
        "consequences": {
            r[0]: r[1] for r in await fetch(db("funding"), "SELECT grant_id, grade FROM review_consequences")
        },
        "releases": [tuple(r) for r in await fetch(db("funding"), "SELECT order_id, tranche, status FROM releases")],
        "suspended_in_matching": {
            r[0] for r in await fetch(db("matching"), "SELECT suspended_id FROM suspensions WHERE kind = 'team'")
        },
        "dead_letters": {name: len(await fetch(db(name), "SELECT 1 FROM dead_letters")) for name in stack.services},
        "ledger_violations": violations,
    }


def test_a_programme_year_flows_through_four_service_processes_and_every_service_agrees(
    infrastructure: Infrastructure, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infrastructure.kafka_bootstrap)
    monkeypatch.setenv("DATABASE_URL", infrastructure.postgres_url)
    stack = Stack(
        data_dir=tmp_path / "data",
        topic_prefix=f"t{run_id}e2e.",
        database_prefix=f"test_{run_id}_e2e_",
        extra_env={**infrastructure.kafka_env(), "REVIEWS_EXPORT_DIR": str(tmp_path / "exports")},
    )
    stack.start()
    try:
        assert set(stack.processes) == {"orders", "matching", "funding", "reviews"}
        assert len({p.process.pid for p in stack.processes.values()}) == 4
        narration = io.StringIO()
        report = asyncio.run(
            play_demo(stack.bootstrap_servers, stack.topic_prefix, out=narration, exports_dir=tmp_path / "exports")
        )
        state = asyncio.run(state_of(stack))
        exit_codes = {name: stack.stop_service(name, sig=signal.SIGTERM) for name in list(stack.processes)}
    finally:
        stack.stop()

    assert report.failures == [], narration.getvalue()
    summary = report.as_dict()
    assert summary["grades_count"] == {"excellent": 1, "qualified": 1, "unqualified": 1}
    assert summary["money_fen"] == {
        "granted": 530_000 * YUAN,
        "released": 440_000 * YUAN,  # first halves of all three, second halves of the two that passed
        "paid": 440_000 * YUAN,
        "withheld": 90_000 * YUAN,
    }
    assert summary["incentives_by_kind"] == {"early_title_evaluation": 8, "talent_programme_priority": 8}
    assert summary["continued_funding_eligible"] == ["TEAM-guo-shunxing"]
    assert [s["team_id"] for s in summary["suspensions"]] == ["TEAM-s-bees"]
    assert len(summary["published_results"]) == 3
    assert sorted(Path(p).suffix for p in summary["public_exports"]) == [".csv", ".json"]

    # every service tells the same story
    assert state["awarded_orders"] == state["projects"] == set(state["grants"]), "every TeamAccepted has a grant"
    assert set(state["grants"].values()) == {"complete", "withheld"}
    assert {f"G-{order}": grade for order, grade in state["reviews"].items()} == state["consequences"]
    released = {(order, tranche) for order, tranche, _ in state["releases"]}
    for order, grade in state["reviews"].items():
        assert ((order, 2) in released) == (grade != "unqualified"), "released money matches the grade"
    assert {status for _, _, status in state["releases"]} == {"paid"}
    assert state["suspended_in_matching"] == {"TEAM-s-bees"}, "matching honours funding's suspension"
    assert state["ledger_violations"] == []
    assert sum(state["dead_letters"].values()) == sum(summary["dead_letters_by_reason"].values()), (
        "every dead letter on the topics is recorded by the service that made it, and vice versa"
    )
    assert exit_codes == {"orders": 0, "matching": 0, "funding": 0, "reviews": 0}
