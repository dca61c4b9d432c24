"""Grants, tranches, payments and the consequences of a yearly review. Pure: no I/O.

TeamAccepted --fits the envelope--> grant open --tranche 1 released (FundingReleased)
     \\--exceeds it--> grant held (GrantHeld) --SetBudgetEnvelope raises it--> open
                     (continued-support grants, 继续支持, first; then the others in their order)
passing review (excellent / qualified) -> next tranche released, excellent: eligible for continued
                                          funding; incentives per person as the policy allows,
                                          once per person, kind and project (IncentivesDecided)
unqualified review -> remaining tranches withheld, rectification deadline, team and lead
                      suspended from applying (lifted on its date)
rectification (限期整改): report by the deadline (RectificationReportSubmitted), then the bureau
    decides (DecideRectification): accepted -> withheld money restored, the failed year's tranche
    released, the grant open again; rejected, or no report by the deadline -> the project ends
    (ProjectEnded), the withheld money is forfeited, the grant is ended. The suspension stays.
treasury: PaymentConfirmed -> release paid; PaymentFailed -> retry, then escalate
ProjectEndedEarly -> unreleased money settled by policy, the grant ends (early_end.py, GrantSettled);
ProjectExtended -> unreleased tranches spread anew (early_end.py, GrantRescheduled);
MemberChangeApproved -> the people incentives follow (team.py)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from shared.clock import local_date
from shared.contract.events.funding import (
    ContinuedFundingEligible,
    DecideRectification,
    FundingReleased,
    FundingWithheld,
    GrantHeld,
    GrantOpened,
    IncentiveDecision,
    IncentiveGranted,
    IncentiveKind,
    IncentivesDecided,
    Payee,
    PaymentEscalated,
    PaymentRetryRequested,
    ProjectEnded,
    RectificationAccepted,
    RectificationRejected,
    RectificationReportRecorded,
    RectificationReportSubmitted,
    RectificationRequired,
    ReleasePaid,
    TeamRole,
    TeamSuspended,
    Tranche,
)
from shared.contract.events.matching import ExpertRef, TeamAccepted, TitleGrade
from shared.contract.events.orders import ServicePeriod, call_year
from shared.contract.events.reviews import ReviewCompleted
from shared.policy import ProgrammePolicy, format_yuan
from shared.rules import RuleBroken

INCENTIVES: dict[IncentiveKind, str] = {
    "early_title_evaluation": "可提前1年评定上一级职称",
    "talent_programme_priority": "优先纳入人才选拔培养项目",
}
_INCENTIVE_ID_SUFFIX: dict[IncentiveKind, str] = {
    "early_title_evaluation": "title",
    "talent_programme_priority": "talent",
}
TITLE_GRADE_NAMES: dict[TitleGrade, str] = {
    "senior": "正高级",
    "deputy_senior": "副高级",
    "intermediate": "中级",
    "junior": "初级",
}
ROLE_NAMES: dict[TeamRole, str] = {"lead": "领衔专家", "member": "团队成员", "local_talent": "当地人才"}


class GrantStatus(StrEnum):
    HELD = "held"
    OPEN = "open"
    COMPLETE = "complete"
    WITHHELD = "withheld"
    ENDED = "ended"
    """The project ended: after a failed rectification (its withheld money forfeited), or early by the
    bureau's decision (its unreleased money settled by policy, `domain/early_end.py`)."""


class ReleaseStatus(StrEnum):
    INSTRUCTED = "instructed"
    RETRYING = "retrying"
    ESCALATED = "escalated"
    PAID = "paid"


def tranche_schedule(amount_fen: int, percentages: tuple[int, ...]) -> tuple[Tranche, ...]:
    """Split a grant into tranches by percent, in whole fen; the last tranche takes the remainder
    so that the tranches always add up to the grant exactly. The first is paid on acceptance,
    the n-th after the passing review of service year n - 1."""
    amounts = [amount_fen * p // 100 for p in percentages[:-1]]
    amounts.append(amount_fen - sum(amounts))
    return tuple(
        Tranche(
            number=i + 1,
            percent=p,
            amount_fen=a,
            condition="on_acceptance" if i == 0 else "after_passing_review",
            service_year=i or None,
        )
        for i, (p, a) in enumerate(zip(percentages, amounts, strict=True))
    )


def service_years(period: ServicePeriod) -> int:
    """How many yearly reviews a service period has: one per started year (13 months: 2)."""
    return -(-period.months // 12)


@dataclass(frozen=True, slots=True)
class Person:
    """One of the team's fixed people (定人), as accepted: their role and title grade decide the
    incentives they may get."""

    expert_id: str
    name: str
    role: TeamRole
    title_grade: TitleGrade | None = None
    """None: the registry gave no grade (kept as unknown, never guessed)."""
    title: str | None = None
    joined_on: date | None = None
    """None: on the team from the acceptance; a date: joined by an approved member change."""
    left_on: date | None = None
    """None: still on the team; a date: left by an approved member change (free from that day)."""

    @classmethod
    def of(cls, ref: ExpertRef, role: TeamRole, joined_on: date | None = None) -> Person:
        return cls(ref.expert_id, ref.name, role, ref.title_grade, ref.title, joined_on)

    def on_team(self, day: date) -> bool:
        """On the team that day: joined by then and not yet left (the leaving day is a free day)."""
        joined = self.joined_on is None or self.joined_on <= day
        return joined and (self.left_on is None or day < self.left_on)


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    project_id: str
    order_id: str
    team_id: str
    payee: Payee
    lead_expert_id: str
    people: tuple[Person, ...]
    amount_fen: int
    """The grant: the amount the bureau approved (TeamAccepted.approved_fen), else what was asked."""
    budget_year: int
    tranches: tuple[Tranche, ...]
    status: GrantStatus
    released_tranches: int = 0
    """How many tranches of the schedule were released in full (a prefix of `tranches`)."""
    withheld_fen: int = 0
    forfeited_fen: int = 0
    """Money the project lost: withheld money after a failed rectification, or what an early end did
    not release (`returned_fen` of it went back to the budget year's envelope)."""
    asked_fen: int | None = None
    """What the team asked (None: as granted, for grants from before approved amounts)."""
    service_period: ServicePeriod | None = None
    """The service period as it stands (extensions included); None for grants stored before it was kept."""
    ended_on: date | None = None
    """The day an early end took effect (ProjectEndedEarly)."""
    served_share_fen: int = 0
    """Released at an early end: the served share of the current service year's tranche."""
    returned_fen: int = 0
    """Of the forfeited money, what went back to the budget year's envelope (early end)."""
    continued_support_of: str | None = None
    """继续支持: the earlier project with an excellent review this one continues (funded from the same
    envelope; opened first among the held grants when the envelope is raised)."""
    incentives_granted: frozenset[tuple[str, IncentiveKind]] = field(default=frozenset(), compare=False)
    """(expert id, kind) of every incentive this project already granted: once per service period.
    Kept by the incentives themselves (not a change of the grant's own row)."""

    @property
    def released_fen(self) -> int:
        return sum(t.amount_fen for t in self.tranches[: self.released_tranches]) + self.served_share_fen

    @property
    def asked(self) -> int:
        return self.amount_fen if self.asked_fen is None else self.asked_fen

    @property
    def remaining_fen(self) -> int:
        return self.amount_fen - self.released_fen - self.withheld_fen - self.forfeited_fen

    @property
    def next_tranche(self) -> Tranche | None:
        if self.released_tranches < len(self.tranches):
            return self.tranches[self.released_tranches]
        return None


@dataclass(frozen=True, slots=True)
class Release:
    release_id: str
    grant_id: str
    order_id: str
    tranche: int
    amount_fen: int
    status: ReleaseStatus = ReleaseStatus.INSTRUCTED
    attempts: int = 1
    served_share: bool = False
    """The served share of its tranche, released at an early end (release_served_share)."""


def release_id(order_id: str, tranche: int) -> str:
    return f"R-{order_id}-{tranche}"


# ---- opening a grant ---------------------------------------------------------------------------


def granted_amount(accepted: TeamAccepted, policy: ProgrammePolicy) -> int:
    """The grant: the amount the bureau approved (None: the ask stands), within the policy's range and
    at most what the team asked."""
    asked = accepted.funding_asked_fen
    amount = asked if accepted.approved_fen is None else accepted.approved_fen
    what = "asks" if accepted.approved_fen is None else f"asked {format_yuan(asked)} and was approved"
    if not policy.funding_min_fen <= amount <= policy.funding_max_fen:
        raise RuleBroken(
            "funding_out_of_range",
            f"project {accepted.project_id} {what} {format_yuan(amount)}, outside "
            f"{format_yuan(policy.funding_min_fen)} to {format_yuan(policy.funding_max_fen)}",
        )
    if amount > asked:
        raise RuleBroken(
            "approved_above_asked",
            f"project {accepted.project_id} asked {format_yuan(asked)}; "
            f"the bureau cannot approve {format_yuan(amount)}",
        )
    return amount


def new_grant(accepted: TeamAccepted, policy: ProgrammePolicy) -> Grant:
    """The grant of a project at the amount the bureau approved, before the envelope is checked."""
    amount = granted_amount(accepted, policy)
    budget_year = call_year(accepted.call)
    if budget_year is None:
        raise RuleBroken(
            "call_without_year",
            f"project {accepted.project_id} was awarded in call {accepted.call!r}, which names no year "
            "(calls are named after their budget year, e.g. 2027年第一批)",
        )
    people = (
        Person.of(accepted.lead, "lead"),
        *(Person.of(m, "member") for m in accepted.members),
        *(Person.of(m, "local_talent") for m in accepted.local_talents),
    )
    return Grant(
        grant_id=f"G-{accepted.order_id}",
        project_id=accepted.project_id,
        order_id=accepted.order_id,
        team_id=accepted.team_id,
        payee=Payee(
            team_id=accepted.team_id,
            team_name=accepted.team_name,
            lead_name=accepted.lead.name,
            institution=accepted.lead.institution,
        ),
        lead_expert_id=accepted.lead.expert_id,
        people=people,
        amount_fen=amount,
        budget_year=budget_year,  # the call's year (DOMAIN.md), whenever the service starts
        tranches=tranche_schedule(amount, policy.tranche_percentages(service_years(accepted.service_period))),
        status=GrantStatus.HELD,
        continued_support_of=accepted.continued_support_of,
        asked_fen=accepted.funding_asked_fen,
        service_period=accepted.service_period,
    )


@dataclass(frozen=True, slots=True)
class Opened:
    grant: Grant
    opened: GrantOpened
    release: Release
    released: FundingReleased


def decide_envelope(grant: Grant, envelope_fen: int, committed_fen: int, now: datetime) -> Opened | GrantHeld:
    """Open the grant if it fits what is left of the year's envelope; otherwise hold it with the reason."""
    available = envelope_fen - committed_fen
    if grant.amount_fen > available:
        return GrantHeld(
            grant_id=grant.grant_id,
            project_id=grant.project_id,
            order_id=grant.order_id,
            team_id=grant.team_id,
            amount_fen=grant.amount_fen,
            budget_year=grant.budget_year,
            envelope_fen=envelope_fen,
            committed_fen=committed_fen,
            reason=(
                f"the {grant.budget_year} envelope of {format_yuan(envelope_fen)} has {format_yuan(max(available, 0))} "
                f"left; this grant needs {format_yuan(grant.amount_fen)}{_asked(grant)}"
            ),
            held_at=now,
            continued_support_of=grant.continued_support_of,
            asked_fen=grant.asked,
        )
    return open_grant(grant, now)


def _asked(grant: Grant) -> str:
    """' (asked 150,000.00 元, approved 120,000.00 元)' when the bureau approved less than the ask."""
    if grant.asked == grant.amount_fen:
        return ""
    return f" (asked {format_yuan(grant.asked)}, approved {format_yuan(grant.amount_fen)})"


def opening_order(held: list[Grant]) -> list[Grant]:
    """The order in which held grants are opened when their year's envelope is raised:
    continued-support grants (继续支持: an excellent team's next project) first, then the others,
    each group in the order given (the order the grants were held)."""
    return sorted(held, key=lambda grant: grant.continued_support_of is None)


def open_held(held: list[Grant], envelope_fen: int, committed_fen: int, now: datetime) -> list[Opened]:
    """The held grants of one year that fit a raised envelope, in `opening_order`: each one that fits
    what is left opens; one that does not stays held and the next is tried. No extra money: a
    continued-support grant is funded from the same envelope as every other grant of its year."""
    opened = []
    for grant in opening_order(held):
        if grant.amount_fen > envelope_fen - committed_fen:
            continue
        opened.append(open_grant(grant, now))
        committed_fen += grant.amount_fen
    return opened


def open_grant(grant: Grant, now: datetime) -> Opened:
    if grant.status is not GrantStatus.HELD:
        raise RuleBroken("grant_already_open", f"grant {grant.grant_id} is {grant.status}")
    opened = GrantOpened(
        grant_id=grant.grant_id,
        project_id=grant.project_id,
        order_id=grant.order_id,
        team_id=grant.team_id,
        amount_fen=grant.amount_fen,
        budget_year=grant.budget_year,
        tranches=grant.tranches,
        opened_at=now,
        continued_support_of=grant.continued_support_of,
        asked_fen=grant.asked,
    )
    grant = replace(grant, status=GrantStatus.OPEN)
    grant, release, released = release_next(grant, "项目承接：首期资金 (on acceptance)", now)
    return Opened(grant, opened, release, released)


def release_next(grant: Grant, reason: str, now: datetime) -> tuple[Grant, Release, FundingReleased]:
    tranche = grant.next_tranche
    if grant.status is not GrantStatus.OPEN or tranche is None:
        raise RuleBroken("nothing_to_release", f"grant {grant.grant_id} is {grant.status} with no tranche left")
    release = Release(
        release_id=release_id(grant.order_id, tranche.number),
        grant_id=grant.grant_id,
        order_id=grant.order_id,
        tranche=tranche.number,
        amount_fen=tranche.amount_fen,
    )
    released = FundingReleased(
        release_id=release.release_id,
        grant_id=grant.grant_id,
        project_id=grant.project_id,
        order_id=grant.order_id,
        tranche=tranche.number,
        amount_fen=tranche.amount_fen,
        payee=grant.payee,
        reason=reason,
        released_at=now,
    )
    count = grant.released_tranches + 1
    status = GrantStatus.COMPLETE if count == len(grant.tranches) else GrantStatus.OPEN
    return replace(grant, released_tranches=count, status=status), release, released


# ---- payments ----------------------------------------------------------------------------------


def confirm_payment(release: Release, amount_fen: int, reference: str, paid_on: date) -> tuple[Release, ReleasePaid]:
    if release.status is ReleaseStatus.PAID:
        raise RuleBroken("already_paid", f"release {release.release_id} was already paid")
    if amount_fen != release.amount_fen:
        raise RuleBroken(
            "amount_mismatch",
            f"release {release.release_id} is {format_yuan(release.amount_fen)}; the treasury reports "
            f"{format_yuan(amount_fen)}",
        )
    paid = ReleasePaid(
        release_id=release.release_id,
        grant_id=release.grant_id,
        order_id=release.order_id,
        amount_fen=amount_fen,
        payment_reference=reference,
        paid_on=paid_on,
    )
    return replace(release, status=ReleaseStatus.PAID), paid


def payment_failed(
    release: Release, reason: str, retryable: bool, policy: ProgrammePolicy, now: datetime
) -> tuple[Release, PaymentRetryRequested | PaymentEscalated]:
    if release.status is ReleaseStatus.PAID:
        raise RuleBroken("already_paid", f"release {release.release_id} was already paid")
    if retryable and release.attempts < policy.payment_max_attempts:
        attempt = release.attempts + 1
        retry = PaymentRetryRequested(
            release_id=release.release_id,
            order_id=release.order_id,
            attempt=attempt,
            amount_fen=release.amount_fen,
            previous_failure=reason,
            requested_at=now,
        )
        return replace(release, status=ReleaseStatus.RETRYING, attempts=attempt), retry
    escalated = PaymentEscalated(
        release_id=release.release_id,
        order_id=release.order_id,
        attempts=release.attempts,
        amount_fen=release.amount_fen,
        last_failure=reason,
        escalated_at=now,
    )
    return replace(release, status=ReleaseStatus.ESCALATED), escalated


# ---- the consequences of a yearly review --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Consequences:
    grant: Grant
    release: tuple[Release, FundingReleased] | None = None
    incentives: tuple[IncentiveGranted, ...] = ()
    incentives_decided: IncentivesDecided | None = None
    continued_funding: ContinuedFundingEligible | None = None
    withheld: FundingWithheld | None = None
    rectification: RectificationRequired | None = None
    suspension: TeamSuspended | None = None
    summary: list[str] = field(default_factory=list)


def consequences_of(review: ReviewCompleted, grant: Grant, policy: ProgrammePolicy, now: datetime) -> Consequences:
    """What each grade means (DOMAIN.md, step 5)."""
    if grant.status is GrantStatus.HELD:
        raise RuleBroken("grant_held", f"grant {grant.grant_id} is held for budget; no review consequence applies yet")
    if grant.status is GrantStatus.ENDED:
        raise RuleBroken("project_ended", f"project {grant.project_id} has ended; no review consequence applies")
    if review.grade == "unqualified":
        return _unqualified(review, grant, policy, now)
    consequences = Consequences(grant=grant)
    summary = []
    if grant.status is GrantStatus.OPEN and grant.next_tranche is not None:
        tranche = grant.next_tranche
        grant, release, released = release_next(
            grant, f"{review.year}年度考核{_GRADE_NAME[review.grade]}：第{tranche.number}期资金", now
        )
        consequences = replace(consequences, grant=grant, release=(release, released))
        summary.append(f"tranche {tranche.number} released ({format_yuan(tranche.amount_fen)})")
    grant, decided, incentives = decide_incentives(review, grant, policy, now)
    consequences = replace(consequences, grant=grant, incentives=incentives, incentives_decided=decided)
    summary.append(
        f"{len(incentives)} incentives granted of {len(decided.decisions)} decided for {len(grant.people)} people"
    )
    if review.grade == "excellent":
        eligible = ContinuedFundingEligible(
            team_id=grant.team_id,
            order_id=grant.order_id,
            project_id=grant.project_id,
            review_id=review.review_id,
            year=review.year,
            eligible_at=now,
        )
        consequences = replace(consequences, continued_funding=eligible)
        summary.append("eligible for continued funding")
    return replace(consequences, summary=summary)


_GRADE_NAME = {"excellent": "优秀", "qualified": "合格", "unqualified": "不合格"}


def incentive_id(order_id: str, expert_id: str, kind: IncentiveKind) -> str:
    """One per person, kind and project (the order's grant): whatever review grants it."""
    return f"I-{order_id}-{expert_id}-{_INCENTIVE_ID_SUFFIX[kind]}"


def decide_incentives(
    review: ReviewCompleted, grant: Grant, policy: ProgrammePolicy, now: datetime
) -> tuple[Grant, IncentivesDecided, tuple[IncentiveGranted, ...]]:
    """Every person and every kind of incentive after one review (DOMAIN.md, "Funding and
    incentives"): granted when the review passed, the policy makes the person eligible and the
    project has not granted it to them yet (once per service period); otherwise the reason.
    Who: the people on the team on the review's date (a Chongqing date: `review_date`), after the
    approved member changes; one who left before gets none, with the day they left."""
    decisions, granted = [], []
    on = review_date(review)
    for person in grant.people:
        for kind, label in INCENTIVES.items():
            why_not = _why_not(review, person, kind, grant, policy, on)
            if why_not is not None:
                decisions.append(_decision(person, kind, granted=False, reason=why_not))
                continue
            assert review.grade != "unqualified"
            incentive = IncentiveGranted(
                incentive_id=incentive_id(grant.order_id, person.expert_id, kind),
                expert_id=person.expert_id,
                expert_name=person.name,
                kind=kind,
                project_id=grant.project_id,
                order_id=grant.order_id,
                review_id=review.review_id,
                grade=review.grade,
                reason=f"{review.year}年度考核{_GRADE_NAME[review.grade]}，{person.name}"
                f"（{_who(person)}）基层服务：{label}",
                granted_at=now,
            )
            granted.append(incentive)
            decisions.append(
                _decision(person, kind, granted=True, reason=incentive.reason, incentive_id=incentive.incentive_id)
            )
    decided = IncentivesDecided(
        order_id=grant.order_id,
        project_id=grant.project_id,
        team_id=grant.team_id,
        review_id=review.review_id,
        year=review.year,
        grade=review.grade,
        decisions=tuple(decisions),
        granted=len(granted),
        decided_at=now,
    )
    if granted:
        grant = replace(grant, incentives_granted=grant.incentives_granted | {(i.expert_id, i.kind) for i in granted})
    return grant, decided, tuple(granted)


def review_date(review: ReviewCompleted) -> date:
    """The day whose team gets a review's incentives: the Chongqing date the review was completed."""
    return local_date(review.completed_at)


def _why_not(
    review: ReviewCompleted, person: Person, kind: IncentiveKind, grant: Grant, policy: ProgrammePolicy, on: date
) -> str | None:
    """Why this person does not get this incentive after this review; None: they do."""
    if review.grade == "unqualified":
        return f"{review.year}年度考核不合格：不授予激励"
    if not person.on_team(on):
        if person.left_on is not None and person.left_on <= on:
            return f"{person.left_on}已离开团队：left the team on {person.left_on}"
        return f"{person.joined_on}方加入团队：joined the team on {person.joined_on}, after the review ({on})"
    if (person.expert_id, kind) in grant.incentives_granted:
        return f"本服务期已获得（项目 {grant.project_id}）"
    if kind == "early_title_evaluation":
        grade = person.title_grade
        if grade is None:
            return "职称级别未知：不能认定可提前评定的上一级职称"
        if grade not in policy.early_title_evaluation_grades:
            if grade == "senior":
                return "正高级：已是最高职称"
            return f"{TITLE_GRADE_NAMES[grade]}：不在 early_title_evaluation_grades 之内"
        return None
    if person.role not in policy.talent_priority_roles:
        roles = "、".join(ROLE_NAMES[r] for r in policy.talent_priority_roles) or "无"
        return f"{ROLE_NAMES[person.role]}：not in talent_priority_roles（仅{roles}）"
    return None


def _who(person: Person) -> str:
    grade = TITLE_GRADE_NAMES[person.title_grade] if person.title_grade else "职称级别未知"
    return f"{ROLE_NAMES[person.role]}，{grade}"


def _decision(
    person: Person, kind: IncentiveKind, *, granted: bool, reason: str, incentive_id: str | None = None
) -> IncentiveDecision:
    return IncentiveDecision(
        expert_id=person.expert_id,
        expert_name=person.name,
        role=person.role,
        title_grade=person.title_grade,
        kind=kind,
        granted=granted,
        incentive_id=incentive_id,
        reason=reason,
    )


def _unqualified(review: ReviewCompleted, grant: Grant, policy: ProgrammePolicy, now: datetime) -> Consequences:
    today = local_date(now)
    withheld = None
    remaining = grant.remaining_fen
    if remaining > 0:
        withheld = FundingWithheld(
            grant_id=grant.grant_id,
            order_id=grant.order_id,
            review_id=review.review_id,
            amount_fen=remaining,
            reason=f"{review.year}年度考核不合格：剩余资金暂缓拨付 ({review.reason})",
            withheld_at=now,
        )
        grant = replace(grant, withheld_fen=grant.withheld_fen + remaining, status=GrantStatus.WITHHELD)
    rectification = RectificationRequired(
        order_id=grant.order_id,
        project_id=grant.project_id,
        team_id=grant.team_id,
        review_id=review.review_id,
        deadline=today + timedelta(days=policy.rectification_days),
        reason=f"{review.year}年度考核不合格，限期整改：{review.reason}",
        required_at=now,
    )
    suspension = TeamSuspended(
        team_id=grant.team_id,
        lead_expert_id=grant.lead_expert_id,
        order_id=grant.order_id,
        review_id=review.review_id,
        suspended_from=today,
        suspended_until=today + timedelta(days=policy.suspension_days),
        reason=f"{review.year}年度考核不合格，暂停申报资格{policy.suspension_days}天",
        suspended_at=now,
    )
    grant, decided, _ = decide_incentives(review, grant, policy, now)  # none granted: the reasons say so
    summary = [
        f"{format_yuan(remaining)} withheld" if withheld else "nothing left to withhold",
        f"rectify by {rectification.deadline}",
        f"team and lead suspended until {suspension.suspended_until}",
        "no incentives",
    ]
    return Consequences(
        grant=grant,
        withheld=withheld,
        rectification=rectification,
        suspension=suspension,
        incentives_decided=decided,
        summary=summary,
    )


# ---- rectification (限期整改) ---------------------------------------------------------------------


class RectificationStatus(StrEnum):
    OPEN = "open"
    """Required; no report yet."""
    SUBMITTED = "submitted"
    """The team's report arrived by the deadline; the bureau has not decided."""
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    MISSED = "missed"
    """No report by the deadline: the project ended."""


@dataclass(frozen=True, slots=True)
class Rectification:
    review_id: str
    order_id: str
    team_id: str
    deadline: date
    year: int | None
    """The year of the unqualified review (None only for rectifications recorded before it was kept)."""
    status: RectificationStatus = RectificationStatus.OPEN
    report_summary: str | None = None
    submitted_by: str | None = None
    submitted_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    decided_at: datetime | None = None


def rectification_of(required: RectificationRequired, year: int) -> Rectification:
    return Rectification(
        review_id=required.review_id,
        order_id=required.order_id,
        team_id=required.team_id,
        deadline=required.deadline,
        year=year,
    )


def _required(rectification: Rectification | None, order_id: str, review_id: str) -> Rectification:
    if rectification is None or rectification.order_id != order_id:
        raise RuleBroken(
            "no_open_rectification", f"order {order_id} has no rectification required by review {review_id}"
        )
    if rectification.status in (RectificationStatus.ACCEPTED, RectificationStatus.REJECTED):
        raise RuleBroken(
            "rectification_already_decided",
            f"the rectification of review {review_id} was already {rectification.status} by {rectification.decided_by}",
            answer=f"the rectification of review {review_id} was already {rectification.status} by the bureau",
        )
    if rectification.status is RectificationStatus.MISSED:
        raise RuleBroken(
            "rectification_already_decided",
            f"the rectification of review {review_id} failed: no report by {rectification.deadline}; the project ended",
        )
    return rectification


def submit_rectification_report(
    grant: Grant, rectification: Rectification | None, report: RectificationReportSubmitted, now: datetime
) -> tuple[Rectification, RectificationReportRecorded]:
    """The team's report, accepted until the deadline day (a Chongqing date) inclusive, once."""
    rectification = _required(rectification, report.order_id, report.review_id)
    if rectification.status is RectificationStatus.SUBMITTED:
        raise RuleBroken(
            "rectification_already_submitted",
            f"the rectification report for review {report.review_id} was already submitted by "
            f"{rectification.submitted_by}; it waits for the bureau's decision",
            answer=f"the rectification report for review {report.review_id} was already submitted; it waits for "
            "the bureau's decision",
        )
    today = local_date(now)
    if today > rectification.deadline:
        raise RuleBroken(
            "rectification_deadline_passed",
            f"the rectification of review {report.review_id} was due by {rectification.deadline}; today is {today}",
        )
    rectification = replace(
        rectification,
        status=RectificationStatus.SUBMITTED,
        report_summary=report.summary,
        submitted_by=report.submitted_by,
        submitted_at=now,
    )
    recorded = RectificationReportRecorded(
        order_id=grant.order_id,
        project_id=grant.project_id,
        team_id=rectification.team_id,
        review_id=rectification.review_id,
        deadline=rectification.deadline,
        submitted_by=report.submitted_by,
        recorded_at=now,
    )
    return rectification, recorded


@dataclass(frozen=True, slots=True)
class RectificationDecided:
    rectification: Rectification
    grant: Grant
    decided: RectificationAccepted | RectificationRejected
    restored_fen: int = 0
    """Withheld money committed to the grant again (accepted)."""
    release: tuple[Release, FundingReleased] | None = None
    """The failed year's tranche, released again (accepted)."""
    ended: ProjectEnded | None = None
    """The project's end, its withheld money forfeited (rejected)."""


def decide_rectification(
    grant: Grant, rectification: Rectification | None, decision: DecideRectification, now: datetime
) -> RectificationDecided:
    """The bureau's decision on a submitted report: accepted restores the withheld money and releases
    the failed year's tranche (later years' tranches wait for their reviews); rejected ends the project."""
    rectification = _required(rectification, decision.order_id, decision.review_id)
    if rectification.status is not RectificationStatus.SUBMITTED:
        raise RuleBroken(
            "no_rectification_report",
            f"the team has not submitted its rectification report for review {decision.review_id} "
            f"(due by {rectification.deadline})",
        )
    if grant.status is GrantStatus.ENDED:
        raise RuleBroken("project_ended", f"project {grant.project_id} has already ended")
    rectification = replace(
        rectification,
        status=RectificationStatus.ACCEPTED if decision.accepted else RectificationStatus.REJECTED,
        decided_by=decision.decided_by,
        decision_reason=decision.reason,
        decided_at=now,
    )
    if not decision.accepted:
        rejected = RectificationRejected(
            order_id=grant.order_id,
            project_id=grant.project_id,
            team_id=grant.team_id,
            review_id=rectification.review_id,
            reason=decision.reason,
            decided_by=decision.decided_by,
            decided_at=now,
        )
        grant, ended = end_project(grant, rectification.review_id, f"rectification rejected: {decision.reason}", now)
        return RectificationDecided(rectification, grant, rejected, ended=ended)
    restored = grant.withheld_fen
    release = None
    if restored > 0:
        status = GrantStatus.OPEN if grant.status is GrantStatus.WITHHELD else grant.status
        grant = replace(grant, withheld_fen=0, status=status)
        tranche = grant.next_tranche
        if grant.status is GrantStatus.OPEN and tranche is not None:
            year = f"{rectification.year}年度" if rectification.year else ""
            grant, instructed, released = release_next(grant, f"{year}整改通过：第{tranche.number}期资金", now)
            release = (instructed, released)
    accepted = RectificationAccepted(
        order_id=grant.order_id,
        project_id=grant.project_id,
        team_id=grant.team_id,
        review_id=rectification.review_id,
        restored_fen=restored,
        reason=decision.reason,
        decided_by=decision.decided_by,
        decided_at=now,
    )
    return RectificationDecided(rectification, grant, accepted, restored_fen=restored, release=release)


def end_project(grant: Grant, review_id: str, reason: str, now: datetime) -> tuple[Grant, ProjectEnded]:
    """The project ends: what was withheld is forfeited (ledger: withheld -> forfeited)."""
    if grant.status is GrantStatus.ENDED:
        raise RuleBroken("project_ended", f"project {grant.project_id} has already ended")
    forfeited = grant.withheld_fen
    grant = replace(grant, withheld_fen=0, forfeited_fen=grant.forfeited_fen + forfeited, status=GrantStatus.ENDED)
    ended = ProjectEnded(
        order_id=grant.order_id,
        project_id=grant.project_id,
        team_id=grant.team_id,
        review_id=review_id,
        reason=reason,
        forfeited_fen=forfeited,
        ended_at=now,
    )
    return grant, ended


def miss_deadline(
    grant: Grant, rectification: Rectification, now: datetime
) -> tuple[Rectification, Grant, ProjectEnded | None] | None:
    """An open rectification whose deadline (a Chongqing date) has passed without a report ends the
    project; None when it is not (or no longer) due. A project already ended only closes it."""
    if rectification.status is not RectificationStatus.OPEN or local_date(now) <= rectification.deadline:
        return None
    rectification = replace(rectification, status=RectificationStatus.MISSED, decided_at=now)
    if grant.status is GrantStatus.ENDED:
        return rectification, grant, None
    grant, ended = end_project(
        grant, rectification.review_id, f"no rectification report by {rectification.deadline}", now
    )
    return rectification, grant, ended
