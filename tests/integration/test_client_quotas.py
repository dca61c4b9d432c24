"""Client quotas of a partner's principal on the real broker (tools/stack/quotas.py): set, read
back, changed and removed through AlterClientQuotas / DescribeClientQuotas v1, refused to anyone
but the operator, and enforced: a partner flooding a topic as fast as it can is held to its
producer quota, while the same flood without a quota goes far beyond it.

How Kafka enforces a byte-rate quota decides how the flood is measured. Each broker keeps the
principal's rate over `quota.window.num` (11) samples of `quota.window.size.seconds` (1 s) and
divides by at least 10 s: a client may send ten seconds' worth of its quota at once, and the
request that goes over it is answered with a throttle time for which the broker mutes the
connection (KIP-219), until the average over the window is back at the quota. So the flood lasts
one window (10 s), and its rate is what the broker accepted from it over the whole flood, from
the first send until every record is acknowledged: a shorter flood would be mostly the first
burst, and the samples of a much longer one would roll over into a second burst mid-flood."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
import structlog
from aiokafka import AIOKafkaProducer

from shared.kafka_access import KafkaAccess
from shared.messaging.kafka import ensure_topics
from shared.topics import TopicSpec
from tests.conftest import Infrastructure
from tools.stack.access_control import Grant, admin_client, delete_user, revoke_all, sync_grants, upsert_user
from tools.stack.quotas import KIB, PartnerQuotas, QuotaRefused, read_quotas, remove_quotas, set_quotas
from tools.stack.security import new_password

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
log = structlog.get_logger("tests")

RECORD_BYTES = 4 * KIB
"""A large CloudEvent of a partner (1-4 KB)."""
FLOOD_QUOTA = 64 * KIB
THROTTLED_FLOOD_S = 10.0
"""Kafka's quota window: rates are divided by at least 10 s (11 one-second samples)."""
FREE_FLOOD_S = 3.0


@pytest.fixture(scope="module")
def admin(infrastructure: Infrastructure) -> Any:
    if not infrastructure.kafka.sasl:
        pytest.fail(f"these tests need a broker that authenticates; this one is {infrastructure.kafka_kind} PLAINTEXT")
    return admin_client(infrastructure.kafka.confluent())


@dataclass(frozen=True)
class Partner:
    user: str
    access: KafkaAccess


@pytest_asyncio.fixture(loop_scope="session")
async def partners(admin: Any, infrastructure: Infrastructure, run_id: str) -> AsyncIterator[Any]:
    """Makes partner principals (SCRAM users with the given grants), as `partners add` does;
    deletes their ACLs, users and quotas afterwards."""
    made: list[str] = []

    def make(role: str, grants: Iterable[tuple[str, str, str]] = ()) -> Partner:
        user, password = f"t{run_id}.quotas.{role}", new_password()
        upsert_user(admin, user, password)
        made.append(user)
        sync_grants(admin, f"User:{user}", {Grant(f"User:{user}", *grant) for grant in grants})
        return Partner(user, infrastructure.kafka.as_user(user, password))

    yield make
    for user in made:
        revoke_all(admin, f"User:{user}")
        delete_user(admin, user)
        await remove_quotas(infrastructure.kafka, user)


async def test_quotas_set_for_a_principal_are_read_back_exactly_then_changed_then_removed(
    infrastructure: Infrastructure, run_id: str
) -> None:
    kafka, user = infrastructure.kafka, f"t{run_id}.quotas.counties.500240"

    await set_quotas(kafka, user, PartnerQuotas())
    assert await read_quotas(kafka, user) == PartnerQuotas(256 * KIB, 1024 * KIB, 25.0)

    changed = PartnerQuotas(producer_byte_rate=512 * KIB, consumer_byte_rate=None, request_percentage=12.5)
    await set_quotas(kafka, f"User:{user}", changed)  # the principal, as the ACLs name it, is the same user
    assert await read_quotas(kafka, user) == changed, "the consumer quota set to None is removed, the others changed"

    assert await remove_quotas(kafka, user) == changed, "removing returns what the principal had"
    assert await read_quotas(kafka, user) is None
    assert await remove_quotas(kafka, user) is None, "removing nothing is no error"


async def test_a_principal_with_no_quota_set_reads_back_as_having_none(
    infrastructure: Infrastructure, partners: Any
) -> None:
    onboarded = partners("counties.500241")

    assert await read_quotas(infrastructure.kafka, onboarded.user) is None
    assert await read_quotas(infrastructure.kafka, "nobody.ever.onboarded") is None


async def test_the_broker_refuses_a_partners_own_quota_changes_and_the_error_names_kafkas_code(
    infrastructure: Infrastructure, partners: Any
) -> None:
    partner = partners("counties.500242")

    with pytest.raises(QuotaRefused) as altering:
        await set_quotas(partner.access, partner.user, PartnerQuotas(producer_byte_rate=100 * 1024 * KIB))
    with pytest.raises(QuotaRefused) as describing:
        await read_quotas(partner.access, partner.user)

    for refused in (altering.value, describing.value):
        assert (refused.error_code, refused.error_name) == (31, "CLUSTER_AUTHORIZATION_FAILED"), str(refused)
        assert partner.user in str(refused) and "CLUSTER_AUTHORIZATION_FAILED (Kafka error 31)" in str(refused)
    assert await read_quotas(infrastructure.kafka, partner.user) is None, "nothing was set"


@dataclass(frozen=True)
class Flood:
    acked: list[float]
    """When each record was acknowledged, in seconds from the first send."""
    seconds: float
    """From the first send until the last record was acknowledged (sending stops after the flood's time)."""

    @property
    def rate(self) -> float:
        return len(self.acked) * RECORD_BYTES / self.seconds

    def written(self, start: float, end: float) -> int:
        return sum(RECORD_BYTES for t in self.acked if start <= t < end)

    def shown(self) -> str:
        return (
            f"{self.rate / KIB:,.1f} KiB/s ({len(self.acked) * RECORD_BYTES / KIB:,.0f} KiB in {self.seconds:.2f} s; "
            f"{self.written(0, 1) / KIB:,.0f} KiB in the first second, "
            f"{self.written(1, self.seconds + 1) / KIB:,.0f} KiB after it)"
        )


async def flood(access: KafkaAccess, topic: str, seconds: float) -> Flood:
    """Write 4 KiB records as fast as the producer and the broker allow, for `seconds`."""
    producer = AIOKafkaProducer(**access.aiokafka(), acks="all", enable_idempotence=True, request_timeout_ms=60_000)
    await producer.start()
    value, acked, deliveries = os.urandom(RECORD_BYTES), [], []
    try:
        start = time.monotonic()

        def done(delivery: asyncio.Future[Any]) -> None:
            if not delivery.cancelled() and delivery.exception() is None:
                acked.append(time.monotonic() - start)

        while time.monotonic() - start < seconds:
            delivery = await producer.send(topic, value)
            delivery.add_done_callback(done)
            deliveries.append(delivery)
        await producer.flush()
        await asyncio.gather(*deliveries)  # any record refused fails the test here
        ended = time.monotonic() - start
    finally:
        await producer.stop()
    return Flood(acked, ended)


async def test_a_producer_quota_holds_a_flooding_partner_to_it_while_the_same_flood_without_one_goes_far_beyond(
    infrastructure: Infrastructure, partners: Any, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}quotas.flood"
    await ensure_topics(infrastructure.kafka, [TopicSpec(topic, 1, "a partner's flood")])
    may_write = {("TOPIC", topic, "WRITE"), ("TOPIC", topic, "DESCRIBE")}
    free, held = partners("flood.free", may_write), partners("flood.held", may_write)
    await set_quotas(infrastructure.kafka, held.user, PartnerQuotas(FLOOD_QUOTA, None, None))

    unlimited = await flood(free.access, topic, FREE_FLOOD_S)
    limited = await flood(held.access, topic, THROTTLED_FLOOD_S)

    figures = f"quota {FLOOD_QUOTA / KIB:.0f} KiB/s; with it {limited.shown()}; without it {unlimited.shown()}"
    assert limited.rate <= 1.5 * FLOOD_QUOTA, f"the quota did not hold the flood: {figures}"
    assert limited.rate >= 0.5 * FLOOD_QUOTA, f"the quota throttles, it does not cut the partner off: {figures}"
    assert unlimited.rate >= 10 * FLOOD_QUOTA, f"without a quota the flood should go far beyond it: {figures}"
    assert unlimited.rate >= 5 * limited.rate, figures
    log.warning("client quota enforced", figures=figures)
