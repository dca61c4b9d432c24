"""The programme's time as a scenario drives it (demo and test stacks): the services read it from
a file the scenario sets, and it runs on at the wall clock's pace from each setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.runtime.clock_file import DrivenClock, set_programme_time
from tools.scenario.calendar import PROGRAMME_START, ProgrammeCalendar


def test_without_the_file_the_programme_clock_is_the_system_clock(tmp_path: Path) -> None:
    clock = DrivenClock(tmp_path / "programme-clock")
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_a_set_time_is_read_at_once_and_runs_on_from_there(tmp_path: Path) -> None:
    path = tmp_path / "programme-clock"
    clock = DrivenClock(path)
    awards = datetime(2026, 12, 11, 1, 30, tzinfo=UTC)
    set_programme_time(path, awards)
    first = clock.now()
    assert timedelta(0) <= first - awards < timedelta(seconds=1)
    assert clock.now() >= first, "time runs on"
    graded = datetime(2028, 1, 8, 1, 30, tzinfo=UTC)
    set_programme_time(path, graded)
    assert timedelta(0) <= clock.now() - graded < timedelta(seconds=1), "a new setting is read at the next reading"
    path.unlink()
    assert clock.now().year == datetime.now(UTC).year, "the file removed: the system clock again"


def test_a_naive_time_cannot_be_set(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        set_programme_time(tmp_path / "programme-clock", datetime(2027, 1, 1))


def test_the_calendar_plays_the_programme_in_order_and_reviews_a_year_only_once_it_has_begun() -> None:
    steps = ProgrammeCalendar(PROGRAMME_START).steps()
    dates = list(steps.values())
    assert dates == sorted(dates), "each step after the one before"
    assert steps["awards"] < PROGRAMME_START <= steps["review opened"]
    assert steps["reports"] <= ProgrammeCalendar(PROGRAMME_START).report_deadline < steps["panel scores"]
