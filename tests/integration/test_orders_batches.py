"""The orders pipeline over PostgreSQL, one batch at a time (no broker): an order touched by
several events of a batch is read once and written once, a refused event in the middle undoes
nothing else, and a rebuild applies the same batch to an empty database emitting nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from services.orders.service import DEFINITION
from shared.clock import FixedClock
from shared.contract.envelope import Envelope
from shared.contract.events.base import EventData
from shared.contract.events.orders import DemandEndorsed, DemandSubmitted, PublishOrder
from shared.db.migrations import load_stream, migrate
from shared.db.pool import create_pool
from shared.messaging.consumer import EventConsumer
from shared.messaging.context import emitted_event_id
from shared.messaging.records import Record
from shared.runtime.service import MESSAGING_MIGRATIONS
from tests.builders import SHIZHU, new_order_id, tianma_demand
from tools.client import envelope_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHIZHU_SYSTEM = f"/counties/{SHIZHU}"
BUREAU = "/bureau/hrss"
INBOUND = "orders.inbound"
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


async def _consumer(database_factory: Any, name: str, *, rebuilding: bool = False) -> AsyncIterator[Any]:
    pool = await create_pool(await database_factory(name), min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await migrate(
            conn, load_stream("messaging", MESSAGING_MIGRATIONS) + load_stream("orders", DEFINITION.migrations)
        )
    consumer = EventConsumer(
        service="orders",
        pool=pool,
        subscriptions=DEFINITION.subscriptions,
        clock=FixedClock(AT),
        rebuilding=rebuilding,
    )
    yield pool, consumer
    await pool.close()


@pytest_asyncio.fixture(loop_scope="session")
async def orders(database_factory: Any) -> AsyncIterator[Any]:
    async for pair in _consumer(database_factory, f"batches_{new_order_id()[-6:]}"):
        yield pair


@pytest_asyncio.fixture(loop_scope="session")
async def rebuilt_orders(database_factory: Any) -> AsyncIterator[Any]:
    async for pair in _consumer(database_factory, f"rebuild_{new_order_id()[-6:]}", rebuilding=True):
        yield pair


def records(events: Sequence[tuple[EventData, str]]) -> tuple[list[Envelope], list[Record]]:
    envelopes = [envelope_for(data, source=source, time=AT) for data, source in events]
    return envelopes, [
        Record(
            topic=INBOUND,
            partition=0,
            offset=offset,
            key=envelope.subject.encode(),
            value=envelope.to_structured_json(),
            headers=(("content-type", b"application/cloudevents+json"),),
        )
        for offset, envelope in enumerate(envelopes)
    ]


def a_batch_with_one_refusal(tianma: str, gastrodia_too: str, unknown: str) -> list[tuple[EventData, str]]:
    return [
        (DemandSubmitted(order_id=tianma, demand=tianma_demand(), submitted_by="石柱县人力社保局"), SHIZHU_SYSTEM),
        (DemandEndorsed(order_id=tianma, endorsed_by="石柱县人力社保局"), SHIZHU_SYSTEM),
        (DemandEndorsed(order_id=unknown, endorsed_by="石柱县人力社保局"), SHIZHU_SYSTEM),
        (DemandSubmitted(order_id=gastrodia_too, demand=tianma_demand(), submitted_by="石柱县"), SHIZHU_SYSTEM),
        (PublishOrder(order_id=tianma, published_by="市人力社保局", call="2026年第一批"), BUREAU),
    ]


async def test_an_order_touched_three_times_in_one_batch_keeps_every_step_and_a_refusal_undoes_nothing(
    orders: Any,
) -> None:
    pool, consumer = orders
    tianma, other, unknown = new_order_id(), new_order_id(), new_order_id()
    sent, batch = records(a_batch_with_one_refusal(tianma, other, unknown))

    await consumer.process_batch(batch)

    states = {r["order_id"]: dict(r) for r in await pool.fetch("SELECT order_id, status, revision, call FROM orders")}
    assert states == {
        tianma: {"order_id": tianma, "status": "published", "revision": 1, "call": "2026年第一批"},
        other: {"order_id": other, "status": "submitted", "revision": 1, "call": None},
    }
    history = await pool.fetch(
        "SELECT status, cause_event_id FROM order_history WHERE order_id = $1 ORDER BY seq", tianma
    )
    assert [(h["status"], h["cause_event_id"]) for h in history] == [
        ("submitted", sent[0].id),
        ("endorsed", sent[1].id),
        ("published", sent[4].id),
    ]
    outbox = [
        (r["event_type"], r["subject"]) for r in await pool.fetch("SELECT event_type, subject FROM outbox ORDER BY seq")
    ]
    assert sorted(outbox, key=str) == sorted(
        [
            ("OrderSubmitted", tianma),
            ("OrderEndorsed", tianma),
            ("EventRejected", unknown),
            ("OrderSubmitted", other),
            ("OrderPublished", tianma),
            (None, None),  # the dead letter of the refused endorsement
        ],
        key=str,
    )
    inbox = await pool.fetch("SELECT event_id, outcome FROM inbox")
    assert {r["event_id"]: r["outcome"] for r in inbox}[sent[2].id] == "rejected"
    assert len(inbox) == 5
    assert consumer.counts == {"applied": 4, "rejected": 1}


async def test_a_rebuild_applies_the_same_batch_to_an_empty_database_and_emits_nothing(
    orders: Any, rebuilt_orders: Any
) -> None:
    tianma, other, unknown = new_order_id(), new_order_id(), new_order_id()
    _, batch = records(a_batch_with_one_refusal(tianma, other, unknown))
    (live_pool, live), (rebuilt_pool, rebuilt) = orders, rebuilt_orders

    await live.process_batch(batch)
    await rebuilt.process_batch(batch)
    await rebuilt.process_batch(batch)  # delivered again after a crash: the inbox absorbs it

    state = "SELECT order_id, status, revision, call, demand, created_at, updated_at FROM orders ORDER BY order_id"
    history = "SELECT order_id, status, event_type, cause_event_id, decided_by, at FROM order_history ORDER BY seq"
    inbox = "SELECT source, event_id, outcome FROM inbox ORDER BY event_id"
    for query in (state, history, inbox):
        assert [dict(r) for r in await rebuilt_pool.fetch(query)] == [dict(r) for r in await live_pool.fetch(query)]
    assert await rebuilt_pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await live_pool.fetchval("SELECT count(*) FROM outbox") == 6
    assert rebuilt.counts == {"applied": 4, "rejected": 1, "duplicate": 5}


async def test_the_ids_of_emitted_events_are_derived_from_their_cause_and_the_emitting_service(orders: Any) -> None:
    pool, consumer = orders
    tianma = new_order_id()
    sent, batch = records(
        [
            (DemandSubmitted(order_id=tianma, demand=tianma_demand(), submitted_by="石柱县"), SHIZHU_SYSTEM),
            (DemandEndorsed(order_id=tianma, endorsed_by="石柱县"), SHIZHU_SYSTEM),
        ]
    )

    await consumer.process_batch(batch)

    emitted = await pool.fetch("SELECT event_id, causation_id FROM outbox ORDER BY seq")
    assert [(r["event_id"], r["causation_id"]) for r in emitted] == [
        (emitted_event_id("orders", sent[0], 1), sent[0].id),
        (emitted_event_id("orders", sent[1], 1), sent[1].id),
    ]
    assert emitted_event_id("funding", sent[0], 1) != emitted_event_id("orders", sent[0], 1)
    assert emitted_event_id("orders", sent[0], 2) != emitted_event_id("orders", sent[0], 1)
