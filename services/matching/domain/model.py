"""Taking orders (接单): published orders and team applications. Pure: no I/O.

published order --application--> pending --award (awards.py)--> awarded (under public notice, 公示)
                                  |  |  ^                          |--notice over--> accepted (TeamAccepted)
                                  |  |  +----award revoked---------+  (objection upheld: pending again)
                                  |  +--another application awarded--> declined --award revoked--> pending
                               withdraw
                                  v
                              withdrawn
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.clock import local_date
from shared.contract.events.matching import (
    ApplicationDeclined,
    ApplicationReceived,
    ApplicationWithdrawn,
    ExpertRef,
    ExpertRegistered,
    TeamApplicationSubmitted,
    TeamComposition,
)
from shared.contract.events.orders import OrderPublished, Place, ServicePeriod
from shared.policy import ProgrammePolicy, format_yuan
from shared.rules import RuleBroken

from .profiles import LABEL_OF, ExpertProfile, OrderProfile, Qualification


class OrderStatus(StrEnum):
    OPEN = "open"
    UNDER_NOTICE = "under_notice"
    """Awarded, the award publicly noticed (公示): it takes effect when the notice ends."""
    AWARDED = "awarded"
    """The award took effect (TeamAccepted)."""
    CANCELLED = "cancelled"


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    WITHDRAWN = "withdrawn"
    AWARDED = "awarded"
    """Chosen by the bureau; its award is under public notice."""
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class PublishedOrder:
    """Matching's read model of an order the city published."""

    order_id: str
    place: Place
    industry: str
    needs: frozenset[str]
    title: str
    call: str
    service_period: ServicePeriod
    funding_asked_fen: int
    status: OrderStatus = OrderStatus.OPEN
    awarded_application_id: str | None = None

    @classmethod
    def from_event(cls, event: OrderPublished) -> PublishedOrder:
        return cls(
            order_id=event.order_id,
            place=event.demand.place,
            industry=event.demand.industry,
            needs=frozenset(event.demand.needs),
            title=event.demand.title,
            call=event.call,
            service_period=event.demand.service_period,
            funding_asked_fen=event.demand.funding_asked_fen,
        )

    @property
    def county_code(self) -> str:
        return self.place.county_code

    def profile(self) -> OrderProfile:
        return OrderProfile(self.order_id, self.county_code, self.industry, self.needs)


@dataclass(frozen=True, slots=True)
class Application:
    application_id: str
    order_id: str
    team: TeamComposition
    plan: str
    site: str
    service_period: ServicePeriod
    funding_asked_fen: int
    status: ApplicationStatus = ApplicationStatus.PENDING
    continued_support_of: str | None = None
    """继续支持: the earlier project (excellent review) through which the team applies."""

    @property
    def expert_ids(self) -> tuple[str, ...]:
        t = self.team
        return (t.lead_expert_id, *t.member_expert_ids, *t.local_talent_expert_ids)


@dataclass(frozen=True, slots=True)
class Eligibility:
    """What the rules need to know beyond the application and the order."""

    experts: Mapping[str, ExpertProfile]
    """Registered experts named by the application."""
    on_active_teams: Set[str]
    """Experts already serving on an active (accepted) team, or on one whose award is under notice."""
    suspended: Set[str]
    """Team ids and expert ids currently suspended from applying."""
    pending_teams_for_order: Set[str]
    """Teams with a pending application for the same order."""
    continued_support: Set[str] = frozenset()
    """Projects through which the applying team may apply for continued support (ContinuedFundingEligible)."""


def registered_profile(registration: ExpertRegistered) -> ExpertProfile:
    """The expert as a registration (or update) records them. Their load (`active_teams`) is not
    part of a registration and is not read: use the repository's profiles where it matters."""
    return ExpertProfile(
        expert_id=registration.expert_id,
        name=registration.name,
        institution=registration.institution,
        qualifications=frozenset(Qualification(q) for q in registration.qualifications),
        specialties=frozenset(registration.specialties),
        local_county=registration.local_county_code,
        title=registration.title,
        title_grade=registration.title_grade,
    )


def expert_ref(expert: ExpertProfile) -> ExpertRef:
    return ExpertRef(
        expert_id=expert.expert_id,
        name=expert.name,
        institution=expert.institution,
        qualifications=tuple(sorted(q.value for q in expert.qualifications)),
        local_county_code=expert.local_county,
        title=expert.title,
        title_grade=expert.title_grade,
    )


# ---- applying ----------------------------------------------------------------------------------


def receive_application(
    submission: TeamApplicationSubmitted,
    order: PublishedOrder | None,
    eligibility: Eligibility,
    policy: ProgrammePolicy,
    now: datetime,
) -> tuple[Application, ApplicationReceived]:
    """Check every rule of 接单; return the pending application and its receipt."""
    order = require_open(order, submission.order_id)
    team = submission.team
    _require_distinct_people(team)
    experts = require_registered(team, eligibility)
    lead = experts[team.lead_expert_id]
    if not lead.can_lead:
        held = "、".join(LABEL_OF[q] for q in sorted(lead.qualifications)) or "无"
        raise RuleBroken(
            "lead_not_qualified",
            f"lead expert {lead.name} ({lead.expert_id}) holds no national- or municipal-level qualification "
            f"(holds: {held})",
            answer=f"lead expert {lead.expert_id} of your application holds no national- or municipal-level "
            f"qualification (holds: {held})",
        )
    _require_size(team, policy)
    _require_local_talent(team, experts, order, policy)
    require_free(team, eligibility)
    if team.team_id in eligibility.pending_teams_for_order:
        raise RuleBroken(
            "team_already_applied", f"team {team.team_id} already has a pending application for this order"
        )
    _require_period_and_funding(submission.service_period, submission.funding_asked_fen, policy)
    _require_continued_support(submission, eligibility)
    if submission.service_period.start < local_date(now):
        raise RuleBroken(
            "service_start_in_past",
            f"the service period starts {submission.service_period.start}, before today ({local_date(now)})",
        )
    application = Application(
        application_id=submission.application_id,
        order_id=submission.order_id,
        team=team,
        plan=submission.plan,
        site=submission.site,
        service_period=submission.service_period,
        funding_asked_fen=submission.funding_asked_fen,
        continued_support_of=submission.continued_support_of,
    )
    receipt = ApplicationReceived(
        application_id=application.application_id,
        order_id=application.order_id,
        team_id=team.team_id,
        team_name=team.name,
        lead=expert_ref(lead),
        team_size=len(application.expert_ids),
        funding_asked_fen=application.funding_asked_fen,
        received_at=now,
        continued_support_of=application.continued_support_of,
    )
    return application, receipt


def withdraw(application: Application, reason: str, now: datetime) -> tuple[Application, ApplicationWithdrawn]:
    if application.status is not ApplicationStatus.PENDING:
        raise RuleBroken(
            "application_already_decided",
            f"application {application.application_id} is {application.status}; it can no longer be withdrawn",
        )
    event = ApplicationWithdrawn(
        application_id=application.application_id,
        order_id=application.order_id,
        team_id=application.team.team_id,
        reason=reason,
        withdrawn_at=now,
    )
    return replace(application, status=ApplicationStatus.WITHDRAWN), event


# ---- closing ------------------------------------------------------------------------------------


def close_order(
    order: PublishedOrder, pending: tuple[Application, ...], reason: str, now: datetime
) -> tuple[PublishedOrder, tuple[tuple[Application, ApplicationDeclined], ...]]:
    """The order was cancelled: its pending applications are declined with the reason."""
    declined = tuple(
        (
            replace(a, status=ApplicationStatus.DECLINED),
            ApplicationDeclined(
                application_id=a.application_id,
                order_id=a.order_id,
                team_id=a.team.team_id,
                reason=reason,
                declined_at=now,
            ),
        )
        for a in pending
        if a.status is ApplicationStatus.PENDING
    )
    return replace(order, status=OrderStatus.CANCELLED), declined


# ---- the rules ---------------------------------------------------------------------------------


def require_open(order: PublishedOrder | None, order_id: str) -> PublishedOrder:
    """The order, if it takes applications and awards: published, not awarded (nor under notice), not cancelled."""
    if order is None:
        raise RuleBroken("order_not_open", f"order {order_id} has not been published")
    if order.status is OrderStatus.UNDER_NOTICE:
        raise RuleBroken(
            "award_under_notice", f"order {order_id} was awarded and its award is under public notice (公示)"
        )
    if order.status is OrderStatus.AWARDED:
        raise RuleBroken("order_already_awarded", f"order {order_id} was already awarded to a team")
    if order.status is OrderStatus.CANCELLED:
        raise RuleBroken("order_not_open", f"order {order_id} was cancelled")
    return order


def _require_distinct_people(team: TeamComposition) -> None:
    people = (team.lead_expert_id, *team.member_expert_ids, *team.local_talent_expert_ids)
    repeated = sorted({p for p in people if people.count(p) > 1})
    if repeated:
        raise RuleBroken("duplicate_member", f"each person may appear once in a team: {', '.join(repeated)}")


def require_registered(team: TeamComposition, eligibility: Eligibility) -> dict[str, ExpertProfile]:
    people = (team.lead_expert_id, *team.member_expert_ids, *team.local_talent_expert_ids)
    unknown = [p for p in people if p not in eligibility.experts]
    if unknown:
        raise RuleBroken("unknown_expert", f"not in the talent registry: {', '.join(unknown)}")
    return {p: eligibility.experts[p] for p in people}


def _require_size(team: TeamComposition, policy: ProgrammePolicy) -> None:
    size = 1 + len(team.member_expert_ids) + len(team.local_talent_expert_ids)
    if not policy.team_size_min <= size <= policy.team_size_max:
        raise RuleBroken(
            "team_size_out_of_range",
            f"a team of {size} is outside {policy.team_size_min} to {policy.team_size_max} people (1+N+1)",
        )


def _require_local_talent(
    team: TeamComposition, experts: Mapping[str, ExpertProfile], order: PublishedOrder, policy: ProgrammePolicy
) -> None:
    local = [e for e in team.local_talent_expert_ids if experts[e].local_county == order.county_code]
    not_local = [e for e in team.local_talent_expert_ids if experts[e].local_county != order.county_code]
    if not_local:
        raise RuleBroken(
            "local_talent_not_local",
            f"listed as local talent but not local to county {order.county_code}: {', '.join(not_local)}",
        )
    if len(local) < policy.min_local_talents:
        raise RuleBroken(
            "no_local_talent",
            f"the team must include at least {policy.min_local_talents} local talent of county "
            f"{order.county_code} ({order.place.county_name}); it has {len(local)}",
        )


def require_free(team: TeamComposition, eligibility: Eligibility) -> None:
    if team.team_id in eligibility.suspended:
        raise RuleBroken("team_suspended", f"team {team.team_id} is suspended from applying")
    if team.lead_expert_id in eligibility.suspended:
        raise RuleBroken("lead_suspended", f"lead expert {team.lead_expert_id} is suspended from applying")
    people = (team.lead_expert_id, *team.member_expert_ids, *team.local_talent_expert_ids)
    busy = [p for p in people if p in eligibility.on_active_teams]
    if busy:
        raise RuleBroken(
            "expert_on_active_team",
            f"already serving on an active team, or on a team whose award is under public notice (one team at a "
            f"time): {', '.join(busy)}",
        )


def _require_continued_support(submission: TeamApplicationSubmitted, eligibility: Eligibility) -> None:
    project = submission.continued_support_of
    if project is not None and project not in eligibility.continued_support:
        raise RuleBroken(
            "not_eligible_for_continued_support",
            f"team {submission.team.team_id} has no excellent review of project {project} that lets it apply for "
            f"continued support (继续支持)",
        )


def _require_period_and_funding(period: ServicePeriod, funding_fen: int, policy: ProgrammePolicy) -> None:
    if not policy.service_period_min_months <= period.months <= policy.service_period_max_months:
        raise RuleBroken(
            "service_period_out_of_range",
            f"a service period of {period.months} months is outside {policy.service_period_min_months} to "
            f"{policy.service_period_max_months} months",
        )
    if not policy.funding_min_fen <= funding_fen <= policy.funding_max_fen:
        raise RuleBroken(
            "funding_out_of_range",
            f"funding asked {format_yuan(funding_fen)} is outside {format_yuan(policy.funding_min_fen)} to "
            f"{format_yuan(policy.funding_max_fen)} per team",
        )
