"""The orders service on the real broker and PostgreSQL: lifecycle, redelivery, audit trail."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contract.events.orders import (
    CancelOrder,
    DemandEndorsed,
    DemandReturned,
    DemandSubmitted,
    PublishOrder,
)
from tests.builders import SHIZHU, new_order_id, tianma_demand
from tools.client import ProgrammeClient, TopicObserver, about

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHIZHU_SYSTEM = f"/counties/{SHIZHU}"
BUREAU = "/bureau/hrss"


async def test_a_village_demand_becomes_a_published_order(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    submit = await client.send(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县人力社保局"),
        source=SHIZHU_SYSTEM,
    )
    (submitted,) = await observer.wait_for(about(order_id, "OrderSubmitted"))
    endorse = await client.send(DemandEndorsed(order_id=order_id, endorsed_by="石柱县人力社保局"), source=SHIZHU_SYSTEM)
    await observer.wait_for(about(order_id, "OrderEndorsed"))
    publish = await client.send(
        PublishOrder(order_id=order_id, published_by="市人力社保局", call="2019年第一批"), source=BUREAU
    )
    (published,) = await observer.wait_for(about(order_id, "OrderPublished"))

    assert submitted.key == order_id.encode()
    assert submitted.envelope is not None and submitted.envelope.causation_id == submit.id
    assert submitted.envelope.correlation_id == submit.correlation_id
    assert submitted.envelope.source == "/services/orders"
    assert published.envelope is not None and published.envelope.causation_id == publish.id
    assert published.data["demand"]["place"]["village"] == "保合村"
    assert published.data["demand"]["funding_asked_fen"] == 15_000_000
    assert published.data["call"] == "2019年第一批"
    partitions = {o.partition for o in observer.seen if o.subject == order_id}
    assert len(partitions) == 1, "all events of one order stay on one partition"

    pool = orders_service.pool
    row = await pool.fetchrow("SELECT status, revision, call, county_name FROM orders WHERE order_id = $1", order_id)
    assert dict(row) == {"status": "published", "revision": 1, "call": "2019年第一批", "county_name": "石柱县"}
    history = await pool.fetch(
        "SELECT status, cause_event_id, cause_source, decided_by FROM order_history WHERE order_id = $1 ORDER BY seq",
        order_id,
    )
    assert [(h["status"], h["cause_event_id"], h["cause_source"]) for h in history] == [
        ("submitted", submit.id, SHIZHU_SYSTEM),
        ("endorsed", endorse.id, SHIZHU_SYSTEM),
        ("published", publish.id, BUREAU),
    ]
    assert history[2]["decided_by"] == "市人力社保局"


async def test_a_returned_demand_is_resubmitted_as_revision_two_then_cancelled(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    await client.send(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县"), source=SHIZHU_SYSTEM
    )
    await client.send(DemandReturned(order_id=order_id, returned_by="石柱县", reason="补充基线"), source=SHIZHU_SYSTEM)
    await client.send(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(title="天麻繁育（修订）"), submitted_by="石柱县"),
        source=SHIZHU_SYSTEM,
    )
    # the bureau cancels what it has seen submitted: its own topic is not ordered with the county's
    await observer.wait_for(about(order_id, "OrderSubmitted"), count=2)
    await client.send(
        CancelOrder(order_id=order_id, cancelled_by="市人力社保局", reason="与其他订单重复"), source=BUREAU
    )
    await observer.wait_for(about(order_id, "OrderCancelled"))
    revisions = [o.data["revision"] for o in observer.matching(about(order_id, "OrderSubmitted"))]
    assert revisions == [1, 2]
    (returned,) = observer.matching(about(order_id, "OrderReturned"))
    assert returned.data["reason"] == "补充基线"
    (cancelled,) = observer.matching(about(order_id, "OrderCancelled"))
    assert cancelled.data["previous_state"] == "submitted"
    row = await orders_service.pool.fetchrow("SELECT status, title, revision FROM orders WHERE order_id = $1", order_id)
    assert (row["status"], row["title"], row["revision"]) == ("cancelled", "天麻繁育（修订）", 2)


async def test_the_same_event_delivered_again_has_no_second_effect_and_emits_nothing(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    submit = await client.send(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县"), source=SHIZHU_SYSTEM
    )
    await observer.wait_for(about(order_id, "OrderSubmitted"))
    await client.send_envelope(submit)  # a partner's retry
    await client.send_envelope(submit, binary=True)  # the same event in binary content mode
    await client.send(DemandEndorsed(order_id=order_id, endorsed_by="石柱县"), source=SHIZHU_SYSTEM)
    await observer.wait_for(about(order_id, "OrderEndorsed"))  # same key: the copies were consumed before it

    assert len(observer.matching(about(order_id, "OrderSubmitted"))) == 1
    assert not [
        o for o in observer.seen if o.envelope and o.envelope.causation_id == submit.id and o.type != "OrderSubmitted"
    ]
    pool = orders_service.pool
    assert await pool.fetchval("SELECT count(*) FROM order_history WHERE order_id = $1", order_id) == 2
    inbox = await pool.fetch("SELECT outcome FROM inbox WHERE subject = $1", order_id)
    assert sorted(r["outcome"] for r in inbox) == ["applied", "applied"]


async def test_an_event_id_reused_for_different_content_is_dead_lettered_and_answered(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    first = await client.send(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县"), source=SHIZHU_SYSTEM
    )
    await observer.wait_for(about(order_id, "OrderSubmitted"))
    await client.send(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(title="另一个需求"), submitted_by="石柱县"),
        source=SHIZHU_SYSTEM,
        event_id=first.id,
    )
    (answer,) = await observer.wait_for(lambda o: o.type == "EventRejected" and o.data["rejected_event_id"] == first.id)
    assert answer.data["reason_code"] == "id_reused"
    (letter,) = await observer.wait_for(lambda o: o.header("dlt.reason") == "id_reused" and o.subject == order_id)
    assert letter.data["demand"]["title"] == "另一个需求"
    row = await orders_service.pool.fetchrow("SELECT title FROM orders WHERE order_id = $1", order_id)
    assert row["title"] == "保合村天麻种源繁育"
