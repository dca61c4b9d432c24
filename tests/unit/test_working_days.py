"""The public-notice period counts Chongqing working days: weekends, statutory holidays and the
State Council's bridging days are skipped."""

from datetime import date

from shared.policy import ProgrammePolicy
from shared.working_days import WorkingCalendar


def test_five_working_days_from_a_thursday_skip_the_weekend() -> None:
    assert ProgrammePolicy().notice_ends_on(date(2027, 3, 11)) == date(2027, 3, 18)


def test_a_notice_published_before_the_2028_spring_festival_runs_past_it() -> None:
    # 21 Jan (Fri), 24 (Mon), then 25-28 Jan 春节 off, 31 Jan (Mon), 1 Feb, 2 Feb
    assert ProgrammePolicy().notice_ends_on(date(2028, 1, 20)) == date(2028, 2, 2)


def test_national_day_is_not_a_working_day_but_an_announced_make_up_saturday_is() -> None:
    calendar = WorkingCalendar.of(extra_days_off=[date(2027, 10, 4)], extra_working_days=[date(2027, 9, 25)])
    assert not calendar.is_working_day(date(2027, 10, 1))
    assert not calendar.is_working_day(date(2027, 10, 4))
    assert calendar.is_working_day(date(2027, 9, 25))
    assert calendar.add_working_days(date(2027, 9, 30), 1) == date(2027, 10, 5)


def test_no_notice_takes_effect_the_same_day() -> None:
    assert ProgrammePolicy(public_notice_working_days=0).notice_ends_on(date(2027, 5, 1)) == date(2027, 5, 1)


def test_a_year_missing_from_the_table_still_counts_its_fixed_date_holidays() -> None:
    calendar = WorkingCalendar()
    assert not calendar.knows(2029)
    # 2029-09-28 is a Friday; 1-3 October 2029 are off even without the year's table
    assert calendar.add_working_days(date(2029, 9, 28), 3) == date(2029, 10, 8)
    assert calendar.knows(2028)
