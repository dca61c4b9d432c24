"""Handlers are bound to event model classes and checked against the contract when a service
starts: a handler on the wrong topic or for the wrong type stops the start with a clear message."""

from __future__ import annotations

import pytest

from services.catalog import DEFINITIONS
from shared import topics
from shared.contract.events.matching import TeamAccepted
from shared.contract.events.orders import DemandEndorsed, DemandSubmitted
from shared.contract.registry import REGISTRY
from shared.messaging.context import MessageContext
from shared.messaging.routing import Subscription, WiringError, check_wiring, on


async def endorse_in_石柱县(ctx: MessageContext, data: DemandEndorsed) -> None:
    ctx.note("endorsed", order_id=data.order_id)


def test_every_service_is_wired_as_the_contract_delivers_its_events() -> None:
    for definition in DEFINITIONS:
        check_wiring(definition.name, definition.subscriptions, REGISTRY)
        for subscription in definition.subscriptions:
            assert subscription.handlers, f"{definition.name} subscribes to {subscription.topic} for nothing"
            for type_name in subscription.handlers:
                assert REGISTRY[type_name].topic == subscription.topic


def test_a_handler_bound_to_a_type_the_contract_puts_on_another_topic_stops_the_start() -> None:
    wrong = Subscription(topics.inbound("orders"), [on(TeamAccepted, endorse_in_石柱县)])  # type: ignore[arg-type]
    with pytest.raises(WiringError) as refused:
        check_wiring("orders", [wrong], REGISTRY)
    message = str(refused.value)
    assert "endorse_in_石柱县 bound to TeamAccepted on orders.inbound" in message
    assert "the contract puts TeamAccepted on matching.events" in message
    assert "endorse_in_石柱县 takes DemandEndorsed" in message


def test_a_handler_for_another_type_on_the_right_topic_is_refused_by_its_annotation() -> None:
    mismatched = Subscription(topics.inbound("orders"), [on(DemandSubmitted, endorse_in_石柱县)])  # type: ignore[arg-type]
    with pytest.raises(WiringError, match="bound to DemandSubmitted, but endorse_in_石柱县 takes DemandEndorsed"):
        check_wiring("orders", [mismatched], REGISTRY)


def test_one_type_with_two_handlers_or_a_topic_subscribed_twice_is_refused() -> None:
    twice = Subscription(topics.inbound("orders"), [on(DemandEndorsed, endorse_in_石柱县)] * 2)
    with pytest.raises(WiringError, match=r"DemandEndorsed has more than one handler on orders\.inbound"):
        check_wiring("orders", [twice], REGISTRY)
    once = Subscription(topics.inbound("orders"), [on(DemandEndorsed, endorse_in_石柱县)])
    with pytest.raises(WiringError, match=r"orders\.inbound is subscribed to more than once"):
        check_wiring("orders", [once, once], REGISTRY)
