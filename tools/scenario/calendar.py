"""The programme's calendar, for the scenario to play in order whatever day it is run: each step's
Chongqing date, from the day service starts (1 January of the call's year in the demo).

Before the call's year: villages raise needs, counties endorse them, the bureau publishes the
call, teams apply, the bureau awards (公示, 5 working days) and funding pays the first tranches.
In the year: the service; a member change requested in March and decided a week later, the first
half's days on site recorded by the end of June, the mid-term check on the first of the policy's
month (July). At its end: the yearly review (opened once the year has begun, reports
by 31 December), graded by the panel in January, the results published for public notice (公示,
5 working days, past the Spring Festival in 2028), objections decided, the results in effect, the
first year's tranches paid. The next year (the demo's second): rectification reports and
decisions, the deadline passing, the next year's second call from needs to first payments, and a
project ended early in June.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from shared.clock import PROGRAMME_TZ
from shared.policy import ProgrammePolicy
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
            "awards in effect": self.before_service(11),
            "first payments": self.before_service(10),
            "member change requested": date(self.year, 3, 20),
            "member change decided": date(self.year, 3, 27),
            "service: first half": date(self.year, ProgrammePolicy().mid_term_check_month, 1) - timedelta(days=3),
            "mid-term check": date(self.year, ProgrammePolicy().mid_term_check_month, 1),
            "review opened": self.review_opened,
            "reports": self.report_deadline - timedelta(days=16),
            "panel scores": date(self.year + 1, 1, 8),
            "results published": date(self.year + 1, 1, 20),
            "objections": date(self.year + 1, 1, 24),
            "objections decided": date(self.year + 1, 1, 31),
            "results in effect": date(self.year + 1, 2, 3),
            "re-review": date(self.year + 1, 2, 10),
            "year's payments": date(self.year + 1, 2, 15),
            "second call: needs": date(self.year + 1, 3, 1),
            "rectification reports": date(self.year + 1, 3, 15),
            "second call: publication": date(self.year + 1, 3, 20),
            "rectification decisions": date(self.year + 1, 3, 27),
            "second call: applications": date(self.year + 1, 4, 10),
            "second call: awards": date(self.year + 1, 4, 24),
            "second call: awards in effect": date(self.year + 1, 5, 8),
            "rectification deadline passed": date(self.year + 1, 5, 20),
            "project ended early": date(self.year + 1, 6, 1),
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
