"""Events of grants, releases, payments, consequences of the yearly review, and incentives."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from .base import EventData, Fen, Name, OrderId, Text, Value
from .matching import ExpertId, TeamId, TitleGrade
from .orders import ServicePeriod

GrantId = Annotated[str, Field(min_length=1, max_length=80, description="G-<order id>")]
ReleaseId = Annotated[str, Field(min_length=1, max_length=80, description="R-<order id>-<tranche>")]
IncentiveKind = Literal["early_title_evaluation", "talent_programme_priority"]
TeamRole = Literal["lead", "member", "local_talent"]
"""A person's place in a "1+N+1" team: the lead expert, a member the lead recruited, local talent."""
ContinuedSupportOf = Annotated[
    Name | None,
    Field(
        description="继续支持: the earlier project (with an excellent review) this project continues; such a grant "
        "is funded from the same budget-year envelope and, when held, is opened first when the envelope is raised"
    ),
]


# ---- sent in by the treasury and bureau staff -------------------------------------------------


class PaymentConfirmed(EventData):
    """The treasury paid a release."""

    EVENT_TYPE = "PaymentConfirmed"
    release_id: ReleaseId
    amount_fen: Fen
    payment_reference: Name
    paid_on: date

    def subject(self) -> str:
        return self.release_id


class PaymentFailed(EventData):
    """The treasury could not pay a release (e.g. the payee's account was rejected)."""

    EVENT_TYPE = "PaymentFailed"
    release_id: ReleaseId
    reason: Text
    retryable: bool = True

    def subject(self) -> str:
        return self.release_id


class SetBudgetEnvelope(EventData):
    """Bureau staff set the programme's budget envelope for a year; held grants that now fit open."""

    EVENT_TYPE = "SetBudgetEnvelope"
    year: int = Field(ge=2019, le=2100)
    amount_fen: Fen
    set_by: Name

    def subject(self) -> str:
        return f"budget-{self.year}"


class RectificationReportSubmitted(EventData):
    """限期整改: a team, through the portal, reports how it rectified after an unqualified review.
    Accepted until the rectification deadline (a Chongqing date; the deadline day itself counts)."""

    EVENT_TYPE = "RectificationReportSubmitted"
    order_id: OrderId
    review_id: Name = Field(description="The unqualified review that required the rectification")
    summary: Text = Field(description="What the team rectified, in words")
    submitted_by: Name

    def subject(self) -> str:
        return self.order_id


class DecideRectification(EventData):
    """Bureau staff decide a submitted rectification report: accepted releases the withheld money
    again (the failed year's tranche is released); rejected ends the project and forfeits it."""

    EVENT_TYPE = "DecideRectification"
    order_id: OrderId
    review_id: Name
    accepted: bool
    reason: Text
    decided_by: Name

    def subject(self) -> str:
        return self.order_id


# ---- emitted by funding ------------------------------------------------------------------------


class BudgetEnvelopeSet(EventData):
    """The year's envelope as the bureau set it, and what is committed against it."""

    EVENT_TYPE = "BudgetEnvelopeSet"
    year: int
    envelope_fen: Fen
    committed_fen: Fen
    set_by: Name
    set_at: AwareDatetime

    def subject(self) -> str:
        return f"budget-{self.year}"


class Tranche(Value):
    number: int = Field(ge=1)
    percent: int = Field(ge=1, le=100)
    amount_fen: Fen
    condition: Literal["on_acceptance", "after_passing_review"]
    service_year: int | None = Field(
        default=None, ge=1, le=10, description="The service year whose passing review releases it (none: on acceptance)"
    )


class GrantOpened(EventData):
    """A project's grant is approved within the year's budget envelope; its tranche schedule. The grant
    (`amount_fen`) is the amount the bureau approved, `asked_fen` what the team asked."""

    EVENT_TYPE = "GrantOpened"
    grant_id: GrantId
    project_id: Name
    order_id: OrderId
    team_id: TeamId
    amount_fen: Fen
    budget_year: int
    tranches: tuple[Tranche, ...]
    opened_at: AwareDatetime
    continued_support_of: ContinuedSupportOf = None
    asked_fen: Fen | None = Field(
        default=None,
        description="What the team asked; amount_fen is the grant the bureau approved (TeamAccepted.approved_fen, "
        "or the ask when it approved no other amount). None: sent before approved amounts, the ask was the grant",
    )

    def subject(self) -> str:
        return self.order_id


class GrantHeld(EventData):
    """A grant that would exceed the year's budget envelope: held, with the reason, until the
    bureau raises the envelope (never silently approved)."""

    EVENT_TYPE = "GrantHeld"
    grant_id: GrantId
    project_id: Name
    order_id: OrderId
    team_id: TeamId
    amount_fen: Fen
    budget_year: int
    envelope_fen: Fen
    committed_fen: Fen
    reason: Text
    held_at: AwareDatetime
    continued_support_of: ContinuedSupportOf = None
    asked_fen: Fen | None = Field(
        default=None,
        description="What the team asked; amount_fen is the grant the bureau approved (TeamAccepted.approved_fen, "
        "or the ask when it approved no other amount). None: sent before approved amounts, the ask was the grant",
    )

    def subject(self) -> str:
        return self.order_id


class Payee(Value):
    team_id: TeamId
    team_name: Name
    lead_name: Name
    institution: Name


class FundingReleased(EventData):
    """A tranche is released: the payment instruction for the treasury (design-card event).
    Emitted once per release; retries of the payment are PaymentRetryRequested."""

    EVENT_TYPE = "FundingReleased"
    release_id: ReleaseId
    grant_id: GrantId
    project_id: Name
    order_id: OrderId
    tranche: int = Field(ge=1)
    amount_fen: Fen
    payee: Payee
    reason: Text
    released_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class PaymentRetryRequested(EventData):
    """The treasury should try a failed payment again (per policy, bounded attempts)."""

    EVENT_TYPE = "PaymentRetryRequested"
    release_id: ReleaseId
    order_id: OrderId
    attempt: int = Field(ge=2)
    amount_fen: Fen
    previous_failure: Text
    requested_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class PaymentEscalated(EventData):
    """A payment failed on every attempt (or cannot be retried): bureau staff must act."""

    EVENT_TYPE = "PaymentEscalated"
    release_id: ReleaseId
    order_id: OrderId
    attempts: int
    amount_fen: Fen
    last_failure: Text
    escalated_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class ReleasePaid(EventData):
    """The treasury confirmed the payment of a release; the release is closed."""

    EVENT_TYPE = "ReleasePaid"
    release_id: ReleaseId
    grant_id: GrantId
    order_id: OrderId
    amount_fen: Fen
    payment_reference: Name
    paid_on: date

    def subject(self) -> str:
        return self.order_id


class FundingWithheld(EventData):
    """After an unqualified review the grant's remaining tranches are withheld."""

    EVENT_TYPE = "FundingWithheld"
    grant_id: GrantId
    order_id: OrderId
    review_id: Name
    amount_fen: Fen
    reason: Text
    withheld_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class RectificationRequired(EventData):
    """限期整改: the team must rectify by the deadline (policy, default 90 days after the review)."""

    EVENT_TYPE = "RectificationRequired"
    order_id: OrderId
    project_id: Name
    team_id: TeamId
    review_id: Name
    deadline: date
    reason: Text
    required_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class ContinuedFundingEligible(EventData):
    """An excellent review: the team may apply for continued funding (可申请持续资助)."""

    EVENT_TYPE = "ContinuedFundingEligible"
    team_id: TeamId
    order_id: OrderId
    project_id: Name
    review_id: Name
    year: int
    eligible_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class IncentiveGranted(EventData):
    """A per-expert incentive, for the professional-title and talent-programme systems to act on:
    granted at the project's first passing review to the people the policy makes eligible, once per
    person, kind and project (the id is per project, not per review). IncentivesDecided says who
    got what and why not."""

    EVENT_TYPE = "IncentiveGranted"
    incentive_id: Name
    expert_id: ExpertId
    expert_name: Name
    kind: IncentiveKind = Field(
        description="early_title_evaluation: 提前1年评定上一级职称; talent_programme_priority: 优先纳入人才选拔培养项目"
    )
    project_id: Name
    order_id: OrderId
    review_id: Name
    grade: Literal["excellent", "qualified"]
    reason: Text
    granted_at: AwareDatetime

    def subject(self) -> str:
        return self.expert_id


class IncentiveDecision(Value):
    """One person, one kind of incentive: granted or not, and why, in words."""

    expert_id: ExpertId
    expert_name: Name
    role: TeamRole
    title_grade: TitleGrade | None = Field(description="The title grade the team was accepted with (None: unknown)")
    kind: IncentiveKind
    granted: bool
    incentive_id: Name | None = Field(default=None, description="The IncentiveGranted's id when granted")
    reason: Text = Field(description="Why granted or not, e.g. 正高级：已是最高职称; 本服务期已获得; 职称级别未知")


class IncentivesDecided(EventData):
    """Funding's incentive decision for every person of the team and every kind of incentive after
    one applied yearly review (one event per review, unqualified reviews included: nothing is granted
    then). The granted ones are also sent as IncentiveGranted, the event partners act on."""

    EVENT_TYPE = "IncentivesDecided"
    order_id: OrderId
    project_id: Name
    team_id: TeamId
    review_id: Name
    year: int
    grade: Literal["excellent", "qualified", "unqualified"]
    decisions: tuple[IncentiveDecision, ...]
    granted: int = Field(ge=0, description="How many of the decisions granted an incentive")
    decided_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class TeamSuspended(EventData):
    """After an unqualified yearly review the team and its lead may not apply for a period
    (暂停1年申报资格)."""

    EVENT_TYPE = "TeamSuspended"
    team_id: TeamId
    lead_expert_id: ExpertId
    order_id: OrderId
    review_id: Name
    suspended_from: date
    suspended_until: date = Field(description="First day on which the team may apply again")
    reason: Text
    suspended_at: AwareDatetime

    def subject(self) -> str:
        return self.team_id


class SuspensionLifted(EventData):
    """The suspension ended on its date: the team and its lead may apply again."""

    EVENT_TYPE = "SuspensionLifted"
    team_id: TeamId
    lead_expert_id: ExpertId
    review_id: Name
    lifted_on: date
    lifted_at: AwareDatetime

    def subject(self) -> str:
        return self.team_id


class RectificationReportRecorded(EventData):
    """The team's rectification report arrived in time; it waits for the bureau's decision."""

    EVENT_TYPE = "RectificationReportRecorded"
    order_id: OrderId
    project_id: Name
    team_id: TeamId
    review_id: Name
    deadline: date
    submitted_by: Name
    recorded_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class RectificationAccepted(EventData):
    """The bureau accepted the rectification: the withheld money is restored to the grant and the
    failed year's tranche released (FundingReleased follows); the suspension stays."""

    EVENT_TYPE = "RectificationAccepted"
    order_id: OrderId
    project_id: Name
    team_id: TeamId
    review_id: Name
    restored_fen: Fen = Field(description="Withheld money committed to the grant again")
    reason: Text
    decided_by: Name
    decided_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class RectificationRejected(EventData):
    """The bureau rejected the rectification: the project ends (ProjectEnded follows)."""

    EVENT_TYPE = "RectificationRejected"
    order_id: OrderId
    project_id: Name
    team_id: TeamId
    review_id: Name
    reason: Text
    decided_by: Name
    decided_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class ProjectEnded(EventData):
    """The project ends early after a failed rectification (rejected, or no report by the
    deadline): the withheld money is forfeited and no later tranche is released."""

    EVENT_TYPE = "ProjectEnded"
    order_id: OrderId
    project_id: Name
    team_id: TeamId
    review_id: Name = Field(description="The unqualified review whose rectification failed")
    reason: Text
    forfeited_fen: Fen
    ended_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class GrantSettled(EventData):
    """A project the bureau ended early (ProjectEndedEarly): the grant's money not yet released is
    settled by the policy `early_end_unreleased_money` and no tranche is released after this.
    `forfeit`: everything not yet released (withheld money too) is forfeited and goes back to the
    budget year's envelope; `release_served_share`: the current service year's tranche is released
    pro rata to the days served by `ended_on` (a FundingReleased follows), the rest forfeited.
    released_before_fen + released_fen + forfeited_fen = granted_fen."""

    EVENT_TYPE = "GrantSettled"
    grant_id: GrantId
    project_id: Name
    order_id: OrderId
    team_id: TeamId
    budget_year: int
    ended_on: date
    rule: Literal["forfeit", "release_served_share"] = Field(description="The policy early_end_unreleased_money")
    granted_fen: Fen = Field(description="The grant (the approved amount)")
    released_before_fen: Fen = Field(description="Released before the end")
    released_fen: Fen = Field(description="Released now: the served share of the current service year (or 0)")
    forfeited_fen: Fen = Field(description="Not released, withheld money included: forfeited")
    returned_to_budget_fen: Fen = Field(
        description="Of the forfeited money, what went back to the budget year's envelope"
    )
    service_year: int | None = Field(default=None, description="The service year in which the project ended")
    days_served: int | None = Field(default=None, description="Days of that service year served by ended_on")
    days_in_service_year: int | None = None
    reason: Text = Field(description="The bureau's reason and how the money was settled, in words")
    settled_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class GrantRescheduled(EventData):
    """A project's service period was extended (ProjectExtended): the grant's total stays the same; the
    tranches not yet released are spread evenly over the service years that remain (the last takes what
    division leaves). `tranches` is the whole schedule as it now stands (released tranches unchanged)."""

    EVENT_TYPE = "GrantRescheduled"
    grant_id: GrantId
    project_id: Name
    order_id: OrderId
    team_id: TeamId
    amount_fen: Fen
    budget_year: int
    service_period: ServicePeriod
    previous_months: int
    tranches: tuple[Tranche, ...]
    reason: Text
    rescheduled_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id
