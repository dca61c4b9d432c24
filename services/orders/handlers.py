"""Use cases of the orders service: one handler per inbound event type."""

from __future__ import annotations

from services.orders.adapters.repository import OrderRepository, prefetch_orders
from services.orders.domain.model import Order
from shared import topics
from shared.contract.authorization import county_of
from shared.contract.events.base import EventData
from shared.contract.events.matching import TeamAccepted
from shared.contract.events.orders import (
    CancelOrder,
    DemandEndorsed,
    DemandReturned,
    DemandSubmitted,
    PublishOrder,
    WithdrawDemand,
)
from shared.messaging.context import MessageContext
from shared.messaging.routing import Subscription, on
from shared.policy import format_yuan
from shared.rules import RuleBroken


async def _load(ctx: MessageContext, order_id: str) -> tuple[OrderRepository, Order]:
    repo = OrderRepository.of(ctx)
    order = await repo.get(order_id)
    if order is None:
        raise RuleBroken("unknown_order", f"there is no order {order_id}")
    return repo, order


async def _commit(
    ctx: MessageContext,
    repo: OrderRepository,
    order: Order,
    event: EventData,
    decided_by: str,
    note: str | None,
) -> None:
    repo.save(order, event_type=event.EVENT_TYPE, cause=ctx.envelope, decided_by=decided_by, note=note, at=ctx.now())
    ctx.emit(event)


async def on_demand_submitted(ctx: MessageContext, data: DemandSubmitted) -> None:
    repo = OrderRepository.of(ctx)
    existing = await repo.get(data.order_id)
    sender = county_of(ctx.envelope.source)
    if existing is None:
        order, event = Order.submit(
            order_id=data.order_id,
            demand=data.demand,
            submitted_by=data.submitted_by,
            sender_county=sender,
            policy=ctx.policy,
            now=ctx.now(),
        )
    else:
        order, event = existing.resubmit(
            demand=data.demand,
            submitted_by=data.submitted_by,
            sender_county=sender,
            policy=ctx.policy,
            now=ctx.now(),
        )
    await _commit(ctx, repo, order, event, data.submitted_by, None)
    place = data.demand.place
    ctx.note(
        "order submitted by county" if order.revision == 1 else "order resubmitted after return",
        order_id=order.order_id,
        county=place.county_name,
        place=f"{place.township}{place.village or ''}",
        industry=data.demand.industry,
        funding_asked=format_yuan(data.demand.funding_asked_fen),
        revision=order.revision,
    )


async def on_demand_endorsed(ctx: MessageContext, data: DemandEndorsed) -> None:
    repo, order = await _load(ctx, data.order_id)
    order, event = order.endorse(
        by=data.endorsed_by, note=data.note, sender_county=county_of(ctx.envelope.source), now=ctx.now()
    )
    await _commit(ctx, repo, order, event, data.endorsed_by, data.note)
    ctx.note(
        "order endorsed by county",
        order_id=order.order_id,
        county=order.demand.place.county_name,
        by=data.endorsed_by,
    )


async def on_demand_returned(ctx: MessageContext, data: DemandReturned) -> None:
    repo, order = await _load(ctx, data.order_id)
    order, event = order.return_to_village(
        by=data.returned_by, reason=data.reason, sender_county=county_of(ctx.envelope.source), now=ctx.now()
    )
    await _commit(ctx, repo, order, event, data.returned_by, data.reason)
    ctx.note("order returned to the village by county", order_id=order.order_id, reason=data.reason)


async def on_withdraw_demand(ctx: MessageContext, data: WithdrawDemand) -> None:
    repo, order = await _load(ctx, data.order_id)
    order, event = order.withdraw(
        by=data.withdrawn_by, reason=data.reason, sender_county=county_of(ctx.envelope.source), now=ctx.now()
    )
    await _commit(ctx, repo, order, event, data.withdrawn_by, data.reason)
    ctx.note("order withdrawn by county", order_id=order.order_id, reason=data.reason)


async def on_publish_order(ctx: MessageContext, data: PublishOrder) -> None:
    repo, order = await _load(ctx, data.order_id)
    order, event = order.publish(
        by=data.published_by, call=data.call, applications_close_on=data.applications_close_on, now=ctx.now()
    )
    await _commit(ctx, repo, order, event, data.published_by, data.call)
    ctx.note(
        "order published; expert teams may apply",
        order_id=order.order_id,
        call=data.call,
        industry=order.demand.industry,
        county=order.demand.place.county_name,
    )


async def on_cancel_order(ctx: MessageContext, data: CancelOrder) -> None:
    repo, order = await _load(ctx, data.order_id)
    order, event = order.cancel(by=data.cancelled_by, reason=data.reason, now=ctx.now())
    await _commit(ctx, repo, order, event, data.cancelled_by, data.reason)
    ctx.note("order cancelled by the bureau", order_id=order.order_id, reason=data.reason)


async def on_team_accepted(ctx: MessageContext, data: TeamAccepted) -> None:
    repo, order = await _load(ctx, data.order_id)
    order, event = order.award(
        project_id=data.project_id, team_id=data.team_id, team_name=data.team_name, now=ctx.now()
    )
    await _commit(ctx, repo, order, event, data.awarded_by, f"{data.team_name} ({data.team_id})")
    ctx.note("order awarded to a team", order_id=order.order_id, team=data.team_name, project_id=data.project_id)


HANDLERS = [
    on(DemandSubmitted, on_demand_submitted),
    on(DemandEndorsed, on_demand_endorsed),
    on(DemandReturned, on_demand_returned),
    on(WithdrawDemand, on_withdraw_demand),
    on(PublishOrder, on_publish_order),
    on(CancelOrder, on_cancel_order),
]

SUBSCRIPTIONS = [
    Subscription(topics.inbound("orders"), HANDLERS, strict=True, prefetch=prefetch_orders),
    Subscription(topics.events("matching"), [on(TeamAccepted, on_team_accepted)], prefetch=prefetch_orders),
]
