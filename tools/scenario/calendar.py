"""The programme's calendar, for the scenario to play in order whatever day it is run: each step's
Chongqing date, from the day service starts (1 January of the call's year in the demo).

Before the call's year: villages raise needs, counties endorse them, the bureau publishes the
call, teams apply, the bureau awards and funding pays the first tranches. In the year: the
service. At its end: the yearly review (opened once the year has begun, reports by 31 December),
graded by the panel in January, the first year's tranches paid, the results published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from shared.clock import PROGRAMME_TZ
from shared.runtime.clock_file import DrivenClock, set_programme_time

PROGRAMME_START = date(2027, 1, 1)
"""The demo's programme: the 2027 call, service from 1 January 2027 (DOMAIN.md's programme played
on a calendar of its own, so the same seed gives the same report on any day)."""

WORKING_HOUR = time(9, 30)


def next_month() -> date:
    """The first day of next month, Chongqing calendar: where a programme played now, not on its
    own calendar, starts its service (against a stack whose clock nobody drives)."""
    today = datetime.now(PROGRAMME_TZ).date()
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return date(year, month, 1)


@dataclass(frozen=True)
class ProgrammeCalendar:
    service_start: date

    @property
    def year(self) -> int:
        return self.service_start.year

    def before_service(self, days: int) -> date:
        return self.service_start - timedelta(days=days)

    @property
    def review_opened(self) -> date:
        return date(self.year, 12, 1)

    @property
    def report_deadline(self) -> date:
        return date(self.year, 12, 31)

    def steps(self) -> dict[str, date]:
        """Each step of the scenario and its date, in calendar order."""
        return {
            "demands": self.before_service(85),
            "counties": self.before_service(72),
            "registry": self.before_service(68),
            "publication": self.before_service(60),
            "applications": self.before_service(45),
            "awards": self.before_service(21),
            "first payments": self.before_service(10),
            "review opened": self.review_opened,
            "reports": self.report_deadline - timedelta(days=16),
            "panel scores": date(self.year + 1, 1, 8),
            "year's payments": date(self.year + 1, 1, 15),
            "results published": date(self.year + 1, 1, 20),
        }


class CalendarDriver:
    """Sets the programme's time (the file every service's DrivenClock reads) to each step's date."""

    def __init__(self, clock_file: Path, calendar: ProgrammeCalendar) -> None:
        self.clock_file = clock_file
        self.calendar = calendar
        self.clock = DrivenClock(clock_file)
        """What the partner systems' clocks say meanwhile (the `time` of the events they send)."""

    def step(self, name: str) -> date:
        day = self.calendar.steps()[name]
        set_programme_time(self.clock_file, datetime.combine(day, WORKING_HOUR, tzinfo=PROGRAMME_TZ))
        return day
