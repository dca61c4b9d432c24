"""Use cases of the matching service: one handler per event type it consumes, and the timer that
makes awards take effect when their public notice (公示) ends."""

from __future__ import annotations

from dataclasses import replace

from services.matching.adapters.repository import MatchingRepository, prefetch_known_experts
from services.matching.domain import awards, model, projects
from services.matching.recommendations import recommend_assignment, recommend_candidates
from services.matching.settings import MatchingConfig, weights_of
from shared import topics
from shared.clock import local_date
from shared.contract.events.funding import ContinuedFundingEligible, ProjectEnded, SuspensionLifted, TeamSuspended
from shared.contract.events.matching import (
    AwardOrder,
    DecideAwardObjection,
    DecideMemberChange,
    EndProject,
    ExpertProfileRecorded,
    ExpertRegistered,
    ExpertUpdated,
    ExtendProject,
    LodgeAwardObjection,
    RecommendAssignment,
    RequestMemberChange,
    TeamApplicationSubmitted,
    WithdrawApplication,
)
from shared.contract.events.orders import OrderCancelled, OrderPublished
from shared.messaging.context import EmitContext, MessageContext
from shared.messaging.routing import Subscription, on
from shared.policy import format_yuan
from shared.rules import RuleBroken
from shared.runtime.timers import Timer

END_AWARD_NOTICES = "end-award-notices"
"""The timer that makes every award whose public notice ended, with no objection pending, take
effect (TeamAccepted)."""

# ---- the talent registry ------------------------------------------------------------------------


async def on_expert_registered(ctx: MessageContext, data: ExpertRegistered) -> None:
    repo = MatchingRepository.of(ctx)
    new = await repo.save_expert(data, ctx.now())
    profile = model.registered_profile(data)
    ctx.emit(
        ExpertProfileRecorded(
            expert=model.expert_ref(profile),
            can_lead=profile.can_lead,
            specialties=data.specialties,
            new=new,
            recorded_at=ctx.now(),
        )
    )
    ctx.note(
        "expert registered" if new else "expert record updated",
        expert_id=data.expert_id,
        institution=data.institution,
        qualifications=list(data.qualifications),
        local_county=data.local_county_code,
    )


# ---- orders (read model) -----------------------------------------------------------------------


async def on_order_published(ctx: MessageContext, data: OrderPublished) -> None:
    repo = MatchingRepository.of(ctx)
    order = model.PublishedOrder.from_event(data)
    await repo.save_order(order, ctx.now())
    recommended = await recommend_candidates(repo, order, weights_of(ctx), ctx.now())
    ctx.emit(recommended)
    ctx.note(
        "order open for applications; candidates recommended",
        order_id=order.order_id,
        industry=order.industry,
        experts=[c.name for c in recommended.experts[:3]],
        teams=[c.name for c in recommended.teams[:3]],
    )


async def on_order_cancelled(ctx: MessageContext, data: OrderCancelled) -> None:
    repo = MatchingRepository.of(ctx)
    order = await repo.order(data.order_id)
    if order is None:
        ctx.note("cancelled order was never open for applications", order_id=data.order_id)
        return
    reason = f"订单已取消：{data.reason}"
    revoked = False
    if order.status is model.OrderStatus.UNDER_NOTICE:
        award = await repo.latest_award(order.order_id)
        awarded = await repo.application(award.application_id) if award else None
        if award is None or awarded is None:
            raise ValueError(f"order {order.order_id} is under notice without its award")
        revocation, declined_awarded = awards.void_for_cancellation(
            award, order, awarded, await repo.objections_to(award.award_id), reason, data.cancelled_by, ctx.now()
        )
        await repo.revoke_award(revocation.award, ctx.now())
        await repo.decide_objections(revocation.objections)
        await repo.decide(revocation.applications[0], reason, ctx.now())
        ctx.emit(revocation.event)
        ctx.emit(declined_awarded)
        order, revoked = revocation.order, True
    pending = await repo.applications_for_orders([order.order_id], pending_only=True)
    order, declined = model.close_order(order, tuple(pending), reason, ctx.now())
    await repo.save_order(order, ctx.now())
    for application, event in declined:
        await repo.decide(application, event.reason, ctx.now())
        ctx.emit(event)
    ctx.note(
        "order cancelled; pending applications declined" + ("; its award under notice revoked" if revoked else ""),
        order_id=order.order_id,
        declined=len(declined),
    )


# ---- applications ------------------------------------------------------------------------------


async def on_team_application_submitted(ctx: MessageContext, data: TeamApplicationSubmitted) -> None:
    repo = MatchingRepository.of(ctx)
    order = await repo.order(data.order_id)
    if await repo.application(data.application_id) is not None:
        raise RuleBroken("application_exists", f"application {data.application_id} was already submitted")
    eligibility = await repo.eligibility(data.team, data.order_id, lock=False)
    application, receipt = model.receive_application(data, order, eligibility, ctx.policy, ctx.now())
    await repo.add_application(application, ctx.now())
    ctx.emit(receipt)
    ctx.note(
        "team application received",
        order_id=data.order_id,
        application_id=data.application_id,
        team=data.team.name,
        lead=receipt.lead.name,
        team_size=receipt.team_size,
        funding_asked=format_yuan(data.funding_asked_fen),
        continued_support_of=data.continued_support_of,
    )


async def on_withdraw_application(ctx: MessageContext, data: WithdrawApplication) -> None:
    repo = MatchingRepository.of(ctx)
    application = await repo.application(data.application_id)
    if application is None or application.order_id != data.order_id:
        raise RuleBroken("unknown_application", f"there is no application {data.application_id} for {data.order_id}")
    application, event = model.withdraw(application, data.reason, ctx.now())
    await repo.decide(application, data.reason, ctx.now())
    ctx.emit(event)
    ctx.note("application withdrawn", order_id=data.order_id, application_id=data.application_id, reason=data.reason)


async def on_award_order(ctx: MessageContext, data: AwardOrder) -> None:
    repo, now = MatchingRepository.of(ctx), ctx.now()
    order = await repo.order(data.order_id)
    application = await repo.application(data.application_id)
    others = await repo.applications_for_orders([data.order_id], pending_only=True)
    if application is None:
        raise RuleBroken("unknown_application", f"there is no application {data.application_id}")
    eligibility = await repo.eligibility(application.team, data.order_id, lock=True)
    decision = awards.award(
        order,
        data.order_id,
        application,
        tuple(others),
        eligibility,
        data.awarded_by,
        ctx.policy,
        now,
        previous_awards=await repo.awards_of_order(data.order_id),
        approved_fen=data.approved_fen,
    )
    award = decision.award
    if decision.announced is not None:
        announced = ctx.emit(decision.announced)
        award = replace(award, correlation_id=announced.correlation_id, announced_event_id=announced.id)
    await repo.save_order(decision.order, now)
    await repo.decide(decision.awarded, data.note or "awarded", now)
    await repo.add_award(award, decision.awarded)
    if decision.accepted is not None:
        ctx.emit(decision.accepted)
    for declined, event in decision.declined:
        await repo.decide(declined, event.reason, now)
        ctx.emit(event)
    team = decision.awarded.team
    if decision.accepted is None:
        ctx.note(
            "order awarded; the award is publicly noticed (公示) before it takes effect",
            order_id=award.order_id,
            round=award.round,
            team=team.name,
            notice_ends_on=str(award.notice_ends_on),
            continued_support_of=decision.awarded.continued_support_of,
            approved=format_yuan(data.approved_fen) if data.approved_fen is not None else "as asked",
            others_declined=len(decision.declined),
        )
        return
    accepted = decision.accepted
    ctx.note(
        "team accepted the order as a project (定点、定人、定服务期), without public notice (policy)",
        order_id=accepted.order_id,
        project_id=accepted.project_id,
        team=accepted.team_name,
        lead=accepted.lead.name,
        people=1 + len(accepted.members) + len(accepted.local_talents),
        site=accepted.site,
        period=f"{accepted.service_period.start} +{accepted.service_period.months} months",
        approved=format_yuan(data.approved_fen) if data.approved_fen is not None else "as asked",
        others_declined=len(decision.declined),
    )


async def _take_effect(
    ctx: EmitContext,
    repo: MatchingRepository,
    award: awards.Award,
    order: model.PublishedOrder,
    why: str,
    *,
    caused_by: str | None = None,
) -> None:
    """The award takes effect: TeamAccepted, in the award's story (its correlation id), caused by
    `caused_by` (an event id; by default what the handler handles)."""
    application = await repo.application(award.application_id)
    if application is None:
        raise ValueError(f"award {award.award_id} names an unknown application {award.application_id}")
    experts = await repo.experts(application.expert_ids)
    effect = awards.take_effect(award, order, application, experts, ctx.now())
    await repo.accept_award(effect.award, ctx.now())
    await repo.save_order(effect.order, ctx.now())
    await repo.decide(effect.accepted, why, ctx.now())
    ctx.emit(effect.event, correlation_id=award.correlation_id, causation_id=caused_by)
    accepted = effect.event
    ctx.note(
        f"team accepted the order as a project (定点、定人、定服务期): {why}",
        order_id=accepted.order_id,
        project_id=accepted.project_id,
        team=accepted.team_name,
        lead=accepted.lead.name,
        people=1 + len(accepted.members) + len(accepted.local_talents),
        notice_ended_on=str(award.notice_ends_on),
        continued_support_of=accepted.continued_support_of,
    )


# ---- objections to an award (异议) ---------------------------------------------------------------


async def on_lodge_award_objection(ctx: MessageContext, data: LodgeAwardObjection) -> None:
    repo = MatchingRepository.of(ctx)
    order = await repo.order(data.order_id)  # locked first, as by every change of its award
    award = await repo.latest_award(data.order_id) if order is not None else None
    objection, lodged = awards.lodge_objection(
        data,
        award,
        await repo.application(data.application_id),
        await repo.objection(data.objection_id),
        await repo.objections_to(award.award_id) if award is not None else (),
        ctx.now(),
    )
    await repo.add_objection(objection)
    ctx.emit(lodged)
    ctx.note(
        "objection to an award lodged; the award waits for the bureau's decision",
        order_id=data.order_id,
        objection_id=data.objection_id,
        objector_application_id=data.application_id,
        notice_ends_on=str(lodged.notice_ends_on),
    )


async def on_decide_award_objection(ctx: MessageContext, data: DecideAwardObjection) -> None:
    repo, now = MatchingRepository.of(ctx), ctx.now()
    order = await repo.order(data.order_id)
    objection = awards.require_undecided(await repo.objection(data.objection_id), data)
    award = await repo.latest_award(data.order_id)
    if order is None or award is None or award.award_id != objection.award_id:
        raise ValueError(f"pending objection {objection.objection_id} is not to the standing award of its order")
    objections = await repo.objections_to(award.award_id)
    if data.upheld:
        applications = await repo.applications_for_orders([data.order_id], pending_only=False)
        revocation = awards.uphold(objection, award, order, applications, objections, data, now)
        await repo.revoke_award(revocation.award, now)
        await repo.save_order(revocation.order, now)
        await repo.reopen(revocation.applications)
        await repo.decide_objections(revocation.objections)
        ctx.emit(revocation.event)
        ctx.note(
            "objection upheld: the award is revoked and the order open again for a new award",
            order_id=data.order_id,
            objection_id=data.objection_id,
            revoked_application_id=award.application_id,
            reopened=len(revocation.applications),
            moot_objections=list(revocation.event.moot_objection_ids),
        )
        return
    rejection = awards.reject(objection, award, objections, data, now)
    await repo.decide_objections([rejection.objection])
    ctx.emit(rejection.event)
    ctx.note(
        "objection rejected: the award stands",
        order_id=data.order_id,
        objection_id=data.objection_id,
        notice_ends_on=str(award.notice_ends_on),
        takes_effect_now=rejection.takes_effect,
    )
    if rejection.takes_effect:
        await _take_effect(ctx, repo, award, order, "the last objection was rejected after the notice ended")


async def on_recommend_assignment(ctx: MessageContext, data: RecommendAssignment) -> None:
    repo = MatchingRepository.of(ctx)
    parts = await recommend_assignment(repo, data, weights_of(ctx), ctx.now())
    for part in parts:
        ctx.emit(part)
    ctx.note(
        "optimal assignment recommended",
        call=data.call,
        pairs=sum(len(p.pairs) for p in parts),
        unassigned_orders=sum(len(p.unassigned_orders) for p in parts),
        total_mismatch=round(parts[0].total_mismatch, 4),
        parts=len(parts),
    )


# ---- during the service period: member changes, the end, the extension ----------------------------


async def on_request_member_change(ctx: MessageContext, data: RequestMemberChange) -> None:
    repo = MatchingRepository.of(ctx)
    project = await repo.project(data.order_id)
    named = [e for e in (data.leaving_expert_id, data.joining_expert_id) if e is not None]
    change, requested = projects.request_change(
        data, project, await repo.member_change(data.change_id), await repo.experts(named), ctx.now()
    )
    await repo.add_member_change(change)
    ctx.emit(requested)
    ctx.note(
        "member change requested; it waits for the bureau's decision",
        order_id=data.order_id,
        change_id=data.change_id,
        kind=data.kind,
        leaving=requested.leaving.name if requested.leaving else None,
        joining=requested.joining.name if requested.joining else None,
        effective_from=str(data.effective_from),
    )


async def on_decide_member_change(ctx: MessageContext, data: DecideMemberChange) -> None:
    repo = MatchingRepository.of(ctx)
    project = await repo.project(data.order_id)
    change = projects.require_pending(await repo.member_change(data.change_id), data)
    if project is None or project.project_id != change.project_id:
        raise ValueError(f"member change {change.change_id} is not of the project of {data.order_id}")
    day = change.effective_from
    people = {m.expert_id for m in project.team_on(day)}
    joining = {change.joining_expert_id} if change.joining_expert_id is not None else set()
    checks = projects.TeamChecks(
        experts=await repo.experts(people | joining, lock=True),
        on_other_teams=await repo.on_other_teams(joining, project.project_id, day),
        suspended=await repo.suspended([project.team_id, *people, *joining]),
    )
    decision = projects.decide_change(change, project, data, checks, ctx.policy, ctx.now())
    await repo.decide_member_change(decision.change)
    if decision.approved is not None:
        await repo.change_team(decision.change)
        ctx.emit(decision.approved)
        approved = decision.approved
        ctx.note(
            "member change approved: the team as it stands from its date",
            order_id=data.order_id,
            change_id=data.change_id,
            effective_from=str(day),
            people=1 + len(approved.members) + len(approved.local_talents),
        )
        return
    assert decision.refused is not None
    ctx.emit(decision.refused)
    ctx.note("member change refused", order_id=data.order_id, change_id=data.change_id, rule=decision.refused.rule)


async def on_end_project(ctx: MessageContext, data: EndProject) -> None:
    repo = MatchingRepository.of(ctx)
    project, ended = projects.end_early(await repo.project(data.order_id), data, ctx.now())
    await repo.end_project(project, data.reason)
    ctx.emit(ended)
    ctx.note(
        "project ended early; its people are free from its end",
        order_id=data.order_id,
        project_id=ended.project_id,
        ended_on=str(ended.ended_on),
        planned_end=str(ended.planned_end),
        freed=len(ended.freed_expert_ids),
    )


async def on_extend_project(ctx: MessageContext, data: ExtendProject) -> None:
    repo = MatchingRepository.of(ctx)
    project, extended = projects.extend(await repo.project(data.order_id), data, ctx.policy)
    await repo.extend_project(project)
    ctx.emit(extended)
    ctx.note(
        "project extended",
        order_id=data.order_id,
        project_id=extended.project_id,
        months=f"{extended.previous_months} -> {extended.service_period.months}",
        planned_end=str(project.planned_end),
    )


async def on_project_ended(ctx: MessageContext, data: ProjectEnded) -> None:
    """Funding ended the project after a failed rectification: its people are free from that day."""
    repo = MatchingRepository.of(ctx)
    project = await repo.project(data.order_id)
    ended = projects.ended_by_funding(project, local_date(data.ended_at)) if project is not None else None
    if ended is None:
        ctx.note("project already ended, or unknown to matching", order_id=data.order_id, project_id=data.project_id)
        return
    await repo.end_project(ended, data.reason)
    ctx.note(
        "project ended after a failed rectification; its people are free",
        order_id=data.order_id,
        project_id=data.project_id,
        ended_on=str(ended.ended_on),
    )


# ---- suspensions (from funding) ----------------------------------------------------------------


async def on_team_suspended(ctx: MessageContext, data: TeamSuspended) -> None:
    await MatchingRepository.of(ctx).suspend(data)
    ctx.note(
        "team and lead suspended from applying",
        team_id=data.team_id,
        lead_expert_id=data.lead_expert_id,
        until=str(data.suspended_until),
    )


async def on_suspension_lifted(ctx: MessageContext, data: SuspensionLifted) -> None:
    lifted = await MatchingRepository.of(ctx).lift(data.team_id, data.lead_expert_id, data.review_id, ctx.now())
    ctx.note("suspension lifted; the team may apply again", team_id=data.team_id, rows=lifted)


async def on_continued_funding_eligible(ctx: MessageContext, data: ContinuedFundingEligible) -> None:
    await MatchingRepository.of(ctx).record_continued_support(data)
    ctx.note(
        "team may apply for continued support (继续支持) through its project",
        team_id=data.team_id,
        project_id=data.project_id,
        review_id=data.review_id,
        year=data.year,
    )


# ---- on a schedule -------------------------------------------------------------------------------


async def end_award_notices(ctx: EmitContext) -> None:
    """Every award whose public notice ended (its last day is before today's Chongqing date) with no
    objection pending takes effect: TeamAccepted. Idempotent: an award that took effect is no longer
    under notice, and a concurrent run waits on the order's lock and then finds it so."""
    repo, today = MatchingRepository.of(ctx), local_date(ctx.now())
    for order_id in await repo.orders_whose_notice_ended(today):
        order = await repo.order(order_id)
        award = await repo.latest_award(order_id)
        if order is None or award is None:
            continue
        pending = sum(1 for o in await repo.objections_to(award.award_id) if o.status is awards.ObjectionStatus.PENDING)
        if awards.takes_effect(award, pending, today):
            why = "its public notice ended without a pending objection"
            await _take_effect(ctx, repo, award, order, why, caused_by=award.announced_event_id)


INBOUND = [
    on(ExpertRegistered, on_expert_registered),
    on(ExpertUpdated, on_expert_registered),
    on(TeamApplicationSubmitted, on_team_application_submitted),
    on(WithdrawApplication, on_withdraw_application),
    on(AwardOrder, on_award_order),
    on(LodgeAwardObjection, on_lodge_award_objection),
    on(DecideAwardObjection, on_decide_award_objection),
    on(RecommendAssignment, on_recommend_assignment),
    on(RequestMemberChange, on_request_member_change),
    on(DecideMemberChange, on_decide_member_change),
    on(EndProject, on_end_project),
    on(ExtendProject, on_extend_project),
]

SUBSCRIPTIONS = [
    Subscription(topics.inbound("matching"), INBOUND, strict=True, prefetch=prefetch_known_experts),
    Subscription(
        topics.events("orders"),
        [on(OrderPublished, on_order_published), on(OrderCancelled, on_order_cancelled)],
    ),
    Subscription(
        topics.events("funding"),
        [
            on(TeamSuspended, on_team_suspended),
            on(SuspensionLifted, on_suspension_lifted),
            on(ContinuedFundingEligible, on_continued_funding_eligible),
            on(ProjectEnded, on_project_ended),
        ],
    ),
]


def timers(config: MatchingConfig) -> list[Timer]:
    return [Timer(END_AWARD_NOTICES, every_s=config.notice_check_every_s, run=end_award_notices)]
