"""What every whole-programme test checks of a year played through the services: each service's
state, read from its database, and the year's consistency (report, narration, ledger, every
service agreeing)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from services.funding.adapters.invariants import ledger_violations
from services.funding.domain.model import service_years, tranche_schedule
from shared.contract.events.funding import Tranche
from shared.contract.events.orders import ServicePeriod
from shared.policy import ProgrammePolicy
from tools.scenario.calendar import PROGRAMME_START, ProgrammeCalendar
from tools.scenario.seed import generate

ORDERS = 8
"""A reduced programme: two real projects and six synthetic ones, every grade represented."""


async def fetch(url: str, query: str) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def state_of(db: Callable[[str], str], services: Sequence[str]) -> dict[str, Any]:
    """What each service's database says at the end (db: service name -> its database URL)."""
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
        "granted": {r[0]: r[1] for r in await fetch(db("funding"), "SELECT order_id, amount_fen FROM grants")},
        "incentive_holders": {
            (r[0], r[1]) for r in await fetch(db("funding"), "SELECT order_id, expert_id FROM incentives")
        },
        "member_changes": {
            r[0]: (r[1], r[2])
            for r in await fetch(db("matching"), "SELECT change_id, status, rule FROM member_changes")
        },
        "left_teams": {
            (r[0], r[1], r[2])
            for r in await fetch(
                db("matching"),
                "SELECT p.order_id, m.expert_id, m.valid_to FROM project_members m "
                "JOIN projects p USING (project_id) WHERE m.valid_to <> 'infinity'",
            )
        },
        "days_on_site": {
            r[0]: r[1]
            for r in await fetch(
                db("reviews"), "SELECT order_id, count(DISTINCT on_date) FROM service_activities GROUP BY order_id"
            )
        },
        "flags": {r[0] for r in await fetch(db("reviews"), "SELECT order_id FROM project_flags")},
        "reviews": {r[0]: r[1] for r in await fetch(db("reviews"), "SELECT order_id, grade FROM reviews")},
        "consequences": {
            r[0]: r[1] for r in await fetch(db("funding"), "SELECT grant_id, grade FROM review_consequences")
        },
        "releases": [tuple(r) for r in await fetch(db("funding"), "SELECT order_id, tranche, status FROM releases")],
        "suspended_in_matching": {
            r[0] for r in await fetch(db("matching"), "SELECT suspended_id FROM suspensions WHERE kind = 'team'")
        },
        "dead_letters": {name: len(await fetch(db(name), "SELECT 1 FROM dead_letters")) for name in services},
        "ledger_violations": violations,
    }


def assert_on_the_programme_calendar(report: Any, orders: int, seed: int = 2019, two_years: bool = True) -> None:
    """A programme played on its calendar (tools/scenario/calendar.py) dates everything by it,
    whatever day it is run: the call's budget year, and consequences counted from the day the
    results took effect (the public notice of January's results over, past the Spring Festival),
    not from the day the panel graded nor the day the test ran."""
    summary = report.as_dict()
    programme = generate(orders, seed=seed, start=PROGRAMME_START)
    in_effect = ProgrammeCalendar(PROGRAMME_START).steps()["results in effect"]
    policy = ProgrammePolicy()
    by_year = {str(PROGRAMME_START.year): programme.total_funding_fen}
    if two_years and programme.story is not None:
        by_year[str(PROGRAMME_START.year + 1)] = sum(
            c.order.demand.funding_asked_fen for c in programme.story.second_call
        )
    assert summary["granted_by_budget_year"] == by_year
    assert {r["deadline"] for r in summary["rectifications"]} == {
        str(in_effect + timedelta(days=policy.rectification_days))
    }
    assert {s["until"] for s in summary["suspensions"]} == {str(in_effect + timedelta(days=policy.suspension_days))}


def schedule_of(amount_fen: int, period: ServicePeriod) -> tuple[Tranche, ...]:
    """The tranches funding must have made for a grant (the policy's defaults, DOMAIN.md)."""
    return tranche_schedule(amount_fen, ProgrammePolicy().tranche_percentages(service_years(period)))


def assert_a_consistent_year(
    report: Any,
    state: dict[str, Any],
    narration: str,
    orders: int,
    seed: int = 2019,
    start: date | None = None,
    two_years: bool = False,
) -> None:
    """The report matches the seeded programme, and every service tells the same story. Grades are
    the ones in effect (an upheld objection's re-review); `two_years`: the demo's next year was
    played too (rectifications decided or missed, the next year's second call)."""
    assert report.failures == [], narration
    summary = report.as_dict()
    programme = generate(orders, seed=seed, start=start)  # the same seed: the programme the services just ran
    story = programme.story
    graded = {o.order_id: o.final_grade for o in programme.orders}
    schedules = {o.order_id: schedule_of(o.granted_fen, o.demand.service_period) for o in programme.orders}
    first = {order: tranches[0].amount_fen for order, tranches in schedules.items()}
    first_year = {order: tranches[1].amount_fen for order, tranches in schedules.items()}
    rest = {o.order_id: o.granted_fen - first[o.order_id] for o in programme.orders}
    passed = [order for order, grade in graded.items() if grade != "unqualified"]
    failed = [order for order, grade in graded.items() if grade == "unqualified"]
    assert summary["grades_count"] == dict(Counter(graded.values()))
    assert set(summary["grades_count"]) == {"excellent", "qualified", "unqualified"}
    second_call = [c.order for c in story.second_call] if two_years and story is not None else []
    restored = story.rectification_accepted if two_years and story is not None else None
    second_first = sum(
        schedule_of(o.demand.funding_asked_fen, o.demand.service_period)[0].amount_fen for o in second_call
    )
    released = (
        sum(first.values())
        + sum(first_year[o] for o in passed)
        + second_first
        + (first_year[restored.order_id] if restored is not None else 0)
    )
    assert summary["money_fen"] == {
        "granted": programme.total_funding_fen + sum(o.demand.funding_asked_fen for o in second_call),
        "released": released,
        "paid": released,
        "withheld": sum(rest[o] for o in failed),
    }
    # incentives as policy (services/funding/README.md), the year's only review being each project's
    # first: early title evaluation for the grades the policy names (an unknown grade is not
    # eligible), priority for the roles it names (by default the team's local talent); both to the
    # people on the team on the review's date (after the year's member change)
    policy = ProgrammePolicy()
    passed_orders = [o for o in programme.orders if o.final_grade != "unqualified"]

    def role_of(order: Any, expert_id: str) -> str:
        team = order.team
        return (
            "local_talent"
            if expert_id in team.local_talent_expert_ids
            else "lead"
            if expert_id == team.lead_expert_id
            else "member"
        )

    holders = {
        (o.order_id, e.expert_id)
        for o in passed_orders
        for e in programme.people_at_review(o)
        if e.title_grade in policy.early_title_evaluation_grades
        or role_of(o, e.expert_id) in policy.talent_priority_roles
    }
    incentives = {
        "early_title_evaluation": sum(
            1
            for o in passed_orders
            for e in programme.people_at_review(o)
            if e.title_grade in policy.early_title_evaluation_grades
        ),
        "talent_programme_priority": sum(
            1
            for o in passed_orders
            for e in programme.people_at_review(o)
            if role_of(o, e.expert_id) in policy.talent_priority_roles
        ),
    }
    assert summary["incentives_by_kind"] == {kind: n for kind, n in incentives.items() if n}
    assert state["incentive_holders"] == holders, "incentives go to the people on the team on the review's date"
    excellent_teams = {o.team.team_id for o in programme.orders if o.final_grade == "excellent"}
    assert set(summary["continued_funding_eligible"]) == excellent_teams
    failed_teams = {o.team.team_id for o in programme.orders if o.final_grade == "unqualified"}
    assert {s["team_id"] for s in summary["suspensions"]} == failed_teams
    assert len(summary["published_results"]) == orders
    assert sorted(Path(p).suffix for p in summary["public_exports"]) == [".csv", ".json"]

    # every service tells the same story
    assert state["awarded_orders"] == state["projects"] == set(state["grants"]), "every TeamAccepted has a grant"
    after_one_year = {
        f"G-{o.order_id}": "withheld"
        if o.final_grade == "unqualified"
        else "complete"
        if len(schedules[o.order_id]) == 2
        else "open"
        for o in programme.orders
    }
    if two_years and story is not None:
        for o in programme.orders:
            if o.final_grade == "unqualified":
                after_one_year[f"G-{o.order_id}"] = "ended"
        if restored is not None:
            after_one_year[f"G-{restored.order_id}"] = "complete" if len(schedules[restored.order_id]) == 2 else "open"
        after_one_year |= {f"G-{o.order_id}": "open" for o in second_call}
        if story.ended_early is not None:
            after_one_year[f"G-{story.ended_early.order_id}"] = "ended"
    assert {f"G-{order}": status for order, status in state["grants"].items()} == after_one_year, (
        "a one-year project is fully paid after its passing review, a longer one keeps its later years' tranches"
    )
    assert {f"G-{order}": grade for order, grade in state["reviews"].items()} == state["consequences"]
    released_tranches = {(order, tranche) for order, tranche, _ in state["releases"]}
    for order, grade in state["reviews"].items():
        paid_again = restored is not None and order == restored.order_id
        assert ((order, 2) in released_tranches) == (grade != "unqualified" or paid_again), "released money matches"
    assert {status for _, _, status in state["releases"]} == {"paid"}
    assert state["suspended_in_matching"] == failed_teams, "matching honours funding's suspension"
    assert state["ledger_violations"] == []
    assert sum(state["dead_letters"].values()) == sum(summary["dead_letters_by_reason"].values()), (
        "every dead letter on the topics is recorded by the service that made it, and vice versa"
    )
    assert_the_service_period(summary, state, programme, two_years=two_years)


def assert_the_service_period(summary: dict[str, Any], state: dict[str, Any], programme: Any, two_years: bool) -> None:
    """What happened between acceptance and review, as the story has it: the amount approved below
    the ask granted, the member change approved and the second refused by the acceptance rules,
    the days on site recorded, the project behind on them flagged, and (the next year) the project
    ended early with its unreleased money forfeited (the policy's default)."""
    story = programme.story
    assert state["granted"] == {
        **{o.order_id: o.granted_fen for o in programme.orders},
        **{c.order.order_id: c.order.demand.funding_asked_fen for c in (story.second_call if two_years else ())},
    }
    below = story.approved_below_ask
    assert summary["approved_below_ask"] == (
        [{"order_id": below.order_id, "asked_fen": below.demand.funding_asked_fen, "approved_fen": below.approved_fen}]
        if below is not None
        else []
    )
    change = story.member_change
    if change is not None:
        order = change.order.order_id
        assert state["member_changes"] == {
            f"MC-{order}-1": ("approved", None),
            f"MC-{order}-2": ("refused", "expert_on_active_team"),
        }
        assert (order, change.leaving.expert_id, change.effective_from) in state["left_teams"]
        assert [(c["change_id"], c["decision"]) for c in summary["member_changes"]] == [
            (f"MC-{order}-1", "approved"),
            (f"MC-{order}-2", "refused (expert_on_active_team)"),
        ]
    assert state["days_on_site"] == {o.order_id: 30 for o in programme.orders}
    assert {o: p["days_on_site"] for o, p in summary["grades"].items()} == {o.order_id: 30 for o in programme.orders}
    flagged = {story.flagged.order_id} if story.flagged is not None else set()
    assert state["flags"] == flagged
    assert {f["order_id"] for f in summary["mid_term_flags"]} == flagged
    assert {o for o, p in summary["grades"].items() if p["mid_term_flags"]} == flagged, "a flag is shown in the review"
    figures = summary["figures"]
    assert figures["service_days"]["total"] == 30 * len(programme.orders)
    assert figures["mid_term_flags"].keys() == flagged
    ended = story.ended_early
    if not two_years or ended is None:
        assert summary["ended_early"] == {}
        return
    tranches = schedule_of(ended.granted_fen, ended.demand.service_period)
    released = tranches[0].amount_fen + tranches[1].amount_fen  # on acceptance, and after its first (passing) review
    assert summary["ended_early"][ended.order_id] | {"reason": ""} == {
        "ended_on": str(ProgrammeCalendar(programme.start).steps()["project ended early"]),
        "planned_end": str(
            date(ended.demand.service_period.start.year + ended.demand.service_period.months // 12, 1, 1)
        ),
        "reason": "",
        "rule": "forfeit",
        "granted_fen": ended.granted_fen,
        "released_fen": released,
        "forfeited_fen": ended.granted_fen - released,
    }
    year = summary["money_by_budget_year"][str(ended.demand.service_period.start.year)]
    assert year["forfeited"] >= ended.granted_fen - released
    assert year["granted"] == year["released"] + year["withheld"] + year["forfeited"] + year["committed_later"]
    assert ended.order_id in figures["ended"]
