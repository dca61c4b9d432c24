"""Events of the yearly assessment (每年进行考核评估): cycles, outcome reports, panel scores,
grades (ReviewCompleted) and the public results (考核结果向社会公布)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from .base import CountyCode, EventData, Name, OrderId, Text, Value
from .matching import ExpertId, TeamId

CycleId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$"),
    Field(description="Review cycle id chosen by the bureau, e.g. 2019 or 2019-annual"),
]
ReviewerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,39}$")]
Grade = Literal["excellent", "qualified", "unqualified"]


class IndicatorResult(Value):
    """An outcome indicator as reported (IATI style): baseline, target, actual, unit."""

    indicator: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,59}$")]
    label: Name
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    baseline: float | None = None
    target: float
    actual: float


class WorkDone(Value):
    """The team's work in the year (DOMAIN.md, step 4)."""

    plan_compiled: bool = Field(description="编制项目规划")
    problems_solved: int = Field(ge=0, description="技术和管理难题解决数")
    local_talents_trained: int = Field(ge=0, description="培养本地专业人才数")
    brand: Name | None = Field(default=None, description="培育的市场品牌")
    industry_chain: Text | None = Field(default=None, description="培植的产业链条")
    research_results_transferred: int = Field(ge=0, description="转化科研成果数")
    notes: Text | None = None


class Reviewer(Value):
    reviewer_id: ReviewerId
    name: Name
    institution: Name


class CriterionScore(Value):
    criterion: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,59}$")]
    score: float = Field(ge=0)


# ---- sent in by bureau staff, teams (portal) and reviewers --------------------------------------


class OpenReviewCycle(EventData):
    """Bureau staff open the yearly review: every project in service that year gets a review,
    plus any project the bureau adds."""

    EVENT_TYPE = "OpenReviewCycle"
    cycle_id: CycleId
    year: int = Field(ge=2019, le=2100)
    submission_deadline: date
    additional_order_ids: tuple[OrderId, ...] = ()
    opened_by: Name

    def subject(self) -> str:
        return self.cycle_id


class OutcomeReportSubmitted(EventData):
    """A team reports its achieved outcomes against the order's targets and its work done."""

    EVENT_TYPE = "OutcomeReportSubmitted"
    report_id: Name
    cycle_id: CycleId
    order_id: OrderId
    indicators: tuple[IndicatorResult, ...] = Field(min_length=1, max_length=30)
    work: WorkDone
    submitted_by: Name

    def subject(self) -> str:
        return self.order_id


class ReviewerConflictDeclared(EventData):
    """A reviewer (or the bureau for them) declares a conflict of interest with a project."""

    EVENT_TYPE = "ReviewerConflictDeclared"
    cycle_id: CycleId
    order_id: OrderId
    reviewer_id: ReviewerId
    reason: Text

    def subject(self) -> str:
        return self.order_id


class PanelScoreSubmitted(EventData):
    """One reviewer's scores of one project against the rubric's criteria."""

    EVENT_TYPE = "PanelScoreSubmitted"
    cycle_id: CycleId
    order_id: OrderId
    reviewer: Reviewer
    scores: tuple[CriterionScore, ...] = Field(min_length=1, max_length=20)
    comment: Text | None = None

    def subject(self) -> str:
        return self.order_id


class CloseReviewCycle(EventData):
    """Bureau staff close the cycle: reviews still open are graded per policy and the results
    are published to the public."""

    EVENT_TYPE = "CloseReviewCycle"
    cycle_id: CycleId
    closed_by: Name

    def subject(self) -> str:
        return self.cycle_id


# ---- emitted by reviews ------------------------------------------------------------------------


class ReviewSummary(Value):
    review_id: Name
    order_id: OrderId
    project_id: Name
    team_id: TeamId


class ReviewCycleOpened(EventData):
    """A review cycle opened, with the reviews it holds: one per project in service that year.

    A large year's cycle comes in several parts (`part` 1..`parts`, all with the cycle as key, so
    in order on one partition), each with at most 2,000 reviews (about 300 KB), so that every
    message stays far below the broker's 1 MB limit: one message for 4,500 orders' year was
    613 KB, and about 7,000 projects would have made it too large to publish."""

    EVENT_TYPE = "ReviewCycleOpened"
    cycle_id: CycleId
    part: int = Field(default=1, ge=1, description="This part's number, from 1")
    parts: int = Field(default=1, ge=1, description="How many parts the cycle's opening has")
    year: int
    submission_deadline: date
    reviews: tuple[ReviewSummary, ...]
    reviews_in_all_parts: int | None = Field(
        default=None, ge=0, description="The cycle's reviews over every part (absent: those of this message)"
    )
    opened_at: AwareDatetime

    def subject(self) -> str:
        return self.cycle_id


class OutcomeReportAccepted(EventData):
    EVENT_TYPE = "OutcomeReportAccepted"
    review_id: Name
    cycle_id: CycleId
    order_id: OrderId
    report_id: Name
    accepted_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class PanelScoreRecorded(EventData):
    EVENT_TYPE = "PanelScoreRecorded"
    review_id: Name
    cycle_id: CycleId
    order_id: OrderId
    reviewer_id: ReviewerId
    weighted_score: float
    panel_size: int = Field(ge=1, description="Scores recorded so far for this review")
    recorded_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class _ReviewResult(EventData):
    """A project's yearly grade, with everything needed to re-derive it."""

    review_id: Name
    cycle_id: CycleId
    year: int
    order_id: OrderId
    project_id: Name
    team_id: TeamId
    team_name: Name
    lead_expert_id: ExpertId
    lead_name: Name
    institution: Name
    grade: Grade
    score: float | None = Field(description="Aggregated panel score; None when graded without scores")
    panel_scores: tuple[float, ...]
    indicator_results: tuple[IndicatorResult, ...]
    reason: Text
    rule_version: Name = Field(description="Policy and rubric versions used, to re-derive the grade")
    round: int = Field(default=1, ge=1, description="1: the first panel; 2: the new panel of a re-review (复核)")
    days_on_site: int | None = Field(
        default=None,
        description="Recorded days on site in the review's service year, which the score was given with "
        "(the service criterion); none when graded without scores",
    )
    mid_term_flags: tuple[Text, ...] = Field(
        default=(), description="The mid-term checks' flags (ProjectFlagged) of the review's service year, in words"
    )

    def subject(self) -> str:
        return self.order_id


class ReviewGraded(_ReviewResult):
    """The panel graded a project. Not yet in effect: the results are published for public
    notice (公示) when the cycle closes, and only `ReviewCompleted` has consequences."""

    EVENT_TYPE = "ReviewGraded"
    graded_at: AwareDatetime


class ReviewCompleted(_ReviewResult):
    """A project's yearly grade in effect (design-card event): the public notice ended with no
    objection pending, an objection was rejected, or a re-review by a new panel graded it. Funding,
    the title and talent systems act on this event alone."""

    EVENT_TYPE = "ReviewCompleted"
    notice_ended_on: date | None = Field(
        default=None, description="Last day of the public notice of the cycle's results (公示期满)"
    )
    objection_id: Name | None = Field(default=None, description="The objection this result answers, if any")
    completed_at: AwareDatetime


class PublicResult(Value):
    """What the programme publishes of one project: no personal data beyond the lead's name."""

    order_id: OrderId
    project: Name
    county_code: CountyCode
    county_name: Name
    team_name: Name
    lead_name: Name
    institution: Name
    grade: Grade
    score: float | None


class ReviewResultsPublished(EventData):
    """考核结果向社会公布: the cycle's results, for the public.

    A large cycle's results come in several parts (`part` 1..`parts`, all keyed by the cycle,
    so in order on one partition), each with at most RESULTS_PER_PART results in order-id order,
    so that every message stays far below the broker's 1 MB limit."""

    EVENT_TYPE = "ReviewResultsPublished"
    RESULTS_PER_PART: ClassVar[int] = 1_000
    cycle_id: CycleId
    year: int
    part: int = Field(default=1, ge=1, description="This part's number, from 1")
    parts: int = Field(default=1, ge=1, description="How many parts the cycle's results have")
    results: tuple[PublicResult, ...]
    notice_ends_on: date | None = Field(
        default=None,
        description="公示: the results take effect after this day (Chongqing calendar) unless a team objects by it",
    )
    published_at: AwareDatetime

    def in_parts(self) -> list[ReviewResultsPublished]:
        """The whole publication as the parts it is sent in."""
        size = self.RESULTS_PER_PART
        parts = max(1, -(-len(self.results) // size))
        return [
            self.model_copy(update={"part": n + 1, "parts": parts, "results": self.results[n * size : (n + 1) * size]})
            for n in range(parts)
        ]

    @classmethod
    def joined(cls, parts: Sequence[ReviewResultsPublished]) -> ReviewResultsPublished:
        """The whole publication from all its parts (in any order)."""
        ordered = sorted(parts, key=lambda p: p.part)
        if [p.part for p in ordered] != list(range(1, ordered[0].parts + 1)):
            raise ValueError(f"parts {[p.part for p in ordered]} of {ordered[0].parts} do not make a whole")
        results = tuple(r for p in ordered for r in p.results)
        return ordered[0].model_copy(update={"part": 1, "parts": 1, "results": results})

    def subject(self) -> str:
        return self.cycle_id


# ---- the service given: records and the mid-term check -----------------------------------------

ActivityId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,59}$"),
    Field(description="Service activity id assigned by the portal, e.g. ACT-500240-2027-001-17"),
]
CheckId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$"),
    Field(description="Mid-term check id chosen by the bureau, e.g. 2027-midterm"),
]
ActivityKind = Literal["site_visit", "training", "consultation"]


class RecordServiceActivity(EventData):
    """An expert records, through the portal, a day of service at the project's site: a visit,
    a training session or a consultation, with the people trained and the hours."""

    EVENT_TYPE = "RecordServiceActivity"
    activity_id: ActivityId
    order_id: OrderId
    expert_id: ExpertId
    on: date
    township: Name
    village: Name
    kind: ActivityKind
    people_trained: int = Field(ge=0, le=10_000)
    hours: float = Field(gt=0, le=24)
    summary: Text

    def subject(self) -> str:
        return self.order_id


class ServiceActivityRecorded(EventData):
    """A day of service was recorded: at the project's site, by an expert on its team that day,
    within its service period."""

    EVENT_TYPE = "ServiceActivityRecorded"
    activity_id: ActivityId
    order_id: OrderId
    project_id: Name
    team_id: TeamId
    expert_id: ExpertId
    on: date
    kind: ActivityKind
    people_trained: int
    hours: float
    days_on_site_this_year: int = Field(description="Distinct days the team was on site in this service year so far")

    def subject(self) -> str:
        return self.order_id


class OpenMidTermCheck(EventData):
    """Bureau staff check every active project half-way through the year (as of `as_of`)."""

    EVENT_TYPE = "OpenMidTermCheck"
    check_id: CheckId
    year: int = Field(ge=2000, le=2100)
    as_of: date
    opened_by: Name

    def subject(self) -> str:
        return self.check_id


class ProjectFlagged(EventData):
    """The mid-term check found a project at risk; its team is told why (and the flag is shown
    in its review)."""

    EVENT_TYPE = "ProjectFlagged"
    check_id: CheckId
    order_id: OrderId
    project_id: Name
    team_id: TeamId
    team_name: Name
    as_of: date
    days_on_site: int
    days_expected_by_now: int
    reasons: tuple[Text, ...] = Field(min_length=1)

    def subject(self) -> str:
        return self.order_id


class MidTermCheckCompleted(EventData):
    """What the mid-term check found: how many projects it checked and which it flagged."""

    EVENT_TYPE = "MidTermCheckCompleted"
    check_id: CheckId
    year: int
    as_of: date
    checked: int
    flagged_order_ids: tuple[OrderId, ...]

    def subject(self) -> str:
        return self.check_id


# ---- objections to published results (异议) ---------------------------------------------------


class LodgeObjection(EventData):
    """A team objects to its published result within the public notice (异议)."""

    EVENT_TYPE = "LodgeObjection"
    objection_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,59}$")]
    cycle_id: CycleId
    order_id: OrderId
    grounds: Text
    lodged_by: Name

    def subject(self) -> str:
        return self.order_id


class DecideObjection(EventData):
    """Bureau staff decide an objection: upheld means a re-review by a new panel."""

    EVENT_TYPE = "DecideObjection"
    objection_id: Name
    cycle_id: CycleId
    order_id: OrderId
    upheld: bool
    reason: Text
    decided_by: Name

    def subject(self) -> str:
        return self.order_id


class ObjectionLodged(EventData):
    EVENT_TYPE = "ObjectionLodged"
    objection_id: Name
    review_id: Name
    cycle_id: CycleId
    order_id: OrderId
    grade: Grade = Field(description="The published grade objected to")
    grounds: Text
    lodged_by: Name
    notice_ends_on: date
    lodged_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class ObjectionUpheld(EventData):
    """The objection stands: the project is reviewed again by a new panel (none of the first
    panel's reviewers may score it); the published grade has no effect."""

    EVENT_TYPE = "ObjectionUpheld"
    objection_id: Name
    review_id: Name
    cycle_id: CycleId
    order_id: OrderId
    reason: Text
    decided_by: Name
    round: int = Field(ge=2, description="The re-review's round")
    earlier_reviewer_ids: tuple[ReviewerId, ...] = Field(description="Who may not sit on the new panel")
    decided_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class ObjectionRejected(EventData):
    """The objection fails: the published grade takes effect (at once if the notice is over)."""

    EVENT_TYPE = "ObjectionRejected"
    objection_id: Name
    review_id: Name
    cycle_id: CycleId
    order_id: OrderId
    reason: Text
    decided_by: Name
    decided_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id
