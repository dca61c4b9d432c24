"""Review cycles and reviews: the yearly assessment (DOMAIN.md, step 5: 每年进行考核评估), its
public notice (公示) and objections (异议). Pure: no I/O.

cycle:   open --CloseReviewCycle--> closed: every review graded, results published for public notice
                                    until `notice_ends_on` (policy.public_notice_working_days)

review:  open --report in and policy.review_min_panel_size panel scores--> graded by the panel
           |--no report and the deadline passed (timer), or at closing----> graded: policy.missing_report_grade
           \\--report in, panel incomplete, at closing-------------------> graded: rubric.incomplete_panel
         graded --notice over, no objection pending (timer)--------------> final (ReviewCompleted)
         graded --LodgeObjection within the notice--> objection pending
                   --DecideObjection rejected--> final at the notice's end (at once if it is over)
                   --DecideObjection upheld----> re_review: a new panel (none of the earlier reviewers)
         re_review --policy.review_min_panel_size new scores--> final (ReviewGraded round 2, ReviewCompleted)

A graded or final review takes no more report, declaration or score (`review_completed`); a closed
cycle takes nothing but a re-review's scores (`cycle_closed`). Only ReviewCompleted has
consequences. Each review is identified by `RV-<cycle id>-<order id>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from shared.clock import local_date
from shared.contract.events.reviews import (
    CriterionScore,
    Grade,
    IndicatorResult,
    LodgeObjection,
    ObjectionLodged,
    ObjectionRejected,
    ObjectionUpheld,
    OpenReviewCycle,
    OutcomeReportAccepted,
    OutcomeReportSubmitted,
    PanelScoreRecorded,
    PanelScoreSubmitted,
    PublicResult,
    ReviewCompleted,
    ReviewCycleOpened,
    Reviewer,
    ReviewGraded,
    ReviewResultsPublished,
    ReviewSummary,
    WorkDone,
)
from shared.policy import ProgrammePolicy
from shared.rules import RuleBroken

from .conflicts import check_reviewer_may_score
from .facts import OrderFacts, Project
from .grading import grade_for, graded, panel_reason, rule_version, service_reason
from .indicators import check_indicators
from .membership import in_service_during
from .midterm import Flag
from .rubric import ReviewRubric, aggregate, as_score, service_shortfall, weighted_score, with_service
from .service_record import DayOnSite, RecordedService, recorded_in, service_year_reviewed


class CycleStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ReviewStatus(StrEnum):
    OPEN = "open"
    GRADED = "graded"
    """Graded by its panel; not in effect until the public notice ends."""
    RE_REVIEW = "re_review"
    """An objection was upheld: a new panel scores the project again."""
    FINAL = "final"
    """In effect: ReviewCompleted was emitted."""


class ObjectionStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Objection:
    objection_id: str
    grounds: str
    lodged_by: str
    status: ObjectionStatus = ObjectionStatus.PENDING


@dataclass(frozen=True, slots=True)
class Cycle:
    cycle_id: str
    year: int
    submission_deadline: date
    opened_by: str
    status: CycleStatus = CycleStatus.OPEN
    published_on: date | None = None
    notice_ends_on: date | None = None
    """Last day of the public notice of the cycle's results (set when it closes)."""

    def notice_over(self, now: datetime) -> bool:
        return self.notice_ends_on is not None and local_date(now) > self.notice_ends_on

    def require_open(self) -> None:
        if self.status is CycleStatus.CLOSED:
            raise RuleBroken("cycle_closed", f"review cycle {self.cycle_id} is closed; nothing can be submitted to it")

    def deadline_passed(self, now: datetime) -> bool:
        """The submission deadline is a Chongqing date; it has passed from the next day on."""
        return local_date(now) > self.submission_deadline


@dataclass(frozen=True, slots=True)
class Report:
    report_id: str
    indicators: tuple[IndicatorResult, ...]
    """As accepted: the order's targets with the team's actuals (see indicators.py)."""
    work: WorkDone
    submitted_by: str


@dataclass(frozen=True, slots=True)
class PanelScore:
    reviewer: Reviewer
    scores: tuple[CriterionScore, ...]
    weighted_score: Decimal
    rubric_version: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Grading:
    grade: Grade
    score: Decimal | None
    reason: str
    rule_version: str
    days_on_site: int | None = None
    """Recorded days on site of the review's service year the score was given with (None: no score)."""
    mid_term_flags: tuple[str, ...] = ()
    """The mid-term checks' flags of the review's service year, in words."""


@dataclass(frozen=True, slots=True)
class Review:
    review_id: str
    cycle_id: str
    project: Project
    order: OrderFacts
    status: ReviewStatus = ReviewStatus.OPEN
    report: Report | None = None
    panel: tuple[PanelScore, ...] = ()
    """Recorded panel scores, in the order they were recorded."""
    conflicts: frozenset[str] = frozenset()
    """Reviewer ids that declared a conflict with this review."""
    grading: Grading | None = None
    round: int = 1
    """1, or the round of a re-review by a new panel after an upheld objection."""
    earlier_reviewers: frozenset[str] = frozenset()
    """Reviewers of earlier rounds: none of them may sit on the new panel."""
    objection: Objection | None = None
    service: tuple[DayOnSite, ...] = ()
    """The project's recorded days on site (all service years; the review reads its own)."""
    flags: tuple[Flag, ...] = ()
    """The project's mid-term check flags (all years; the review shows its service year's)."""

    @property
    def order_id(self) -> str:
        return self.project.order_id

    def recorded_service(self, year: int) -> RecordedService:
        """What the records show of the service year the cycle of `year` reviews."""
        return recorded_in(self.service, service_year_reviewed(self.project.service_period, year))

    def flags_of(self, year: int) -> tuple[str, ...]:
        service_year = service_year_reviewed(self.project.service_period, year)
        return tuple(f.words() for f in sorted(self.flags, key=lambda f: f.as_of) if f.as_of in service_year)

    @property
    def scorers(self) -> frozenset[str]:
        return frozenset(s.reviewer.reviewer_id for s in self.panel)

    @property
    def objection_pending(self) -> bool:
        return self.objection is not None and self.objection.status is ObjectionStatus.PENDING

    def require_open(self) -> None:
        if self.status in (ReviewStatus.GRADED, ReviewStatus.FINAL):
            assert self.grading is not None
            raise RuleBroken(
                "review_completed",
                f"review {self.review_id} is already completed ({graded(self.grading.grade)}); it takes no more input",
                answer=f"review {self.review_id} is already completed; it takes no more input",
            )


def review_id_for(cycle_id: str, order_id: str) -> str:
    return f"RV-{cycle_id}-{order_id}"


# ---- opening -------------------------------------------------------------------------------------


def open_cycle(
    request: OpenReviewCycle,
    *,
    projects: Sequence[Project],
    orders: Mapping[str, OrderFacts],
    existing: Cycle | None,
    cycle_of_year: str | None,
    now: datetime,
) -> tuple[Cycle, tuple[Review, ...], tuple[ReviewCycleOpened, ...]]:
    """Every project in service during the year, plus the ones the bureau adds, gets a review;
    the opening is announced in as many parts as keep each message small (see the event).

    `projects` are the candidates: at least every known project that may be in service that
    year and every one the bureau names; this function decides which are in."""
    if existing is not None:
        raise RuleBroken("cycle_exists", f"review cycle {request.cycle_id} was already opened")
    if cycle_of_year is not None:
        raise RuleBroken("year_has_cycle", f"year {request.year} is already reviewed by cycle {cycle_of_year}")
    today = local_date(now)
    if today < date(request.year, 1, 1):
        raise RuleBroken(
            "year_not_begun",
            f"the {request.year} cycle reviews service given in {request.year}; it can be opened from "
            f"{date(request.year, 1, 1)} on, not on {today}",
        )
    if request.submission_deadline < today:
        raise RuleBroken(
            "deadline_in_past", f"submission deadline {request.submission_deadline} is before today ({today})"
        )
    selected = _projects_under_review(request, projects)
    unknown_orders = [p.order_id for p in selected if p.order_id not in orders]
    if unknown_orders:
        raise RuleBroken(
            "unknown_order", f"no published order (OrderPublished) is known for: {', '.join(unknown_orders)}"
        )
    cycle = Cycle(request.cycle_id, request.year, request.submission_deadline, request.opened_by)
    reviews = tuple(
        Review(review_id_for(cycle.cycle_id, p.order_id), cycle.cycle_id, p, orders[p.order_id]) for p in selected
    )
    summaries = [
        ReviewSummary(
            review_id=r.review_id, order_id=r.order_id, project_id=r.project.project_id, team_id=r.project.team_id
        )
        for r in reviews
    ]
    parts = max(1, -(-len(summaries) // REVIEWS_PER_PART))
    events = tuple(
        ReviewCycleOpened(
            cycle_id=cycle.cycle_id,
            part=part + 1,
            parts=parts,
            year=cycle.year,
            submission_deadline=cycle.submission_deadline,
            reviews=tuple(summaries[part * REVIEWS_PER_PART : (part + 1) * REVIEWS_PER_PART]),
            reviews_in_all_parts=len(summaries),
            opened_at=now,
        )
        for part in range(parts)
    )
    return cycle, reviews, events


REVIEWS_PER_PART = 2_000
"""Reviews in one ReviewCycleOpened message (about 150 bytes each: far below the 1 MB limit)."""


def _projects_under_review(request: OpenReviewCycle, projects: Sequence[Project]) -> list[Project]:
    known = {p.order_id: p for p in projects}
    unknown = [order_id for order_id in request.additional_order_ids if order_id not in known]
    if unknown:
        raise RuleBroken("unknown_project", f"no team has accepted (TeamAccepted) order {', '.join(unknown)}")
    added = set(request.additional_order_ids)
    selected = [p for p in known.values() if p.order_id in added or in_service_during(p.service_period, request.year)]
    if not selected:
        raise RuleBroken("nothing_to_review", f"no project was in service during {request.year} and none was added")
    return sorted(selected, key=lambda p: p.order_id)


# ---- the team's report ---------------------------------------------------------------------------


def accept_report(
    review: Review, cycle: Cycle, submission: OutcomeReportSubmitted, now: datetime
) -> tuple[Review, OutcomeReportAccepted]:
    cycle.require_open()
    if cycle.deadline_passed(now):
        raise RuleBroken(
            "report_late",
            f"the submission deadline of cycle {cycle.cycle_id} was {cycle.submission_deadline} "
            f"(Chongqing date); today is {local_date(now)}",
        )
    if review.report is not None:
        raise RuleBroken(
            "report_already_submitted", f"report {review.report.report_id} was already accepted for {review.review_id}"
        )
    review.require_open()
    indicators = check_indicators(review.order_id, review.order.targets, submission.indicators)
    report = Report(submission.report_id, indicators, submission.work, submission.submitted_by)
    event = OutcomeReportAccepted(
        review_id=review.review_id,
        cycle_id=cycle.cycle_id,
        order_id=review.order_id,
        report_id=report.report_id,
        accepted_at=now,
    )
    return replace(review, report=report), event


# ---- the panel -----------------------------------------------------------------------------------


def declare_conflict(review: Review, cycle: Cycle, reviewer_id: str) -> Review:
    """The reviewer will not score this review. A reviewer who already scored it cannot take
    the score back this way (`conflict_after_scoring`): bureau staff must handle it."""
    _require_taking_scores(review, cycle)
    if reviewer_id in review.scorers:
        raise RuleBroken(
            "conflict_after_scoring",
            f"reviewer {reviewer_id} already scored {review.review_id}; the score stands unless the bureau acts",
        )
    return replace(review, conflicts=review.conflicts | {reviewer_id})


def record_score(
    review: Review, cycle: Cycle, submission: PanelScoreSubmitted, rubric: ReviewRubric, now: datetime
) -> tuple[Review, PanelScoreRecorded]:
    _require_taking_scores(review, cycle)
    if submission.reviewer.reviewer_id in review.earlier_reviewers:
        raise RuleBroken(
            "reviewer_in_earlier_panel",
            f"reviewer {submission.reviewer.reviewer_id} sat on an earlier panel of {review.review_id}; "
            f"the re-review (round {review.round}) needs a new panel",
        )
    check_reviewer_may_score(review.project, submission.reviewer, review.conflicts, review.scorers, local_date(now))
    score = PanelScore(
        reviewer=submission.reviewer,
        scores=submission.scores,
        weighted_score=weighted_score(rubric, submission.scores),
        rubric_version=rubric.version,
        comment=submission.comment,
    )
    updated = replace(review, panel=(*review.panel, score))
    event = PanelScoreRecorded(
        review_id=review.review_id,
        cycle_id=cycle.cycle_id,
        order_id=review.order_id,
        reviewer_id=submission.reviewer.reviewer_id,
        weighted_score=as_score(score.weighted_score),
        panel_size=len(updated.panel),
        recorded_at=now,
    )
    return updated, event


def _require_taking_scores(review: Review, cycle: Cycle) -> None:
    """An open cycle's open reviews take scores, and so does a re-review after the cycle closed."""
    if review.status is not ReviewStatus.RE_REVIEW:
        cycle.require_open()
    review.require_open()


# ---- grading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Graded:
    review: Review
    graded: ReviewGraded
    completed: ReviewCompleted | None = None
    """A re-review's grade takes effect at once (it answers the objection)."""


def complete_if_ready(
    review: Review, cycle: Cycle, rubric: ReviewRubric, policy: ProgrammePolicy, now: datetime
) -> Graded | None:
    """Grade the review by its panel once the report is in, the panel is complete and the cycle's
    submission deadline has passed (every team has had until then to report: no project is graded
    before the others could be); the `grade-due-reviews` timer grades what became ready earlier."""
    if review.status not in (ReviewStatus.OPEN, ReviewStatus.RE_REVIEW) or review.report is None:
        return None
    if len(review.panel) < policy.review_min_panel_size or not cycle.deadline_passed(now):
        return None
    return _complete(review, cycle, _by_panel(review, cycle, rubric, policy, ""), now)


def missing_report_due(review: Review, cycle: Cycle, now: datetime) -> bool:
    """The deadline passed without a report: the review is graded now, not at closing."""
    return (
        cycle.status is CycleStatus.OPEN
        and review.status is ReviewStatus.OPEN
        and review.report is None
        and cycle.deadline_passed(now)
    )


def grade_missing_report(
    review: Review, cycle: Cycle, rubric: ReviewRubric, policy: ProgrammePolicy, now: datetime
) -> Graded:
    grade = policy.missing_report_grade
    reason = (
        f"no outcome report by the submission deadline {cycle.submission_deadline}: graded {graded(grade)} "
        f"per policy missing_report_grade"
    )
    return _complete(review, cycle, Grading(grade, None, reason, rule_version(policy, rubric)), now)


def grade_at_closing(
    review: Review, cycle: Cycle, rubric: ReviewRubric, policy: ProgrammePolicy, now: datetime
) -> Graded:
    """A review still open when the bureau closes the cycle is graded with what is there."""
    if review.report is None:
        return grade_missing_report(review, cycle, rubric, policy, now)
    required, present = policy.review_min_panel_size, len(review.panel)
    if present >= required:
        return _complete(review, cycle, _by_panel(review, cycle, rubric, policy, ""), now)
    incomplete = f"panel incomplete at closing ({present} of {required} panel scores)"
    if present and rubric.incomplete_panel == "grade_present_scores":
        grading = _by_panel(review, cycle, rubric, policy, f"{incomplete}, graded on the scores present: ")
        return _complete(review, cycle, grading, now)
    why = "no panel score" if not present else "rubric incomplete_panel=unqualified"
    reason = f"{incomplete}; {why}: graded {graded('unqualified')}"
    return _complete(review, cycle, Grading("unqualified", None, reason, rule_version(policy, rubric)), now)


def _by_panel(review: Review, cycle: Cycle, rubric: ReviewRubric, policy: ProgrammePolicy, preface: str) -> Grading:
    """The panel's score less the service shortfall of the review's service year (rubric.py)."""
    panel = [s.weighted_score for s in review.panel]
    panel_score = aggregate(rubric, panel)
    recorded = review.recorded_service(cycle.year)
    shortfall = service_shortfall(rubric, recorded.days_on_site, policy.min_service_days_per_year)
    score = with_service(panel_score, shortfall)
    reported = review.report.work.local_talents_trained if review.report else None
    service = service_reason(rubric, recorded, shortfall, panel_score, score, policy, reported)
    return Grading(
        grade=grade_for(score, policy),
        score=score,
        reason=preface + panel_reason(rubric, panel, panel_score, score, service, policy),
        rule_version=rule_version(policy, rubric),
        days_on_site=recorded.days_on_site,
    )


def _complete(review: Review, cycle: Cycle, grading: Grading, now: datetime) -> Graded:
    flags = review.flags_of(cycle.year)
    if flags:
        grading = replace(grading, reason=f"{grading.reason}; flagged: {'; '.join(flags)}", mid_term_flags=flags)
    graded_review = replace(review, status=ReviewStatus.GRADED, grading=grading)
    event = ReviewGraded(**_result_fields(graded_review, cycle), graded_at=now)
    if review.status is ReviewStatus.RE_REVIEW:
        final, completed = finalize(graded_review, cycle, now)
        return Graded(final, event, completed)
    return Graded(graded_review, event)


def _result_fields(review: Review, cycle: Cycle) -> dict[str, object]:
    grading, project = review.grading, review.project
    assert grading is not None
    return {
        "review_id": review.review_id,
        "cycle_id": cycle.cycle_id,
        "year": cycle.year,
        "order_id": review.order_id,
        "project_id": project.project_id,
        "team_id": project.team_id,
        "team_name": project.team_name,
        "lead_expert_id": project.lead_expert_id,
        "lead_name": project.lead_name,
        "institution": project.institution,
        "grade": grading.grade,
        "score": None if grading.score is None else as_score(grading.score),
        "panel_scores": tuple(as_score(s.weighted_score) for s in review.panel),
        "indicator_results": review.report.indicators if review.report else (),
        "reason": grading.reason,
        "rule_version": grading.rule_version,
        "round": review.round,
        "days_on_site": grading.days_on_site,
        "mid_term_flags": grading.mid_term_flags,
    }


# ---- the grade takes effect ----------------------------------------------------------------------


def finalize(review: Review, cycle: Cycle, now: datetime) -> tuple[Review, ReviewCompleted]:
    """The grade takes effect: ReviewCompleted, on which funding and the partners act."""
    if review.status is ReviewStatus.FINAL:
        raise ValueError(f"review {review.review_id} is already final")
    event = ReviewCompleted(
        **_result_fields(review, cycle),
        notice_ended_on=cycle.notice_ends_on,
        objection_id=review.objection.objection_id if review.objection else None,
        completed_at=now,
    )
    return replace(review, status=ReviewStatus.FINAL), event


def takes_effect(review: Review, cycle: Cycle, policy: ProgrammePolicy, now: datetime) -> bool:
    """A graded result takes effect once its cycle's notice is over (or there is no notice) and
    no objection to it is pending; an upheld objection's re-review takes effect when graded."""
    if review.status is not ReviewStatus.GRADED or review.objection_pending:
        return False
    if cycle.status is not CycleStatus.CLOSED:
        return False
    return policy.public_notice_working_days == 0 or cycle.notice_over(now)


# ---- objections (异议) ---------------------------------------------------------------------------


def lodge_objection(
    review: Review, cycle: Cycle, request: LodgeObjection, now: datetime
) -> tuple[Review, ObjectionLodged]:
    if cycle.status is not CycleStatus.CLOSED or cycle.notice_ends_on is None:
        raise RuleBroken(
            "results_not_published",
            f"the results of cycle {cycle.cycle_id} are not published yet; nothing to object to",
        )
    if review.objection is not None:
        raise RuleBroken(
            "objection_exists",
            f"objection {review.objection.objection_id} to {review.review_id} was already lodged "
            f"({review.objection.status}); one objection per result",
        )
    if review.status is not ReviewStatus.GRADED or cycle.notice_over(now):
        raise RuleBroken(
            "notice_period_over",
            f"the public notice of cycle {cycle.cycle_id} ended on {cycle.notice_ends_on} (Chongqing date); "
            f"today is {local_date(now)}: the result is in effect",
        )
    assert review.grading is not None
    objection = Objection(request.objection_id, request.grounds, request.lodged_by)
    event = ObjectionLodged(
        objection_id=request.objection_id,
        review_id=review.review_id,
        cycle_id=cycle.cycle_id,
        order_id=review.order_id,
        grade=review.grading.grade,
        grounds=request.grounds,
        lodged_by=request.lodged_by,
        notice_ends_on=cycle.notice_ends_on,
        lodged_at=now,
    )
    return replace(review, objection=objection), event


@dataclass(frozen=True, slots=True)
class ObjectionDecided:
    review: Review
    decided: ObjectionUpheld | ObjectionRejected
    completed: ReviewCompleted | None = None
    """A rejection after the notice ended lets the grade take effect at once."""


def decide_objection(
    review: Review,
    cycle: Cycle,
    objection_id: str,
    upheld: bool,
    reason: str,
    decided_by: str,
    policy: ProgrammePolicy,
    now: datetime,
) -> ObjectionDecided:
    objection = review.objection
    if objection is None or objection.objection_id != objection_id:
        raise RuleBroken("unknown_objection", f"no objection {objection_id} was lodged against {review.review_id}")
    if objection.status is not ObjectionStatus.PENDING:
        raise RuleBroken("objection_already_decided", f"objection {objection_id} was already {objection.status}")
    common = {
        "objection_id": objection_id,
        "review_id": review.review_id,
        "cycle_id": cycle.cycle_id,
        "order_id": review.order_id,
        "reason": reason,
        "decided_by": decided_by,
        "decided_at": now,
    }
    if upheld:
        earlier = review.earlier_reviewers | review.scorers
        reopened = replace(
            review,
            status=ReviewStatus.RE_REVIEW,
            objection=replace(objection, status=ObjectionStatus.UPHELD),
            round=review.round + 1,
            earlier_reviewers=earlier,
            panel=(),
            grading=None,
        )
        upheld_event = ObjectionUpheld(**common, round=reopened.round, earlier_reviewer_ids=tuple(sorted(earlier)))
        return ObjectionDecided(reopened, upheld_event)
    rejected = replace(review, objection=replace(objection, status=ObjectionStatus.REJECTED))
    event = ObjectionRejected(**common)
    if takes_effect(rejected, cycle, policy, now):
        final, completed = finalize(rejected, cycle, now)
        return ObjectionDecided(final, event, completed)
    return ObjectionDecided(rejected, event)


# ---- closing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Closing:
    cycle: Cycle
    graded: tuple[Graded, ...]
    """Reviews that were still open, graded at closing."""
    published: ReviewResultsPublished


def close_cycle(
    cycle: Cycle, reviews: Sequence[Review], rubric: ReviewRubric, policy: ProgrammePolicy, now: datetime
) -> Closing:
    """Grade what is still open and publish every result of the cycle (考核结果向社会公布).

    Closing before the deadline is refused while a review is open (`deadline_not_passed`):
    teams keep the whole submission period."""
    cycle.require_open()
    still_open = [r for r in reviews if r.status is ReviewStatus.OPEN]
    if still_open and not cycle.deadline_passed(now):
        raise RuleBroken(
            "deadline_not_passed",
            f"{len(still_open)} reviews of cycle {cycle.cycle_id} are open and the submission deadline "
            f"{cycle.submission_deadline} has not passed",
        )
    graded_now = tuple(grade_at_closing(r, cycle, rubric, policy, now) for r in still_open)
    final = {r.review_id: r for r in reviews} | {g.review.review_id: g.review for g in graded_now}
    today = local_date(now)
    notice_ends_on = policy.notice_ends_on(today)
    published = ReviewResultsPublished(
        cycle_id=cycle.cycle_id,
        year=cycle.year,
        results=tuple(public_result(r) for r in sorted(final.values(), key=lambda r: r.order_id)),
        notice_ends_on=notice_ends_on,
        published_at=now,
    )
    closed = replace(cycle, status=CycleStatus.CLOSED, published_on=today, notice_ends_on=notice_ends_on)
    return Closing(closed, graded_now, published)


def public_result(review: Review) -> PublicResult:
    """What the public sees of one project: no personal data beyond the lead's name."""
    if review.grading is None:
        raise ValueError(f"review {review.review_id} has no grade to publish")
    project, order = review.project, review.order
    return PublicResult(
        order_id=review.order_id,
        project=order.title,
        county_code=order.county_code,
        county_name=order.county_name,
        team_name=project.team_name,
        lead_name=project.lead_name,
        institution=project.institution,
        grade=review.grading.grade,
        score=None if review.grading.score is None else as_score(review.grading.score),
    )
