"""The award of an order, its public notice (公示) and objections (异议), and how it takes effect
(TeamAccepted: the team takes the order as a project). Pure: no I/O.

AwardOrder --> under notice (AwardAnnounced) --notice over, no objection pending--> accepted (TeamAccepted)
                   |   ^                       (the end-award-notices timer, or the rejection
                   |   |                        of the last pending objection once the notice is over)
                   |   \\--objection lodged (AwardObjectionLodged), rejected (AwardObjectionRejected)
                   |--objection upheld--> revoked (AwardRevoked): the order is open again
                   \\--order cancelled---> revoked (AwardRevoked): the awarded application is declined

With `policy.public_notice_working_days == 0` there is no notice: AwardOrder makes TeamAccepted at
once and no AwardAnnounced. Dates are Chongqing dates; the notice's last day is
`policy.notice_ends_on(the day of the award)`, and the notice is over the day after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from shared.clock import local_date
from shared.contract.events.matching import (
    ApplicationDeclined,
    AwardAnnounced,
    AwardObjectionLodged,
    AwardObjectionRejected,
    AwardRevoked,
    DecideAwardObjection,
    LodgeAwardObjection,
    TeamAccepted,
)
from shared.policy import ProgrammePolicy, format_yuan
from shared.rules import RuleBroken

from .model import (
    Application,
    ApplicationStatus,
    Eligibility,
    OrderStatus,
    PublishedOrder,
    expert_ref,
    require_free,
    require_open,
    require_registered,
)
from .profiles import ExpertProfile


class AwardStatus(StrEnum):
    UNDER_NOTICE = "under_notice"
    ACCEPTED = "accepted"
    """It took effect: TeamAccepted was emitted."""
    REVOKED = "revoked"


class ObjectionStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    REJECTED = "rejected"
    MOOT = "moot"
    """Its award was revoked (another objection upheld, or the order cancelled) before it was decided."""


@dataclass(frozen=True, slots=True)
class Award:
    """One award of an order to one application. An order has at most one award that is not
    revoked; after a revocation the next award is the order's next `round`."""

    order_id: str
    round: int
    application_id: str
    status: AwardStatus
    announced_on: date
    notice_ends_on: date
    """The notice's last day: objections are accepted until the end of it."""
    awarded_by: str
    announced_at: datetime
    correlation_id: str | None = None
    """The award's story (its AwardOrder's correlation id): the TeamAccepted made later keeps it."""
    announced_event_id: str | None = None
    """The AwardAnnounced's id: what causes the TeamAccepted the notice's end makes."""
    approved_fen: int | None = None
    """The grant the bureau approved; None: what the team asked stands."""

    @property
    def award_id(self) -> str:
        return f"{self.order_id}#{self.round}"

    @property
    def project_id(self) -> str:
        return project_id_of(self.order_id)

    @property
    def noticed(self) -> bool:
        """Whether the award was publicly noticed at all (a notice of 0 working days is none)."""
        return self.notice_ends_on > self.announced_on

    def notice_over(self, today: date) -> bool:
        return today > self.notice_ends_on


@dataclass(frozen=True, slots=True)
class Objection:
    objection_id: str
    award_id: str
    order_id: str
    application_id: str
    """The objector's own application for the order (declined by the award)."""
    team_id: str
    grounds: str
    lodged_by: str
    lodged_at: datetime
    status: ObjectionStatus = ObjectionStatus.PENDING
    decided_by: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None


def project_id_of(order_id: str) -> str:
    """The project an order becomes when a team takes it: one order, one project."""
    return f"P-{order_id}"


# ---- the award -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwardDecision:
    order: PublishedOrder
    awarded: Application
    award: Award
    announced: AwardAnnounced | None
    """The public notice; None when policy gives no notice."""
    accepted: TeamAccepted | None
    """The award took effect at once (policy gives no notice); None while it is under notice."""
    declined: tuple[tuple[Application, ApplicationDeclined], ...]


def award(
    order: PublishedOrder | None,
    order_id: str,
    application: Application | None,
    others: Sequence[Application],
    eligibility: Eligibility,
    awarded_by: str,
    policy: ProgrammePolicy,
    now: datetime,
    *,
    previous_awards: int = 0,
    approved_fen: int | None = None,
) -> AwardDecision:
    """The bureau's decision: the application's team is to take the order as a project. The
    award is publicly noticed for `policy.public_notice_working_days` working days (none: it
    takes effect at once); the order's other pending applications are declined. `approved_fen`, if
    given, is the grant approved: within the policy's range and at most what the team asked."""
    order = require_open(order, order_id)
    if application is None:
        raise RuleBroken("unknown_application", f"there is no application with that id for order {order_id}")
    if application.order_id != order_id:
        raise RuleBroken(
            "application_not_for_order", f"application {application.application_id} is for order {application.order_id}"
        )
    if application.status is not ApplicationStatus.PENDING:
        raise RuleBroken(
            f"application_{application.status.value}",
            f"application {application.application_id} is {application.status} and cannot be awarded",
        )
    require_approved_amount(approved_fen, application, policy)
    experts = require_registered(application.team, eligibility)
    require_free(application.team, eligibility)
    today = local_date(now)
    notice_ends_on = policy.notice_ends_on(today)
    team = application.team
    noticed = policy.public_notice_working_days > 0
    the_award = Award(
        order_id=order.order_id,
        round=previous_awards + 1,
        application_id=application.application_id,
        status=AwardStatus.UNDER_NOTICE if noticed else AwardStatus.ACCEPTED,
        announced_on=today,
        notice_ends_on=notice_ends_on,
        awarded_by=awarded_by,
        announced_at=now,
        approved_fen=approved_fen,
    )
    if noticed:
        reason = (
            f"订单拟由 {team.name} 承接，公示至 {notice_ends_on}，公示期内可提出异议 "
            f"(order awarded to team {team.team_id}, under public notice until {notice_ends_on})"
        )
    else:
        reason = f"订单已由 {team.name} 承接 (order awarded to team {team.team_id})"
    declined = tuple(
        (
            replace(other, status=ApplicationStatus.DECLINED),
            ApplicationDeclined(
                application_id=other.application_id,
                order_id=order.order_id,
                team_id=other.team.team_id,
                reason=reason,
                declined_at=now,
            ),
        )
        for other in others
        if other.status is ApplicationStatus.PENDING and other.application_id != application.application_id
    )
    lead = experts[team.lead_expert_id]
    return AwardDecision(
        order=replace(
            order,
            status=OrderStatus.UNDER_NOTICE if noticed else OrderStatus.AWARDED,
            awarded_application_id=application.application_id,
        ),
        awarded=replace(application, status=ApplicationStatus.AWARDED if noticed else ApplicationStatus.ACCEPTED),
        award=the_award,
        announced=AwardAnnounced(
            order_id=order.order_id,
            application_id=application.application_id,
            project_id=the_award.project_id,
            title=order.title,
            call=order.call,
            team_id=team.team_id,
            team_name=team.name,
            lead_name=lead.name,
            lead_institution=lead.institution,
            place=order.place,
            site=application.site,
            industry=order.industry,
            service_period=application.service_period,
            funding_asked_fen=application.funding_asked_fen,
            approved_fen=approved_fen,
            continued_support_of=application.continued_support_of,
            announced_on=today,
            notice_ends_on=notice_ends_on,
            awarded_by=awarded_by,
            announced_at=now,
        )
        if noticed
        else None,
        accepted=None if noticed else team_accepted(the_award, order, application, experts, now),
        declined=declined,
    )


def team_accepted(
    award: Award,
    order: PublishedOrder,
    application: Application,
    experts: Mapping[str, ExpertProfile],
    now: datetime,
) -> TeamAccepted:
    """The award taking effect: fixed site, fixed people, fixed service period (定点、定人、定服务期).
    The people are shown as the talent registry knows them now (titles included)."""
    team = application.team
    return TeamAccepted(
        project_id=award.project_id,
        order_id=order.order_id,
        application_id=application.application_id,
        team_id=team.team_id,
        team_name=team.name,
        lead=expert_ref(experts[team.lead_expert_id]),
        members=tuple(expert_ref(experts[e]) for e in team.member_expert_ids),
        local_talents=tuple(expert_ref(experts[e]) for e in team.local_talent_expert_ids),
        place=order.place,
        site=application.site,
        industry=order.industry,
        service_period=application.service_period,
        funding_asked_fen=application.funding_asked_fen,
        call=order.call,
        awarded_by=award.awarded_by,
        accepted_at=now,
        continued_support_of=application.continued_support_of,
        approved_fen=award.approved_fen,
    )


def require_approved_amount(approved_fen: int | None, application: Application, policy: ProgrammePolicy) -> None:
    """The grant the bureau approves: within the policy's range per team, and no more than asked."""
    if approved_fen is None:
        return
    ceiling = min(policy.funding_max_fen, application.funding_asked_fen)
    if not policy.funding_min_fen <= approved_fen <= ceiling:
        raise RuleBroken(
            "approved_amount_out_of_range",
            f"approved {format_yuan(approved_fen)} is outside {format_yuan(policy.funding_min_fen)} to "
            f"{format_yuan(ceiling)} (the policy's range per team, and at most the "
            f"{format_yuan(application.funding_asked_fen)} asked)",
        )


# ---- the end of the notice -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Effect:
    """An award that took effect."""

    award: Award
    order: PublishedOrder
    accepted: Application
    event: TeamAccepted


def takes_effect(award: Award, pending_objections: int, today: date) -> bool:
    """Whether an award takes effect now: under notice, its notice over (the Chongqing date is
    after its last day), and no objection waiting for the bureau's decision."""
    return award.status is AwardStatus.UNDER_NOTICE and award.notice_over(today) and pending_objections == 0


def take_effect(
    award: Award,
    order: PublishedOrder,
    application: Application,
    experts: Mapping[str, ExpertProfile],
    now: datetime,
) -> Effect:
    if award.status is not AwardStatus.UNDER_NOTICE or application.status is not ApplicationStatus.AWARDED:
        raise ValueError(f"award {award.award_id} is {award.status}, its application {application.status}")
    return Effect(
        award=replace(award, status=AwardStatus.ACCEPTED),
        order=replace(order, status=OrderStatus.AWARDED),
        accepted=replace(application, status=ApplicationStatus.ACCEPTED),
        event=team_accepted(award, order, application, experts, now),
    )


# ---- objections ----------------------------------------------------------------------------------


def lodge_objection(
    request: LodgeAwardObjection,
    award: Award | None,
    objector: Application | None,
    existing: Objection | None,
    objections_to_award: Sequence[Objection],
    now: datetime,
) -> tuple[Objection, AwardObjectionLodged]:
    """An applicant whose application the award declined objects within the notice: by the end of
    its last day (Chongqing date of processing, not the sender's `time`)."""
    if existing is not None:
        raise RuleBroken("objection_exists", f"objection {request.objection_id} was already lodged")
    if award is None or award.status is AwardStatus.REVOKED or not award.noticed:
        raise RuleBroken("award_not_under_notice", f"order {request.order_id} has no award under public notice")
    today = local_date(now)
    if award.notice_over(today):
        raise RuleBroken(
            "notice_period_over",
            f"the public notice of the award of {request.order_id} ended on {award.notice_ends_on}; "
            f"objections are accepted until that day (today is {today})",
        )
    if award.status is not AwardStatus.UNDER_NOTICE:
        raise RuleBroken("award_not_under_notice", f"the award of {request.order_id} has already taken effect")
    if (
        objector is None
        or objector.order_id != request.order_id
        or objector.status is not ApplicationStatus.DECLINED
        or objector.application_id == award.application_id
    ):
        raise RuleBroken(
            "not_an_applicant",
            f"application {request.application_id} is not a declined application for order {request.order_id}: "
            f"only an applicant the award declined may object",
        )
    if any(o.application_id == objector.application_id for o in objections_to_award):
        raise RuleBroken(
            "objection_exists",
            f"application {objector.application_id} already objected to this award (one objection per applicant)",
        )
    objection = Objection(
        objection_id=request.objection_id,
        award_id=award.award_id,
        order_id=award.order_id,
        application_id=objector.application_id,
        team_id=objector.team.team_id,
        grounds=request.grounds,
        lodged_by=request.lodged_by,
        lodged_at=now,
    )
    return objection, AwardObjectionLodged(
        objection_id=objection.objection_id,
        order_id=objection.order_id,
        application_id=objection.application_id,
        team_id=objection.team_id,
        awarded_application_id=award.application_id,
        grounds=objection.grounds,
        lodged_by=objection.lodged_by,
        notice_ends_on=award.notice_ends_on,
        lodged_at=now,
    )


def require_undecided(objection: Objection | None, request: DecideAwardObjection) -> Objection:
    if objection is None or objection.order_id != request.order_id:
        raise RuleBroken(
            "unknown_objection", f"there is no objection {request.objection_id} to the award of {request.order_id}"
        )
    if objection.status is not ObjectionStatus.PENDING:
        raise RuleBroken(
            "objection_already_decided", f"objection {objection.objection_id} is already {objection.status.value}"
        )
    return objection


def _decided(objection: Objection, status: ObjectionStatus, by: str, reason: str, now: datetime) -> Objection:
    return replace(objection, status=status, decided_by=by, reason=reason, decided_at=now)


@dataclass(frozen=True, slots=True)
class Revocation:
    """An award made void: the order, the applications and the objections as they are after it."""

    award: Award
    order: PublishedOrder
    applications: tuple[Application, ...]
    """The applications whose status changed: pending again, or (order cancelled) declined."""
    objections: tuple[Objection, ...]
    """The objections decided by it: the upheld one and the moot ones."""
    event: AwardRevoked


def uphold(
    objection: Objection,
    award: Award,
    order: PublishedOrder,
    applications: Sequence[Application],
    objections_to_award: Sequence[Objection],
    request: DecideAwardObjection,
    now: datetime,
) -> Revocation:
    """The objection is upheld: the award is void and the order is open again, as before the award.
    The applications the award declined, and the one it chose, are pending again: the bureau may
    award the order anew (a re-review by a new panel), to any of them."""
    if award.status is not AwardStatus.UNDER_NOTICE:
        raise ValueError(f"award {award.award_id} with a pending objection is {award.status}")
    upheld = _decided(objection, ObjectionStatus.UPHELD, request.decided_by, request.reason, now)
    moot = _moot(objections_to_award, objection.objection_id, request.decided_by, now)
    reopened = tuple(
        replace(a, status=ApplicationStatus.PENDING)
        for a in applications
        if a.order_id == award.order_id
        and (
            (a.application_id == award.application_id and a.status is ApplicationStatus.AWARDED)
            or a.status is ApplicationStatus.DECLINED
        )
    )
    awarded = next(a for a in applications if a.application_id == award.application_id)
    return Revocation(
        award=replace(award, status=AwardStatus.REVOKED),
        order=replace(order, status=OrderStatus.OPEN, awarded_application_id=None),
        applications=reopened,
        objections=(upheld, *moot),
        event=AwardRevoked(
            order_id=award.order_id,
            application_id=award.application_id,
            team_id=awarded.team.team_id,
            objection_id=objection.objection_id,
            reason=request.reason,
            decided_by=request.decided_by,
            reopened_application_ids=tuple(a.application_id for a in reopened),
            moot_objection_ids=tuple(o.objection_id for o in moot),
            revoked_at=now,
        ),
    )


def void_for_cancellation(
    award: Award,
    order: PublishedOrder,
    awarded: Application,
    objections_to_award: Sequence[Objection],
    reason: str,
    cancelled_by: str,
    now: datetime,
) -> tuple[Revocation, ApplicationDeclined]:
    """The order was cancelled while its award was under notice: the award is void, the awarded
    application declined with the cancellation's reason, pending objections moot."""
    if award.status is not AwardStatus.UNDER_NOTICE:
        raise ValueError(f"award {award.award_id} is {award.status}, not under notice")
    moot = _moot(objections_to_award, None, cancelled_by, now)
    declined = replace(awarded, status=ApplicationStatus.DECLINED)
    revocation = Revocation(
        award=replace(award, status=AwardStatus.REVOKED),
        order=replace(order, status=OrderStatus.CANCELLED, awarded_application_id=None),
        applications=(declined,),
        objections=moot,
        event=AwardRevoked(
            order_id=award.order_id,
            application_id=award.application_id,
            team_id=awarded.team.team_id,
            reason=reason,
            decided_by=cancelled_by,
            moot_objection_ids=tuple(o.objection_id for o in moot),
            revoked_at=now,
        ),
    )
    return revocation, ApplicationDeclined(
        application_id=awarded.application_id,
        order_id=awarded.order_id,
        team_id=awarded.team.team_id,
        reason=reason,
        declined_at=now,
    )


def _moot(objections: Sequence[Objection], but: str | None, by: str, now: datetime) -> tuple[Objection, ...]:
    return tuple(
        _decided(o, ObjectionStatus.MOOT, by, "award revoked before this objection was decided", now)
        for o in objections
        if o.status is ObjectionStatus.PENDING and o.objection_id != but
    )


@dataclass(frozen=True, slots=True)
class Rejection:
    objection: Objection
    event: AwardObjectionRejected
    takes_effect: bool
    """The award takes effect now: its notice is over and no other objection is pending."""


def reject(
    objection: Objection,
    award: Award,
    objections_to_award: Sequence[Objection],
    request: DecideAwardObjection,
    now: datetime,
) -> Rejection:
    """The objection is rejected: the award stands. It takes effect at once if its notice is
    already over and no other objection is pending, otherwise when that is so."""
    if award.status is not AwardStatus.UNDER_NOTICE:
        raise ValueError(f"award {award.award_id} with a pending objection is {award.status}")
    rejected = _decided(objection, ObjectionStatus.REJECTED, request.decided_by, request.reason, now)
    others = [o for o in objections_to_award if o.status is ObjectionStatus.PENDING]
    still_pending = sum(1 for o in others if o.objection_id != objection.objection_id)
    return Rejection(
        objection=rejected,
        event=AwardObjectionRejected(
            objection_id=objection.objection_id,
            order_id=objection.order_id,
            application_id=objection.application_id,
            awarded_application_id=award.application_id,
            reason=request.reason,
            decided_by=request.decided_by,
            notice_ends_on=award.notice_ends_on,
            rejected_at=now,
        ),
        takes_effect=takes_effect(award, still_pending, local_date(now)),
    )
