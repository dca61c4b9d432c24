"""The outbox relay: nothing lost across restarts, per-key order kept, one leader among replicas."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from shared.db.migrations import load_stream, migrate
from shared.db.pool import create_pool
from shared.messaging import outbox
from shared.messaging.kafka import make_producer
from shared.messaging.relay import OutboxRelay
from shared.runtime.service import MESSAGING_MIGRATIONS
from tests.conftest import Infrastructure, kafka_settings
from tests.waiting import eventually
from tools.client import TopicObserver

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

COUNTIES = ["500240", "500238", "500229", "500242", "500243"]


@pytest_asyncio.fixture(loop_scope="session")
async def relay_env(infrastructure: Infrastructure, topics_ready: str, database_factory: Any) -> AsyncIterator[Any]:
    url = await database_factory(f"relay_{uuid.uuid4().hex[:8]}")  # id(object()) repeats: a shared database
    pool = await create_pool(url, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, load_stream("messaging", MESSAGING_MIGRATIONS))
    producers: list[Any] = []

    async def new_relay(**kwargs: Any) -> OutboxRelay:
        producer = make_producer(kafka_settings(infrastructure, topics_ready), client_id="test-relay")
        await producer.start()
        producers.append(producer)
        return OutboxRelay(pool=pool, connect=lambda: asyncpg.connect(url), producer=producer, **kwargs)

    topic = f"{topics_ready}orders.events"
    observer = TopicObserver(infrastructure.kafka, [topic])
    await observer.start()
    yield pool, new_relay, topic, observer
    await observer.stop()
    for producer in producers:
        await producer.stop()
    await pool.close()


async def write_orders_events(pool: asyncpg.Pool[Any], topic: str, run: str, count: int) -> None:
    """`count` events over 5 keys, each committed in its own transaction like a handler's."""
    for n in range(count):
        key = f"{COUNTIES[n % len(COUNTIES)]}-{run}"
        value = json.dumps({"run": run, "key": key, "n": n}).encode()
        async with pool.acquire() as conn, conn.transaction():
            await outbox.append(conn, [outbox.OutboxMessage(topic=topic, key=key.encode(), value=value, subject=key)])


def delivered(observer: TopicObserver, run: str) -> list[dict[str, Any]]:
    out = []
    for o in observer.seen:
        try:
            body = json.loads(o.value or b"")
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("run") == run:
            out.append(body)
    return out


def assert_per_key_order(messages: list[dict[str, Any]]) -> None:
    """Per key, the first delivery of each event comes in commit order."""
    first_seen: dict[str, list[int]] = defaultdict(list)
    for m in messages:
        if m["n"] not in first_seen[m["key"]]:
            first_seen[m["key"]].append(m["n"])
    for key, ns in first_seen.items():
        assert ns == sorted(ns), f"events of {key} out of order: {ns}"


async def _now(answer: bool) -> bool:
    return answer


async def wait_all_published(pool: asyncpg.Pool[Any], run: str, count: int) -> None:
    async def all_published() -> bool:
        published = await pool.fetchval(
            "SELECT count(*) FROM outbox "
            "WHERE published_at IS NOT NULL AND convert_from(value, 'UTF8')::jsonb->>'run' = $1",
            run,
        )
        return bool(published == count)

    await eventually(all_published, f"all {count} rows of {run} published")


async def test_rows_written_while_the_relay_is_down_are_all_published_in_order_after_a_restart(relay_env: Any) -> None:
    pool, new_relay, topic, observer = relay_env
    run = "restart"
    await write_orders_events(pool, topic, run, 300)
    first = await new_relay(batch_size=40)
    task = asyncio.create_task(first.run())
    await eventually(lambda: _now(first.published_total >= 80), "the first relay published 80 rows", every_s=0.01)
    first.stop()
    await task
    assert 80 <= first.published_total < 300, "the first relay was stopped part way"
    second = await new_relay(batch_size=40)
    task = asyncio.create_task(second.run())
    await wait_all_published(pool, run, 300)
    await observer.wait_for(lambda o: (o.value or b"").startswith(b'{"run": "restart"'), count=300)
    second.stop()
    await task
    messages = delivered(observer, run)
    assert sorted({m["n"] for m in messages}) == list(range(300)), "nothing lost"
    assert len(messages) == 300, "a clean stop republishes nothing"
    assert_per_key_order(messages)


async def test_a_crash_between_publish_and_mark_republishes_and_loses_nothing(relay_env: Any) -> None:
    pool, new_relay, topic, observer = relay_env
    run = "crash"
    await write_orders_events(pool, topic, run, 50)
    relay = await new_relay(batch_size=50)
    original_execute = asyncpg.pool.PoolConnectionProxy.execute
    crashed = False

    async def execute_crashing_once(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        nonlocal crashed
        if query.startswith("UPDATE outbox SET published_at") and not crashed:
            crashed = True
            raise ConnectionResetError("relay lost its database connection after the broker acked")
        return await original_execute(self, query, *args, **kwargs)

    asyncpg.pool.PoolConnectionProxy.execute = execute_crashing_once  # type: ignore[method-assign]
    try:
        task = asyncio.create_task(relay.run())
        await wait_all_published(pool, run, 50)
    finally:
        asyncpg.pool.PoolConnectionProxy.execute = original_execute  # type: ignore[method-assign]
    relay.stop()
    await task
    await observer.wait_for(lambda o: (o.value or b"").startswith(b'{"run": "crash"'), count=100)
    messages = delivered(observer, run)
    assert crashed
    assert sorted({m["n"] for m in messages}) == list(range(50)), "nothing lost"
    assert len(messages) == 100, "the unmarked batch was published again (at least once)"
    assert_per_key_order(messages)


async def test_two_relay_replicas_elect_one_leader_and_keep_commit_order(relay_env: Any) -> None:
    pool, new_relay, topic, observer = relay_env
    run = "replicas"
    a, b = await new_relay(batch_size=25), await new_relay(batch_size=25)
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    await eventually(lambda: _now([a.is_leader, b.is_leader].count(True) == 1), "one relay took the lead")
    await asyncio.sleep(0.3)  # the other keeps standing by: still one leader a moment later
    assert [a.is_leader, b.is_leader].count(True) == 1
    await write_orders_events(pool, topic, run, 100)
    await wait_all_published(pool, run, 100)
    await observer.wait_for(lambda o: (o.value or b"").startswith(b'{"run": "replicas"'), count=100)
    a.stop()
    b.stop()
    await asyncio.gather(*tasks)
    messages = delivered(observer, run)
    assert len(messages) == 100
    assert_per_key_order(messages)


async def test_a_row_too_large_for_the_broker_is_named_in_the_error_and_stays_unpublished(relay_env: Any) -> None:
    from shared.messaging.relay import UnpublishableRow

    pool, new_relay, topic, _ = relay_env
    huge = json.dumps({"run": "huge", "key": "2026年第一批", "pairs": ["天麻" * 200_000]}).encode()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, [outbox.OutboxMessage(topic=topic, key=b"2026", value=huge, event_type="Huge")])
    seq = await pool.fetchval("SELECT max(seq) FROM outbox")
    relay = await new_relay()

    with pytest.raises(UnpublishableRow) as blocked:
        await relay.publish_pending()

    assert f"outbox row {seq} (Huge, {len(huge):,} bytes)" in str(blocked.value)
    assert await pool.fetchval("SELECT published_at FROM outbox WHERE seq = $1", seq) is None
    await pool.execute("DELETE FROM outbox WHERE seq = $1", seq)  # the operator's decision, here


class RefusingProducer:
    """A producer whose broker refuses the first attempt at the rows named, then takes everything."""

    def __init__(self, refuse_once: set[bytes]) -> None:
        self.refuse_once = set(refuse_once)
        self.delivered: list[tuple[bytes | None, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if value in self.refuse_once:
            self.refuse_once.discard(value)
            future.set_exception(ConnectionError("NotEnoughReplicas: the broker refused the batch"))
        else:
            self.delivered.append((key, value))
            future.set_result(None)
        return future

    async def stop(self) -> None:
        return None


async def test_a_row_after_a_failed_row_of_its_key_is_never_marked_published_before_it(relay_env: Any) -> None:
    pool, _, topic, _ = relay_env
    run = f"refused{uuid.uuid4().hex[:8]}"
    await write_orders_events(pool, topic, run, 10)  # keys cycle over 5 counties: n and n+5 share a key
    rows = await pool.fetch("SELECT value FROM outbox ORDER BY seq")
    refused = rows[1]["value"]  # n = 1, key 500238-…; n = 6 shares it
    producer = RefusingProducer({refused})
    relay = OutboxRelay(pool=pool, connect=asyncpg.connect, producer=producer)

    with pytest.raises(RuntimeError, match="1 of 10 outbox rows were not acknowledged"):
        await relay.publish_pending()
    unpublished = await pool.fetch("SELECT value FROM outbox WHERE published_at IS NULL ORDER BY seq")
    assert [json.loads(r["value"])["n"] for r in unpublished] == [1, 6], "the refused row and the later one of its key"

    assert await relay.publish_pending() == 2
    again = [json.loads(value)["n"] for _, value in producer.delivered[-2:]]
    assert again == [1, 6], "published again in order: the earlier row first"
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_a_transaction_writing_the_outbox_wakes_the_relay_once_at_its_commit_and_a_rollback_never(
    relay_env: Any,
) -> None:
    pool, _, topic, _ = relay_env
    heard: list[str] = []

    def hear(*notification: Any) -> None:
        heard.append(notification[2])

    listener = await pool.acquire()
    await listener.add_listener(outbox.NOTIFY_CHANNEL, hear)
    try:
        value = '{"county": "石柱县", "industry": "天麻"}'.encode()
        messages = [outbox.OutboxMessage(topic=topic, key=b"500240-wake", value=value, subject="500240-wake")] * 3
        async with pool.acquire() as conn:
            async with conn.transaction():
                await outbox.append(conn, messages[:1])
                await outbox.append(conn, messages[1:])
                await asyncio.sleep(0.3)
                assert heard == [], "nothing is heard before the commit"
            await eventually(lambda: _now(heard == [outbox.NOTIFY_CHANNEL]), "one notification at the commit")

            transaction = conn.transaction()
            await transaction.start()
            await outbox.append(conn, messages)
            await transaction.rollback()
        await asyncio.sleep(0.3)
        assert heard == [outbox.NOTIFY_CHANNEL], "a rolled-back write wakes nobody"
    finally:
        await listener.remove_listener(outbox.NOTIFY_CHANNEL, hear)  # UNLISTEN: pooled sessions keep no state
        await pool.release(listener)
