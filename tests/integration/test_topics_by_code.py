"""Topics are configured by code: created with their partitions, replication, min ISR and
retention; a topic that drifted is reported and corrected, what cannot be corrected is reported.
All as the `provisioner`, whose job it is (tools/stack/operators.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.kafka_access import KafkaAccess
from shared.messaging.kafka import ensure_topics
from shared.settings import KafkaSettings
from shared.topics import TopicSpec
from tests.conftest import Infrastructure

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def described(kafka: KafkaAccess, name: str) -> tuple[int, dict[str, str]]:
    admin = AIOKafkaAdminClient(**kafka.aiokafka())
    await admin.start()
    try:
        (topic,) = await admin.describe_topics([name])
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        entries = response.resources[0][4]
        return len(topic["partitions"]), {entry[0]: entry[1] for entry in entries}
    finally:
        await admin.close()


async def test_a_new_topic_keeps_its_records_forever_with_its_partitions(
    infrastructure: Infrastructure, run_id: str
) -> None:
    name = f"t{run_id}.new.orders.audit"
    report = await ensure_topics(infrastructure.provisioning, [TopicSpec(name, 4, "石柱县 orders")])

    assert report.created == [name]
    partitions, configs = await described(infrastructure.provisioning, name)
    assert partitions == 4
    assert configs["retention.ms"] == "-1"
    assert configs["retention.bytes"] == "-1"
    assert configs["min.insync.replicas"] == "1"
    assert configs["cleanup.policy"] == "delete"


async def test_a_topic_that_drifted_is_reported_and_corrected_and_a_wrong_replication_is_reported(
    infrastructure: Infrastructure, run_id: str
) -> None:
    name = f"t{run_id}.drift.funding.events"
    admin = AIOKafkaAdminClient(**infrastructure.provisioning.aiokafka())
    await admin.start()
    try:  # made by hand, as an operator might: two partitions, Kafka's seven-day retention
        await admin.create_topics([NewTopic(name, 2, 1, topic_configs={"retention.ms": "604800000"})])
    finally:
        await admin.close()
    spec = [TopicSpec(name, 3, "funding")]

    checked = await ensure_topics(infrastructure.provisioning, spec, fix=False)
    assert [line.split(":")[0] for line in checked.unfixable] == [name]
    assert "2 partitions, wanted 3" in checked.unfixable[0]
    assert "retention.ms=604800000 (wanted -1)" in checked.unfixable[0]
    assert (await described(infrastructure.provisioning, name))[0] == 2, "a check changes nothing"

    fixed = await ensure_topics(infrastructure.provisioning, spec)
    assert [line.split(":")[0] for line in fixed.fixed] == [name]
    partitions, configs = await described(infrastructure.provisioning, name)
    assert (partitions, configs["retention.ms"]) == (3, "-1")
    assert (await ensure_topics(infrastructure.provisioning, spec)).in_order == [name]

    three: Any = KafkaSettings(bootstrap_servers=infrastructure.provisioning.bootstrap_servers, replication_factor=3)
    wanted_three = await ensure_topics(infrastructure.provisioning, spec, settings=three)
    assert wanted_three.unfixable == [
        f"{name}: replication factor 1, wanted 3 (reassign its partitions: kafka-reassign-partitions)"
    ]


async def test_a_producer_keeps_every_topic_it_wrote_when_a_partners_topic_is_created_after_it_started(
    infrastructure: Infrastructure, topics_ready: str
) -> None:
    """aiokafka tracks no topic a producer learnt at start; the first send to a topic created later
    would make it the only one refreshed, and records for the others would wait without a leader
    until the request timeout (the relay publishes to partners' answers topics created while it runs)."""
    from aiokafka import AIOKafkaProducer

    from shared.messaging.kafka import track_topic

    producer = AIOKafkaProducer(**infrastructure.kafka.aiokafka(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        rejections = f"{topics_ready}rejections"
        track_topic(producer, rejections)
        await producer.send_and_wait(rejections, b"{}", key=b"500240-2027-001")
        created = f"{topics_ready}answers.counties.500240.t{uuid.uuid4().hex[:6]}"
        await ensure_topics(infrastructure.kafka, [TopicSpec(created, 1, "石柱县's answers")])
        track_topic(producer, created)
        await producer.send_and_wait(created, b"{}", key=b"500240-2027-001")
        await producer.client.force_metadata_update()
        assert producer.client.cluster.partitions_for_topic(rejections), "the earlier topic was forgotten"
        await asyncio.wait_for(producer.send_and_wait(rejections, b"{}", key=b"500240-2027-001"), timeout=5)
    finally:
        await producer.stop()
