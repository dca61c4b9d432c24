"""Reviews on the real broker and PostgreSQL: a yearly cycle from OrderPublished and TeamAccepted
to graded projects (优秀 / 合格 / 不合格), conflicted reviewers, the deadline timer on a fixed
clock, redelivery, bad input, and the public results with their JSON and CSV exports.

Every test reviews its own year (2040, 2044, ...): cycle membership is by service period, and
the other tests of the session only have projects in service around 2019-2022."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from services.reviews.service import DEFINITION
from shared.clock import FixedClock
from shared.contract.envelope import new_envelope
from shared.contract.events.matching import ExpertRef, MemberChangeApproved, TeamAccepted
from shared.contract.events.reviews import (
    CloseReviewCycle,
    CriterionScore,
    OpenMidTermCheck,
    OpenReviewCycle,
    ReviewerConflictDeclared,
)
from shared.contract.speakers import reviewer_source
from shared.runtime.service import ServiceRuntime
from shared.topics import REJECTIONS, deadletter, events
from tests.builders import new_id, new_order_id
from tests.conftest import Infrastructure, kafka_settings, service_settings
from tests.reviews_builders import (
    GUO_INSTITUTION,
    activity,
    expert,
    order_published,
    outcome_report,
    panel_score,
    record_service,
    reviewer,
    send_score,
    sheet,
    team_accepted,
)
from tests.waiting import eventually
from tools.client import ProgrammeClient, TopicObserver, about

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ORDERS = "/services/orders"
MATCHING = "/services/matching"
BUREAU = "/bureau/hrss"
PORTAL = "/portal/teams"

_years = itertools.count(2040, 4)


@dataclass
class Reviews:
    runtime: ServiceRuntime
    clock: FixedClock
    client: ProgrammeClient
    seen: TopicObserver
    exports: Path

    async def fetchval(self, query: str, *args: Any) -> Any:
        assert self.runtime.pool is not None
        return await self.runtime.pool.fetchval(query, *args)

    async def panel_size(self, review_id: str) -> int:
        return int(await self.fetchval("SELECT count(*) FROM panel_scores WHERE review_id = $1", review_id))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def reviews(
    infrastructure: Infrastructure,
    topics_ready: str,
    database_factory: Any,
    client: ProgrammeClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Reviews]:
    exports = tmp_path_factory.mktemp("review-exports")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REVIEWS_EXPORT_DIR", str(exports))
        clock = FixedClock(datetime(2040, 1, 1, tzinfo=UTC))
        runtime = ServiceRuntime(
            DEFINITION,
            service_settings(await database_factory("reviews_kafka"), timers_enabled=False),
            kafka_settings(infrastructure, topics_ready),
            clock=clock,
        )
        await runtime.start()
        watched = [f"{topics_ready}{t}" for t in (events("reviews"), REJECTIONS, deadletter("reviews"))]
        async with TopicObserver(infrastructure.kafka, watched) as seen:
            yield Reviews(runtime, clock, client, seen, exports)
        await runtime.stop()


@pytest.fixture
def year(reviews: Reviews) -> int:
    """This test's review year; the clock stands on 10 January of the next year."""
    reviewed = next(_years)
    reviews.clock.set(datetime(reviewed + 1, 1, 10, 2, 0, tzinfo=UTC))
    return reviewed


# ---- helpers -------------------------------------------------------------------------------------


async def applied(r: Reviews, *event_ids: str) -> None:
    """Wait until the service consumed these events (upstream facts and declarations emit nothing)."""

    async def consumed() -> bool:
        count = await r.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::text[])", list(event_ids))
        return bool(count == len(event_ids))

    await eventually(consumed, f"events consumed: {event_ids}")


async def project(
    r: Reviews,
    year: int,
    *,
    start: date | None = None,
    lead: ExpertRef | None = None,
    members: tuple[ExpertRef, ...] | None = None,
    team_name: str = "郭顺星团队",
    days_served: int = 30,
) -> TeamAccepted:
    """An order published and taken by a team, serving the whole of `year` unless told otherwise,
    with `days_served` days on site recorded (by default the policy's minimum: the service
    criterion costs nothing and the panel's score is the review's)."""
    published = order_published(new_order_id(), start=start or date(year, 1, 1), months=12)
    accepted = team_accepted(published, lead=lead, members=members, team_name=team_name)
    sent = [await r.client.send(published, source=ORDERS), await r.client.send(accepted, source=MATCHING)]
    await applied(r, *(e.id for e in sent))
    if days_served:
        await record_service(r.client, accepted, days_served)
        await r.seen.wait_for(about(accepted.order_id, "ServiceActivityRecorded"), count=days_served)
    return accepted


async def open_cycle(r: Reviews, year: int, *additional: str) -> tuple[str, dict[str, Any]]:
    cycle_id = new_id("C")
    request = OpenReviewCycle(
        cycle_id=cycle_id,
        year=year,
        submission_deadline=date(year + 1, 1, 31),
        additional_order_ids=additional,
        opened_by="市人力社保局",
    )
    await r.client.send(request, source=BUREAU)
    (opened,) = await r.seen.wait_for(about(cycle_id, "ReviewCycleOpened"))
    return cycle_id, opened.data


async def report(r: Reviews, cycle_id: str, order_id: str) -> None:
    await r.client.send(outcome_report(cycle_id, order_id), source=PORTAL)
    await r.seen.wait_for(about(order_id, "OutcomeReportAccepted"))


async def score(r: Reviews, cycle_id: str, order_id: str, *scores: tuple[CriterionScore, ...] | float) -> None:
    for points in scores:
        await send_score(r.client, panel_score(cycle_id, order_id, reviewer(), points))
    await r.seen.wait_for(about(order_id, "PanelScoreRecorded"), count=len(scores))


async def rejection_of(r: Reviews, event_id: str) -> dict[str, Any]:
    (answer,) = await r.seen.wait_for(lambda o: o.type == "EventRejected" and o.data["rejected_event_id"] == event_id)
    return answer.data


def after_the_deadline(year: int) -> datetime:
    """00:30 on 1 February of the next year in Chongqing: the deadline (31 January) has passed."""
    return datetime(year + 1, 1, 31, 16, 30, tzinfo=UTC)


# ---- the tests -----------------------------------------------------------------------------------


async def test_a_cycle_grades_its_projects_excellent_qualified_and_unqualified_with_everything_to_re_derive_it(
    reviews: Reviews, year: int
) -> None:
    excellent = await project(reviews, year, lead=expert("郭顺星"))
    qualified = await project(
        reviews, year, lead=expert("钟应富", institution="重庆市农业科学院"), team_name="钟应富团队"
    )
    finished_earlier = await project(reviews, year, start=date(year - 2, 3, 1))
    added = await project(reviews, year, start=date(year - 2, 5, 1), team_name="补充考核团队")

    cycle_id, opened = await open_cycle(reviews, year, added.order_id)
    reviewed = sorted([excellent.order_id, qualified.order_id, added.order_id])
    assert [(r["review_id"], r["order_id"]) for r in opened["reviews"]] == [
        (f"RV-{cycle_id}-{order_id}", order_id) for order_id in reviewed
    ]
    assert finished_earlier.order_id not in {r["order_id"] for r in opened["reviews"]}
    assert opened["submission_deadline"] == f"{year + 1}-01-31"

    for accepted in (excellent, qualified, added):
        await report(reviews, cycle_id, accepted.order_id)
    mixed = sheet(
        outcomes_achieved=95,
        plan_and_management=80,
        local_talent_trained=90,
        brand_and_industry_chain=70,
        research_transferred=60,
    )
    await score(reviews, cycle_id, excellent.order_id, 95, 92, 90.5)
    await score(reviews, cycle_id, qualified.order_id, mixed, 70, 75)
    await score(reviews, cycle_id, added.order_id, 50, 40, 45)
    waiting = await reviews.runtime.pool.fetch(  # type: ignore[union-attr]
        "SELECT status FROM reviews WHERE cycle_id = $1", cycle_id
    )
    assert {w["status"] for w in waiting} == {"open"}, "complete panels wait for the submission deadline"
    reviews.clock.set(after_the_deadline(year))
    await reviews.runtime.run_timers_once()

    completed = {
        o.subject: o.data
        for o in await reviews.seen.wait_for(lambda o: o.type == "ReviewGraded" and o.subject in reviewed, count=3)
    }
    top = completed[excellent.order_id]
    assert (top["grade"], top["score"], top["panel_scores"]) == ("excellent", 92.5, [95.0, 92.0, 90.5])
    assert top["reason"] == (
        f"mean of 3 panel scores (95.00, 92.00, 90.50) = 92.50; service on site: 30 days recorded in service year 1 "
        f"({year}-01-01 to {year}-12-31), 30 a year required: no deduction; 60 people trained recorded (the report "
        "states 12 local talents trained); 92.50 ≥ 90: excellent (优秀)"
    )
    assert (top["days_on_site"], top["mid_term_flags"]) == (30, [])
    assert top["rule_version"] == "policy-2019.1+rubric-2027.1"
    assert (top["review_id"], top["cycle_id"], top["year"]) == (f"RV-{cycle_id}-{excellent.order_id}", cycle_id, year)
    assert (top["team_id"], top["lead_name"], top["institution"]) == (excellent.team_id, "郭顺星", GUO_INSTITUTION)
    assert top["indicator_results"] == [
        {
            "indicator": "demonstration_area",
            "label": "示范园面积",
            "unit": "亩",
            "baseline": 0.0,
            "target": 50.0,
            "actual": 52.0,
        },
        {"indicator": "jobs", "label": "带动就业", "unit": "人", "baseline": 0.0, "target": 20.0, "actual": 23.0},
    ]
    middle = completed[qualified.order_id]
    assert (middle["grade"], middle["score"], middle["panel_scores"]) == ("qualified", 75.92, [82.75, 70.0, 75.0])
    assert middle["reason"].endswith("60 ≤ 75.92 < 90: qualified (合格)")
    assert middle["lead_name"] == "钟应富"
    low = completed[added.order_id]
    assert (low["grade"], low["score"]) == ("unqualified", 45.0)
    assert low["reason"].endswith("45.00 < 60: unqualified (不合格)")
    grades = await reviews.runtime.pool.fetch(  # type: ignore[union-attr]
        "SELECT order_id, status, grade, score FROM reviews WHERE cycle_id = $1 ORDER BY order_id", cycle_id
    )
    assert [(g["status"], g["grade"]) for g in grades] == [("graded", completed[o]["grade"]) for o in reviewed]


async def test_a_reviewer_of_the_team_of_the_leads_institution_or_with_a_declared_conflict_is_refused(
    reviews: Reviews, year: int
) -> None:
    member = expert("成员甲", institution="西南大学")
    accepted = await project(reviews, year, lead=expert("郭顺星"), members=(member,))
    cycle_id, _ = await open_cycle(reviews, year)
    order_id = accepted.order_id
    conflicted = reviewer("李评审", "重庆市农业科学院")
    declared = await reviews.client.send(
        ReviewerConflictDeclared(
            cycle_id=cycle_id, order_id=order_id, reviewer_id=conflicted.reviewer_id, reason="曾与该团队合作申报项目"
        ),
        source=reviewer_source(conflicted.reviewer_id),
    )
    await applied(reviews, declared.id)

    refused = {
        "reviewer_in_team": reviewer("成员甲", "西南大学", reviewer_id=member.expert_id),
        "reviewer_same_institution": reviewer("同单位评审", GUO_INSTITUTION),
        "reviewer_conflicted": conflicted,
    }
    for rule, by in refused.items():
        sent = await send_score(reviews.client, panel_score(cycle_id, order_id, by, 88))
        answer = await rejection_of(reviews, sent.id)
        assert answer["reason_code"] == rule
        assert by.reviewer_id in answer["reason"]
    independent = reviewer("王评审", "重庆大学")
    await send_score(reviews.client, panel_score(cycle_id, order_id, independent, 88))
    (recorded,) = await reviews.seen.wait_for(about(order_id, "PanelScoreRecorded"))
    assert (recorded.data["reviewer_id"], recorded.data["weighted_score"], recorded.data["panel_size"]) == (
        independent.reviewer_id,
        88.0,
        1,
    )
    again = await send_score(reviews.client, panel_score(cycle_id, order_id, independent, 95))
    assert (await rejection_of(reviews, again.id))["reason_code"] == "reviewer_already_scored"
    letters = await reviews.seen.wait_for(
        lambda o: o.topic.endswith("reviews.deadletter") and o.subject == order_id, count=4
    )
    assert {o.header("dlt.rule") for o in letters} == {*refused, "reviewer_already_scored"}
    assert await reviews.panel_size(recorded.data["review_id"]) == 1


async def test_a_team_without_a_report_by_the_deadline_is_graded_by_the_timer_and_a_late_report_is_refused(
    reviews: Reviews, year: int
) -> None:
    silent, reporting = await project(reviews, year), await project(reviews, year)
    cycle_id, _ = await open_cycle(reviews, year)
    await report(reviews, cycle_id, reporting.order_id)
    await score(reviews, cycle_id, reporting.order_id, 85)

    await reviews.runtime.run_timers_once()
    silent_review = f"RV-{cycle_id}-{silent.order_id}"
    status = "SELECT status FROM reviews WHERE review_id = $1"
    assert await reviews.fetchval(status, silent_review) == "open", "before the deadline nothing is due"

    reviews.clock.set(after_the_deadline(year))
    late = await reviews.client.send(outcome_report(cycle_id, silent.order_id), source=PORTAL)
    answer = await rejection_of(reviews, late.id)
    assert answer["reason_code"] == "report_late"
    assert f"{year + 1}-01-31" in answer["reason"]

    await reviews.runtime.run_timers_once()
    (graded,) = await reviews.seen.wait_for(about(silent.order_id, "ReviewGraded"))
    assert (graded.data["grade"], graded.data["score"], graded.data["indicator_results"]) == ("unqualified", None, [])
    assert graded.data["reason"] == (
        f"no outcome report by the submission deadline {year + 1}-01-31: graded unqualified (不合格) "
        "per policy missing_report_grade"
    )
    assert graded.data["graded_at"].startswith(f"{year + 1}-01-31T16:30")
    cause = "SELECT cause_source FROM review_history WHERE review_id = $1 AND event_type = 'ReviewGraded'"
    assert await reviews.fetchval(cause, silent_review) == "timer:missing-reports", "the audit trail names the timer"
    await reviews.runtime.run_timers_once()
    await reviews.seen.settle(0.3)
    assert len(reviews.seen.matching(about(silent.order_id, "ReviewGraded"))) == 1, "the timer is idempotent"
    assert reviews.seen.matching(about(reporting.order_id, "ReviewGraded")) == [], "reported: open until closing"
    assert await reviews.fetchval(status, f"RV-{cycle_id}-{reporting.order_id}") == "open"


async def test_a_redelivered_score_is_recorded_once_and_the_grade_does_not_change(reviews: Reviews, year: int) -> None:
    accepted = await project(reviews, year)
    order_id = accepted.order_id
    cycle_id, _ = await open_cycle(reviews, year)
    await report(reviews, cycle_id, order_id)
    reviews.clock.set(after_the_deadline(year))  # the panel scores after the deadline: graded at once
    sent = [
        await send_score(reviews.client, panel_score(cycle_id, order_id, reviewer(), points)) for points in (88, 91, 93)
    ]
    (completed,) = await reviews.seen.wait_for(about(order_id, "ReviewGraded"))
    assert (completed.data["grade"], completed.data["score"]) == ("excellent", 90.67)

    for envelope in (sent[2], sent[0]):
        await reviews.client.send_envelope(envelope)
    marker = await send_score(reviews.client, panel_score(cycle_id, order_id, reviewer(), 10))
    assert (await rejection_of(reviews, marker.id))["reason_code"] == "review_completed"
    await reviews.seen.settle(0.3)
    assert len(reviews.seen.matching(about(order_id, "PanelScoreRecorded"))) == 3
    assert len(reviews.seen.matching(about(order_id, "ReviewGraded"))) == 1
    review_id = completed.data["review_id"]
    assert await reviews.panel_size(review_id) == 3
    assert await reviews.fetchval("SELECT grade FROM reviews WHERE review_id = $1", review_id) == "excellent"
    sent_ids = {e.id for e in sent}
    refused = reviews.seen.matching(lambda o: o.type == "EventRejected" and o.data["rejected_event_id"] in sent_ids)
    assert refused == [], "a redelivery is not a rejection"


async def test_bad_input_to_reviews_is_dead_lettered_and_answered(reviews: Reviews, year: int) -> None:
    accepted = await project(reviews, year)
    order_id = accepted.order_id
    cycle_id, _ = await open_cycle(reviews, year)

    forged = await reviews.client.send(panel_score(cycle_id, order_id, reviewer(), 99), source=PORTAL)
    assert (await rejection_of(reviews, forged.id))["reason_code"] == "unauthorized_source"
    valid = panel_score(cycle_id, order_id, reviewer(), 80).model_dump(mode="json")
    malformed = new_envelope(
        source=reviewer_source(valid["reviewer"]["reviewer_id"]),
        type="PanelScoreSubmitted",
        subject=order_id,
        data=valid | {"scores": [{"criterion": "outcomes_achieved", "score": "优秀"}]},
        time=datetime.now(UTC),
    )
    await reviews.client.send_envelope(malformed)
    assert (await rejection_of(reviews, malformed.id))["reason_code"] == "schema_violation"
    beyond = await send_score(reviews.client, panel_score(cycle_id, order_id, reviewer(), 120))
    assert (await rejection_of(reviews, beyond.id))["reason_code"] == "score_out_of_scale"
    unknown = await send_score(
        reviews.client,
        panel_score(cycle_id, order_id, reviewer(), (*sheet(80), CriterionScore(criterion="popularity", score=90))),
    )
    assert (await rejection_of(reviews, unknown.id))["reason_code"] == "unknown_criterion"
    elsewhere = await reviews.client.send(outcome_report(cycle_id, new_order_id()), source=PORTAL)
    assert (await rejection_of(reviews, elsewhere.id))["reason_code"] == "not_under_review"
    no_cycle = await reviews.client.send(outcome_report(new_id("C"), order_id), source=PORTAL)
    assert (await rejection_of(reviews, no_cycle.id))["reason_code"] == "unknown_cycle"

    letters = await reviews.seen.wait_for(
        lambda o: o.topic.endswith("reviews.deadletter") and o.subject == order_id, count=5
    )
    assert {o.header("dlt.reason") for o in letters} == {"unauthorized_source", "schema_violation", "business_rule"}
    assert reviews.seen.matching(about(order_id, "PanelScoreRecorded")) == []


async def test_closing_grades_what_is_open_publishes_the_results_and_writes_the_json_and_csv_exports(
    reviews: Reviews, year: int
) -> None:
    members = (expert("成员甲", institution="西南大学"), expert("成员乙", institution="重庆大学"))
    graded = await project(reviews, year, lead=expert("郭顺星"), members=members)
    incomplete = await project(
        reviews, year, lead=expert("钟应富", institution="重庆市农业科学院"), team_name="钟应富团队"
    )
    silent = await project(reviews, year, lead=expert("刘示例", institution="重庆三峡学院"), team_name="刘示例团队")
    cycle_id, _ = await open_cycle(reviews, year)
    panel = [reviewer("王评审", "重庆大学"), reviewer("李评审", "西南政法大学"), reviewer("张评审", "重庆师范大学")]
    await report(reviews, cycle_id, graded.order_id)
    for by, points in zip(panel, (96, 94, 92), strict=True):
        await send_score(reviews.client, panel_score(cycle_id, graded.order_id, by, points))
    await reviews.seen.wait_for(about(graded.order_id, "PanelScoreRecorded"), count=3)  # graded at the deadline
    await report(reviews, cycle_id, incomplete.order_id)
    await score(reviews, cycle_id, incomplete.order_id, 78)

    early = await reviews.client.send(CloseReviewCycle(cycle_id=cycle_id, closed_by="市人力社保局"), source=BUREAU)
    assert (await rejection_of(reviews, early.id))["reason_code"] == "deadline_not_passed"
    reviews.clock.set(after_the_deadline(year))
    await reviews.client.send(CloseReviewCycle(cycle_id=cycle_id, closed_by="市人力社保局"), source=BUREAU)
    (published,) = await reviews.seen.wait_for(about(cycle_id, "ReviewResultsPublished"))

    at_closing = {  # on the orders' partitions: they may arrive after the cycle's publication
        o.subject: o.data
        for o in await reviews.seen.wait_for(
            lambda o: o.type == "ReviewGraded" and o.subject in {incomplete.order_id, silent.order_id}, count=2
        )
    }
    assert (at_closing[incomplete.order_id]["grade"], at_closing[incomplete.order_id]["score"]) == ("qualified", 78.0)
    assert at_closing[incomplete.order_id]["reason"].startswith("panel incomplete at closing (1 of 3 panel scores)")
    assert (at_closing[silent.order_id]["grade"], at_closing[silent.order_id]["score"]) == ("unqualified", None)
    expected = sorted(
        [
            (graded.order_id, "郭顺星团队", "郭顺星", GUO_INSTITUTION, "excellent", 94.0),
            (incomplete.order_id, "钟应富团队", "钟应富", "重庆市农业科学院", "qualified", 78.0),
            (silent.order_id, "刘示例团队", "刘示例", "重庆三峡学院", "unqualified", None),
        ]
    )
    results = published.data["results"]
    assert [
        (r["order_id"], r["team_name"], r["lead_name"], r["institution"], r["grade"], r["score"]) for r in results
    ] == expected
    assert {(r["project"], r["county_code"], r["county_name"]) for r in results} == {
        ("保合村天麻种源繁育", "500240", "石柱县")
    }

    await eventually(
        lambda: reviews.fetchval("SELECT written_at FROM public_exports WHERE cycle_id = $1", cycle_id),
        "the public exports written once the closing committed",
    )
    as_json = json.loads((reviews.exports / f"review-results-{cycle_id}.json").read_text(encoding="utf-8"))
    assert (as_json["cycle_id"], as_json["year"]) == (cycle_id, year)
    assert [{k: v for k, v in r.items() if k != "grade_label"} for r in as_json["results"]] == results
    labels = {"excellent": "优秀", "qualified": "合格", "unqualified": "不合格"}
    assert [r["grade_label"] for r in as_json["results"]] == [labels[e[4]] for e in expected]
    csv_text = (reviews.exports / f"review-results-{cycle_id}.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [(row["order_id"], row["lead_name"], row["grade"], row["score"]) for row in rows] == [
        (e[0], e[2], e[4], "" if e[5] is None else f"{e[5]:.2f}") for e in expected
    ]
    private = [
        *(m.name for m in members),
        *(m.expert_id for m in members),
        *(p.reviewer_id for p in panel),
        *(p.name for p in panel),
        graded.lead.expert_id,
        graded.team_id,
        "示范园建设达标",
    ]
    for export in (json.dumps(as_json, ensure_ascii=False), csv_text):
        assert not [p for p in private if p in export], "no personal data beyond the published fields"

    again = await reviews.client.send(CloseReviewCycle(cycle_id=cycle_id, closed_by="市人力社保局"), source=BUREAU)
    assert (await rejection_of(reviews, again.id))["reason_code"] == "cycle_closed"
    late_score = await send_score(reviews.client, panel_score(cycle_id, incomplete.order_id, reviewer(), 90))
    assert (await rejection_of(reviews, late_score.id))["reason_code"] == "cycle_closed"
    assert await reviews.fetchval("SELECT status FROM review_cycles WHERE cycle_id = $1", cycle_id) == "closed"

    # a crash between the commit and the files: the timer writes them, and writes them once
    for form in ("json", "csv"):
        (reviews.exports / f"review-results-{cycle_id}.{form}").unlink()
    await reviews.fetchval("UPDATE public_exports SET written_at = NULL WHERE cycle_id = $1 RETURNING 1", cycle_id)
    await reviews.runtime.run_timers_once()
    assert json.loads((reviews.exports / f"review-results-{cycle_id}.json").read_text(encoding="utf-8")) == as_json
    assert (reviews.exports / f"review-results-{cycle_id}.csv").read_text(encoding="utf-8-sig") == csv_text
    assert await reviews.fetchval("SELECT count(*) FROM public_exports WHERE written_at IS NULL") == 0


# ---- the service actually given (issue 20) -------------------------------------------------------


def _team_change(accepted: TeamAccepted, leaving: ExpertRef, effective_from: date) -> MemberChangeApproved:
    """The bureau approved that `leaving` leaves the team from `effective_from`."""
    return MemberChangeApproved(
        change_id=new_id("CHG"),
        order_id=accepted.order_id,
        project_id=accepted.project_id,
        team_id=accepted.team_id,
        kind="remove",
        leaving=leaving,
        effective_from=effective_from,
        lead=accepted.lead,
        members=tuple(m for m in accepted.members if m.expert_id != leaving.expert_id),
        local_talents=accepted.local_talents,
        decided_by="市人力社保局",
        reason="成员工作调动",
    )


async def test_a_day_at_the_site_is_recorded_and_counted_and_another_village_is_refused(
    reviews: Reviews, year: int
) -> None:
    accepted = await project(reviews, year, days_served=0)
    first = activity(accepted, date(year, 3, 2), people_trained=15)
    same_day = activity(accepted, date(year, 3, 2), kind="consultation")
    next_day = activity(accepted, date(year, 3, 5))
    for record in (first, same_day, next_day):
        await reviews.client.send(record, source=PORTAL)
    recorded = await reviews.seen.wait_for(about(accepted.order_id, "ServiceActivityRecorded"), count=3)
    by_id = {r.data["activity_id"]: r.data for r in recorded}
    assert [by_id[a.activity_id]["days_on_site_this_year"] for a in (first, same_day, next_day)] == [1, 1, 2]
    assert (by_id[first.activity_id]["project_id"], by_id[first.activity_id]["people_trained"]) == (
        accepted.project_id,
        15,
    )

    elsewhere = await reviews.client.send(activity(accepted, date(year, 3, 6), village="龙沙村"), source=PORTAL)
    answer = await rejection_of(reviews, elsewhere.id)
    assert answer["reason_code"] == "not_at_project_site"
    assert "龙沙村" in answer["reason"]
    again = await reviews.client.send(first, source=PORTAL)  # the same activity, sent again: nothing new
    reused = await reviews.client.send(first.model_copy(update={"on": date(year, 3, 9)}), source=PORTAL)
    assert (await rejection_of(reviews, reused.id))["reason_code"] == "id_reused"
    await applied(reviews, again.id)
    await reviews.seen.settle(0.3)
    assert len(reviews.seen.matching(about(accepted.order_id, "ServiceActivityRecorded"))) == 3
    count = "SELECT count(DISTINCT on_date) FROM service_activities WHERE order_id = $1"
    assert await reviews.fetchval(count, accepted.order_id) == 2


async def test_a_day_recorded_before_the_team_is_accepted_is_refused_as_too_early_and_taken_when_sent_again(
    reviews: Reviews, year: int
) -> None:
    published = order_published(new_order_id(), start=date(year, 1, 1), months=12)
    await applied(reviews, (await reviews.client.send(published, source=ORDERS)).id)
    accepted = team_accepted(published)
    day = activity(accepted, date(year, 3, 2), people_trained=12)
    early = await reviews.client.send(day, source=PORTAL)
    refusal = await rejection_of(reviews, early.id)
    assert refusal["reason_code"] == "unknown_project"
    assert f"order {published.order_id} is published" in refusal["reason"]
    assert "again once the project is accepted" in refusal["reason"]
    never_published = team_accepted(order_published(new_order_id(), start=date(year, 1, 1), months=12))
    stranger = activity(never_published, date(year, 3, 2))
    unknown = await rejection_of(reviews, (await reviews.client.send(stranger, source=PORTAL)).id)
    assert "not an order the reviews service knows as published" in unknown["reason"]

    await applied(reviews, (await reviews.client.send(accepted, source=MATCHING)).id)
    await reviews.client.send(day, source=PORTAL)  # a new event: the refused one stays refused
    (recorded,) = await reviews.seen.wait_for(about(accepted.order_id, "ServiceActivityRecorded"))
    assert (recorded.data["activity_id"], recorded.data["people_trained"]) == (day.activity_id, 12)


async def test_an_expert_who_left_the_team_before_that_day_is_refused(reviews: Reviews, year: int) -> None:
    member = expert("成员甲", institution="西南大学")
    accepted = await project(reviews, year, members=(member, expert("成员乙", institution="重庆大学")), days_served=0)
    change = await reviews.client.send(_team_change(accepted, member, date(year, 5, 1)), source=MATCHING)
    await applied(reviews, change.id)

    before = activity(accepted, date(year, 4, 30), expert_id=member.expert_id)
    await reviews.client.send(before, source=PORTAL)
    (recorded,) = await reviews.seen.wait_for(about(accepted.order_id, "ServiceActivityRecorded"))
    assert recorded.data["activity_id"] == before.activity_id
    after = await reviews.client.send(activity(accepted, date(year, 5, 2), expert_id=member.expert_id), source=PORTAL)
    answer = await rejection_of(reviews, after.id)
    assert answer["reason_code"] == "not_on_team_that_day"
    assert member.expert_id in answer["reason"]
    stint = await reviews.runtime.pool.fetchrow(  # type: ignore[union-attr]
        "SELECT valid_from, valid_to FROM team_members WHERE order_id = $1 AND expert_id = $2",
        accepted.order_id,
        member.expert_id,
    )
    assert stint is not None
    assert (stint["valid_from"], stint["valid_to"]) == (date(year, 1, 1), date(year, 5, 1))


async def test_the_mid_term_check_flags_a_project_below_the_pace_and_the_flag_and_its_days_show_in_the_review(
    reviews: Reviews, year: int
) -> None:
    behind = await project(reviews, year, lead=expert("郭顺星"), days_served=12)
    on_pace = await project(
        reviews, year, lead=expert("钟应富", institution="重庆市农业科学院"), team_name="钟应富团队", days_served=15
    )
    check_id = f"{year}-midterm"
    check = OpenMidTermCheck(check_id=check_id, year=year, as_of=date(year, 7, 1), opened_by="市人力社保局")
    await reviews.client.send(check, source=BUREAU)
    (completed,) = await reviews.seen.wait_for(about(check_id, "MidTermCheckCompleted"))
    assert (completed.data["checked"], completed.data["flagged_order_ids"]) == (2, [behind.order_id])
    (flagged,) = await reviews.seen.wait_for(about(behind.order_id, "ProjectFlagged"))
    assert flagged.data["reasons"] == [f"12 days on site by {year}-07-01, 15 expected (30 a year)"]
    assert (flagged.data["days_on_site"], flagged.data["days_expected_by_now"]) == (12, 15)
    assert reviews.seen.matching(about(on_pace.order_id, "ProjectFlagged")) == []
    twice = await reviews.client.send(check, source=BUREAU)
    assert (await rejection_of(reviews, twice.id))["reason_code"] == "check_exists"

    cycle_id, _ = await open_cycle(reviews, year)
    for accepted in (behind, on_pace):
        await report(reviews, cycle_id, accepted.order_id)
    reviews.clock.set(after_the_deadline(year))
    await score(reviews, cycle_id, behind.order_id, 95, 92, 90.5)
    await score(reviews, cycle_id, on_pace.order_id, 95, 92, 90.5)
    graded = {
        o.subject: o.data
        for o in await reviews.seen.wait_for(
            lambda o: o.type == "ReviewGraded" and o.subject in {behind.order_id, on_pace.order_id}, count=2
        )
    }
    late = graded[behind.order_id]
    assert (late["grade"], late["score"], late["panel_scores"], late["days_on_site"]) == (
        "qualified",
        80.5,
        [95.0, 92.0, 90.5],
        12,
    )
    assert "12 days recorded in service year 1" in late["reason"]
    assert "−12.00 (20 × 18/30), 92.50 − 12.00 = 80.50" in late["reason"]
    flag = f"mid-term check {check_id} ({year}-07-01): 12 days on site by {year}-07-01, 15 expected (30 a year)"
    assert late["mid_term_flags"] == [flag]
    assert late["reason"].endswith(f"60 ≤ 80.50 < 90: qualified (合格); flagged: {flag}")
    paced = graded[on_pace.order_id]
    assert (paced["score"], paced["days_on_site"], paced["mid_term_flags"]) == (82.5, 15, [])
    assert "−10.00 (20 × 15/30)" in paced["reason"]
