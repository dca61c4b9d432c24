"""Use cases of the reviews service: one handler per event type it consumes, and the timer
that grades the reviews whose deadline passed without a report."""

from __future__ import annotations

from services.reviews.adapters.exports import export_after_commit
from services.reviews.adapters.repository import Cause, ReviewRepository
from services.reviews.domain.facts import OrderFacts, Project
from services.reviews.domain.grading import GRADE_LABELS
from services.reviews.domain.midterm import ProjectAtCheck, run_check
from services.reviews.domain.model import (
    Cycle,
    Graded,
    Review,
    accept_report,
    close_cycle,
    complete_if_ready,
    decide_objection,
    declare_conflict,
    finalize,
    grade_missing_report,
    lodge_objection,
    missing_report_due,
    open_cycle,
    record_score,
    takes_effect,
)
from services.reviews.domain.publication import export_name
from services.reviews.domain.service_record import check_activity, recorded_in, same_activity, service_year_of
from services.reviews.domain.team import stints_of, team_changed
from services.reviews.settings import ReviewsConfig, config_of
from shared import topics
from shared.clock import local_date
from shared.contract.events.funding import ProjectEnded
from shared.contract.events.matching import MemberChangeApproved, ProjectEndedEarly, ProjectExtended, TeamAccepted
from shared.contract.events.orders import OrderPublished
from shared.contract.events.reviews import (
    CloseReviewCycle,
    DecideObjection,
    LodgeObjection,
    OpenMidTermCheck,
    OpenReviewCycle,
    OutcomeReportSubmitted,
    PanelScoreSubmitted,
    RecordServiceActivity,
    ReviewCompleted,
    ReviewerConflictDeclared,
    ServiceActivityRecorded,
)
from shared.messaging.context import EmitContext, MessageContext
from shared.messaging.routing import Subscription, on
from shared.rules import RuleBroken
from shared.runtime.timers import Timer
from shared.working_days import WorkingCalendar

MISSING_REPORTS = "missing-reports"
"""The timer that grades what the submission deadline made due: reviews without a report (per
policy) and reviews whose panel completed before the deadline (by their panel)."""
PUBLIC_EXPORTS = "public-exports"
END_OF_NOTICE = "end-public-notices"
"""The timer that puts into effect (ReviewCompleted) the results whose public notice is over."""


async def _cycle(repo: ReviewRepository, cycle_id: str, *, exclusive: bool = False) -> Cycle:
    cycle = await repo.cycle(cycle_id, exclusive=exclusive)
    if cycle is None:
        raise RuleBroken("unknown_cycle", f"there is no review cycle {cycle_id}")
    return cycle


async def _open_cycle(repo: ReviewRepository, cycle_id: str, *, exclusive: bool = False) -> Cycle:
    cycle = await _cycle(repo, cycle_id, exclusive=exclusive)
    cycle.require_open()
    return cycle


async def _review(repo: ReviewRepository, cycle: Cycle, order_id: str) -> Review:
    review = await repo.review(cycle.cycle_id, order_id)
    if review is None:
        raise RuleBroken("not_under_review", f"order {order_id} is not under review in cycle {cycle.cycle_id}")
    return review


async def _record_grading(ctx: EmitContext, repo: ReviewRepository, graded: Graded, cause: Cause, message: str) -> None:
    review, event = graded.review, graded.graded
    await repo.grade(review, ctx.now(), cause)
    ctx.emit(event)
    ctx.note(
        message,
        review_id=event.review_id,
        order_id=event.order_id,
        team=event.team_name,
        grade=f"{event.grade} ({GRADE_LABELS[event.grade]})",
        score=event.score,
        round=event.round,
        reason=event.reason,
    )
    if graded.completed is not None:
        await _record_effect(ctx, repo, review, graded.completed, cause, "re-review by a new panel: grade in effect")


async def _record_effect(
    ctx: EmitContext, repo: ReviewRepository, review: Review, event: ReviewCompleted, cause: Cause, message: str
) -> None:
    await repo.finalize(review, ctx.now(), cause)
    ctx.emit(event)
    ctx.note(
        message,
        review_id=event.review_id,
        order_id=event.order_id,
        team=event.team_name,
        grade=f"{event.grade} ({GRADE_LABELS[event.grade]})",
        notice_ended_on=str(event.notice_ended_on),
        objection_id=event.objection_id,
    )


async def _complete_if_ready(ctx: MessageContext, repo: ReviewRepository, cycle: Cycle, review: Review) -> None:
    graded = complete_if_ready(review, cycle, config_of(ctx).rubric, ctx.policy, ctx.now())
    if graded is not None:
        await _record_grading(ctx, repo, graded, Cause.of(ctx.envelope), "project graded by its panel")


# ---- upstream facts (read models) -------------------------------------------------------------


async def on_order_published(ctx: MessageContext, data: OrderPublished) -> None:
    order = OrderFacts.from_event(data)
    await ReviewRepository.of(ctx).save_order(order, data.published_at)
    ctx.note(
        "published order's outcome targets recorded for its yearly reviews",
        order_id=order.order_id,
        title=order.title,
        targets=[t.indicator for t in order.targets],
    )


async def on_team_accepted(ctx: MessageContext, data: TeamAccepted) -> None:
    project = Project.from_event(data)
    await ReviewRepository.of(ctx).save_project(project, data.accepted_at)
    ctx.note(
        "project recorded for the yearly reviews",
        order_id=project.order_id,
        project_id=project.project_id,
        team=project.team_name,
        period=f"{project.service_period.start} +{project.service_period.months} months",
    )


async def on_member_change_approved(ctx: MessageContext, data: MemberChangeApproved) -> None:
    repo = ReviewRepository.of(ctx)
    project = await repo.project(data.order_id)
    if project is None:
        ctx.note("member change of a project never accepted here; ignored", order_id=data.order_id)
        return
    new_team = stints_of(data.lead, data.members, data.local_talents, data.effective_from)
    repo.save_team(project.order_id, team_changed(project.team, new_team, data.effective_from))
    ctx.note(
        "team changed: the team as it stands from the change's date",
        order_id=data.order_id,
        change_id=data.change_id,
        effective_from=str(data.effective_from),
        leaving=data.leaving.expert_id if data.leaving else None,
        joining=data.joining.expert_id if data.joining else None,
    )


async def on_project_ended_early(ctx: MessageContext, data: ProjectEndedEarly) -> None:
    known = await ReviewRepository.of(ctx).end_project(data.order_id, data.ended_on)
    ctx.note(
        "project ended early: no service recorded from its end, no later review cycle reviews it"
        if known
        else "ended project was never accepted here",
        order_id=data.order_id,
        ended_on=str(data.ended_on),
    )


async def on_project_extended(ctx: MessageContext, data: ProjectExtended) -> None:
    known = await ReviewRepository.of(ctx).extend_project(data.order_id, data.service_period.months)
    ctx.note(
        "service period extended" if known else "extended project was never accepted here",
        order_id=data.order_id,
        months=data.service_period.months,
        previous_months=data.previous_months,
    )


# ---- bureau staff --------------------------------------------------------------------------------


async def on_open_review_cycle(ctx: MessageContext, data: OpenReviewCycle) -> None:
    repo = ReviewRepository.of(ctx)
    projects = await repo.candidate_projects(data.year, data.additional_order_ids)
    cycle, reviews, opened = open_cycle(
        data,
        projects=projects,
        orders=await repo.orders(p.order_id for p in projects),
        existing=await repo.cycle(data.cycle_id),
        cycle_of_year=await repo.cycle_of_year(data.year),
        now=ctx.now(),
    )
    await repo.add_cycle(cycle, reviews, ctx.now(), Cause.of(ctx.envelope))
    for part in opened:
        ctx.emit(part)
    ctx.note(
        "review cycle opened; teams may report until the deadline",
        cycle_id=cycle.cycle_id,
        year=cycle.year,
        deadline=str(cycle.submission_deadline),
        reviews=len(reviews),
        messages=len(opened),
        added_by_the_bureau=list(data.additional_order_ids),
    )


async def on_close_review_cycle(ctx: MessageContext, data: CloseReviewCycle) -> None:
    repo = ReviewRepository.of(ctx)
    cycle = await _open_cycle(repo, data.cycle_id, exclusive=True)
    closing = close_cycle(
        cycle, await repo.reviews_of_cycle(cycle.cycle_id), config_of(ctx).rubric, ctx.policy, ctx.now()
    )
    cause = Cause.of(ctx.envelope)
    for graded in closing.graded:
        await _record_grading(ctx, repo, graded, cause, "project graded at closing")
    await repo.close_cycle(closing.cycle, data.closed_by, ctx.now())
    for part in closing.published.in_parts():
        ctx.emit(part)
    await repo.queue_export(closing.published, ctx.now())
    export_dir = config_of(ctx).export_dir
    ctx.after_commit(export_after_commit(closing.published, export_dir, ctx.clock.now))
    grades = [r.grade for r in closing.published.results]
    ctx.note(
        "review cycle closed; results published for public notice (公示)",
        cycle_id=cycle.cycle_id,
        notice_ends_on=str(closing.cycle.notice_ends_on),
        working_days=_calendar_note(closing.cycle),
        graded_at_closing=len(closing.graded),
        excellent=grades.count("excellent"),
        qualified=grades.count("qualified"),
        unqualified=grades.count("unqualified"),
        exports=[str(export_dir / export_name(cycle.cycle_id, form)) for form in ("json", "csv")],
    )
    if ctx.policy.public_notice_working_days == 0:
        await _put_into_effect(ctx, repo, closing.cycle, cause)


def _calendar_note(cycle: Cycle) -> str:
    years = sorted({d.year for d in (cycle.published_on, cycle.notice_ends_on) if d is not None})
    unknown = [y for y in years if not WorkingCalendar.knows(y)]
    if unknown:
        return f"PROVISIONAL: no holiday table for {unknown} in shared/working_days.py; lunar holidays not counted"
    return "Chongqing working days (statutory holidays and the policy's bridging days)"


async def _put_into_effect(ctx: EmitContext, repo: ReviewRepository, cycle: Cycle, cause: Cause) -> int:
    """Every graded result of the cycle whose notice is over with no objection pending takes effect."""
    done = 0
    for review in await repo.graded_reviews(cycle.cycle_id):
        if takes_effect(review, cycle, ctx.policy, ctx.now()):
            final, completed = finalize(review, cycle, ctx.now())
            await _record_effect(ctx, repo, final, completed, cause, "public notice over: grade in effect")
            done += 1
    return done


async def on_open_mid_term_check(ctx: MessageContext, data: OpenMidTermCheck) -> None:
    repo = ReviewRepository.of(ctx)
    exists = await repo.mid_term_check_exists(data.check_id)
    projects = [] if exists else await repo.projects_started_by(data.as_of)
    order_ids = [p.order_id for p in projects]
    days, indicators = await repo.service_days(order_ids), await repo.latest_indicators(order_ids)
    check = run_check(
        data,
        exists=exists,
        projects=[ProjectAtCheck(p, days.get(p.order_id, ()), indicators.get(p.order_id)) for p in projects],
        policy=ctx.policy,
        today=local_date(ctx.now()),
    )
    await repo.save_mid_term_check(check.completed, check.flagged, data.opened_by, ctx.now())
    for flagged in check.flagged:
        ctx.emit(flagged)
    ctx.emit(check.completed)
    ctx.note(
        "mid-term check made",
        check_id=data.check_id,
        as_of=str(data.as_of),
        checked=check.completed.checked,
        flagged={f.order_id: list(f.reasons) for f in check.flagged},
    )


# ---- teams (portal) and reviewers ------------------------------------------------------------


async def on_record_service_activity(ctx: MessageContext, data: RecordServiceActivity) -> None:
    repo = ReviewRepository.of(ctx)
    project = await repo.project(data.order_id)
    earlier = await repo.activity(data.activity_id)
    if earlier is not None:
        if not same_activity(earlier, data):
            raise RuleBroken(
                "id_reused", f"activity id {data.activity_id} was already used for another record of service"
            )
        ctx.note("service activity was already recorded", activity_id=data.activity_id, order_id=data.order_id)
        return
    published = project is not None or bool(await repo.orders([data.order_id]))
    project = check_activity(project, data, local_date(ctx.now()), order_published=published)
    await repo.add_activity(data, ctx.now())
    year = service_year_of(project.service_period, data.on)
    recorded = recorded_in((await repo.service_days([project.order_id])).get(project.order_id, ()), year)
    ctx.emit(
        ServiceActivityRecorded(
            activity_id=data.activity_id,
            order_id=project.order_id,
            project_id=project.project_id,
            team_id=project.team_id,
            expert_id=data.expert_id,
            on=data.on,
            kind=data.kind,
            people_trained=data.people_trained,
            hours=data.hours,
            days_on_site_this_year=recorded.days_on_site,
        )
    )
    ctx.note(
        "day of service recorded",
        activity_id=data.activity_id,
        order_id=project.order_id,
        on=str(data.on),
        service_year=str(year),
        days_on_site=recorded.days_on_site,
    )


async def on_outcome_report_submitted(ctx: MessageContext, data: OutcomeReportSubmitted) -> None:
    repo = ReviewRepository.of(ctx)
    cycle = await _open_cycle(repo, data.cycle_id)
    review, accepted = accept_report(await _review(repo, cycle, data.order_id), cycle, data, ctx.now())
    await repo.save_report(review, ctx.now(), Cause.of(ctx.envelope))
    ctx.emit(accepted)
    assert review.report is not None
    ctx.note(
        "outcome report accepted",
        review_id=review.review_id,
        order_id=review.order_id,
        report_id=data.report_id,
        achieved={i.indicator: f"{i.actual:g}/{i.target:g} {i.unit}" for i in review.report.indicators},
    )
    await _complete_if_ready(ctx, repo, cycle, review)


async def on_reviewer_conflict_declared(ctx: MessageContext, data: ReviewerConflictDeclared) -> None:
    repo = ReviewRepository.of(ctx)
    cycle = await _cycle(repo, data.cycle_id)
    review = declare_conflict(await _review(repo, cycle, data.order_id), cycle, data.reviewer_id)
    new = await repo.add_conflict(review, data.reviewer_id, data.reason, ctx.now(), Cause.of(ctx.envelope))
    ctx.note(
        "reviewer conflict declared; the reviewer may not score this project"
        if new
        else "reviewer conflict was already declared",
        review_id=review.review_id,
        reviewer_id=data.reviewer_id,
        reason=data.reason,
    )


async def on_panel_score_submitted(ctx: MessageContext, data: PanelScoreSubmitted) -> None:
    """Scores go to an open cycle's reviews, and to a re-review after the cycle closed."""
    repo = ReviewRepository.of(ctx)
    cycle = await _cycle(repo, data.cycle_id)
    review, recorded = record_score(
        await _review(repo, cycle, data.order_id), cycle, data, config_of(ctx).rubric, ctx.now()
    )
    await repo.add_score(review, review.panel[-1], ctx.now(), Cause.of(ctx.envelope))
    ctx.emit(recorded)
    ctx.note(
        "panel score recorded",
        review_id=review.review_id,
        reviewer_id=recorded.reviewer_id,
        weighted_score=recorded.weighted_score,
        panel_size=recorded.panel_size,
        round=review.round,
    )
    await _complete_if_ready(ctx, repo, cycle, review)


# ---- objections (异议) during the public notice --------------------------------------------------


async def on_lodge_objection(ctx: MessageContext, data: LodgeObjection) -> None:
    repo = ReviewRepository.of(ctx)
    cycle = await _cycle(repo, data.cycle_id)
    review, lodged = lodge_objection(await _review(repo, cycle, data.order_id), cycle, data, ctx.now())
    await repo.add_objection(review, ctx.now(), Cause.of(ctx.envelope))
    ctx.emit(lodged)
    ctx.note(
        "objection lodged; the result waits for the bureau's decision",
        review_id=review.review_id,
        objection_id=data.objection_id,
        grade=lodged.grade,
        by=data.lodged_by,
        notice_ends_on=str(lodged.notice_ends_on),
    )


async def on_decide_objection(ctx: MessageContext, data: DecideObjection) -> None:
    repo = ReviewRepository.of(ctx)
    cycle = await _cycle(repo, data.cycle_id)
    review = await _review(repo, cycle, data.order_id)
    decided = decide_objection(
        review, cycle, data.objection_id, data.upheld, data.reason, data.decided_by, ctx.policy, ctx.now()
    )
    cause = Cause.of(ctx.envelope)
    await repo.decide_objection(decided.review, data.decided_by, data.reason, ctx.now(), cause)
    ctx.emit(decided.decided)
    ctx.note(
        "objection upheld: a new panel reviews the project again"
        if data.upheld
        else "objection rejected: the published grade stands",
        review_id=review.review_id,
        objection_id=data.objection_id,
        by=data.decided_by,
        reason=data.reason,
    )
    if decided.completed is not None:
        await _record_effect(
            ctx, repo, decided.review, decided.completed, cause, "objection rejected after the notice: grade in effect"
        )


# ---- from funding ------------------------------------------------------------------------------------


async def on_project_ended(ctx: MessageContext, data: ProjectEnded) -> None:
    ended_on = local_date(data.ended_at)
    known = await ReviewRepository.of(ctx).end_project(data.order_id, ended_on)
    ctx.note(
        "project ended: later review cycles do not review it" if known else "ended project was never reviewed here",
        order_id=data.order_id,
        ended_on=str(ended_on),
    )


# ---- on a schedule -------------------------------------------------------------------------------


async def grade_missing_reports(ctx: EmitContext) -> None:
    """Once a cycle's deadline (a Chongqing date) has passed: grade per policy every open review
    without a report, and by its panel every open review whose report and panel were complete
    before it. Idempotent: a graded review is no longer open."""
    repo, now = ReviewRepository.of(ctx), ctx.now()
    rubric, policy = config_of(ctx).rubric, ctx.policy
    cause = Cause.timer(MISSING_REPORTS)
    for cycle in await repo.open_cycles_past_deadline(local_date(now)):
        for review in await repo.open_reviews_without_report(cycle.cycle_id):
            if not missing_report_due(review, cycle, now):
                continue
            graded = grade_missing_report(review, cycle, rubric, policy, now)
            await _record_grading(ctx, repo, graded, cause, "no report by the deadline; project graded")
        for review in await repo.open_reviews_with_report(cycle.cycle_id):
            ready = complete_if_ready(review, cycle, rubric, policy, now)
            if ready is not None:
                message = "submission deadline passed: project graded by its panel"
                await _record_grading(ctx, repo, ready, cause, message)


async def end_public_notices(ctx: EmitContext) -> None:
    """Once a closed cycle's public notice is over (the day after `notice_ends_on`, Chongqing
    date), every graded result with no objection pending takes effect: ReviewCompleted.
    Idempotent: a result in effect is no longer graded."""
    repo = ReviewRepository.of(ctx)
    for cycle in await repo.closed_cycles_past_notice(local_date(ctx.now())):
        await _put_into_effect(ctx, repo, cycle, Cause.timer(END_OF_NOTICE))


INBOUND = [
    on(OpenReviewCycle, on_open_review_cycle),
    on(OutcomeReportSubmitted, on_outcome_report_submitted),
    on(ReviewerConflictDeclared, on_reviewer_conflict_declared),
    on(PanelScoreSubmitted, on_panel_score_submitted),
    on(CloseReviewCycle, on_close_review_cycle),
    on(LodgeObjection, on_lodge_objection),
    on(DecideObjection, on_decide_objection),
    on(RecordServiceActivity, on_record_service_activity),
    on(OpenMidTermCheck, on_open_mid_term_check),
]

SUBSCRIPTIONS = [
    Subscription(topics.inbound("reviews"), INBOUND, strict=True),
    Subscription(topics.events("orders"), [on(OrderPublished, on_order_published)]),
    Subscription(
        topics.events("matching"),
        [
            on(TeamAccepted, on_team_accepted),
            on(MemberChangeApproved, on_member_change_approved),
            on(ProjectEndedEarly, on_project_ended_early),
            on(ProjectExtended, on_project_extended),
        ],
    ),
    Subscription(topics.events("funding"), [on(ProjectEnded, on_project_ended)]),
]


async def write_unwritten_exports(ctx: EmitContext) -> None:
    """Write the public files of any closed cycle whose files a crash left unwritten."""
    export_dir = config_of(ctx).export_dir
    for published in await ReviewRepository.of(ctx).unwritten_exports():
        ctx.after_commit(export_after_commit(published, export_dir, ctx.clock.now))
        ctx.note("public exports of a closed cycle written again", cycle_id=published.cycle_id)


def timers(config: ReviewsConfig) -> list[Timer]:
    return [
        Timer(MISSING_REPORTS, every_s=config.deadline_check_every_s, run=grade_missing_reports),
        Timer(PUBLIC_EXPORTS, every_s=config.export_check_every_s, run=write_unwritten_exports),
        Timer(END_OF_NOTICE, every_s=config.deadline_check_every_s, run=end_public_notices),
    ]
