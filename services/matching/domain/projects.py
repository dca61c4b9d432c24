"""Projects during their service period: the team's history, member changes (换人) approved by the
bureau, the early end and the extension. Pure: no I/O.

project:  under_notice --notice over--> active --EndProject / funding's ProjectEnded--> ended
                                          |  ^
                                          +--+ ExtendProject (same site, same people, a longer period)

member change:  RequestMemberChange --> pending (MemberChangeRequested)
                   |-- DecideMemberChange approve, the team rules hold --> approved (MemberChangeApproved)
                   \\-- DecideMemberChange refuse, or a team rule broken --> refused (MemberChangeRefused)

A team is a set of memberships [valid_from, valid_to): its people on day D are the memberships with
valid_from <= D < valid_to (定人 as people change). Someone who leaves is free from valid_to on.
Dates are Chongqing dates.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from shared.clock import local_date
from shared.contract.events.matching import (
    DecideMemberChange,
    EndProject,
    ExpertRef,
    ExtendProject,
    MemberChangeApproved,
    MemberChangeRefused,
    MemberChangeRequested,
    ProjectEndedEarly,
    ProjectExtended,
    RequestMemberChange,
)
from shared.contract.events.orders import ServicePeriod, service_end
from shared.policy import ProgrammePolicy
from shared.rules import RuleBroken

from .model import expert_ref
from .profiles import ExpertProfile

Role = Literal["lead", "member", "local_talent"]
JoiningRole = Literal["member", "local_talent"]
ChangeKind = Literal["replace", "add", "remove"]
OPEN_ENDED = date.max
"""valid_to of a membership nobody ended (PostgreSQL's 'infinity')."""


class ProjectStatus(StrEnum):
    UNDER_NOTICE = "under_notice"
    ACTIVE = "active"
    ENDED = "ended"
    """Ended before its service period was over (the bureau, or a failed rectification)."""
    CLOSED = "closed"


class ChangeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Membership:
    expert_id: str
    role: Role
    valid_from: date
    valid_to: date = OPEN_ENDED
    """The first day the person is no longer on the team (free from then on)."""

    def on(self, day: date) -> bool:
        return self.valid_from <= day < self.valid_to


@dataclass(frozen=True, slots=True)
class Project:
    """An order taken by a team, with the team's history."""

    project_id: str
    order_id: str
    team_id: str
    team_name: str
    county_code: str
    status: ProjectStatus
    service_start: date
    service_months: int
    original_months: int
    """The months first fixed (定服务期); extensions are measured against them."""
    memberships: tuple[Membership, ...]
    ended_on: date | None = None

    @property
    def service_period(self) -> ServicePeriod:
        return ServicePeriod(start=self.service_start, months=self.service_months)

    @property
    def planned_end(self) -> date:
        """The first day after the service period as it now stands."""
        return service_end(self.service_period)

    @property
    def lead_expert_id(self) -> str:
        return next(m.expert_id for m in self.memberships if m.role == "lead")

    def in_service_period(self, day: date) -> bool:
        return self.service_start <= day < self.planned_end

    def team_on(self, day: date) -> tuple[Membership, ...]:
        """Who is on the team on `day`: the lead first, then members, then local talent."""
        order = {"lead": 0, "member": 1, "local_talent": 2}
        on = [m for m in self.memberships if m.on(day)]
        return tuple(sorted(on, key=lambda m: (order[m.role], m.valid_from, m.expert_id)))


@dataclass(frozen=True, slots=True)
class MemberChange:
    change_id: str
    order_id: str
    project_id: str
    team_id: str
    kind: ChangeKind
    leaving_expert_id: str | None
    joining_expert_id: str | None
    joining_role: JoiningRole | None
    effective_from: date
    reason: str
    requested_by: str
    requested_at: datetime
    status: ChangeStatus = ChangeStatus.PENDING
    rule: str | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    decided_at: datetime | None = None


# ---- the state a request needs -------------------------------------------------------------------


def require_in_service(project: Project | None, order_id: str) -> Project:
    """The order's project, if the team took it and it was not ended."""
    if project is None:
        raise RuleBroken("unknown_project", f"order {order_id} has not been taken by a team as a project")
    if project.status is ProjectStatus.UNDER_NOTICE:
        raise RuleBroken(
            "project_not_active", f"the award of {order_id} is under public notice (公示): the project has not begun"
        )
    if project.status is not ProjectStatus.ACTIVE:
        raise RuleBroken("project_ended", f"project {project.project_id} ended on {project.ended_on}")
    return project


def _require_in_period(project: Project, day: date) -> None:
    if not project.in_service_period(day):
        raise RuleBroken(
            "not_in_service_period",
            f"{day} is outside the service period of {project.project_id} "
            f"({project.service_start} to the day before {project.planned_end})",
        )


def _require_not_past(day: date, now: datetime) -> None:
    today = local_date(now)
    if day < today:
        raise RuleBroken("effective_date_in_past", f"{day} is before today ({today})")


# ---- member changes ------------------------------------------------------------------------------


def request_change(
    request: RequestMemberChange,
    project: Project | None,
    existing: MemberChange | None,
    experts: Mapping[str, ExpertProfile],
    now: datetime,
) -> tuple[MemberChange, MemberChangeRequested]:
    """The lead asks for a change of the team from `effective_from`; the bureau decides it later.
    Checked now: who asks, what the change names, its date; the team rules are checked on approval."""
    if existing is not None:
        raise RuleBroken("change_exists", f"member change {request.change_id} was already requested")
    project = require_in_service(project, request.order_id)
    if request.requested_by != project.lead_expert_id:
        raise RuleBroken(
            "not_team_lead",
            f"{request.requested_by} is not the lead expert of {project.team_name}: only the lead asks",
            answer=f"{request.requested_by} is not the lead expert of the team that took order {request.order_id}: "
            "only the team's lead expert may ask for a member change",
        )
    leaving, joining = _require_shape(request)
    day = request.effective_from
    _require_in_period(project, day)
    _require_not_past(day, now)
    team = {m.expert_id: m for m in project.team_on(day)}
    if leaving is not None and leaving not in team:
        raise RuleBroken(
            "not_on_team",
            f"{leaving} is not on {project.team_name} on {day}",
            answer=f"{leaving} is not on your team on {day}",
        )
    if leaving is not None and team[leaving].role == "lead":
        raise RuleBroken(
            "lead_cannot_leave",
            f"the lead expert cannot leave {project.team_name} (1+N+1)",
            answer="the lead expert cannot leave your team (1+N+1)",
        )
    if joining is not None and joining not in experts:
        raise RuleBroken("unknown_expert", f"not in the talent registry: {joining}")
    if joining is not None and joining in team:
        raise RuleBroken(
            "duplicate_member",
            f"{joining} is already on {project.team_name} on {day}",
            answer=f"{joining} is already on your team on {day}",
        )
    role = _joining_role(request, team[leaving].role if leaving is not None else None)
    change = MemberChange(
        change_id=request.change_id,
        order_id=project.order_id,
        project_id=project.project_id,
        team_id=project.team_id,
        kind=request.kind,
        leaving_expert_id=leaving,
        joining_expert_id=joining,
        joining_role=role,
        effective_from=day,
        reason=request.reason,
        requested_by=request.requested_by,
        requested_at=now,
    )
    return change, MemberChangeRequested(
        change_id=change.change_id,
        order_id=change.order_id,
        project_id=change.project_id,
        team_id=change.team_id,
        kind=change.kind,
        leaving=_ref(experts, leaving),
        joining=_ref(experts, joining),
        joining_role=role,
        effective_from=day,
        reason=change.reason,
    )


def _require_shape(request: RequestMemberChange) -> tuple[str | None, str | None]:
    leaving, joining = request.leaving_expert_id, request.joining_expert_id
    wanted = {"replace": (True, True), "add": (False, True), "remove": (True, False)}[request.kind]
    if (leaving is not None, joining is not None) != wanted or (leaving is not None and leaving == joining):
        raise RuleBroken(
            "change_incomplete",
            f"a `{request.kind}` change names "
            + {"replace": "who leaves and who joins", "add": "who joins only", "remove": "who leaves only"}[
                request.kind
            ],
        )
    return leaving, joining


def _joining_role(request: RequestMemberChange, leaving_role: Role | None) -> JoiningRole | None:
    """The role asked for; by default the leaving person's (a replacement), or member."""
    if request.joining_expert_id is None:
        return None
    if request.joining_role is not None:
        return request.joining_role
    return "local_talent" if leaving_role == "local_talent" else "member"


def _ref(experts: Mapping[str, ExpertProfile], expert_id: str | None) -> ExpertRef | None:
    return expert_ref(experts[expert_id]) if expert_id is not None and expert_id in experts else None


@dataclass(frozen=True, slots=True)
class TeamChecks:
    """What the team rules need beyond the project: the people as the registry knows them, who is
    bound to another project on the change's date, what is suspended today."""

    experts: Mapping[str, ExpertProfile]
    """Registered experts among the team on the change's date and the joining expert."""
    on_other_teams: Set[str]
    """Experts on another project's team (active, or awarded under notice) on the change's date."""
    suspended: Set[str]
    """Team ids and expert ids suspended today."""


@dataclass(frozen=True, slots=True)
class ChangeDecision:
    change: MemberChange
    approved: MemberChangeApproved | None
    refused: MemberChangeRefused | None


def require_pending(change: MemberChange | None, request: DecideMemberChange) -> MemberChange:
    if change is None or change.order_id != request.order_id:
        raise RuleBroken(
            "unknown_change", f"there is no member change {request.change_id} of the project of {request.order_id}"
        )
    if change.status is not ChangeStatus.PENDING:
        raise RuleBroken("change_already_decided", f"member change {change.change_id} is already {change.status}")
    return change


def decide_change(
    change: MemberChange,
    project: Project,
    decision: DecideMemberChange,
    checks: TeamChecks,
    policy: ProgrammePolicy,
    now: datetime,
) -> ChangeDecision:
    """The bureau's decision. On approval the team rules of acceptance are checked again on the team
    as it would be from `effective_from`; a broken rule refuses the change with that rule."""
    if not decision.approve:
        return _refuse(change, "bureau_refused", decision, now)
    try:
        team = team_after(change, project, checks, policy)
    except RuleBroken as broken:
        return _refuse(change, broken.rule, decision, now, why=broken.reason)
    approved = replace(
        change,
        status=ChangeStatus.APPROVED,
        decided_by=decision.decided_by,
        decision_reason=decision.reason,
        decided_at=now,
    )
    refs = {m.expert_id: expert_ref(checks.experts[m.expert_id]) for m in team}
    return ChangeDecision(
        change=approved,
        approved=MemberChangeApproved(
            change_id=change.change_id,
            order_id=change.order_id,
            project_id=change.project_id,
            team_id=change.team_id,
            kind=change.kind,
            leaving=_ref(checks.experts, change.leaving_expert_id),
            joining=_ref(checks.experts, change.joining_expert_id),
            effective_from=change.effective_from,
            lead=next(refs[m.expert_id] for m in team if m.role == "lead"),
            members=tuple(refs[m.expert_id] for m in team if m.role == "member"),
            local_talents=tuple(refs[m.expert_id] for m in team if m.role == "local_talent"),
            decided_by=decision.decided_by,
            reason=decision.reason,
        ),
        refused=None,
    )


def team_after(
    change: MemberChange, project: Project, checks: TeamChecks, policy: ProgrammePolicy
) -> tuple[Membership, ...]:
    """The team from `effective_from` if the change is made, provided every team rule holds
    (1+N+1, size, local talent, registered, free, not suspended, within the service period)."""
    if project.status is not ProjectStatus.ACTIVE:
        raise RuleBroken("project_ended", f"project {project.project_id} ended on {project.ended_on}")
    day = change.effective_from
    _require_in_period(project, day)
    before = project.team_on(day)
    ids = {m.expert_id for m in before}
    leaving, joining = change.leaving_expert_id, change.joining_expert_id
    if leaving is not None and leaving not in ids:
        raise RuleBroken(
            "not_on_team",
            f"{leaving} is no longer on {project.team_name} on {day}",
            answer=f"{leaving} is no longer on your team on {day}",
        )
    if joining is not None and joining in ids:
        raise RuleBroken(
            "duplicate_member",
            f"{joining} is already on {project.team_name} on {day}",
            answer=f"{joining} is already on your team on {day}",
        )
    after = tuple(m for m in before if m.expert_id != leaving)
    if joining is not None:
        after += (Membership(joining, change.joining_role or "member", day),)
    unknown = [m.expert_id for m in after if m.expert_id not in checks.experts]
    if unknown:
        raise RuleBroken("unknown_expert", f"not in the talent registry: {', '.join(unknown)}")
    _require_team_rules(project, after, checks, policy)
    if joining is not None and joining in checks.on_other_teams:
        raise RuleBroken(
            "expert_on_active_team",
            f"{checks.experts[joining].name} ({joining}) is on another active team on {day} (one team at a time)",
            answer=f"{joining}, who would join your team, is serving on another active project on {day} "
            "(one team at a time)",
        )
    return after


def _require_team_rules(
    project: Project, team: tuple[Membership, ...], checks: TeamChecks, policy: ProgrammePolicy
) -> None:
    leads = sum(1 for m in team if m.role == "lead")
    size = len(team)
    if leads != 1 or not policy.team_size_min <= size <= policy.team_size_max:
        raise RuleBroken(
            "team_size_out_of_range",
            f"a team of {size} is outside {policy.team_size_min} to {policy.team_size_max} people, one lead (1+N+1)",
        )
    talents = [checks.experts[m.expert_id] for m in team if m.role == "local_talent"]
    not_local = [e.expert_id for e in talents if e.local_county != project.county_code]
    if not_local:
        raise RuleBroken(
            "local_talent_not_local",
            f"listed as local talent but not local to county {project.county_code}: {', '.join(not_local)}",
        )
    if len(talents) < policy.min_local_talents:
        raise RuleBroken(
            "no_local_talent",
            f"the team must keep at least {policy.min_local_talents} local talent of county {project.county_code}; "
            f"it would have {len(talents)}",
        )
    if project.team_id in checks.suspended:
        raise RuleBroken("team_suspended", f"team {project.team_id} is suspended")
    suspended = [m.expert_id for m in team if m.expert_id in checks.suspended]
    if suspended:
        raise RuleBroken("expert_suspended", f"suspended: {', '.join(suspended)}")


def _refuse(
    change: MemberChange, rule: str, decision: DecideMemberChange, now: datetime, *, why: str | None = None
) -> ChangeDecision:
    reason = decision.reason if why is None else f"{why}（{decision.reason}）"
    return ChangeDecision(
        change=replace(
            change,
            status=ChangeStatus.REFUSED,
            rule=rule,
            decided_by=decision.decided_by,
            decision_reason=reason,
            decided_at=now,
        ),
        approved=None,
        refused=MemberChangeRefused(
            change_id=change.change_id,
            order_id=change.order_id,
            project_id=change.project_id,
            team_id=change.team_id,
            rule=rule,
            reason=reason,
            decided_by=decision.decided_by,
        ),
    )


# ---- the end and the extension --------------------------------------------------------------------


def end_early(project: Project | None, request: EndProject, now: datetime) -> tuple[Project, ProjectEndedEarly]:
    """The bureau ends the project from `effective_on`: a day of its service period, today or later
    (an end is not back-dated: people may have served, and been paid, meanwhile). Everyone on the
    team that day is free from it."""
    project = require_in_service(project, request.order_id)
    day = request.effective_on
    _require_in_period(project, day)
    _require_not_past(day, now)
    ended = replace(project, status=ProjectStatus.ENDED, ended_on=day)
    return ended, ProjectEndedEarly(
        order_id=project.order_id,
        project_id=project.project_id,
        team_id=project.team_id,
        ended_on=day,
        planned_end=project.planned_end,
        reason=request.reason,
        decided_by=request.decided_by,
        freed_expert_ids=tuple(m.expert_id for m in project.team_on(day)),
    )


def ended_by_funding(project: Project, ended_on: date) -> Project | None:
    """Funding ended the project (a failed rectification): its people are free from `ended_on`.
    None when it had already ended by then (nothing changes)."""
    if project.status is ProjectStatus.UNDER_NOTICE:
        raise ValueError(f"project {project.project_id} is under notice; funding cannot have ended it")
    if project.ended_on is not None and project.ended_on <= ended_on:
        return None
    return replace(project, status=ProjectStatus.ENDED, ended_on=ended_on)


def extend(project: Project | None, request: ExtendProject, policy: ProgrammePolicy) -> tuple[Project, ProjectExtended]:
    """The bureau lengthens the service period to `months` in all: longer than now, at most
    `policy.max_extension_months` beyond the period first fixed, at most the policy's maximum."""
    project = require_in_service(project, request.order_id)
    months = request.months
    if (
        months <= project.service_months
        or months - project.original_months > policy.max_extension_months
        or months > policy.service_period_max_months
    ):
        raise RuleBroken(
            "extension_out_of_range",
            f"{months} months is not between {project.service_months + 1} and "
            f"{min(project.original_months + policy.max_extension_months, policy.service_period_max_months)} "
            f"(longer than now, at most {policy.max_extension_months} months beyond the {project.original_months} "
            f"first fixed, at most {policy.service_period_max_months} in all)",
        )
    extended = replace(project, service_months=months)
    return extended, ProjectExtended(
        order_id=project.order_id,
        project_id=project.project_id,
        team_id=project.team_id,
        service_period=extended.service_period,
        previous_months=project.service_months,
        reason=request.reason,
        decided_by=request.decided_by,
    )
