"""Events of experts, teams and applications: what the talent registry, the application
portal and bureau staff send to matching, and what matching emits (TeamAccepted among them)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from .base import CountyCode, EventData, Fen, Name, OrderId, Tag, Text, Value
from .orders import Place, ServicePeriod

ExpertId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,39}$"),
    Field(description="Expert id assigned by the talent registry, e.g. EXP-000123"),
]
TeamId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,39}$"),
    Field(description="Team id, stable across years (suspensions apply to it), e.g. TEAM-guo-shunxing"),
]
ApplicationId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,59}$"),
    Field(description="Application id assigned by the portal"),
]
ObjectionId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,59}$"),
    Field(description="Objection id assigned by the portal, e.g. OBJ-500240-2027-001-1"),
]
ChangeId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,59}$"),
    Field(description="Member change id assigned by the portal, e.g. CHG-500240-2027-001-1"),
]
ProjectId = Annotated[str, Field(min_length=1, max_length=120, description="A project: one order taken by one team")]
QualificationCode = Literal[
    "national_talent_project",
    "state_council_allowance",
    "chongqing_talent_scientist",
    "other_national_title",
    "other_municipal_title",
    "academic_leader",
    "postdoctoral_researcher",
    "young_talent",
    "local_backbone",
]
TitleGrade = Literal["senior", "deputy_senior", "intermediate", "junior"]
"""Grade of a professional title (职称级别): 正高级, 副高级, 中级, 初级."""


# ---- from the talent registry -------------------------------------------------------------------


class ExpertRegistered(EventData):
    """The talent registry announces an expert (or re-announces them with changes).

    Personal data is limited to what the programme needs and publishes: name, institution
    and professional title; no identity numbers, contacts or addresses."""

    EVENT_TYPE = "ExpertRegistered"
    expert_id: ExpertId
    name: Name
    institution: Name
    title: Name | None = Field(default=None, description="Professional title (职称), e.g. 研究员")
    title_grade: TitleGrade | None = Field(
        default=None, description="Title grade: senior 正高级, deputy_senior 副高级, intermediate 中级, junior 初级"
    )
    qualifications: tuple[QualificationCode, ...] = Field(default=(), max_length=9)
    specialties: tuple[Tag, ...] = Field(min_length=1, max_length=20, description="Industry and expertise tags")
    local_county_code: CountyCode | None = Field(
        default=None, description="The county where the expert is local talent (当地人才), if any"
    )

    def subject(self) -> str:
        return self.expert_id


class ExpertUpdated(ExpertRegistered):
    """The registry changed an expert's record; the whole record is sent again."""

    EVENT_TYPE = "ExpertUpdated"


# ---- from the application portal (the lead expert) -------------------------------------------


class TeamComposition(Value):
    """A "1+N+1" team: one lead expert, N members recruited by the lead, local talent."""

    team_id: TeamId
    name: Name
    lead_expert_id: ExpertId
    member_expert_ids: tuple[ExpertId, ...] = Field(default=(), max_length=30)
    local_talent_expert_ids: tuple[ExpertId, ...] = Field(default=(), max_length=30)


class TeamApplicationSubmitted(EventData):
    """A lead expert applies for a published order with a team (接单)."""

    EVENT_TYPE = "TeamApplicationSubmitted"
    application_id: ApplicationId
    order_id: OrderId
    team: TeamComposition
    plan: Text = Field(description="A short service plan")
    site: Name = Field(description="Where the team will serve (定点), e.g. 洗新乡保合村天麻示范园")
    service_period: ServicePeriod
    funding_asked_fen: Fen
    continued_support_of: Name | None = Field(
        default=None,
        description="继续支持: the earlier project whose excellent review lets this team apply for continued "
        "support (ContinuedFundingEligible), e.g. P-500240-2027-001",
    )

    def subject(self) -> str:
        return self.order_id


class WithdrawApplication(EventData):
    """The lead expert withdraws an application that has not been decided."""

    EVENT_TYPE = "WithdrawApplication"
    application_id: ApplicationId
    order_id: OrderId
    reason: Text

    def subject(self) -> str:
        return self.order_id


class LodgeAwardObjection(EventData):
    """An applicant whose application was declined objects (异议) to the award of the order while
    it is publicly noticed (公示)."""

    EVENT_TYPE = "LodgeAwardObjection"
    objection_id: ObjectionId
    order_id: OrderId
    application_id: ApplicationId = Field(description="The objector's own (declined) application for the order")
    grounds: Text = Field(description="Why the award should not stand")
    lodged_by: Name

    def subject(self) -> str:
        return self.order_id


class RequestMemberChange(EventData):
    """A lead expert asks, through the portal, to change the team of a project during its service
    period: `replace` (leaving -> joining), `add` (joining) or `remove` (leaving)."""

    EVENT_TYPE = "RequestMemberChange"
    change_id: ChangeId
    order_id: OrderId
    kind: Literal["replace", "add", "remove"]
    leaving_expert_id: ExpertId | None = None
    joining_expert_id: ExpertId | None = None
    joining_role: Literal["member", "local_talent"] | None = None
    effective_from: date
    reason: Text
    requested_by: ExpertId = Field(description="The lead expert")

    def subject(self) -> str:
        return self.order_id


# ---- from bureau staff ------------------------------------------------------------------------


class AwardOrder(EventData):
    """Bureau staff award a published order to one application, with the amount they approve."""

    EVENT_TYPE = "AwardOrder"
    order_id: OrderId
    application_id: ApplicationId
    awarded_by: Name
    note: Text | None = None
    approved_fen: Fen | None = Field(
        default=None,
        description="The grant the bureau approves (within the policy's 50,000–200,000 yuan and at most what "
        "the team asked); none: what the team asked",
    )

    def subject(self) -> str:
        return self.order_id


class DecideAwardObjection(EventData):
    """Bureau staff decide an objection to an award: upheld, the award is revoked; rejected, it
    takes effect when its notice has ended."""

    EVENT_TYPE = "DecideAwardObjection"
    objection_id: ObjectionId
    order_id: OrderId
    upheld: bool
    reason: Text
    decided_by: Name

    def subject(self) -> str:
        return self.order_id


class EndProject(EventData):
    """Bureau staff end a project before its service period is over (team dissolved, the
    village's need gone): its people are free from `effective_on`."""

    EVENT_TYPE = "EndProject"
    order_id: OrderId
    effective_on: date
    reason: Text
    decided_by: Name

    def subject(self) -> str:
        return self.order_id


class ExtendProject(EventData):
    """Bureau staff extend a project's service period to `months` in all (within the policy)."""

    EVENT_TYPE = "ExtendProject"
    order_id: OrderId
    months: int = Field(ge=1, le=120, description="The service period's new length, in months from its start")
    reason: Text
    decided_by: Name

    def subject(self) -> str:
        return self.order_id


class DecideMemberChange(EventData):
    """Bureau staff approve or refuse a requested member change (the team rules are checked
    again on approval)."""

    EVENT_TYPE = "DecideMemberChange"
    change_id: ChangeId
    order_id: OrderId
    approve: bool
    reason: Text
    decided_by: Name

    def subject(self) -> str:
        return self.order_id


class RecommendAssignment(EventData):
    """Bureau staff ask for the optimal assignment of a call's open orders to applicant teams."""

    EVENT_TYPE = "RecommendAssignment"
    call: Name
    requested_by: Name

    def subject(self) -> str:
        return self.call


# ---- emitted by matching ---------------------------------------------------------------------


class ExpertRef(Value):
    """An expert as published with a team: what the programme shows, nothing more."""

    expert_id: ExpertId
    name: Name
    institution: Name
    qualifications: tuple[QualificationCode, ...] = ()
    local_county_code: CountyCode | None = None
    title: Name | None = None
    title_grade: TitleGrade | None = None


class ExpertProfileRecorded(EventData):
    """Matching applied the registry's record of an expert (the registry's acknowledgement)."""

    EVENT_TYPE = "ExpertProfileRecorded"
    expert: ExpertRef
    can_lead: bool = Field(description="Holds a national- or municipal-level qualification")
    specialties: tuple[Tag, ...]
    new: bool = Field(description="True on the first record of this expert")
    recorded_at: AwareDatetime

    def subject(self) -> str:
        return self.expert.expert_id


class ApplicationReceived(EventData):
    """An application met every rule and is registered for the bureau's decision."""

    EVENT_TYPE = "ApplicationReceived"
    application_id: ApplicationId
    order_id: OrderId
    team_id: TeamId
    team_name: Name
    lead: ExpertRef
    team_size: int = Field(ge=1)
    funding_asked_fen: Fen
    received_at: AwareDatetime
    continued_support_of: Name | None = Field(
        default=None,
        description="继续支持: the earlier project (with an excellent review) through which the team applies for "
        "continued support; checked against ContinuedFundingEligible",
    )

    def subject(self) -> str:
        return self.order_id


class ApplicationWithdrawn(EventData):
    EVENT_TYPE = "ApplicationWithdrawn"
    application_id: ApplicationId
    order_id: OrderId
    team_id: TeamId
    reason: Text
    withdrawn_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class ApplicationDeclined(EventData):
    """An application that was not chosen (another team was accepted, or the order closed)."""

    EVENT_TYPE = "ApplicationDeclined"
    application_id: ApplicationId
    order_id: OrderId
    team_id: TeamId
    reason: Text
    declined_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class AwardAnnounced(EventData):
    """The public award list (公示) of one order: the bureau awarded it to an application, and the
    award takes effect (TeamAccepted) when the notice ends without a pending objection. What the
    programme publishes about the team, nothing more: the lead's name and institution, no ids of
    people, no members."""

    EVENT_TYPE = "AwardAnnounced"
    order_id: OrderId
    application_id: ApplicationId
    project_id: ProjectId
    title: Name = Field(description="The order's title, e.g. 保合村天麻种源繁育")
    call: Name
    team_id: TeamId
    team_name: Name
    lead_name: Name
    lead_institution: Name
    place: Place
    site: Name
    industry: Tag
    service_period: ServicePeriod
    funding_asked_fen: Fen
    approved_fen: Fen | None = Field(default=None, description="The grant the bureau approved; none: what was asked")
    continued_support_of: Name | None = Field(
        default=None, description="The earlier project with an excellent review this project continues (继续支持)"
    )
    announced_on: date = Field(description="First day of the notice (Chongqing date)")
    notice_ends_on: date = Field(
        description="Last day of the notice (Chongqing date, policy POLICY_PUBLIC_NOTICE_WORKING_DAYS working days "
        "after announced_on): objections are accepted until the end of this day"
    )
    awarded_by: Name
    announced_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class AwardObjectionLodged(EventData):
    """An objection to an award under notice was recorded; the award waits for the bureau's decision."""

    EVENT_TYPE = "AwardObjectionLodged"
    objection_id: ObjectionId
    order_id: OrderId
    application_id: ApplicationId = Field(description="The objector's application")
    team_id: TeamId = Field(description="The objector's team")
    awarded_application_id: ApplicationId
    grounds: Text
    lodged_by: Name
    notice_ends_on: date
    lodged_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class AwardObjectionRejected(EventData):
    """The bureau rejected an objection: the award stands and takes effect when its notice has
    ended and no other objection is pending (at once, if that is already so)."""

    EVENT_TYPE = "AwardObjectionRejected"
    objection_id: ObjectionId
    order_id: OrderId
    application_id: ApplicationId = Field(description="The objector's application")
    awarded_application_id: ApplicationId
    reason: Text
    decided_by: Name
    notice_ends_on: date
    rejected_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class AwardRevoked(EventData):
    """An award under notice is void: an objection was upheld (`objection_id`), or the order was
    cancelled. No TeamAccepted follows it. After an upheld objection the order is open again: the
    applications its award had declined, and the revoked one, are pending again
    (`reopened_application_ids`), and a new AwardOrder starts a new notice."""

    EVENT_TYPE = "AwardRevoked"
    order_id: OrderId
    application_id: ApplicationId = Field(description="The application whose award is revoked")
    team_id: TeamId
    objection_id: ObjectionId | None = Field(default=None, description="The upheld objection, if one")
    reason: Text
    decided_by: Name
    reopened_application_ids: tuple[ApplicationId, ...] = Field(
        default=(), description="Applications of the order pending again (none when the order was cancelled)"
    )
    moot_objection_ids: tuple[ObjectionId, ...] = Field(
        default=(), description="Other objections to the award that need no decision any more"
    )
    revoked_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class TeamAccepted(EventData):
    """A team takes an order as a project: fixed site, fixed people, fixed service period
    (定点、定人、定服务期). Design-card event; funding opens the grant on it."""

    EVENT_TYPE = "TeamAccepted"
    project_id: Annotated[str, Field(description="The project: one order taken by one team")]
    order_id: OrderId
    application_id: ApplicationId
    team_id: TeamId
    team_name: Name
    lead: ExpertRef
    members: tuple[ExpertRef, ...]
    local_talents: tuple[ExpertRef, ...]
    place: Place
    site: Name
    industry: Tag
    service_period: ServicePeriod
    funding_asked_fen: Fen
    call: Name
    awarded_by: Name
    accepted_at: AwareDatetime
    continued_support_of: Name | None = Field(
        default=None, description="The earlier project with an excellent review this project continues (继续支持)"
    )
    approved_fen: Fen | None = Field(
        default=None, description="The grant the bureau approved; none: what the team asked (funding_asked_fen)"
    )

    def subject(self) -> str:
        return self.order_id


class MemberChangeRequested(EventData):
    """A member change was requested and waits for the bureau's decision."""

    EVENT_TYPE = "MemberChangeRequested"
    change_id: ChangeId
    order_id: OrderId
    project_id: ProjectId
    team_id: TeamId
    kind: Literal["replace", "add", "remove"]
    leaving: ExpertRef | None = None
    joining: ExpertRef | None = None
    joining_role: Literal["member", "local_talent"] | None = None
    effective_from: date
    reason: Text

    def subject(self) -> str:
        return self.order_id


class MemberChangeApproved(EventData):
    """The bureau approved a member change: from `effective_from` the team is `lead`, `members`
    and `local_talents` (定人 as it now stands); the leaving expert is free from that day."""

    EVENT_TYPE = "MemberChangeApproved"
    change_id: ChangeId
    order_id: OrderId
    project_id: ProjectId
    team_id: TeamId
    kind: Literal["replace", "add", "remove"]
    leaving: ExpertRef | None = None
    joining: ExpertRef | None = None
    effective_from: date
    lead: ExpertRef
    members: tuple[ExpertRef, ...]
    local_talents: tuple[ExpertRef, ...]
    decided_by: Name
    reason: Text

    def subject(self) -> str:
        return self.order_id


class MemberChangeRefused(EventData):
    """The bureau refused a member change, or the team rules forbid it (`rule` names which)."""

    EVENT_TYPE = "MemberChangeRefused"
    change_id: ChangeId
    order_id: OrderId
    project_id: ProjectId
    team_id: TeamId
    rule: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,59}$")]
    reason: Text
    decided_by: Name

    def subject(self) -> str:
        return self.order_id


class ProjectEndedEarly(EventData):
    """The bureau ended a project before its service period was over; its people are free from
    `ended_on` (funding settles the money by policy; reviews reviews it no more)."""

    EVENT_TYPE = "ProjectEndedEarly"
    order_id: OrderId
    project_id: ProjectId
    team_id: TeamId
    ended_on: date
    planned_end: date
    reason: Text
    decided_by: Name
    freed_expert_ids: tuple[ExpertId, ...]

    def subject(self) -> str:
        return self.order_id


class ProjectExtended(EventData):
    """The bureau extended a project's service period (same site, same people)."""

    EVENT_TYPE = "ProjectExtended"
    order_id: OrderId
    project_id: ProjectId
    team_id: TeamId
    service_period: ServicePeriod = Field(description="The period as it now stands")
    previous_months: int
    reason: Text
    decided_by: Name

    def subject(self) -> str:
        return self.order_id


class Candidate(Value):
    candidate_id: Annotated[str, Field(min_length=1, max_length=60)]
    name: Name
    score: float
    reasons: tuple[Text, ...]


class CandidatesRecommended(EventData):
    """For a newly published order: the best-fitting experts (possible leads and members)
    and existing teams, each with the reasons in words. Advice only."""

    EVENT_TYPE = "CandidatesRecommended"
    order_id: OrderId
    county_code: CountyCode
    industry: Tag
    experts: tuple[Candidate, ...]
    teams: tuple[Candidate, ...]
    recommended_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class AssignmentPair(Value):
    order_id: OrderId
    team_id: TeamId
    application_id: ApplicationId
    mismatch: float
    reasons: tuple[Text, ...]


class AssignmentRecommended(EventData):
    """The optimal assignment of a call's open orders to applicant teams (each team at most
    one order), minimising total mismatch with an exact solver. Advice: the bureau awards.

    A large call's assignment comes in several parts (`part` 1..`parts`, all with the call as
    key, so in order on one partition), each with at most 500 pairs and 5,000 unassigned
    orders, so that every message stays far below the broker's 1 MB limit; the totals
    (`total_mismatch`, `objective`) are those of the whole assignment and repeated in each part."""

    EVENT_TYPE = "AssignmentRecommended"
    call: Name
    part: int = Field(default=1, ge=1, description="This part's number, from 1")
    parts: int = Field(default=1, ge=1, description="How many parts the call's assignment has")
    pairs: tuple[AssignmentPair, ...]
    total_mismatch: float
    unassigned_orders: tuple[OrderId, ...]
    unassigned_cost: float = Field(description="Cost counted for each order left without a team")
    objective: float = Field(description="What the solver minimised: total mismatch + unassigned cost × orders")
    solver: Name
    requested_by: Name
    recommended_at: AwareDatetime

    def subject(self) -> str:
        return self.call
