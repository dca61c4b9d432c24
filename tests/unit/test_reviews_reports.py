"""The team's outcome report against the order's targets and the cycle's deadline, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.reviews.domain.model import Review, accept_report, close_cycle
from services.reviews.domain.rubric import ReviewRubric
from shared.contract.events.reviews import IndicatorResult, OutcomeReportSubmitted
from shared.policy import ProgrammePolicy
from shared.rules import RuleBroken
from tests.reviews_builders import opened_review, outcome_report

NOW = datetime(2020, 1, 10, 2, 0, tzinfo=UTC)
ORDER = "500240-2019-001"


def area(**changes: object) -> IndicatorResult:
    values: dict[str, object] = {
        "indicator": "demonstration_area",
        "label": "示范园面积",
        "unit": "亩",
        "baseline": 0,
        "target": 50,
        "actual": 52,
    }
    return IndicatorResult(**(values | changes))


def jobs(**changes: object) -> IndicatorResult:
    values: dict[str, object] = {"indicator": "jobs", "label": "带动就业", "unit": "人", "target": 20, "actual": 23}
    return IndicatorResult(**(values | changes))


def refused(report: OutcomeReportSubmitted, now: datetime = NOW, review: Review | None = None) -> str:
    cycle, fresh = opened_review()
    with pytest.raises(RuleBroken) as caught:
        accept_report(review or fresh, cycle, report, now)
    return caught.value.rule


def test_a_report_against_every_target_is_accepted_with_the_orders_targets_and_the_teams_actuals() -> None:
    cycle, review = opened_review()
    report = outcome_report("2019", ORDER, indicators=(jobs(label="就业人数"), area(baseline=None)))
    accepted_review, accepted = accept_report(review, cycle, report, NOW)
    assert (accepted.review_id, accepted.report_id, accepted.accepted_at) == (
        f"RV-2019-{ORDER}",
        report.report_id,
        NOW,
    )
    assert accepted_review.report is not None
    assert [(i.indicator, i.label, i.baseline, i.target, i.actual) for i in accepted_review.report.indicators] == [
        ("demonstration_area", "示范园面积", 0, 50, 52),
        ("jobs", "带动就业", 0, 20, 23),
    ]


def test_a_report_after_the_deadline_as_a_chongqing_date_is_late() -> None:
    report = outcome_report("2019", ORDER)
    assert refused(report, datetime(2020, 1, 31, 16, 0, tzinfo=UTC)) == "report_late"
    cycle, review = opened_review()
    assert accept_report(review, cycle, report, datetime(2020, 1, 31, 15, 59, tzinfo=UTC))[0].report is not None


def test_a_report_is_submitted_once() -> None:
    cycle, review = opened_review()
    reported, _ = accept_report(review, cycle, outcome_report("2019", ORDER), NOW)
    assert refused(outcome_report("2019", ORDER), review=reported) == "report_already_submitted"


def test_indicators_must_be_the_orders_targets_each_reported_once() -> None:
    assert refused(outcome_report("2019", ORDER, indicators=(area(), jobs(), area()))) == "duplicate_indicator"
    income = IndicatorResult(indicator="farmer_income", label="农户增收", unit="元", target=180000, actual=190000)
    assert refused(outcome_report("2019", ORDER, indicators=(area(), jobs(), income))) == "unknown_indicator"
    assert refused(outcome_report("2019", ORDER, indicators=(area(),))) == "indicator_missing"


@pytest.mark.parametrize("restated", [area(unit="公顷"), area(target=40), area(baseline=10)])
def test_a_report_cannot_restate_the_published_unit_target_or_baseline(restated: IndicatorResult) -> None:
    assert refused(outcome_report("2019", ORDER, indicators=(restated, jobs()))) == "indicator_mismatch"


def test_nothing_can_be_reported_to_a_closed_cycle() -> None:
    cycle, review = opened_review()
    after = datetime(2020, 2, 10, 2, 0, tzinfo=UTC)
    closing = close_cycle(cycle, [review], ReviewRubric(), ProgrammePolicy(), after)
    with pytest.raises(RuleBroken) as caught:
        accept_report(closing.graded[0].review, closing.cycle, outcome_report("2019", ORDER), NOW)
    assert caught.value.rule == "cycle_closed"
    assert closing.cycle.submission_deadline == date(2020, 1, 31)
