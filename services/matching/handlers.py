"""Use cases of the matching service: one handler per event type it consumes."""

from __future__ import annotations

from services.matching.adapters.repository import MatchingRepository
from services.matching.domain import model
from services.matching.recommendations import recommend_assignment, recommend_candidates
from services.matching.settings import weights_of
from shared import topics
from shared.contract.events.funding import SuspensionLifted, TeamSuspended
from shared.contract.events.matching import (
    AwardOrder,
    ExpertProfileRecorded,
    ExpertRegistered,
    ExpertUpdated,
    RecommendAssignment,
    TeamApplicationSubmitted,
    WithdrawApplication,
)
from shared.contract.events.orders import OrderCancelled, OrderPublished
from shared.messaging.context import MessageContext
from shared.messaging.routing import Subscription, on
from shared.policy import format_yuan
from shared.rules import RuleBroken

# ---- the talent registry ------------------------------------------------------------------------


async def on_expert_registered(ctx: MessageContext, data: ExpertRegistered) -> None:
    repo = MatchingRepository.of(ctx)
    new, profile = await repo.save_expert(data, ctx.now())
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
    pending = await repo.applications_for_orders([order.order_id], pending_only=True)
    order, declined = model.close_order(order, tuple(pending), f"订单已取消：{data.reason}", ctx.now())
    await repo.save_order(order, ctx.now())
    for application, event in declined:
        await repo.decide(application, event.reason, ctx.now())
        ctx.emit(event)
    ctx.note("order cancelled; pending applications declined", order_id=order.order_id, declined=len(declined))


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
    repo = MatchingRepository.of(ctx)
    order = await repo.order(data.order_id)
    application = await repo.application(data.application_id)
    others = await repo.applications_for_orders([data.order_id], pending_only=True)
    if application is None:
        raise RuleBroken("unknown_application", f"there is no application {data.application_id}")
    eligibility = await repo.eligibility(application.team, data.order_id, lock=True)
    decision = model.award(order, data.order_id, application, tuple(others), eligibility, data.awarded_by, ctx.now())
    await repo.save_order(decision.order, ctx.now())
    await repo.decide(decision.accepted, data.note or "awarded", ctx.now())
    await repo.add_project(decision.accepted_event)
    ctx.emit(decision.accepted_event)
    for declined, event in decision.declined:
        await repo.decide(declined, event.reason, ctx.now())
        ctx.emit(event)
    accepted = decision.accepted_event
    ctx.note(
        "team accepted the order as a project (定点、定人、定服务期)",
        order_id=accepted.order_id,
        project_id=accepted.project_id,
        team=accepted.team_name,
        lead=accepted.lead.name,
        people=1 + len(accepted.members) + len(accepted.local_talents),
        site=accepted.site,
        period=f"{accepted.service_period.start} +{accepted.service_period.months} months",
        others_declined=len(decision.declined),
    )


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


INBOUND = [
    on(ExpertRegistered, on_expert_registered),
    on(ExpertUpdated, on_expert_registered),
    on(TeamApplicationSubmitted, on_team_application_submitted),
    on(WithdrawApplication, on_withdraw_application),
    on(AwardOrder, on_award_order),
    on(RecommendAssignment, on_recommend_assignment),
]

SUBSCRIPTIONS = [
    Subscription(topics.inbound("matching"), INBOUND, strict=True),
    Subscription(
        topics.events("orders"),
        [on(OrderPublished, on_order_published), on(OrderCancelled, on_order_cancelled)],
    ),
    Subscription(
        topics.events("funding"),
        [on(TeamSuspended, on_team_suspended), on(SuspensionLifted, on_suspension_lifted)],
    ),
]
