"""The service actually given: days of service recorded at the project's site, counted by service
year. Pure: no I/O.

An activity (RecordServiceActivity) is recorded when, in this order:
- `unknown_project`: a team accepted the order (TeamAccepted);
- `project_ended`: the project had not ended by the activity's day (ProjectEndedEarly, ProjectEnded);
- `outside_service_period`: the day lies within the service period (as extended);
- `activity_in_future`: the day is not after the programme's today (Chongqing date);
- `not_at_project_site`: township and village are the project's (定点; names compared without
  whitespace; a township-level project takes any village of its township);
- `not_on_team_that_day`: the expert was on the team that day (team.py).

Service years count from the service period's start: year 1 is [start, start + 12 months), year
2 the next 12 months, and so on. `days on site` are the distinct dates with at least one record
in a service year, whoever recorded them and however many records a day has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from shared.contract.events.orders import ServicePeriod
from shared.contract.events.reviews import RecordServiceActivity
from shared.rules import RuleBroken

from .facts import Project
from .membership import months_after, service_end
from .team import serving


@dataclass(frozen=True, slots=True)
class ServiceYear:
    number: int
    """1 for the first year of the service period."""
    start: date
    end: date
    """The first day after the service year."""

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end

    def __str__(self) -> str:
        return f"service year {self.number} ({self.start} to {self.last_day})"

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.end.toordinal() - 1)


@dataclass(frozen=True, slots=True)
class DayOnSite:
    """A date with at least one record, and the people trained in that day's records."""

    on: date
    people_trained: int


@dataclass(frozen=True, slots=True)
class RecordedService:
    """What the records show of one service year (up to a date)."""

    year: ServiceYear
    days_on_site: int
    people_trained: int


def service_year_of(period: ServicePeriod, day: date) -> ServiceYear:
    """The service year `day` falls in (year 1 for a day before the start)."""
    number = 1
    while months_after(period.start, 12 * number) <= day:
        number += 1
    return ServiceYear(number, months_after(period.start, 12 * (number - 1)), months_after(period.start, 12 * number))


def service_year_reviewed(period: ServicePeriod, year: int) -> ServiceYear:
    """The service year a cycle of calendar year `year` reviews: the one its last day of service
    in that year falls in (31 December, or the period's last day if it ended earlier)."""
    last_day = min(date(year, 12, 31), date.fromordinal(service_end(period).toordinal() - 1))
    return service_year_of(period, max(last_day, period.start))


def recorded_in(days: Iterable[DayOnSite], year: ServiceYear, *, up_to: date | None = None) -> RecordedService:
    """Distinct days on site and people trained within the service year (up to and including `up_to`)."""
    inside = {d.on: d for d in days if d.on in year and (up_to is None or d.on <= up_to)}
    return RecordedService(year, len(inside), sum(d.people_trained for d in inside.values()))


def days_by_date(records: Iterable[tuple[date, int]]) -> tuple[DayOnSite, ...]:
    """Records (day, people trained) folded into one entry per day."""
    totals: dict[date, int] = {}
    for on, people in records:
        totals[on] = totals.get(on, 0) + people
    return tuple(DayOnSite(on, people) for on, people in sorted(totals.items()))


def at_site(project: Project, township: str, village: str) -> bool:
    if _plain(township) != _plain(project.township):
        return False
    return project.village is None or _plain(village) == _plain(project.village)


def check_activity(
    project: Project | None, request: RecordServiceActivity, today: date, *, order_published: bool = False
) -> Project:
    """The project the activity is recorded for; refuses an activity that breaks a rule.
    `order_published`: whether the service knows the order as published (OrderPublished), which
    tells the sender of an activity for no project whether sending it again later can help."""
    if project is None:
        if order_published:
            raise RuleBroken(
                "unknown_project",
                f"order {request.order_id} is published, but no team's acceptance (TeamAccepted) of it has "
                "reached the reviews service yet: send the record again once the project is accepted",
            )
        raise RuleBroken(
            "unknown_project",
            f"no team has accepted (TeamAccepted) order {request.order_id}, and it is not an order the "
            "reviews service knows as published",
        )
    day = request.on
    if project.ended_on is not None and day >= project.ended_on:
        raise RuleBroken(
            "project_ended", f"project {project.project_id} ended on {project.ended_on}; no service on {day}"
        )
    period = project.service_period
    if not period.start <= day < service_end(period):
        last = date.fromordinal(service_end(period).toordinal() - 1)
        raise RuleBroken(
            "outside_service_period",
            f"{day} is outside the service period of project {project.project_id} ({period.start} to {last})",
        )
    if day > today:
        raise RuleBroken(
            "activity_in_future", f"service on {day} cannot be recorded before it happened (today {today})"
        )
    if not at_site(project, request.township, request.village):
        raise RuleBroken(
            "not_at_project_site",
            f"{request.township}{request.village} is not the site of project {project.project_id} "
            f"({project.township}{project.village or ''})",
        )
    if not serving(project.team, request.expert_id, day):
        raise RuleBroken(
            "not_on_team_that_day",
            f"expert {request.expert_id} was not on team {project.team_name} on {day}",
            answer=f"expert {request.expert_id} was not on the team of project {project.project_id} on {day}",
        )
    return project


def same_activity(a: RecordServiceActivity, b: RecordServiceActivity) -> bool:
    return a.model_dump(mode="json") == b.model_dump(mode="json")


def expected_days_by(period: ServicePeriod, as_of: date, min_days_per_year: int) -> tuple[int, int]:
    """(months served in the current service year by `as_of`, days on site expected by then):
    the policy's minimum × whole months served / 12, rounded down (2027-01-01 to 2027-07-01 is 6
    months: 30 × 6 / 12 = 15)."""
    year = service_year_of(period, as_of)
    months = 0
    while months < 12 and months_after(year.start, months + 1) <= as_of:
        months += 1
    return months, min_days_per_year * months // 12


def _plain(name: str) -> str:
    return "".join(name.split())
