"""The service actually given, without I/O: the site check, the team by date, days on site by
service year, the days expected at the mid-term check, and the rubric reading recorded days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.reviews.domain.facts import Project
from services.reviews.domain.midterm import ProjectAtCheck, run_check
from services.reviews.domain.model import accept_report, complete_if_ready, record_score
from services.reviews.domain.rubric import ReviewRubric, service_shortfall
from services.reviews.domain.service_record import (
    DayOnSite,
    check_activity,
    days_by_date,
    expected_days_by,
    recorded_in,
    service_year_of,
    service_year_reviewed,
)
from services.reviews.domain.team import serving, stints_of, team_changed
from shared.contract.events.orders import ServicePeriod
from shared.contract.events.reviews import IndicatorResult, OpenMidTermCheck
from shared.policy import ProgrammePolicy
from shared.rules import RuleBroken
from tests.reviews_builders import (
    activity,
    days_on_site,
    expert,
    opened_review,
    order_published,
    outcome_report,
    panel_score,
    reviewer,
    team_accepted,
)

POLICY = ProgrammePolicy()
RUBRIC = ReviewRubric()
GUO = expert("郭顺星", "EXP-guo")
MEMBER = expert("成员甲", "EXP-member", institution="西南大学")
LOCAL = expert("本地骨干", "EXP-local", institution="石柱县农业农村委员会")
ACCEPTED = team_accepted(
    order_published("500240-2027-001", start=date(2027, 1, 1), months=24),
    lead=GUO,
    members=(MEMBER,),
    local_talents=(LOCAL,),
)
PROJECT = Project.from_event(ACCEPTED)
TODAY = date(2027, 8, 1)


def refused(project: Project | None, on: date = date(2027, 3, 2), **changes: Any) -> str:
    with pytest.raises(RuleBroken) as caught:
        check_activity(project, activity(ACCEPTED, on, **changes), TODAY)
    return caught.value.rule


def test_an_activity_at_xixin_township_baohe_village_by_the_lead_is_recorded() -> None:
    assert check_activity(PROJECT, activity(ACCEPTED, date(2027, 3, 2)), TODAY) == PROJECT


def test_an_activity_at_another_village_or_township_is_refused_not_at_project_site() -> None:
    assert refused(PROJECT, village="龙沙村") == "not_at_project_site"
    assert refused(PROJECT, township="红池坝镇", village="茶园村") == "not_at_project_site"
    assert check_activity(PROJECT, activity(ACCEPTED, date(2027, 3, 2), village=" 保合村 "), TODAY)


def test_an_activity_of_an_unknown_ended_or_out_of_period_project_or_in_the_future_is_refused() -> None:
    assert refused(None) == "unknown_project"
    assert refused(replace(PROJECT, ended_on=date(2027, 3, 1))) == "project_ended"
    assert refused(PROJECT, on=date(2026, 12, 31)) == "outside_service_period"
    assert refused(PROJECT, on=date(2029, 1, 1)) == "outside_service_period"
    assert refused(PROJECT, on=date(2027, 8, 2)) == "activity_in_future"
    assert refused(PROJECT, expert_id="EXP-stranger") == "not_on_team_that_day"


def test_an_activity_for_an_order_published_but_not_yet_accepted_says_that_sending_it_later_can_help() -> None:
    with pytest.raises(RuleBroken) as published:
        check_activity(None, activity(ACCEPTED, date(2027, 3, 2)), TODAY, order_published=True)
    with pytest.raises(RuleBroken) as unknown:
        check_activity(None, activity(ACCEPTED, date(2027, 3, 2)), TODAY, order_published=False)

    assert published.value.rule == unknown.value.rule == "unknown_project"
    assert "is published" in published.value.reason and "again once the project is accepted" in published.value.reason
    assert "not an order the reviews service knows as published" in unknown.value.reason


def test_an_expert_who_left_the_team_is_on_it_before_the_change_and_not_from_its_date() -> None:
    successor = expert("钟应富", "EXP-zhong", institution="重庆市农业科学院")
    new_team = stints_of(GUO, (successor,), (LOCAL,), date(2027, 5, 1))
    stints = team_changed(PROJECT.team, new_team, date(2027, 5, 1))
    assert serving(stints, MEMBER.expert_id, date(2027, 4, 30))
    assert not serving(stints, MEMBER.expert_id, date(2027, 5, 1))
    assert not serving(stints, successor.expert_id, date(2027, 4, 30))
    assert serving(stints, successor.expert_id, date(2027, 5, 1))
    left = next(s for s in stints if s.expert_id == MEMBER.expert_id)
    assert (left.valid_from, left.valid_to) == (date(2027, 1, 1), date(2027, 5, 1))
    lead = [s for s in stints if s.expert_id == GUO.expert_id]
    assert [(s.valid_from, s.valid_to) for s in lead] == [(date(2027, 1, 1), None)], "who stays keeps one stint"
    assert team_changed(stints, new_team, date(2027, 5, 1)) == stints, "the same change again changes nothing"
    changed = replace(PROJECT, team=stints)
    assert refused(changed, expert_id=MEMBER.expert_id, on=date(2027, 6, 1)) == "not_on_team_that_day"
    assert changed.people_on(date(2027, 6, 1)) == {GUO.expert_id, successor.expert_id, LOCAL.expert_id}


def test_service_years_count_from_the_service_start_and_days_on_site_are_distinct_dates() -> None:
    period = ServicePeriod(start=date(2027, 3, 15), months=24)
    first, second = service_year_of(period, date(2028, 3, 14)), service_year_of(period, date(2028, 3, 15))
    assert (first.number, first.start, first.end) == (1, date(2027, 3, 15), date(2028, 3, 15))
    assert (second.number, second.start) == (2, date(2028, 3, 15))
    days = days_by_date([(date(2027, 4, 1), 5), (date(2027, 4, 1), 3), (date(2028, 3, 20), 1), (date(2027, 5, 2), 0)])
    assert recorded_in(days, first) == replace(recorded_in(days, first), days_on_site=2, people_trained=8)
    assert recorded_in(days, second).days_on_site == 1
    assert service_year_reviewed(period, 2027) == first, "the 2027 cycle reviews the year running on 31 December"
    assert service_year_reviewed(period, 2028) == second


@pytest.mark.parametrize(
    ("as_of", "months", "expected"),
    [(date(2027, 7, 1), 6, 15), (date(2027, 6, 30), 5, 12), (date(2027, 1, 1), 0, 0), (date(2027, 12, 31), 11, 27)],
)
def test_days_expected_by_a_date_are_the_minimum_times_whole_months_served_over_12_rounded_down(
    as_of: date, months: int, expected: int
) -> None:
    assert expected_days_by(ServicePeriod(start=date(2027, 1, 1), months=24), as_of, 30) == (months, expected)


def test_the_service_criterion_loses_points_in_proportion_to_the_days_below_the_minimum() -> None:
    assert service_shortfall(RUBRIC, 0, 30) == Decimal("20.00"), "no day recorded: the criterion's 20 points"
    assert service_shortfall(RUBRIC, 12, 30) == Decimal("12.00")
    assert service_shortfall(RUBRIC, 30, 30) == service_shortfall(RUBRIC, 45, 30) == Decimal("0.00")


def test_a_review_with_12_recorded_days_loses_12_points_and_says_so_in_its_reason() -> None:
    cycle, review = opened_review(recorded_days=12)
    review, _ = accept_report(
        review, cycle, outcome_report(cycle.cycle_id, review.order_id), datetime(2020, 1, 10, tzinfo=UTC)
    )
    after = datetime(2020, 2, 1, 2, 0, tzinfo=UTC)
    for points in (95, 92, 90.5):
        review, _ = record_score(
            review, cycle, panel_score(cycle.cycle_id, review.order_id, reviewer(), points), RUBRIC, after
        )
    graded = complete_if_ready(review, cycle, RUBRIC, POLICY, after)
    assert graded is not None
    assert (graded.graded.grade, graded.graded.score, graded.graded.days_on_site) == ("qualified", 80.5, 12)
    assert (
        "12 days recorded in service year 1 (2019-06-01 to 2020-05-31), 30 a year required: "
        "−12.00 (20 × 18/30), 92.50 − 12.00 = 80.50" in graded.graded.reason
    )
    assert graded.graded.reason.endswith("60 ≤ 80.50 < 90: qualified (合格)")


def test_a_reviewer_who_joined_the_team_after_acceptance_may_not_score_it() -> None:
    cycle, review = opened_review()
    joined = expert("新成员", "EXP-joined", institution="重庆大学")
    project = review.project
    team = team_changed(project.team, stints_of(GUO, (joined,), (LOCAL,), date(2019, 9, 1)), date(2019, 9, 1))
    review = replace(review, project=replace(project, team=team, lead_expert_id=GUO.expert_id))
    score = panel_score(cycle.cycle_id, review.order_id, reviewer("新成员", "重庆大学", reviewer_id="EXP-joined"), 90)
    with pytest.raises(RuleBroken) as caught:
        record_score(review, cycle, score, RUBRIC, datetime(2020, 1, 10, tzinfo=UTC))
    assert caught.value.rule == "reviewer_in_team"


def _check(**changes: object) -> OpenMidTermCheck:
    values: dict[str, object] = {
        "check_id": "2027-midterm",
        "year": 2027,
        "as_of": date(2027, 7, 1),
        "opened_by": "市人力社保局",
    }
    return OpenMidTermCheck(**(values | changes))


def test_the_mid_term_check_flags_a_project_below_the_pace_and_passes_one_on_pace() -> None:
    behind = ProjectAtCheck(PROJECT, days_on_site(date(2027, 1, 4), 12), None)
    wuxi = team_accepted(order_published("500238-2027-001", start=date(2027, 1, 1), months=24), team_name="钟应富团队")
    on_pace = ProjectAtCheck(Project.from_event(wuxi), days_on_site(date(2027, 1, 4), 15), None)
    check = run_check(_check(), exists=False, projects=[behind, on_pace], policy=POLICY, today=TODAY)
    (flagged,) = check.flagged
    assert flagged.order_id == PROJECT.order_id
    assert flagged.reasons == ("12 days on site by 2027-07-01, 15 expected (30 a year)",)
    assert (flagged.days_on_site, flagged.days_expected_by_now) == (12, 15)
    assert (check.completed.checked, check.completed.flagged_order_ids) == (2, (PROJECT.order_id,))


def test_the_mid_term_check_flags_a_report_without_progress_and_checks_each_id_once() -> None:
    stalled = (IndicatorResult(indicator="jobs", label="带动就业", unit="人", baseline=0, target=20, actual=0),)
    at_check = ProjectAtCheck(PROJECT, days_on_site(date(2027, 1, 4), 20), stalled)
    (flagged,) = run_check(_check(), exists=False, projects=[at_check], policy=POLICY, today=TODAY).flagged
    assert flagged.reasons[0].startswith("no progress on any outcome indicator of the latest report (带动就业 0 人")
    ended = ProjectAtCheck(replace(PROJECT, ended_on=date(2027, 6, 1)), (), None)
    assert run_check(_check(), exists=False, projects=[ended], policy=POLICY, today=TODAY).completed.checked == 0
    with pytest.raises(RuleBroken) as caught:
        run_check(_check(), exists=True, projects=[], policy=POLICY, today=TODAY)
    assert caught.value.rule == "check_exists"


def test_the_days_on_site_of_a_flagged_review_year_count_only_that_year() -> None:
    days = (DayOnSite(date(2026, 12, 31), 1), *days_on_site(date(2027, 1, 2), 3))
    year = service_year_of(PROJECT.service_period, date(2027, 7, 1))
    assert recorded_in(days, year, up_to=date(2027, 1, 4)).days_on_site == 2
