"""Matching's expert registry over PostgreSQL, one batch at a time (no broker): whether an
expert is new is read once per batch, and stays right when the same expert is registered
twice in one batch, in the batch after, and when a refusal makes the batch be applied record
by record."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import pytest_asyncio

from services.matching.service import DEFINITION
from shared.clock import FixedClock
from shared.contract.envelope import Envelope
from shared.contract.events.base import EventData
from shared.contract.events.matching import WithdrawApplication
from shared.db.migrations import load_stream, migrate
from shared.db.pool import create_pool
from shared.messaging.consumer import EventConsumer
from shared.messaging.records import Record
from shared.runtime.service import MESSAGING_MIGRATIONS
from tests.builders import expert_registered, new_id, new_order_id
from tests.matching_builders import PORTAL, REGISTRY
from tools.client import envelope_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

INBOUND = "matching.inbound"
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def matching(database_factory: Any) -> AsyncIterator[Any]:
    pool = await create_pool(await database_factory(f"experts_{new_id('DB')[-6:]}"), min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await migrate(
            conn, load_stream("messaging", MESSAGING_MIGRATIONS) + load_stream("matching", DEFINITION.migrations)
        )
    consumer = EventConsumer(
        service="matching", pool=pool, subscriptions=DEFINITION.subscriptions, clock=FixedClock(AT)
    )
    yield pool, consumer
    await pool.close()


def records(events: Sequence[tuple[EventData, str]], first_offset: int = 0) -> tuple[list[Envelope], list[Record]]:
    envelopes = [envelope_for(data, source=source, time=AT) for data, source in events]
    return envelopes, [
        Record(
            topic=INBOUND,
            partition=0,
            offset=first_offset + n,
            key=envelope.subject.encode(),
            value=envelope.to_structured_json(),
            headers=(("content-type", b"application/cloudevents+json"),),
        )
        for n, envelope in enumerate(envelopes)
    ]


async def recorded(pool: Any) -> list[tuple[str, str, bool, bool]]:
    """(expert id, name, new, can lead) of every ExpertProfileRecorded in the outbox, in order."""
    rows = await pool.fetch("SELECT value FROM outbox WHERE event_type = 'ExpertProfileRecorded' ORDER BY seq")
    data = [orjson.loads(r["value"])["data"] for r in rows]
    return [(d["expert"]["expert_id"], d["expert"]["name"], d["new"], d["can_lead"]) for d in data]


@pytest.mark.parametrize("with_a_refusal", [False, True], ids=["one transaction", "record by record"])
async def test_an_expert_registered_twice_in_one_batch_is_new_once_and_keeps_the_later_qualifications(
    matching: Any, with_a_refusal: bool
) -> None:
    pool, consumer = matching
    await pool.execute("TRUNCATE experts, outbox, inbox")
    liu = expert_registered("刘大会", "young_talent")
    liu_again = expert_registered("刘大会", "state_council_allowance", expert_id=liu.expert_id)
    guo = expert_registered("郭顺星", "state_council_allowance")
    refused = WithdrawApplication(application_id=new_id("APP"), order_id=new_order_id(), reason="团队调整")
    first = [(liu, REGISTRY), (guo, REGISTRY), *([(refused, PORTAL)] if with_a_refusal else []), (liu_again, REGISTRY)]
    _, batch = records(first)

    await consumer.process_batch(batch)
    await consumer.process_batch(records([(guo, REGISTRY)], first_offset=len(batch))[1])

    assert await recorded(pool) == [
        (liu.expert_id, "刘大会", True, False),
        (guo.expert_id, "郭顺星", True, True),
        (liu.expert_id, "刘大会", False, True),
        (guo.expert_id, "郭顺星", False, True),
    ]
    experts = {r["expert_id"]: list(r["qualifications"]) for r in await pool.fetch("SELECT * FROM experts")}
    assert experts == {liu.expert_id: ["state_council_allowance"], guo.expert_id: ["state_council_allowance"]}
    outcomes = sorted(r["outcome"] for r in await pool.fetch("SELECT outcome FROM inbox"))
    assert outcomes == ["applied"] * 4 + (["rejected"] if with_a_refusal else [])
