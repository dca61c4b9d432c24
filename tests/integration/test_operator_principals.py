"""The principals that run the programme, on the real broker (SASL/SCRAM-SHA-512, StandardAuthorizer,
nothing allowed without an ACL), as tests/conftest.py makes them the way the launcher does
(tools/stack/operators.py): the healthcheck's `health` passes the check and may do nothing else,
the job's `provisioner` makes topics but reads and writes none, the `operator` reads and writes
the programme but deletes nothing, and each one's ACLs on the broker are exactly the derived ones."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from shared.kafka_access import KafkaAccess
from shared.messaging.kafka import ensure_topics
from shared.topics import PARTNERS, TopicSpec, events
from tests.conftest import Infrastructure
from tools.stack.access_control import admin_client, grants_on_broker, users_on_broker
from tools.stack.kafka import _admin_sees_brokers
from tools.stack.operators import BROKER, HEALTH, OPERATOR, PROVISIONER, grants_of

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

TIMEOUT_S = 20.0


def admin_as(access: KafkaAccess) -> Any:
    return AdminClient({**access.confluent(), "log_level": 0})


def error_code(futures: dict[Any, Any]) -> int | None:
    """The Kafka error code the one future of a confluent-kafka admin call ends with (None: it
    succeeded). The admin client must live until then: a destroyed one fails its futures."""
    (future,) = futures.values()
    try:
        future.result(timeout=TIMEOUT_S)
    except KafkaException as exc:
        return int(exc.args[0].code())
    return None


def refused_code(access: KafkaAccess, call: str, *args: Any, **kwargs: Any) -> int | None:
    """The error code of one admin call as `access` (None: allowed)."""
    admin = admin_as(access)
    return error_code(getattr(admin, call)(*args, request_timeout=TIMEOUT_S, **kwargs))


def produce(access: KafkaAccess, topic: str) -> KafkaError | None:
    outcome: list[KafkaError | None] = []
    producer = Producer({**access.confluent(), "message.timeout.ms": int(TIMEOUT_S * 1000), "log_level": 0})
    producer.produce(topic, key=b"500240-2027-001", value=b"{}", on_delivery=lambda err, _msg: outcome.append(err))
    deadline = time.monotonic() + TIMEOUT_S + 5
    while not outcome and time.monotonic() < deadline:
        producer.poll(0.1)
    assert outcome, f"no delivery report for {topic}"
    return outcome[0]


def group_offsets(access: KafkaAccess, group: str) -> int | None:
    """The error code of asking for a consumer group's committed offsets (None: answered)."""
    return refused_code(access, "list_consumer_group_offsets", [ConsumerGroupTopicPartitions(group)])


async def read_one(access: KafkaAccess, topic: str) -> None:
    """Fetch from partition 0 of `topic` without a consumer group (as `follow` reads)."""
    consumer = AIOKafkaConsumer(**access.aiokafka(), group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await asyncio.wait_for(consumer.getmany(timeout_ms=2000), TIMEOUT_S)
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
def health(infrastructure: Infrastructure) -> KafkaAccess:
    return infrastructure.as_principal(HEALTH)


@pytest.fixture(scope="module")
def provisioner(infrastructure: Infrastructure) -> KafkaAccess:
    return infrastructure.as_principal(PROVISIONER)


@pytest.fixture(scope="module")
def operator(infrastructure: Infrastructure) -> KafkaAccess:
    access = infrastructure.as_principal(OPERATOR)
    assert infrastructure.kafka.username == OPERATOR, "the tests' clients act as the operator"
    return access


async def test_the_health_credential_passes_the_healthcheck_and_may_read_create_or_even_see_no_topic(
    health: KafkaAccess, topics_ready: str
) -> None:
    # what kafka-broker-api-versions.sh asks: the cluster's brokers (Metadata), then each one's
    # ApiVersions (which librdkafka sends on every connection it makes)
    assert await asyncio.to_thread(_admin_sees_brokers, health.confluent(), 10.0)
    metadata = await asyncio.to_thread(admin_as(health).list_topics, timeout=TIMEOUT_S)
    assert metadata.brokers, "the healthcheck sees the brokers"
    assert not [t for t in metadata.topics if t.startswith(topics_ready)], "and no topic of the programme"

    topic = f"{topics_ready}{events('orders')}"
    described = await asyncio.to_thread(admin_as(health).list_topics, topic=topic, timeout=TIMEOUT_S)
    error = described.topics[topic].error
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, "no leader to fetch from"
    refused = await asyncio.to_thread(produce, health, topic)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    name = f"{topics_ready}health-made-{uuid.uuid4().hex[:6]}"
    created = await asyncio.to_thread(refused_code, health, "create_topics", [NewTopic(name, 1, 1)])
    assert created == KafkaError.TOPIC_AUTHORIZATION_FAILED


async def test_the_provisioner_makes_and_corrects_topics_but_reads_and_writes_none(
    provisioner: KafkaAccess, topics_ready: str
) -> None:
    name = f"{topics_ready}provisioned-{uuid.uuid4().hex[:6]}.orders.events"
    report = await ensure_topics(provisioner, [TopicSpec(name, 2, "a topic the job makes")])
    assert report.created == [name]
    grown = await ensure_topics(provisioner, [TopicSpec(name, 3, "one more partition")])
    assert grown.fixed and "2 partitions, wanted 3" in grown.fixed[0]

    for topic in (name, f"{topics_ready}{events('orders')}", f"{topics_ready}{PARTNERS}"):
        with pytest.raises(TopicAuthorizationFailedError):
            await read_one(provisioner, topic)
        refused = await asyncio.to_thread(produce, provisioner, topic)
        assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, topic
    programme_topic = f"{topics_ready}{events('orders')}"
    deleted = await asyncio.to_thread(refused_code, provisioner, "delete_topics", [programme_topic])
    assert deleted == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert await asyncio.to_thread(group_offsets, provisioner, f"{topics_ready}orders") == (
        KafkaError.GROUP_AUTHORIZATION_FAILED
    ), "no consumer group, a service's neither"


async def test_the_operator_reads_and_writes_the_programme_sets_cluster_configs_and_deletes_no_topic(
    operator: KafkaAccess, provisioner: KafkaAccess, topics_ready: str
) -> None:
    topic = f"{topics_ready}{events('orders')}"  # the programme's own: it exists from the session's start
    assert await asyncio.to_thread(produce, operator, topic) is None
    await read_one(operator, topic)
    group = f"{topics_ready}operator-check"
    member = AIOKafkaConsumer(topic, **operator.aiokafka(), group_id=group, auto_offset_reset="earliest")
    await member.start()
    try:  # a consumer group of its own (Read on the group), its offsets committed
        assert await asyncio.wait_for(member.getmany(timeout_ms=10_000), 60)
        await asyncio.wait_for(member.commit(), 60)
    finally:
        await member.stop()
    assert await asyncio.to_thread(group_offsets, operator, group) is None, "and read back (Describe on it)"
    assert await asyncio.to_thread(group_offsets, provisioner, group) == KafkaError.GROUP_AUTHORIZATION_FAILED

    deleted = await asyncio.to_thread(refused_code, operator, "delete_topics", [topic])
    assert deleted == KafkaError.TOPIC_AUTHORIZATION_FAILED
    retention = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)],
    )
    altered = await asyncio.to_thread(refused_code, operator, "incremental_alter_configs", [retention])
    assert altered == KafkaError.TOPIC_AUTHORIZATION_FAILED, "the job's, not its"

    # client quotas need Alter configs on the cluster, as a broker's dynamic config does: asked
    # with validate_only, so nothing changes
    def cluster_config(access: KafkaAccess) -> int | None:
        entry = ConfigEntry("log.cleaner.threads", "1", incremental_operation=AlterConfigOpType.SET)
        (node, *_) = admin_as(access).list_topics(timeout=TIMEOUT_S).brokers
        resource = ConfigResource(ResourceType.BROKER, str(node), incremental_configs=[entry])
        return refused_code(access, "incremental_alter_configs", [resource], validate_only=True)

    assert await asyncio.to_thread(cluster_config, operator) is None
    assert await asyncio.to_thread(cluster_config, provisioner) == KafkaError.CLUSTER_AUTHORIZATION_FAILED


async def test_each_principals_acls_on_the_broker_are_exactly_the_derived_ones_and_the_old_admin_is_gone(
    infrastructure: Infrastructure,
) -> None:
    admin = admin_client(infrastructure.kafka.confluent())  # the operator may read ACLs and users
    for principal in (PROVISIONER, OPERATOR, HEALTH):
        on_broker = await asyncio.to_thread(grants_on_broker, admin, f"User:{principal}")
        assert on_broker == grants_of(principal), principal
    users = await asyncio.to_thread(users_on_broker, admin)
    assert {BROKER, PROVISIONER, OPERATOR, HEALTH} <= set(users)
    assert "admin" not in users
