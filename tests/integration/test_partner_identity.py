"""Who may connect and what each principal may write, on the real broker with authentication on
(SASL/SCRAM-SHA-512, StandardAuthorizer, nothing allowed unless an ACL grants it).

The partners here use a stock client (confluent-kafka, librdkafka) configured exactly as
`expert-teams partners add` tells them; services use aiokafka as the services do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from confluent_kafka import KafkaError, Producer

from shared.contract.partners import principal_of
from shared.kafka_access import KafkaAccess
from shared.topics import REJECTIONS, answers, deadletter, events, inbound, partner_inbound
from tests.conftest import Infrastructure
from tools.keyring import open_partner_topics
from tools.stack.access_control import (
    Grant,
    admin_client,
    binding_of,
    delete_user,
    grants_on_broker,
    partner_grants,
    programme_names,
    revoke_all,
    service_grants,
    service_principal,
    sync_grants,
    upsert_user,
)
from tools.stack.security import new_password

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHIZHU = "/counties/500240"
TREASURY = "/treasury/cq-finance"


@pytest.fixture(scope="module")
def admin(infrastructure: Infrastructure) -> Any:
    if not infrastructure.kafka.sasl:
        pytest.fail(f"these tests need a broker that authenticates; this one is {infrastructure.kafka_kind} PLAINTEXT")
    return admin_client(infrastructure.kafka.confluent())


def onboard(admin: Any, infrastructure: Infrastructure, source: str, prefix: str) -> KafkaAccess:
    """What `expert-teams partners add` does: its own topics, a SCRAM user and the partner's ACLs."""
    asyncio.run(open_partner_topics(infrastructure.kafka, prefix, source))
    principal, password = principal_of(source), new_password()
    upsert_user(admin, principal, password)
    sync_grants(admin, f"User:{principal}", partner_grants(source, prefix))
    return infrastructure.kafka.as_user(principal, password)


def own(source: str, service: str) -> str:
    """The partner's own inbound topic of `service`."""
    return partner_inbound(service, principal_of(source))


@pytest.fixture
def shizhu(admin: Any, infrastructure: Infrastructure, topics_ready: str) -> Iterator[KafkaAccess]:
    access = onboard(admin, infrastructure, SHIZHU, topics_ready)
    yield access
    revoke_all(admin, access.principal)
    delete_user(admin, str(access.username))


def produce(access: KafkaAccess, topic: str, timeout_s: float = 20.0) -> KafkaError | None:
    """One record through librdkafka, as a partner's system would send it; the delivery error, if any."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**access.confluent(), "message.timeout.ms": int(timeout_s * 1000), "log_level": 0})
    producer.produce(topic, key=b"500240-2027-001", value=b"{}", on_delivery=lambda err, _msg: outcome.append(err))
    deadline = time.monotonic() + timeout_s + 5
    while not outcome and time.monotonic() < deadline:
        producer.poll(0.1)
    assert outcome, f"no delivery report for {topic} within {timeout_s + 5:.0f} s"
    return outcome[0]


async def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(
    infrastructure: Infrastructure, admin: Any
) -> None:
    anonymous = AIOKafkaProducer(bootstrap_servers=infrastructure.kafka.bootstrap_servers, request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(anonymous.start(), 30)
    await anonymous.stop()
    wrong = infrastructure.kafka.as_user(str(infrastructure.kafka.username), "not-the-password")
    guessing = AIOKafkaProducer(**wrong.aiokafka(), request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(guessing.start(), 30)
    await guessing.stop()


async def test_a_county_writes_its_inbound_topic_and_the_broker_refuses_it_every_service_topic(
    shizhu: KafkaAccess, topics_ready: str
) -> None:
    assert await asyncio.to_thread(produce, shizhu, f"{topics_ready}{own(SHIZHU, 'orders')}") is None
    for topic in (
        events("orders"),
        REJECTIONS,
        deadletter("orders"),
        own(SHIZHU, "funding"),
        own(SHIZHU, "matching"),
        own("/counties/500238", "orders"),
        answers("counties.500238"),
    ):
        refused = await asyncio.to_thread(produce, shizhu, f"{topics_ready}{topic}")
        assert refused is not None, f"石柱县 wrote {topic}"
        assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (topic, refused)


async def test_the_treasury_may_write_only_funding_input(
    admin: Any, infrastructure: Infrastructure, topics_ready: str
) -> None:
    treasury = await asyncio.to_thread(onboard, admin, infrastructure, TREASURY, topics_ready)
    try:
        assert await asyncio.to_thread(produce, treasury, f"{topics_ready}{own(TREASURY, 'funding')}") is None
        refused = await asyncio.to_thread(produce, treasury, f"{topics_ready}{own(SHIZHU, 'orders')}")
        assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        revoke_all(admin, treasury.principal)
        delete_user(admin, str(treasury.username))


async def test_a_service_writes_its_own_topics_and_not_another_services(
    admin: Any, infrastructure: Infrastructure, topics_ready: str
) -> None:
    principal, password = service_principal("matching"), new_password()
    upsert_user(admin, principal, password)
    sync_grants(
        admin, f"User:{principal}", service_grants("matching", [inbound("matching"), events("orders")], topics_ready)
    )
    producer = AIOKafkaProducer(**infrastructure.kafka.as_user(principal, password).aiokafka(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(f"{topics_ready}{events('matching')}", b"{}", key=b"500240-2027-001")
        await producer.send_and_wait(f"{topics_ready}{REJECTIONS}", b"{}", key=b"500240-2027-001")
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(f"{topics_ready}{events('orders')}", b"{}", key=b"500240-2027-001")
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(f"{topics_ready}{events('funding')}", b"{}", key=b"500240-2027-001")
    finally:
        await producer.stop()


async def test_revoked_credentials_are_refused_on_the_next_request_and_at_the_next_connection(
    admin: Any, infrastructure: Infrastructure, topics_ready: str
) -> None:
    county = await asyncio.to_thread(onboard, admin, infrastructure, "/counties/500238", topics_ready)
    topic = f"{topics_ready}{own('/counties/500238', 'orders')}"
    connected = AIOKafkaProducer(**county.aiokafka(), acks="all", request_timeout_ms=5000)
    await connected.start()
    try:
        await connected.send_and_wait(topic, b"{}", key=b"500238-2027-001")
        assert revoke_all(admin, county.principal), "its ACLs were there to delete"
        assert delete_user(admin, str(county.username))
        with pytest.raises(TopicAuthorizationFailedError):  # the connection it already had
            await connected.send_and_wait(topic, b"{}", key=b"500238-2027-002")
    finally:
        await connected.stop()
    again = AIOKafkaProducer(**county.aiokafka(), request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):  # a new connection: its password no longer authenticates
        await asyncio.wait_for(again.start(), 30)
    await again.stop()


async def test_syncing_removes_a_stale_grant_of_its_environment_and_leaves_another_environments(
    admin: Any, topics_ready: str
) -> None:
    principal = f"User:{service_principal('orders')}"
    here, there = f"{topics_ready}sync-here.", f"{topics_ready}sync-there."
    consumed = [inbound("orders"), events("matching")]
    sync_grants(admin, principal, service_grants("orders", consumed, there), programme_names(there))
    wanted_here = service_grants("orders", consumed, here)
    sync_grants(admin, principal, wanted_here, programme_names(here))
    stale = Grant(principal, "TOPIC", f"{here}{events('funding')}", "WRITE")
    admin.create_acls([binding_of(stale)], request_timeout=30)[binding_of(stale)].result(timeout=30)
    assert stale in grants_on_broker(admin, principal)

    report = sync_grants(admin, principal, wanted_here, programme_names(here))

    assert report.deleted == [stale], "orders may not write funding's events"
    assert report.created == []
    on_broker = grants_on_broker(admin, principal)
    assert wanted_here <= on_broker and stale not in on_broker
    assert service_grants("orders", consumed, there) <= on_broker, "the other environment's grants are kept"
