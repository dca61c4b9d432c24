"""The embedded Apache Kafka broker keeps its data, its committed offsets and its address
across a restart on the same data_dir, and serves the idempotent producer.

Standalone: uses no fixture of tests/conftest.py (it starts its own broker on a tmp dir)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from shared.kafka_access import KafkaAccess, access_of
from tools.stack.kafka import BrokerSecurity, KafkaBroker
from tools.stack.operators import BROKER, HEALTH
from tools.stack.security import SecurityStore

pytestmark = pytest.mark.integration

TOPIC = "embedded.kafka.check"
GROUP = "embedded-kafka-check"


def group_member(kafka: KafkaAccess | str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        TOPIC, **access_of(kafka).aiokafka(), group_id=GROUP, auto_offset_reset="earliest", enable_auto_commit=False
    )


async def _create_produce_consume(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=TOPIC, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        first = await producer.send_and_wait(TOPIC, b"first", key=b"k")
        second = await producer.send_and_wait(TOPIC, b"second", key=b"k")
    finally:
        await producer.stop()
    assert (first.offset, second.offset) == (0, 1)

    consumer = group_member(bootstrap)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
        assert (record.offset, record.value) == (0, b"first")
        await consumer.commit({TopicPartition(TOPIC, 0): 1})  # only the first one is done
    finally:
        await consumer.stop()


async def _check_after_restart(kafka: KafkaAccess | str) -> None:
    bootstrap = access_of(kafka)
    tp = TopicPartition(TOPIC, 0)
    consumer = group_member(bootstrap)
    await consumer.start()
    try:
        assert await consumer.committed(tp) == 1
        record = await asyncio.wait_for(consumer.getone(), 30)  # resumes after the committed offset
        assert (record.offset, record.value) == (1, b"second")
        assert (await consumer.end_offsets([tp]))[tp] == 2
    finally:
        await consumer.stop()

    reader = AIOKafkaConsumer(**bootstrap.aiokafka(), group_id=None, enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        batch = await reader.getmany(tp, timeout_ms=10_000, max_records=10)
        assert [r.value for r in batch.get(tp, [])] == [b"first", b"second"]
    finally:
        await reader.stop()

    producer = AIOKafkaProducer(**bootstrap.aiokafka(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        third = await producer.send_and_wait(TOPIC, b"third", key=b"k")
    finally:
        await producer.stop()
    assert third.offset == 2


def test_embedded_kafka_keeps_data_offsets_and_port_across_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "kafka"
    broker = KafkaBroker(data_dir).start(timeout_s=120)
    try:
        port = broker.port
        asyncio.run(_create_produce_consume(broker.bootstrap_servers))
    finally:
        broker.stop()
    assert broker.process is not None and broker.process.returncode is not None

    again = KafkaBroker(data_dir).start(timeout_s=120)
    try:
        assert again.port == port
        assert again.bootstrap_servers == f"127.0.0.1:{port}"
        asyncio.run(_check_after_restart(again.bootstrap_servers))
    finally:
        again.stop()


async def _refused(kafka: KafkaAccess) -> str:
    producer = AIOKafkaProducer(**kafka.aiokafka(), request_timeout_ms=5000)
    try:
        await asyncio.wait_for(producer.start(), 30)
    except KafkaConnectionError as exc:
        return str(exc)
    finally:
        await producer.stop()
    raise AssertionError(f"{kafka.principal} over {kafka.security_protocol} connected")


def test_a_broker_made_without_authentication_keeps_its_data_when_tls_and_scram_are_switched_on(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "kafka"
    broker = KafkaBroker(data_dir).start(timeout_s=120)
    try:
        asyncio.run(_create_produce_consume(broker.bootstrap_servers))
    finally:
        broker.stop()

    store = SecurityStore(tmp_path / "security").ensure()
    security = BrokerSecurity(
        store.broker_password,
        store.controller_password,
        store.health_password,
        keystore=store.broker_keystore,
        cafile=store.ca_cert,
    )
    secured = KafkaBroker(data_dir, security=security).start(timeout_s=120)
    try:
        brokers_own = store.access(BROKER, secured.bootstrap_servers, tls=True)
        asyncio.run(_check_after_restart(brokers_own))  # the brokers' credential was added to the old storage
        health = store.access(HEALTH, secured.bootstrap_servers, tls=True)
        assert secured.health_config()["sasl.username"] == HEALTH, "the readiness check logs in as health"
        stranger = SecurityStore(tmp_path / "another-ca").ensure()
        untrusted = KafkaAccess(
            secured.bootstrap_servers, "SASL_SSL", BROKER, store.broker_password, cafile=stranger.ca_cert
        )
        assert "Unable to bootstrap" in asyncio.run(_refused(untrusted)), "a broker it cannot verify"
        asyncio.run(_refused(KafkaAccess(secured.bootstrap_servers)))  # no TLS, no credentials
        asyncio.run(_refused(brokers_own.as_user(BROKER, "石柱县-guess")))
        asyncio.run(_refused(health.as_user(HEALTH, "石柱县-guess")))
    finally:
        secured.stop()
    assert (data_dir / "server.properties").stat().st_mode & 0o777 == 0o600, "it holds the listeners' passwords"
    assert (tmp_path / "security").stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (tmp_path / "security").rglob("*") if p.is_file())
