"""The catalogue of event types: type name -> data model, schema version, topic, senders."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from shared import topics

from .events.base import EventData
from .events.funding import (
    BudgetEnvelopeSet,
    ContinuedFundingEligible,
    DecideRectification,
    FundingReleased,
    FundingWithheld,
    GrantHeld,
    GrantOpened,
    GrantRescheduled,
    GrantSettled,
    IncentiveGranted,
    IncentivesDecided,
    PaymentConfirmed,
    PaymentEscalated,
    PaymentFailed,
    PaymentRetryRequested,
    ProjectEnded,
    RectificationAccepted,
    RectificationRejected,
    RectificationReportRecorded,
    RectificationReportSubmitted,
    RectificationRequired,
    ReleasePaid,
    SetBudgetEnvelope,
    SuspensionLifted,
    TeamSuspended,
)
from .events.matching import (
    ApplicationDeclined,
    ApplicationReceived,
    ApplicationWithdrawn,
    AssignmentRecommended,
    AwardAnnounced,
    AwardObjectionLodged,
    AwardObjectionRejected,
    AwardOrder,
    AwardRevoked,
    CandidatesRecommended,
    DecideAwardObjection,
    DecideMemberChange,
    EndProject,
    ExpertProfileRecorded,
    ExpertRegistered,
    ExpertUpdated,
    ExtendProject,
    LodgeAwardObjection,
    MemberChangeApproved,
    MemberChangeRefused,
    MemberChangeRequested,
    ProjectEndedEarly,
    ProjectExtended,
    RecommendAssignment,
    RequestMemberChange,
    TeamAccepted,
    TeamApplicationSubmitted,
    WithdrawApplication,
)
from .events.orders import (
    CancelOrder,
    DemandEndorsed,
    DemandReturned,
    DemandSubmitted,
    OrderAwarded,
    OrderCancelled,
    OrderEndorsed,
    OrderPublished,
    OrderReturned,
    OrderSubmitted,
    OrderWithdrawn,
    PublishOrder,
    WithdrawDemand,
)
from .events.reviews import (
    CloseReviewCycle,
    DecideObjection,
    LodgeObjection,
    MidTermCheckCompleted,
    ObjectionLodged,
    ObjectionRejected,
    ObjectionUpheld,
    OpenMidTermCheck,
    OpenReviewCycle,
    OutcomeReportAccepted,
    OutcomeReportSubmitted,
    PanelScoreRecorded,
    PanelScoreSubmitted,
    ProjectFlagged,
    RecordServiceActivity,
    ReviewCompleted,
    ReviewCycleOpened,
    ReviewerConflictDeclared,
    ReviewGraded,
    ReviewResultsPublished,
    ServiceActivityRecorded,
)
from .events.system import EventRejected

SCHEMA_URN_PREFIX = "urn:cq-expert-teams:schema:"

# Who may send what, by CloudEvents `source`. These are the defaults; the deployment may
# override them per type with AUTHORIZED_SOURCES (see shared.contract.authorization).
COUNTY_SYSTEMS = ("/counties/*",)
BUREAU_STAFF = ("/bureau/*",)
TALENT_REGISTRY = ("/registry/*",)
APPLICATION_PORTAL = ("/portal/*",)
TREASURY = ("/treasury/*",)
REVIEWERS = ("/reviewers/*",)


def service_source(service: str) -> str:
    return f"/services/{service}"


@dataclass(frozen=True, slots=True)
class EventSpec:
    model: type[EventData]
    topic: str
    senders: tuple[str, ...]
    summary: str

    @property
    def type(self) -> str:
        return self.model.EVENT_TYPE

    @property
    def version(self) -> int:
        return self.model.VERSION

    @property
    def dataschema(self) -> str:
        return schema_urn(self.type, self.version)


def schema_urn(event_type: str, version: int) -> str:
    return f"{SCHEMA_URN_PREFIX}{event_type}:v{version}"


class EventRegistry:
    def __init__(self, specs: Iterable[EventSpec]) -> None:
        self._by_type: dict[str, EventSpec] = {}
        for spec in specs:
            if spec.type in self._by_type:
                raise ValueError(f"event type {spec.type} registered twice")
            self._by_type[spec.type] = spec

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(sorted(self._by_type.values(), key=lambda s: (s.topic, s.type)))

    def get(self, event_type: str) -> EventSpec | None:
        return self._by_type.get(event_type)

    def __getitem__(self, event_type: str) -> EventSpec:
        return self._by_type[event_type]

    def for_model(self, model: type[EventData]) -> EventSpec:
        return self._by_type[model.EVENT_TYPE]

    def on_topic(self, topic: str) -> list[EventSpec]:
        return [spec for spec in self if spec.topic == topic]


def _emits(service: str, model: type[EventData], summary: str) -> EventSpec:
    return EventSpec(model, topics.events(service), (service_source(service),), summary)


def _orders_emits(model: type[EventData], summary: str) -> EventSpec:
    return _emits("orders", model, summary)


def _inbound(service: str, model: type[EventData], senders: tuple[str, ...], summary: str) -> EventSpec:
    return EventSpec(model, topics.inbound(service), senders, summary)


REGISTRY = EventRegistry(
    [
        EventSpec(DemandSubmitted, topics.inbound("orders"), COUNTY_SYSTEMS, "a county submits a demand"),
        EventSpec(DemandEndorsed, topics.inbound("orders"), COUNTY_SYSTEMS, "a county endorses a demand"),
        EventSpec(DemandReturned, topics.inbound("orders"), COUNTY_SYSTEMS, "a county returns a demand"),
        EventSpec(WithdrawDemand, topics.inbound("orders"), COUNTY_SYSTEMS, "a county withdraws a demand"),
        EventSpec(PublishOrder, topics.inbound("orders"), BUREAU_STAFF, "the bureau publishes an order"),
        EventSpec(CancelOrder, topics.inbound("orders"), BUREAU_STAFF, "the bureau cancels an order"),
        _orders_emits(OrderSubmitted, "an order was submitted or resubmitted"),
        _orders_emits(OrderEndorsed, "the county endorsed an order"),
        _orders_emits(OrderReturned, "the county returned an order"),
        _orders_emits(OrderPublished, "the city published an order; teams may apply"),
        _orders_emits(OrderWithdrawn, "the county withdrew an order"),
        _orders_emits(OrderCancelled, "the bureau cancelled an order"),
        _orders_emits(OrderAwarded, "a team accepted the order as a project"),
        _inbound("matching", ExpertRegistered, TALENT_REGISTRY, "the talent registry announces an expert"),
        _inbound("matching", ExpertUpdated, TALENT_REGISTRY, "the talent registry updates an expert"),
        _inbound("matching", TeamApplicationSubmitted, APPLICATION_PORTAL, "a lead expert applies with a team"),
        _inbound("matching", WithdrawApplication, APPLICATION_PORTAL, "a lead expert withdraws an application"),
        _inbound("matching", AwardOrder, BUREAU_STAFF, "the bureau awards an order to an application"),
        _inbound(
            "matching", LodgeAwardObjection, APPLICATION_PORTAL, "a declined applicant objects to an award (异议)"
        ),
        _inbound("matching", DecideAwardObjection, BUREAU_STAFF, "the bureau upholds or rejects an objection"),
        _inbound("matching", RecommendAssignment, BUREAU_STAFF, "the bureau asks for the optimal assignment"),
        _inbound("matching", RequestMemberChange, APPLICATION_PORTAL, "a lead asks to change the team (换人)"),
        _inbound("matching", DecideMemberChange, BUREAU_STAFF, "the bureau approves or refuses a member change"),
        _inbound("matching", EndProject, BUREAU_STAFF, "the bureau ends a project early"),
        _inbound("matching", ExtendProject, BUREAU_STAFF, "the bureau extends a project's service period"),
        _emits("matching", ExpertProfileRecorded, "matching applied the registry's record of an expert"),
        _emits("matching", ApplicationReceived, "an application met every rule"),
        _emits("matching", ApplicationWithdrawn, "an application was withdrawn"),
        _emits("matching", ApplicationDeclined, "an application was not chosen"),
        _emits("matching", AwardAnnounced, "an award is publicly noticed (公示) before it takes effect"),
        _emits("matching", AwardObjectionLodged, "an objection to an award under notice was recorded"),
        _emits("matching", AwardObjectionRejected, "an objection was rejected; the award stands"),
        _emits("matching", AwardRevoked, "an award under notice is void (objection upheld, order cancelled)"),
        _emits("matching", TeamAccepted, "a team accepted an order as a project (定点、定人、定服务期)"),
        _emits("matching", CandidatesRecommended, "best-fitting experts and teams for a published order"),
        _emits("matching", AssignmentRecommended, "optimal assignment of a call's orders to teams"),
        _emits("matching", MemberChangeRequested, "a member change waits for the bureau's decision"),
        _emits("matching", MemberChangeApproved, "the team as it stands from a date, after an approved change"),
        _emits("matching", MemberChangeRefused, "a member change refused by the bureau or by the team rules"),
        _emits("matching", ProjectEndedEarly, "the bureau ended a project early; its people are free"),
        _emits("matching", ProjectExtended, "the bureau extended a project's service period"),
        _inbound("funding", PaymentConfirmed, TREASURY, "the treasury paid a release"),
        _inbound("funding", PaymentFailed, TREASURY, "the treasury could not pay a release"),
        _inbound("funding", SetBudgetEnvelope, BUREAU_STAFF, "the bureau sets a year's budget envelope"),
        _inbound(
            "funding", RectificationReportSubmitted, APPLICATION_PORTAL, "a team reports its rectification (整改报告)"
        ),
        _inbound("funding", DecideRectification, BUREAU_STAFF, "the bureau accepts or rejects a rectification"),
        _emits("funding", BudgetEnvelopeSet, "the bureau set a year's budget envelope"),
        _emits("funding", GrantOpened, "a project's grant is approved, with its tranche schedule"),
        _emits("funding", GrantHeld, "a grant would exceed the budget envelope: held with the reason"),
        _emits("funding", FundingReleased, "a tranche is released: payment instruction for the treasury"),
        _emits("funding", PaymentRetryRequested, "the treasury should retry a failed payment"),
        _emits("funding", PaymentEscalated, "a payment failed on every attempt: bureau staff must act"),
        _emits("funding", ReleasePaid, "the treasury paid a release; the release is closed"),
        _emits("funding", FundingWithheld, "remaining tranches withheld after an unqualified review"),
        _emits("funding", RectificationRequired, "the team must rectify by the deadline (限期整改)"),
        _emits("funding", ContinuedFundingEligible, "an excellent team may apply for continued funding"),
        _emits("funding", IncentiveGranted, "a per-expert incentive, once per project, at its first passing review"),
        _emits("funding", IncentivesDecided, "who of a reviewed team got which incentive, and why not"),
        _emits("funding", TeamSuspended, "a team and its lead are suspended from applying"),
        _emits("funding", SuspensionLifted, "a suspension ended on its date"),
        _emits("funding", RectificationReportRecorded, "a rectification report arrived in time"),
        _emits("funding", RectificationAccepted, "a rectification was accepted: withheld money restored"),
        _emits("funding", RectificationRejected, "a rectification was rejected"),
        _emits("funding", ProjectEnded, "a project ended after a failed rectification; withheld money forfeited"),
        _emits("funding", GrantSettled, "a project ended early: its unreleased money settled by policy"),
        _emits("funding", GrantRescheduled, "a project was extended: its unreleased tranches spread anew"),
        _inbound("reviews", OpenReviewCycle, BUREAU_STAFF, "the bureau opens a yearly review cycle"),
        _inbound("reviews", OutcomeReportSubmitted, APPLICATION_PORTAL, "a team reports its outcomes"),
        _inbound("reviews", ReviewerConflictDeclared, (*REVIEWERS, *BUREAU_STAFF), "a reviewer declares a conflict"),
        _inbound("reviews", PanelScoreSubmitted, REVIEWERS, "a reviewer scores a project"),
        _inbound("reviews", CloseReviewCycle, BUREAU_STAFF, "the bureau closes a review cycle"),
        _inbound("reviews", LodgeObjection, APPLICATION_PORTAL, "a team objects to its published result (异议)"),
        _inbound("reviews", DecideObjection, BUREAU_STAFF, "the bureau upholds or rejects an objection"),
        _inbound("reviews", RecordServiceActivity, APPLICATION_PORTAL, "an expert records a day of service on site"),
        _inbound("reviews", OpenMidTermCheck, BUREAU_STAFF, "the bureau opens the mid-term check"),
        _emits("reviews", ReviewCycleOpened, "a review cycle opened, with its reviews"),
        _emits("reviews", OutcomeReportAccepted, "a team's outcome report was accepted"),
        _emits("reviews", PanelScoreRecorded, "a reviewer's score was recorded"),
        _emits("reviews", ReviewGraded, "the panel graded a project; in effect only after the public notice"),
        _emits("reviews", ReviewCompleted, "a project's yearly grade in effect (优秀/合格/不合格)"),
        _emits("reviews", ReviewResultsPublished, "the cycle's results, published for public notice (公示)"),
        _emits("reviews", ObjectionLodged, "a team objected to its published result"),
        _emits("reviews", ObjectionUpheld, "an objection stands: a new panel reviews the project again"),
        _emits("reviews", ObjectionRejected, "an objection failed: the published grade takes effect"),
        _emits("reviews", ServiceActivityRecorded, "a day of service at the project's site was recorded"),
        _emits("reviews", ProjectFlagged, "the mid-term check found a project at risk, and why"),
        _emits("reviews", MidTermCheckCompleted, "what the mid-term check found"),
        EventSpec(
            EventRejected,
            topics.REJECTIONS,
            tuple(service_source(s) for s in topics.SERVICES),
            "a service refused an event; the reason, for its sender",
        ),
    ]
)
