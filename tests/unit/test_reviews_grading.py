"""Grades from scores by the policy's thresholds, the panel completing a review, missing reports
and closing, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.reviews.domain.grading import grade_for, rule_version
from services.reviews.domain.model import (
    Review,
    ReviewStatus,
    accept_report,
    close_cycle,
    complete_if_ready,
    grade_at_closing,
    grade_missing_report,
    missing_report_due,
    record_score,
)
from services.reviews.domain.rubric import ReviewRubric
from shared.contract.events.reviews import ReviewGraded
from shared.policy import ProgrammePolicy
from shared.rules import RuleBroken
from tests.reviews_builders import opened_review, outcome_report, panel_score, reviewer

NOW = datetime(2020, 1, 10, 2, 0, tzinfo=UTC)
AFTER_DEADLINE = datetime(2020, 2, 1, 2, 0, tzinfo=UTC)
POLICY = ProgrammePolicy()
RUBRIC = ReviewRubric()


def scored(
    review: Review, *scores: float, policy: ProgrammePolicy = POLICY, at: datetime = AFTER_DEADLINE
) -> tuple[Review, ReviewGraded | None]:
    """Record the scores one by one, as the handler does, completing the review when it is ready
    (by default after the submission deadline, when a complete panel grades at once)."""
    cycle, _ = opened_review()
    completed = None
    for score in scores:
        review, _ = record_score(
            review, cycle, panel_score(cycle.cycle_id, review.order_id, reviewer(), score), RUBRIC, at
        )
        completion = complete_if_ready(review, cycle, RUBRIC, policy, at)
        if completion is not None:
            review, completed = completion.review, completion.graded
    return review, completed


def reported(review: Review) -> Review:
    cycle, _ = opened_review()
    review, _ = accept_report(review, cycle, outcome_report(cycle.cycle_id, review.order_id), NOW)
    return review


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        ("100", "excellent"),
        ("90.00", "excellent"),
        ("89.99", "qualified"),
        ("60.00", "qualified"),
        ("59.99", "unqualified"),
        ("0", "unqualified"),
    ],
)
def test_a_score_is_graded_by_the_policy_thresholds_inclusive_at_90_and_60(score: str, grade: str) -> None:
    assert grade_for(Decimal(score), POLICY) == grade


def test_the_grade_thresholds_are_policy() -> None:
    strict = ProgrammePolicy(excellent_min_score=95, qualified_min_score=70)
    assert grade_for(Decimal("92"), strict) == "qualified"
    assert grade_for(Decimal("65"), strict) == "unqualified"


def test_a_review_is_graded_once_the_report_is_in_and_three_panel_scores_are_recorded() -> None:
    _, review = opened_review()
    review = reported(review)
    review, completed = scored(review, 95, 92.5, 90)
    assert completed is not None
    assert review.status is ReviewStatus.GRADED
    assert completed.grade == "excellent"
    assert completed.score == 92.5
    assert completed.panel_scores == (95.0, 92.5, 90.0)
    assert completed.rule_version == "policy-2019.1+rubric-2027.1" == rule_version(POLICY, RUBRIC)
    assert completed.reason == (
        "mean of 3 panel scores (95.00, 92.50, 90.00) = 92.50; service on site: 30 days recorded in service year 1 "
        "(2019-06-01 to 2020-05-31), 30 a year required: no deduction; 60 people trained recorded (the report "
        "states 12 local talents trained); 92.50 ≥ 90: excellent (优秀)"
    )
    assert completed.days_on_site == 30
    assert [(i.indicator, i.target, i.actual) for i in completed.indicator_results] == [
        ("demonstration_area", 50, 52),
        ("jobs", 20, 23),
    ]
    assert (completed.team_name, completed.lead_name, completed.institution) == (
        "郭顺星团队",
        "郭顺星",
        "重庆硒旺华宝生物科技有限公司",
    )


def test_the_grade_can_be_re_derived_from_the_published_panel_scores() -> None:
    _, review = opened_review()
    _, completed = scored(reported(review), 61.35, 58.2, 60.47)
    assert completed is not None
    assert completed.score == round(sum(completed.panel_scores) / 3, 2) == 60.01
    assert completed.grade == "qualified"
    assert completed.reason.endswith("60 ≤ 60.01 < 90: qualified (合格)")


def test_a_panel_without_the_report_or_short_of_the_policy_minimum_does_not_grade() -> None:
    _, review = opened_review()
    unreported, completed = scored(review, 95, 95, 95)
    assert completed is None, "the report is not in"
    assert unreported.status is ReviewStatus.OPEN
    _, completed = scored(reported(review), 95, 95, 95, policy=ProgrammePolicy(review_min_panel_size=4))
    assert completed is None, "the policy asks for four"


def test_a_report_completing_an_already_full_panel_grades_the_review() -> None:
    cycle, review = opened_review()
    review, _ = scored(review, 40, 50, 45)
    review = reported(review)
    ready = complete_if_ready(review, cycle, RUBRIC, POLICY, AFTER_DEADLINE)
    assert ready is not None
    completed = ready.graded
    assert completed.grade == "unqualified"
    assert completed.reason.endswith("45.00 < 60: unqualified (不合格)")


def test_a_missing_report_is_due_only_after_the_deadline_as_a_chongqing_date() -> None:
    cycle, review = opened_review(deadline=date(2020, 1, 31))
    assert not missing_report_due(review, cycle, datetime(2020, 1, 31, 15, 59, tzinfo=UTC)), "23:59 in Chongqing"
    assert missing_report_due(review, cycle, datetime(2020, 1, 31, 16, 0, tzinfo=UTC)), "1 February in Chongqing"
    assert not missing_report_due(reported(review), cycle, AFTER_DEADLINE), "the report is in"


def test_a_missing_report_is_graded_per_policy_with_the_reason() -> None:
    cycle, review = opened_review()
    graded = grade_missing_report(review, cycle, RUBRIC, POLICY, AFTER_DEADLINE)
    review, completed = graded.review, graded.graded
    assert review.status is ReviewStatus.GRADED
    assert (completed.grade, completed.score, completed.indicator_results) == ("unqualified", None, ())
    assert "no outcome report by the submission deadline 2020-01-31" in completed.reason
    assert "missing_report_grade" in completed.reason
    lenient = ProgrammePolicy(missing_report_grade="qualified")
    assert grade_missing_report(opened_review()[1], cycle, RUBRIC, lenient, AFTER_DEADLINE).graded.grade == "qualified"


def test_at_closing_an_incomplete_panel_is_graded_on_the_scores_present_by_default() -> None:
    cycle, review = opened_review()
    review, _ = scored(reported(review), 70, 80)
    completed = grade_at_closing(review, cycle, RUBRIC, POLICY, AFTER_DEADLINE).graded
    assert (completed.grade, completed.score) == ("qualified", 75.0)
    assert completed.reason.startswith(
        "panel incomplete at closing (2 of 3 panel scores), graded on the scores present"
    )


def test_at_closing_an_incomplete_panel_may_be_unqualified_by_configuration_and_is_without_any_score() -> None:
    cycle, review = opened_review()
    two = scored(reported(review), 95, 95)[0]
    strict = ReviewRubric(incomplete_panel="unqualified")
    completed = grade_at_closing(two, cycle, strict, POLICY, AFTER_DEADLINE).graded
    assert (completed.grade, completed.score, completed.panel_scores) == ("unqualified", None, (95.0, 95.0))
    assert "incomplete_panel=unqualified" in completed.reason
    completed = grade_at_closing(reported(review), cycle, RUBRIC, POLICY, AFTER_DEADLINE).graded
    assert (completed.grade, completed.score) == ("unqualified", None)
    assert "0 of 3 panel scores" in completed.reason and "no panel score" in completed.reason


def test_closing_grades_every_open_review_and_cannot_happen_before_the_deadline_or_twice() -> None:
    cycle, review = opened_review()
    with pytest.raises(RuleBroken) as early:
        close_cycle(cycle, [review], RUBRIC, POLICY, NOW)
    assert early.value.rule == "deadline_not_passed"
    closing = close_cycle(cycle, [review], RUBRIC, POLICY, AFTER_DEADLINE)
    (at_closing,) = closing.graded
    graded, completed = at_closing.review, at_closing.graded
    assert graded.status is ReviewStatus.GRADED
    assert completed.grade == "unqualified" and "no outcome report" in completed.reason
    assert [r.grade for r in closing.published.results] == ["unqualified"]
    with pytest.raises(RuleBroken) as twice:
        close_cycle(closing.cycle, [graded], RUBRIC, POLICY, AFTER_DEADLINE)
    assert twice.value.rule == "cycle_closed"


def test_a_complete_panel_waits_for_the_submission_deadline_and_is_graded_the_day_after() -> None:
    cycle, review = opened_review()  # deadline 2020-01-31, a Chongqing date
    waiting, completed = scored(reported(review), 95, 92.5, 90, at=NOW)
    assert completed is None and waiting.status is ReviewStatus.OPEN, "other teams may still report until the deadline"
    on_the_deadline = datetime(2020, 1, 31, 15, 59, tzinfo=UTC)  # 23:59 in Chongqing
    assert complete_if_ready(waiting, cycle, RUBRIC, POLICY, on_the_deadline) is None
    graded = complete_if_ready(waiting, cycle, RUBRIC, POLICY, datetime(2020, 1, 31, 16, 0, tzinfo=UTC))
    assert graded is not None and graded.graded.grade == "excellent"


def test_a_cycle_whose_reviews_are_all_graded_closes_without_grading_any_again() -> None:
    cycle, review = opened_review()
    review, _ = scored(reported(review), 90, 90, 90)
    closing = close_cycle(cycle, [review], RUBRIC, POLICY, AFTER_DEADLINE)
    assert closing.graded == ()
    assert [(r.grade, r.score) for r in closing.published.results] == [("excellent", 90.0)]
