"""Working days in Chongqing (the national calendar): for the public-notice periods (公示, "5
working days") of award lists and review results.

A working day is a Monday to Friday that is not a day off, or a weekend day the State Council
turned into a working day (调休上班). Days off are the statutory holidays of 《全国年节及纪念日放假
办法》 (2024 revision: 元旦 1 day, 春节 4 days from New Year's Eve, 清明 1, 劳动节 2, 端午 1,
中秋 1, 国庆 3), listed below for the programme's years, plus the bridging days the State Council
announces each November for the following year. Those announcements are configuration
(`POLICY_EXTRA_DAYS_OFF`, `POLICY_EXTRA_WORKING_DAYS`), not code, because they are not known when
the code is written. The `chinesecalendar` package knows announced years only (to 2026 in its
latest release), and the programme runs 2027 and later, so the statutory table is kept here.

A year missing from the table is not refused (a cycle must still close): its fixed-date holidays
(元旦, 劳动节, 国庆) are known, the lunar ones are not, and `knows(year)` lets the caller warn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta


def _days(*spans: tuple[str, int]) -> frozenset[date]:
    out: set[date] = set()
    for first, count in spans:
        start = date.fromisoformat(first)
        out.update(start + timedelta(days=n) for n in range(count))
    return frozenset(out)


STATUTORY_HOLIDAYS: dict[int, frozenset[date]] = {
    2026: _days(
        ("2026-01-01", 1),
        ("2026-02-16", 4),  # 春节: 除夕 16 Feb, 初一 17 Feb
        ("2026-04-05", 1),
        ("2026-05-01", 2),
        ("2026-06-19", 1),
        ("2026-09-25", 1),
        ("2026-10-01", 3),
    ),
    2027: _days(
        ("2027-01-01", 1),
        ("2027-02-05", 4),  # 春节: 除夕 5 Feb, 初一 6 Feb
        ("2027-04-05", 1),
        ("2027-05-01", 2),
        ("2027-06-09", 1),
        ("2027-09-15", 1),
        ("2027-10-01", 3),
    ),
    2028: _days(
        ("2028-01-01", 1),
        ("2028-01-25", 4),  # 春节: 除夕 25 Jan, 初一 26 Jan
        ("2028-04-04", 1),
        ("2028-05-01", 2),
        ("2028-05-28", 1),
        ("2028-10-01", 3),  # 中秋 falls on 3 October, inside 国庆
    ),
}
"""Statutory holidays by year (dates of the lunar festivals computed for each year)."""


def _fixed_date_holidays(year: int) -> frozenset[date]:
    return frozenset(
        {date(year, 1, 1), date(year, 5, 1), date(year, 5, 2), date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)}
    )


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    extra_days_off: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()

    @classmethod
    def of(cls, extra_days_off: Iterable[date] = (), extra_working_days: Iterable[date] = ()) -> WorkingCalendar:
        return cls(frozenset(extra_days_off), frozenset(extra_working_days))

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day in self.extra_days_off:
            return False
        holidays = STATUTORY_HOLIDAYS.get(day.year) or _fixed_date_holidays(day.year)
        return day.weekday() < 5 and day not in holidays

    @staticmethod
    def knows(year: int) -> bool:
        """Whether the year's lunar holidays (春节, 清明, 端午, 中秋) are in the table."""
        return year in STATUTORY_HOLIDAYS

    def add_working_days(self, start: date, count: int) -> date:
        """The last day of a period of `count` working days that begins the working day after
        `start` (a notice published on `start` runs for `count` full working days; 0 gives
        `start`)."""
        day, left = start, count
        while left > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day
