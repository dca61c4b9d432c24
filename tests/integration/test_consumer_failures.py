"""Failures inside a consumer: a poison message is dead-lettered after bounded retries and its
partition moves on; a database outage rolls the batch back and never commits past it."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared import topics
from shared.contract.events.orders import DemandEndorsed
from shared.messaging.context import MessageContext
from shared.messaging.kafka import ensure_topics
from shared.messaging.routing import Subscription, on
from shared.runtime.service import ServiceDefinition, ServiceRuntime
from shared.topics import all_topics
from tests.builders import new_order_id
from tests.conftest import Infrastructure, kafka_settings, service_settings
from tests.signing import KEYRING, OPERATOR, signed
from tests.waiting import eventually
from tools.client import ProgrammeClient, TopicObserver

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHIZHU_SYSTEM = "/counties/500240"


class Behaviour:
    """A handler whose failures the test controls, by order id."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.transient_failures: dict[str, int] = {}
        self.poison: set[str] = set()

    async def on_endorsed(self, ctx: MessageContext, data: DemandEndorsed) -> None:
        self.calls[data.order_id] += 1
        if data.order_id in self.poison:
            raise ValueError(f"cannot handle {data.order_id}")
        if self.transient_failures.get(data.order_id, 0) > 0:
            self.transient_failures[data.order_id] -= 1
            raise ConnectionResetError("database connection lost")
        await ctx.conn.execute(
            "INSERT INTO endorsements (order_id) VALUES ($1) "
            "ON CONFLICT (order_id) DO UPDATE SET applied = endorsements.applied + 1",
            data.order_id,
        )
        ctx.note("endorsement recorded", order_id=data.order_id)


async def flaky_runtime(
    infrastructure: Infrastructure, prefix: str, database_url: str, **settings: Any
) -> tuple[ServiceRuntime, Behaviour]:
    """A started service whose one handler (DemandEndorsed on orders.inbound) fails as told."""
    # as many partitions as the service's settings want (kafka_settings: 3): the service acts as the
    # operator, which may not add partitions (the provisioner's right)
    await ensure_topics(infrastructure.provisioning, all_topics(partitions=3), prefix=prefix)
    behaviour = Behaviour()
    definition = ServiceDefinition(
        name="flaky",
        subscriptions=[
            Subscription(topics.inbound("orders"), [on(DemandEndorsed, behaviour.on_endorsed)], strict=True)
        ],
        migrations=Path(__file__).parent / "flaky_migrations",
    )
    runtime = ServiceRuntime(
        definition, service_settings(database_url, **settings), kafka_settings(infrastructure, prefix)
    )
    await runtime.start()
    return runtime, behaviour


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def flaky(infrastructure: Infrastructure, topics_ready: str, database_factory: Any) -> AsyncIterator[Any]:
    prefix = f"{topics_ready}flaky."
    runtime, behaviour = await flaky_runtime(
        infrastructure, prefix, await database_factory("flaky"), handler_max_attempts=3
    )
    async with (
        ProgrammeClient(
            infrastructure.kafka, topic_prefix=prefix, keyring=KEYRING, enrol=True, operator=OPERATOR
        ) as client,
        TopicObserver(infrastructure.kafka, [f"{prefix}flaky.deadletter", f"{prefix}rejections"]) as seen,
    ):
        yield runtime, behaviour, client, seen, prefix
    await runtime.stop()


async def applied(runtime: ServiceRuntime, order_id: str) -> int | None:
    value = await runtime.pool.fetchval("SELECT applied FROM endorsements WHERE order_id = $1", order_id)  # type: ignore[union-attr]
    return int(value) if value is not None else None


async def wait_applied(runtime: ServiceRuntime, order_id: str, timeout_s: float = 20) -> int:
    return await eventually(lambda: applied(runtime, order_id), f"{order_id} applied", timeout_s=timeout_s)


async def test_a_poison_message_is_dead_lettered_after_bounded_retries_and_its_partition_moves_on(flaky: Any) -> None:
    runtime, behaviour, client, seen, _ = flaky
    poison, after = new_order_id(), new_order_id()
    behaviour.poison.add(poison)
    key = poison.encode()  # both on one partition: the second waits behind the first
    first = await client.send(DemandEndorsed(order_id=poison, endorsed_by="石柱县"), source=SHIZHU_SYSTEM)
    second = await client.send_raw(
        client.topic_of("DemandEndorsed", SHIZHU_SYSTEM),
        await _signed_endorsement(client, after),
        key=key,
        headers=[("content-type", b"application/cloudevents+json")],
    )
    assert second.partition == (await _partition_of(client, key))

    assert await wait_applied(runtime, after) == 1
    assert behaviour.calls[poison] == 3, "three bounded attempts, then the dead letter"
    (letter,) = await seen.wait_for(lambda o: o.header("dlt.reason") == "handler_error" and o.subject == poison)
    assert "ValueError: cannot handle" in (letter.header("dlt.detail") or "")
    assert "after 3 attempts" in (letter.header("dlt.detail") or "")
    (answer,) = await seen.wait_for(lambda o: o.type == "EventRejected" and o.data["rejected_event_id"] == first.id)
    assert answer.data["reason_code"] == "handler_error"
    assert await applied(runtime, poison) is None


async def test_a_database_outage_rolls_back_and_never_commits_past_the_failed_event(
    flaky: Any, infrastructure: Infrastructure
) -> None:
    runtime, behaviour, client, _, prefix = flaky
    failing, following = new_order_id(), new_order_id()
    behaviour.transient_failures[failing] = 4
    key = failing.encode()
    first = await client.send_raw(
        client.topic_of("DemandEndorsed", SHIZHU_SYSTEM),
        await _signed_endorsement(client, failing),
        key=key,
        headers=[("content-type", b"application/cloudevents+json")],
    )
    await client.send_raw(
        client.topic_of("DemandEndorsed", SHIZHU_SYSTEM),
        await _signed_endorsement(client, following),
        key=key,
        headers=[("content-type", b"application/cloudevents+json")],
    )
    partition = TopicPartition(client.topic_of("DemandEndorsed", SHIZHU_SYSTEM), first.partition)
    admin = AIOKafkaAdminClient(**infrastructure.kafka.aiokafka())
    await admin.start()
    try:
        committed_while_failing: list[int] = []

        async def failures_over() -> bool:
            committed_while_failing.append(await _committed(admin, f"{prefix}flaky", partition))
            return bool(behaviour.transient_failures[failing] == 0)

        await eventually(failures_over, "the four transient failures were used up", timeout_s=60)
        assert await wait_applied(runtime, following) == 1
        assert await applied(runtime, failing) == 1
        assert committed_while_failing, "the failure window was observed"
        assert max(committed_while_failing) <= first.offset, "an offset past the failed event was committed"

        async def committed_past_both() -> bool:
            return bool(await _committed(admin, f"{prefix}flaky", partition) >= first.offset + 2)

        await eventually(committed_past_both, "the offset committed past both events")
    finally:
        await admin.close()
    assert behaviour.calls[failing] == 5, "four failed deliveries, then one success"
    assert behaviour.calls[following] == 1


async def _endorsement(order_id: str) -> Any:
    from datetime import UTC, datetime

    from tools.client import envelope_for

    return envelope_for(
        DemandEndorsed(order_id=order_id, endorsed_by="石柱县"), source=SHIZHU_SYSTEM, time=datetime.now(UTC)
    )


async def _signed_endorsement(client: ProgrammeClient, order_id: str) -> bytes:
    """The endorsement's bytes as 石柱县's system signs them (its key registered first)."""
    await client.enrol(SHIZHU_SYSTEM)
    return signed((await _endorsement(order_id)).to_structured_json())


async def _partition_of(client: ProgrammeClient, key: bytes) -> int:
    metadata = await client.send_raw(client.topic("rejections"), None, key=key)  # a tombstone only to locate the key
    return int(metadata.partition)


async def _committed(admin: AIOKafkaAdminClient, group: str, partition: TopicPartition) -> int:
    offsets = await admin.list_consumer_group_offsets(group, partitions=[partition])
    meta = offsets.get(partition)
    return -1 if meta is None or meta.offset is None else int(meta.offset)


async def test_a_record_whose_handler_always_raises_a_database_error_while_the_database_answers_is_dead_lettered(
    flaky: Any,
) -> None:
    runtime, behaviour, client, seen, _ = flaky
    stubborn, following = new_order_id(), new_order_id()
    behaviour.transient_failures[stubborn] = 10**9  # a "connection lost" that is really about this record
    key = stubborn.encode()
    for order_id in (stubborn, following):
        await client.send_raw(
            client.topic_of("DemandEndorsed", SHIZHU_SYSTEM),
            await _signed_endorsement(client, order_id),
            key=key,
            headers=[("content-type", b"application/cloudevents+json")],
        )

    assert await wait_applied(runtime, following, timeout_s=60) == 1
    (letter,) = await seen.wait_for(lambda o: o.header("dlt.reason") == "handler_error" and o.subject == stubborn)
    assert "ConnectionResetError" in (letter.header("dlt.detail") or "")
    redeliveries = runtime.settings.redeliveries_before_distrust
    assert behaviour.calls[stubborn] == redeliveries + 3, "bounded: the redeliveries, then three attempts alone"
    assert await applied(runtime, stubborn) is None


async def test_readiness_reports_a_stalled_partition_and_an_outbox_left_behind_and_their_recovery(
    infrastructure: Infrastructure, topics_ready: str, database_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"{topics_ready}stall."
    runtime, _ = await flaky_runtime(
        infrastructure,
        prefix,
        await database_factory("stall"),
        stall_after_s=1.0,
        progress_check_interval_s=0.2,
        outbox_max_age_s=30,
    )
    try:
        async with ProgrammeClient(
            infrastructure.kafka, topic_prefix=prefix, keyring=KEYRING, enrol=True, operator=OPERATOR
        ) as client:
            assert (await runtime.readiness())["consumer"] == "ok"
            assert runtime.consumer is not None
            working = runtime.consumer.process_batch

            async def defect(*args: Any, **kwargs: Any) -> None:
                raise RuntimeError("a defect in the pipeline")

            monkeypatch.setattr(runtime.consumer, "process_batch", defect)
            stuck = new_order_id()
            await client.send(DemandEndorsed(order_id=stuck, endorsed_by="石柱县"), source=SHIZHU_SYSTEM)

            async def stalled() -> dict[str, str] | None:
                checks = await runtime.readiness()
                return checks if checks["consumer"] != "ok" else None

            checks = await eventually(stalled, "readiness reported the stalled partition", every_s=0.1)
            assert checks["consumer"].startswith(f"stalled: {prefix}orders.inbound.counties.500240["), checks
            assert "1 record(s) waiting" in checks["consumer"]
            assert not runtime.is_ready(checks)
            metric = runtime.metrics.registry.get_sample_value
            assert metric("expert_teams_partitions_stalled", {"service": "flaky"}) == 1
            lag = [s for family in runtime.metrics.consumer_lag.collect() for s in family.samples]
            assert sum(s.value for s in lag if s.labels["topic"] == f"{prefix}orders.inbound.counties.500240") == 1, (
                "one record waits"
            )

            monkeypatch.setattr(runtime.consumer, "process_batch", working)
            assert await wait_applied(runtime, stuck, timeout_s=30) == 1

            async def consumer_ok() -> bool:
                return (await runtime.readiness())["consumer"] == "ok"

            await eventually(consumer_ok, "readiness recovered once the partition moved on", every_s=0.1)
            await runtime.check_progress()
            assert metric("expert_teams_partitions_stalled", {"service": "flaky"}) == 0

            assert runtime.relay is not None and runtime.pool is not None
            runtime.relay.stop()
            await runtime.pool.execute(
                "INSERT INTO outbox (topic, kafka_key, value, created_at) "
                "VALUES ($1, 'k', '{}', clock_timestamp() - interval '5 minutes')",
                f"{prefix}rejections",
            )
            await runtime.check_progress()
            checks = await runtime.readiness()
            assert checks["outbox"] == "behind: the oldest unpublished row is 300 s old (allowed 30 s)", checks
            assert not runtime.is_ready(checks)
            assert (metric("expert_teams_outbox_backlog_rows", {"service": "flaky"}) or 0) >= 1
            assert 300 <= (metric("expert_teams_outbox_oldest_age_seconds", {"service": "flaky"}) or 0) < 360
    finally:
        await runtime.stop()
