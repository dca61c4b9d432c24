"""The consumer pipeline over PostgreSQL (no broker), on a partner's own inbound topic: a refusal
is answered twice (the writer's answers topic with what it may read, the operator's `rejections`
in full), and an event too old or too far ahead of its arrival is refused without taking its
(source, id), so that the same event sent again in time is applied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import pytest_asyncio

from shared.clock import FixedClock
from shared.contract.events.orders import DemandEndorsed
from shared.db.migrations import load_stream, migrate
from shared.db.pool import create_pool
from shared.messaging.consumer import EventConsumer
from shared.messaging.context import MessageContext
from shared.messaging.records import LOG_APPEND_TIME, Record
from shared.messaging.routing import Subscription, on
from shared.rules import RuleBroken
from shared.runtime.service import MESSAGING_MIGRATIONS
from tests.builders import new_order_id
from tools.client import envelope_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHIZHU = "/counties/500240"  # 石柱县
TOPIC = "orders.inbound.counties.500240"
ARRIVED = datetime(2027, 3, 2, 1, 30, tzinfo=UTC)


async def endorse(ctx: MessageContext, data: DemandEndorsed) -> None:
    if data.endorsed_by == "冒名":
        raise RuleBroken(
            "decision_already_taken",
            f"order {data.order_id} was already returned by 王芳 of 石柱县人力社保局 on 1 March",
            answer=f"order {data.order_id} was already decided by its county",
        )
    ctx.note("endorsed", order_id=data.order_id)


@pytest_asyncio.fixture(loop_scope="session")
async def consumer(database_factory: Any) -> AsyncIterator[tuple[Any, EventConsumer]]:
    pool = await create_pool(await database_factory(f"answers_{new_order_id()[-6:]}"), min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await migrate(conn, load_stream("messaging", MESSAGING_MIGRATIONS))
    yield (
        pool,
        EventConsumer(
            service="orders",
            pool=pool,
            subscriptions=[Subscription("orders.inbound", [on(DemandEndorsed, endorse)], strict=True)],
            clock=FixedClock(ARRIVED),
        ),
    )
    await pool.close()


def record(order_id: str, endorsed_by: str, *, signed_at: datetime, offset: int, event_id: str) -> Record:
    envelope = envelope_for(
        DemandEndorsed(order_id=order_id, endorsed_by=endorsed_by), source=SHIZHU, time=signed_at, event_id=event_id
    )
    return Record(
        TOPIC,
        0,
        offset,
        order_id.encode(),
        envelope.to_structured_json(),
        (("content-type", b"application/cloudevents+json"),),
        timestamp_ms=int(ARRIVED.timestamp() * 1000),
        timestamp_type=LOG_APPEND_TIME,
    )


async def outbox(pool: Any) -> list[tuple[str, dict[str, Any]]]:
    rows = await pool.fetch("SELECT topic, value FROM outbox WHERE event_type = 'EventRejected' ORDER BY seq")
    return [(r["topic"], orjson.loads(r["value"])["data"]) for r in rows]


async def test_a_refusal_is_told_to_its_writer_without_names_and_kept_in_full_for_the_operator(
    consumer: tuple[Any, EventConsumer],
) -> None:
    pool, pipeline = consumer
    order_id = new_order_id()
    await pipeline.process_batch([record(order_id, "冒名", signed_at=ARRIVED, offset=1, event_id="石柱县-1")])
    answers = await outbox(pool)
    assert [topic for topic, _ in answers] == ["rejections", "answers.counties.500240"]
    (_, full), (_, told) = answers
    assert full["reason"] == f"order {order_id} was already returned by 王芳 of 石柱县人力社保局 on 1 March"
    assert told["reason"] == f"order {order_id} was already decided by its county"
    assert "王芳" not in told["reason"] and "人力社保局" not in told["reason"]
    assert full["reason_code"] == told["reason_code"] == "decision_already_taken"


async def test_a_stale_or_future_event_is_refused_without_taking_its_id(consumer: tuple[Any, EventConsumer]) -> None:
    pool, pipeline = consumer
    order_id = new_order_id()
    stale = record(order_id, "石柱县", signed_at=ARRIVED - timedelta(days=15), offset=2, event_id="石柱县-2")
    ahead = record(order_id, "石柱县", signed_at=ARRIVED + timedelta(minutes=6), offset=3, event_id="石柱县-3")
    await pipeline.process_batch([stale, ahead])
    codes = [(topic, data["reason_code"]) for topic, data in await outbox(pool) if data["rejected_subject"] == order_id]
    assert codes == [
        ("rejections", "stale"),
        ("answers.counties.500240", "stale"),
        ("rejections", "from_the_future"),
        ("answers.counties.500240", "from_the_future"),
    ]
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE subject = $1", order_id) == 0, "no id taken"

    in_time = record(order_id, "石柱县", signed_at=ARRIVED - timedelta(days=13), offset=4, event_id="石柱县-2")
    await pipeline.process_batch([in_time])
    outcome = await pool.fetchval("SELECT outcome FROM inbox WHERE source = $1 AND event_id = $2", SHIZHU, "石柱县-2")
    assert outcome == "applied", "the same id, sent again in time (13 days: a county's backlog after an outage)"
    answered = [d for _, d in await outbox(pool) if d["rejected_event_id"] == "石柱县-2"]
    late_copy = record(order_id, "石柱县", signed_at=ARRIVED - timedelta(days=40), offset=5, event_id="石柱县-2")
    await pipeline.process_batch([late_copy])
    assert [d for _, d in await outbox(pool) if d["rejected_event_id"] == "石柱县-2"] == answered, (
        "a late copy of an event applied before is a duplicate: nothing said"
    )
    assert pipeline.counts["duplicate"] == 1
