"""The bureau's mid-term check (OpenMidTermCheck): is every active project on pace? Pure: no I/O.

A project is active on `as_of` when its service period has begun, has not ended and the project
was not ended early. It is flagged when
- its days on site recorded in the current service year up to `as_of` are fewer than expected
  by then: the policy's minimum × whole months served in the service year / 12, rounded down
  (service_record.expected_days_by); or
- its latest accepted outcome report shows progress on none of its indicators (no indicator's
  actual moved from its baseline towards its target). A project without a report yet is judged
  by its days alone.

Rules: `check_exists` (a check id is used once), `as_of_not_in_year` (`as_of` lies in `year`),
`as_of_in_future` (the check looks at what was recorded, up to today at most).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from shared.contract.events.reviews import (
    IndicatorResult,
    MidTermCheckCompleted,
    OpenMidTermCheck,
    ProjectFlagged,
)
from shared.policy import ProgrammePolicy
from shared.rules import RuleBroken

from .facts import Project
from .membership import service_end
from .service_record import DayOnSite, expected_days_by, recorded_in, service_year_of


@dataclass(frozen=True, slots=True)
class Flag:
    """A project flagged by a mid-term check, as its review shows it."""

    check_id: str
    as_of: date
    reasons: tuple[str, ...]

    def words(self) -> str:
        return f"mid-term check {self.check_id} ({self.as_of}): {'; '.join(self.reasons)}"


@dataclass(frozen=True, slots=True)
class ProjectAtCheck:
    """A project with what the check reads of it."""

    project: Project
    days: tuple[DayOnSite, ...]
    latest_indicators: tuple[IndicatorResult, ...] | None
    """The indicators of its latest accepted outcome report; None without a report."""


@dataclass(frozen=True, slots=True)
class MidTermCheck:
    flagged: tuple[ProjectFlagged, ...]
    completed: MidTermCheckCompleted


def active_on(project: Project, day: date) -> bool:
    period = project.service_period
    ended = project.ended_on is not None and project.ended_on <= day
    return period.start <= day < service_end(period) and not ended


def run_check(
    request: OpenMidTermCheck,
    *,
    exists: bool,
    projects: Sequence[ProjectAtCheck],
    policy: ProgrammePolicy,
    today: date,
) -> MidTermCheck:
    if exists:
        raise RuleBroken("check_exists", f"mid-term check {request.check_id} was already made")
    if request.as_of.year != request.year:
        raise RuleBroken("as_of_not_in_year", f"the {request.year} check cannot look at {request.as_of}")
    if request.as_of > today:
        raise RuleBroken(
            "as_of_in_future", f"the check looks at what was recorded by {request.as_of}; today is {today}"
        )
    active = sorted((p for p in projects if active_on(p.project, request.as_of)), key=lambda p: p.project.order_id)
    flagged = tuple(f for f in (_flag(request, p, policy) for p in active) if f is not None)
    completed = MidTermCheckCompleted(
        check_id=request.check_id,
        year=request.year,
        as_of=request.as_of,
        checked=len(active),
        flagged_order_ids=tuple(f.order_id for f in flagged),
    )
    return MidTermCheck(flagged, completed)


def _flag(request: OpenMidTermCheck, checked: ProjectAtCheck, policy: ProgrammePolicy) -> ProjectFlagged | None:
    project, as_of = checked.project, request.as_of
    minimum = policy.min_service_days_per_year
    _, expected = expected_days_by(project.service_period, as_of, minimum)
    days = recorded_in(checked.days, service_year_of(project.service_period, as_of), up_to=as_of).days_on_site
    reasons = []
    if days < expected:
        reasons.append(f"{days} days on site by {as_of}, {expected} expected ({minimum} a year)")
    if checked.latest_indicators is not None and not any(_progressed(i) for i in checked.latest_indicators):
        reasons.append(
            f"no progress on any outcome indicator of the latest report ({_listed(checked.latest_indicators)})"
        )
    if not reasons:
        return None
    return ProjectFlagged(
        check_id=request.check_id,
        order_id=project.order_id,
        project_id=project.project_id,
        team_id=project.team_id,
        team_name=project.team_name,
        as_of=as_of,
        days_on_site=days,
        days_expected_by_now=expected,
        reasons=tuple(reasons),
    )


def _progressed(indicator: IndicatorResult) -> bool:
    baseline = indicator.baseline or 0.0
    towards = 1 if indicator.target >= baseline else -1
    return (indicator.actual - baseline) * towards > 0


def _listed(indicators: Sequence[IndicatorResult]) -> str:
    return ", ".join(
        f"{i.label} {i.actual:g} {i.unit} (baseline {i.baseline or 0:g}, target {i.target:g})" for i in indicators
    )
