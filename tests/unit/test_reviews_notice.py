"""公示 and 异议 without I/O: a graded result takes effect only when its cycle's public notice is over
with no objection pending; an objection lodged within the notice is upheld (a new panel reviews
the project again) or rejected (the published grade stands)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.reviews.domain.model import (
    Closing,
    Cycle,
    Review,
    ReviewStatus,
    accept_report,
    close_cycle,
    complete_if_ready,
    decide_objection,
    finalize,
    lodge_objection,
    record_score,
    takes_effect,
)
from services.reviews.domain.rubric import ReviewRubric
from shared.contract.events.reviews import LodgeObjection, ObjectionRejected, ObjectionUpheld, Reviewer
from shared.policy import ProgrammePolicy
from shared.rules import RuleBroken
from tests.reviews_builders import opened_review, outcome_report, panel_score, reviewer

RUBRIC = ReviewRubric()
POLICY = ProgrammePolicy()
ORDER = "500240-2027-001"
OPENED = datetime(2027, 12, 1, 1, 30, tzinfo=UTC)
SCORED = datetime(2028, 1, 8, 1, 30, tzinfo=UTC)
CLOSED = datetime(2028, 1, 20, 1, 30, tzinfo=UTC)  # Thursday 20 January 2028, Chongqing
NOTICE_ENDS = date(2028, 2, 2)  # 5 working days: 21, 24, then 春节 25-28 off, 31, 1, 2 February
FIRST_PANEL = (
    reviewer("王评审", reviewer_id="R-wang"),
    reviewer("李评审", reviewer_id="R-li"),
    reviewer("张评审", reviewer_id="R-zhang"),
)


def chongqing(day: date, hour_utc: int = 2) -> datetime:
    return datetime(day.year, day.month, day.day, hour_utc, 0, tzinfo=UTC)


def graded_by(panel: tuple[Reviewer, ...], score: float, review: Review, cycle: Cycle, at: datetime) -> Review:
    for by in panel:
        review, _ = record_score(review, cycle, panel_score(cycle.cycle_id, ORDER, by, score), RUBRIC, at)
    ready = complete_if_ready(review, cycle, RUBRIC, POLICY, at)
    assert ready is not None
    return ready.review


def published_cycle(score: float = 55.0) -> tuple[Closing, Review]:
    """The 2027 cycle of the 石柱县 天麻 project: reported, graded by its panel, closed on 20 January."""
    cycle, review = opened_review(ORDER, cycle_id="2027", year=2027, deadline=date(2027, 12, 31), now=OPENED)
    review, _ = accept_report(review, cycle, outcome_report("2027", ORDER), OPENED)
    review = graded_by(FIRST_PANEL, score, review, cycle, SCORED)
    closing = close_cycle(cycle, [review], RUBRIC, POLICY, CLOSED)
    return closing, review


def objection(objection_id: str = "OBJ-500240-2027-001") -> LodgeObjection:
    return LodgeObjection(
        objection_id=objection_id,
        cycle_id="2027",
        order_id=ORDER,
        grounds="示范园面积经县农业农村委实地测量为52亩，报告数据有误，请求复核",
        lodged_by="郭顺星",
    )


def test_closing_publishes_the_results_for_five_working_days_in_the_chongqing_calendar() -> None:
    closing, review = published_cycle()
    assert closing.published.notice_ends_on == NOTICE_ENDS
    assert (closing.cycle.published_on, closing.cycle.notice_ends_on) == (date(2028, 1, 20), NOTICE_ENDS)
    assert review.status is ReviewStatus.GRADED, "graded, not in effect"


def test_a_graded_result_takes_effect_only_the_day_after_the_notice_ends() -> None:
    closing, review = published_cycle()
    assert not takes_effect(review, closing.cycle, POLICY, chongqing(NOTICE_ENDS, hour_utc=15))  # 23:00 in Chongqing
    assert takes_effect(review, closing.cycle, POLICY, chongqing(NOTICE_ENDS, hour_utc=16))  # 00:00 on 3 February
    final, completed = finalize(review, closing.cycle, chongqing(date(2028, 2, 3)))
    assert final.status is ReviewStatus.FINAL
    assert (completed.grade, completed.notice_ended_on, completed.objection_id, completed.round) == (
        "unqualified",
        NOTICE_ENDS,
        None,
        1,
    )


def test_without_a_notice_period_the_result_takes_effect_at_closing() -> None:
    closing, review = published_cycle()
    assert takes_effect(review, closing.cycle, ProgrammePolicy(public_notice_working_days=0), CLOSED)


def test_an_objection_within_the_notice_holds_the_result_until_the_bureau_decides() -> None:
    closing, review = published_cycle()
    objected, lodged = lodge_objection(review, closing.cycle, objection(), chongqing(NOTICE_ENDS))
    assert (lodged.grade, lodged.notice_ends_on, lodged.review_id) == ("unqualified", NOTICE_ENDS, review.review_id)
    assert objected.objection_pending
    assert not takes_effect(objected, closing.cycle, POLICY, chongqing(date(2028, 2, 10))), "pending after the notice"


def test_an_objection_after_the_notice_or_before_publication_or_twice_is_refused() -> None:
    closing, review = published_cycle()
    with pytest.raises(RuleBroken) as late:
        lodge_objection(review, closing.cycle, objection(), chongqing(date(2028, 2, 3)))
    assert late.value.rule == "notice_period_over"
    cycle, unpublished = opened_review(ORDER, cycle_id="2027", year=2027, deadline=date(2027, 12, 31), now=OPENED)
    with pytest.raises(RuleBroken) as early:
        lodge_objection(unpublished, cycle, objection(), OPENED)
    assert early.value.rule == "results_not_published"
    objected, _ = lodge_objection(review, closing.cycle, objection(), CLOSED)
    with pytest.raises(RuleBroken) as twice:
        lodge_objection(objected, closing.cycle, objection("OBJ-2"), CLOSED)
    assert twice.value.rule == "objection_exists"


def test_a_rejected_objection_lets_the_published_grade_take_effect_at_once_when_the_notice_is_over() -> None:
    closing, review = published_cycle()
    objected, _ = lodge_objection(review, closing.cycle, objection(), CLOSED)
    during = decide_objection(
        objected, closing.cycle, "OBJ-500240-2027-001", False, "测量数据与报告一致", "市人力社保局", POLICY, CLOSED
    )
    assert isinstance(during.decided, ObjectionRejected)
    assert during.completed is None, "still under notice: takes effect when it ends"
    after = decide_objection(
        objected,
        closing.cycle,
        "OBJ-500240-2027-001",
        False,
        "测量数据与报告一致",
        "市人力社保局",
        POLICY,
        chongqing(date(2028, 2, 7)),
    )
    assert after.completed is not None
    assert (after.completed.grade, after.completed.objection_id) == ("unqualified", "OBJ-500240-2027-001")
    with pytest.raises(RuleBroken) as again:
        decide_objection(
            after.review, closing.cycle, "OBJ-500240-2027-001", True, "重议", "市人力社保局", POLICY, CLOSED
        )
    assert again.value.rule == "objection_already_decided"


def test_an_upheld_objection_sends_the_project_to_a_new_panel_whose_grade_takes_effect_at_once() -> None:
    closing, review = published_cycle(score=55.0)
    objected, _ = lodge_objection(review, closing.cycle, objection(), CLOSED)
    decided = decide_objection(
        objected, closing.cycle, "OBJ-500240-2027-001", True, "测量数据有误，复核", "市人力社保局", POLICY, CLOSED
    )
    assert isinstance(decided.decided, ObjectionUpheld)
    assert decided.decided.earlier_reviewer_ids == ("R-li", "R-wang", "R-zhang")
    reopened = decided.review
    assert (reopened.status, reopened.round, reopened.panel, reopened.grading) == (ReviewStatus.RE_REVIEW, 2, (), None)
    with pytest.raises(RuleBroken) as same_reviewer:
        record_score(reopened, closing.cycle, panel_score("2027", ORDER, FIRST_PANEL[0], 80), RUBRIC, CLOSED)
    assert same_reviewer.value.rule == "reviewer_in_earlier_panel"
    new_panel = (
        reviewer("赵复核", reviewer_id="R-zhao"),
        reviewer("钱复核", reviewer_id="R-qian"),
        reviewer("孙复核", reviewer_id="R-sun"),
    )
    at = chongqing(date(2028, 2, 15))
    for by in new_panel:
        reopened, _ = record_score(reopened, closing.cycle, panel_score("2027", ORDER, by, 72), RUBRIC, at)
    regraded = complete_if_ready(reopened, closing.cycle, RUBRIC, POLICY, at)
    assert regraded is not None and regraded.completed is not None
    assert (regraded.graded.round, regraded.graded.grade) == (2, "qualified")
    assert (regraded.completed.grade, regraded.completed.round, regraded.completed.panel_scores) == (
        "qualified",
        2,
        (72.0, 72.0, 72.0),
    )
    assert regraded.review.status is ReviewStatus.FINAL
