"""Between institutions, on the real broker with authentication on: each partner is its own Kafka
principal, onboarded as `expert-teams partners add` does (SCRAM credentials, its own topics,
LITERAL ACLs, its key registered by the operator), and tries, as an attacker would, to make
another's event vanish, read another's answers, sign with another's key, replay, or flood.

石柱县 (/counties/500240) is the victim throughout; 巫溪县 (/counties/500238) and a county whose
principal only begins like 石柱县's (/counties/5002400) are the attackers."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiokafka.errors import TopicAuthorizationFailedError
from confluent_kafka import Consumer, KafkaError, KafkaException

from shared.contract.events.orders import DemandEndorsed, DemandSubmitted
from shared.contract.partners import principal_of
from shared.contract.signing import sign_record
from shared.kafka_access import KafkaAccess
from shared.messaging.kafka import track_topic
from shared.topics import REJECTIONS, answers, partner_inbound
from tests.builders import new_order_id, tea_demand, tianma_demand
from tests.conftest import Infrastructure, running_service
from tests.signing import KEYRING, OPERATOR
from tools.cli.connection import Connection
from tools.cli.inspect import replay_dead_letter
from tools.client import ProgrammeClient, TopicObserver, about, envelope_for, structured_headers
from tools.keyring import Keyring, Registry, enrol, open_partner_topics, register
from tools.stack.access_control import (
    admin_client,
    delete_user,
    partner_grants,
    partner_names,
    programme_names,
    revoke_all,
    sync_grants,
    upsert_user,
)
from tools.stack.quotas import PartnerQuotas, remove_quotas, set_quotas
from tools.stack.security import new_password

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHIZHU = "/counties/500240"  # 石柱县
WUXI = "/counties/500238"  # 巫溪县
LOOKALIKE = "/counties/5002400"  # a principal whose name begins like 石柱县's


@dataclass
class Partner:
    source: str
    access: KafkaAccess
    client: ProgrammeClient
    """A client as the partner's own system: its credentials, its own key, no operator rights."""

    @property
    def principal(self) -> str:
        return principal_of(self.source)


@pytest.fixture(scope="module")
def admin(infrastructure: Infrastructure) -> Any:
    if not infrastructure.kafka.sasl:
        pytest.fail(f"these tests need a broker that authenticates; this one is {infrastructure.kafka_kind} PLAINTEXT")
    return admin_client(infrastructure.kafka.confluent())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def partners(
    admin: Any, infrastructure: Infrastructure, topics_ready: str, client: ProgrammeClient
) -> AsyncIterator[dict[str, Partner]]:
    """石柱县, 巫溪县 and the look-alike onboarded as `partners add` does it."""
    onboarded: dict[str, Partner] = {}
    for source in (SHIZHU, WUXI, LOOKALIKE):
        principal, password = principal_of(source), new_password()
        await open_partner_topics(infrastructure.kafka, topics_ready, source)
        upsert_user(admin, principal, password)
        managed = programme_names(topics_ready) | partner_names(source, topics_ready)
        sync_grants(admin, f"User:{principal}", partner_grants(source, topics_ready), managed)
        await client.enrol(source)  # its key registered by the operator
        access = infrastructure.kafka.as_user(principal, password)
        own = ProgrammeClient(access, topic_prefix=topics_ready, keyring=KEYRING)
        onboarded[source] = Partner(source, access, await own.start())
    yield onboarded
    for partner in onboarded.values():
        await partner.client.stop()
        revoke_all(admin, f"User:{partner.principal}")
        delete_user(admin, partner.principal)


async def answers_to(partner: Partner, event_id: str, *, count: int = 1, timeout_s: float = 30.0) -> list[Any]:
    """The answers to `event_id` on the partner's own answers topic, read with its own credentials."""
    async with TopicObserver(partner.access, [partner.client.answers_topic(partner.source)]) as seen:
        return await seen.wait_for(
            lambda o: o.data.get("rejected_event_id") == event_id, count=count, timeout_s=timeout_s
        )


def tianma(order_id: str | None = None) -> DemandSubmitted:
    return DemandSubmitted(order_id=order_id or new_order_id(), demand=tianma_demand(), submitted_by="石柱县人力社保局")


def unsigned(envelope: Any) -> tuple[bytes, list[tuple[str, bytes]]]:
    return envelope.to_structured_json(), structured_headers(envelope)


async def write_own_topic(partner: Partner, envelope: Any, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
    topic = partner.client.topic(partner_inbound("orders", partner.principal))
    return await partner.client.send_raw(topic, value, key=envelope.subject.encode(), headers=headers)


async def test_forgeries_with_a_genuine_events_id_never_take_its_place(
    orders_service: Any, partners: dict[str, Partner], observer: TopicObserver
) -> None:
    shizhu, wuxi = partners[SHIZHU], partners[WUXI]
    genuine = envelope_for(tianma(), source=SHIZHU, time=datetime.now(UTC), event_id=f"石柱县-{uuid.uuid4().hex[:8]}")
    impostor = tianma(genuine.subject).model_dump(mode="json") | {"submitted_by": "冒名"}
    forged = replace(genuine, data=impostor)
    attempts = [
        unsigned(genuine),  # unsigned, the genuine content
        unsigned(forged),  # unsigned, other content
        sign_record(*unsigned(genuine), KEYRING.ensure(WUXI)),  # signed with 巫溪县's own key
        sign_record(*unsigned(forged), KEYRING.ensure(WUXI)),
    ]
    for value, headers in attempts:
        await write_own_topic(wuxi, genuine, value, headers)
    told = await answers_to(wuxi, genuine.id, count=len(attempts))
    assert {o.data["reason_code"] for o in told} == {"unauthorized_source"}, "each forgery refused, told to its writer"

    applied = await shizhu.client.send_envelope(genuine)  # the genuine one, with the id the forgeries used
    (submitted,) = await observer.wait_for(
        lambda o: o.type == "OrderSubmitted" and o.subject == genuine.subject, timeout_s=30
    )
    assert submitted.envelope is not None and submitted.envelope.causation_id == genuine.id
    row = await orders_service.pool.fetchrow(
        "SELECT outcome FROM inbox WHERE source = $1 AND event_id = $2", SHIZHU, genuine.id
    )
    assert row is not None and row["outcome"] == "applied", applied
    assert (
        await orders_service.pool.fetchval("SELECT submitted_by FROM orders WHERE order_id = $1", genuine.subject)
        == "石柱县人力社保局"
    )


async def test_a_county_reads_its_own_answers_and_nobody_elses(
    orders_service: Any, partners: dict[str, Partner], topics_ready: str
) -> None:
    shizhu, wuxi, lookalike = partners[SHIZHU], partners[WUXI], partners[LOOKALIKE]
    wuxi_mistake = await wuxi.client.send(tianma(), source=WUXI)  # 巫溪县 submits a demand of 石柱县: refused
    (its_answer,) = await answers_to(wuxi, wuxi_mistake.id)
    assert its_answer.data["reason_code"] == "unauthorized_source"

    for topic in (answers(wuxi.principal), REJECTIONS, answers(lookalike.principal)):
        assert await asyncio.to_thread(
            read_with, shizhu.access, f"{topics_ready}{topic}", f"{topics_ready}counties.500240:answers"
        ) == (KafkaError.TOPIC_AUTHORIZATION_FAILED), f"石柱县 read {topic}"
    own = f"{topics_ready}{answers(shizhu.principal)}"
    assert await asyncio.to_thread(read_with, shizhu.access, own, f"{topics_ready}counties.500240:answers") is None
    for group in ("counties.5002400-answers", "counties.500240", "counties.500240.portal:x"):
        refused = await asyncio.to_thread(read_with, shizhu.access, own, f"{topics_ready}{group}")
        assert refused == KafkaError.GROUP_AUTHORIZATION_FAILED, f"石柱县 used the group {group}"
    assert await asyncio.to_thread(read_with, lookalike.access, own, f"{topics_ready}counties.5002400:x") == (
        KafkaError.TOPIC_AUTHORIZATION_FAILED
    ), "the look-alike read 石柱县's answers"


def read_with(access: KafkaAccess, topic: str, group: str, timeout_s: float = 20.0) -> int | None:
    """Read one topic in one consumer group as `access`, with librdkafka as a partner would: None
    when reading works, else the authorization error's code."""
    consumer = Consumer({**access.confluent(), "group.id": group, "auto.offset.reset": "earliest", "log_level": 0})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                if consumer.assignment():
                    return None
                continue
            error = message.error()
            if error is None:
                return None
            if error.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED):
                return int(error.code())
        raise AssertionError(f"neither a record, an assignment nor a refusal for {topic} in {group}")
    except KafkaException as exc:
        return int(exc.args[0].code())
    finally:
        consumer.close()


async def test_a_stale_or_future_event_is_refused_and_sent_again_fresh_it_is_applied(
    orders_service: Any, partners: dict[str, Partner], observer: TopicObserver
) -> None:
    shizhu = partners[SHIZHU]
    demand = tianma()
    for when, reason in (
        (datetime(2001, 1, 1, tzinfo=UTC), "stale"),
        (datetime.now(UTC) + timedelta(hours=1), "from_the_future"),
    ):
        sent = envelope_for(demand, source=SHIZHU, time=when, event_id=f"石柱县-{reason}-{demand.order_id}")
        await shizhu.client.send_envelope(sent)
        (answer,) = await answers_to(shizhu, sent.id)
        assert answer.data["reason_code"] == reason
        assert when.isoformat() in answer.data["reason"]
        again = replace(sent, time=datetime.now(UTC))  # the same id, sent again with its time now
        await shizhu.client.send_envelope(again)
        order_id = demand.order_id
        await observer.wait_for(about(order_id, "OrderSubmitted"), timeout_s=30)
        demand = tianma()
    late_copy = replace(again, time=datetime(2001, 1, 1, tzinfo=UTC))  # the applied event again, dated long ago
    await shizhu.client.send_envelope(late_copy)
    await observer.settle(1.5)
    async with TopicObserver(shizhu.access, [shizhu.client.answers_topic(SHIZHU)]) as answers:
        await answers.read_to_end()
        assert not [
            o
            for o in answers.seen
            if o.data.get("rejected_event_id") == again.id and o.data.get("reason_code") == "stale"
        ], "a late copy of an event received before is a duplicate: nothing happens, nothing is said"


async def test_a_partners_replay_marker_is_ignored_and_the_operators_replay_is_taken(
    orders_service: Any, partners: dict[str, Partner], observer: TopicObserver, infrastructure: Infrastructure
) -> None:
    shizhu = partners[SHIZHU]
    order_id = new_order_id()
    early = await shizhu.client.send(DemandEndorsed(order_id=order_id, endorsed_by="石柱县"), source=SHIZHU)
    (refused,) = await answers_to(shizhu, early.id)
    assert refused.data["reason_code"] == "unknown_order"
    await shizhu.client.send(tianma(order_id), source=SHIZHU)
    await observer.wait_for(lambda o: o.type == "OrderSubmitted" and o.subject == order_id, timeout_s=30)

    envelope = envelope_for(
        DemandEndorsed(order_id=order_id, endorsed_by="石柱县"), source=SHIZHU, time=early.time, event_id=early.id
    )
    value, headers = sign_record(*unsigned(envelope), KEYRING[SHIZHU])
    await write_own_topic(
        shizhu, envelope, value, [*headers, ("replay.of", b"orders.deadletter:0:0"), ("replay.by", b"me")]
    )
    await observer.settle(2.0)
    assert not observer.matching(lambda o: o.type == "OrderEndorsed" and o.subject == order_id), (
        "a replay marker the partner wrote made its refused event be applied again"
    )

    (letter,) = await observer.wait_for(
        lambda o: o.header("dlt.rule") == "unknown_order" and o.key == order_id.encode(), timeout_s=30
    )
    operator = Connection(infrastructure.kafka, shizhu.client.topic_prefix, embedded=False)
    replayed = await replay_dead_letter(
        operator, f"{letter.topic}:{letter.partition}:{letter.offset}", operator=OPERATOR, idle_s=0.2
    )
    assert replayed is not None
    (endorsed,) = await observer.wait_for(lambda o: o.type == "OrderEndorsed" and o.subject == order_id, timeout_s=30)
    assert endorsed.envelope is not None and endorsed.envelope.causation_id == early.id


async def test_a_countys_key_over_another_countys_login_is_refused(
    orders_service: Any, partners: dict[str, Partner], observer: TopicObserver
) -> None:
    shizhu = partners[SHIZHU]
    wuxi_demand = DemandSubmitted(order_id=new_order_id("500238"), demand=tea_demand(), submitted_by="巫溪县人力社保局")
    envelope = envelope_for(wuxi_demand, source=WUXI, time=datetime.now(UTC))
    value, headers = sign_record(*unsigned(envelope), KEYRING[WUXI])  # 巫溪县's key, leaked to 石柱县
    await write_own_topic(shizhu, envelope, value, headers)
    (answer,) = await answers_to(shizhu, envelope.id)
    assert answer.data["reason_code"] == "unauthorized_source"
    assert "written by Kafka principal counties.500240" in answer.data["reason"]
    with pytest.raises(TopicAuthorizationFailedError):
        await shizhu.client.send_raw(
            shizhu.client.topic(partner_inbound("orders", "counties.500238")), value, key=envelope.subject.encode()
        )
    assert (
        await orders_service.pool.fetchval("SELECT count(*) FROM orders WHERE order_id = $1", wuxi_demand.order_id) == 0
    )


async def test_an_sm2_partners_events_are_applied(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    source = f"{SHIZHU}/gm-{uuid.uuid4().hex[:6]}"  # a system of 石柱县 bound to commercial cryptography
    await client.enrol(source, algorithm="SM2")
    assert KEYRING[source].algorithm == "SM2"
    sent = await client.send(tianma(), source=source)
    (submitted,) = await observer.wait_for(
        lambda o: o.type == "OrderSubmitted" and o.subject == sent.subject, timeout_s=30
    )
    assert submitted.envelope is not None and submitted.envelope.causation_id == sent.id


async def test_a_rotation_keeps_earlier_events_verifiable_live_and_after_a_rebuild(
    orders_service: Any,
    client: ProgrammeClient,
    observer: TopicObserver,
    infrastructure: Infrastructure,
    topics_ready: str,
    database_factory: Any,
) -> None:
    source = f"{SHIZHU}/rotating-{uuid.uuid4().hex[:6]}"
    old_keys = Keyring()
    registry = Registry(infrastructure.kafka, topics_ready, OPERATOR)
    await enrol(registry, source, old_keys)
    signer = ProgrammeClient(infrastructure.kafka, topic_prefix=topics_ready, keyring=old_keys)
    await signer.start()
    try:
        first = await signer.send(tianma(), source=source)
        signed_before = envelope_for(tianma(), source=source, time=datetime.now(UTC))  # in flight over the rotation
        new_key = KEYRING.ensure(source)
        await register(registry, source, new_key.public_key)
        await signer.send_envelope(signed_before)  # arrives after the rotation, signed before it
        after_rotation = await signer.send(tianma(), source=source)  # signed with the replaced key after it
        with_new_key = await client.send(tianma(), source=source)
    finally:
        await signer.stop()
    for subject in (first.subject, signed_before.subject, with_new_key.subject):
        await observer.wait_for(about(subject, "OrderSubmitted"), timeout_s=30)
    (retired,) = await observer.wait_for(
        lambda o: o.type == "EventRejected" and o.data["rejected_event_id"] == after_rotation.id, timeout_s=30
    )
    assert retired.data["reason_code"] == "unauthorized_source"
    assert "was replaced on" in retired.data["reason"]

    ours = [first.id, signed_before.id, after_rotation.id, with_new_key.id]
    live = await outcomes(orders_service.pool, source, ours)
    async with running_service(
        "orders",
        infrastructure,
        topics_ready,
        database_factory,
        database=f"orders_rebuild_{uuid.uuid4().hex[:6]}",
        rebuild=True,
        timers_enabled=False,
        kafka={"group_suffix": f"-rebuild-{uuid.uuid4().hex[:6]}"},
    ) as rebuilt:
        deadline = asyncio.get_running_loop().time() + 60
        while await rebuilt.pool.fetchval("SELECT count(*) FROM inbox WHERE source = $1", source) < 3:
            assert asyncio.get_running_loop().time() < deadline, "the rebuild did not read the source's events"
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        assert await outcomes(rebuilt.pool, source, ours) == live
    assert live == {
        first.id: ("applied", "submitted"),
        signed_before.id: ("applied", "submitted"),
        with_new_key.id: ("applied", "submitted"),
    }, "the event signed with the replaced key after the rotation is refused before the inbox, live and rebuilt"


async def outcomes(pool: Any, source: str, event_ids: list[str]) -> dict[str, tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT i.event_id, i.outcome, o.status FROM inbox i LEFT JOIN orders o ON o.order_id = i.subject "
        "WHERE i.source = $1 AND i.event_id = ANY($2::text[])",
        source,
        event_ids,
    )
    return {r["event_id"]: (r["outcome"], r["status"]) for r in rows}


async def test_a_flood_from_one_county_leaves_anothers_events_answered_as_fast_as_before(
    orders_service: Any, partners: dict[str, Partner], observer: TopicObserver, infrastructure: Infrastructure
) -> None:
    shizhu, flooder = partners[SHIZHU], partners[LOOKALIKE]

    async def latency() -> float:
        sent = await shizhu.client.send(tianma(), source=SHIZHU)
        began = time.monotonic()
        await observer.wait_for(lambda o: o.type == "OrderSubmitted" and o.subject == sent.subject, timeout_s=60)
        return time.monotonic() - began

    quiet = sorted([await latency() for _ in range(8)])
    quota = PartnerQuotas(producer_byte_rate=64 * 1024)
    await set_quotas(infrastructure.kafka, flooder.principal, quota)
    stop = asyncio.Event()
    sent_bytes = 0

    async def flood() -> None:
        nonlocal sent_bytes
        producer = flooder.client._producer
        topic = flooder.client.topic(partner_inbound("orders", flooder.principal))
        value = b"{" + b'"flood":"' + b"x" * 2000 + b'"}'
        while not stop.is_set():
            track_topic(producer, topic)
            await producer.send(topic, value, key=b"5002400-flood")
            sent_bytes += len(value)

    flooding = asyncio.create_task(flood())
    began = time.monotonic()
    try:
        await asyncio.sleep(2.0)
        loaded = sorted([await latency() for _ in range(8)])
    finally:
        stop.set()
        flooding.cancel()
        await remove_quotas(infrastructure.kafka, flooder.principal)
    flood_rate = sent_bytes / (time.monotonic() - began)
    figures = (
        f"quiet p50 {quiet[4] * 1000:.0f} ms, during the flood p50 {loaded[4] * 1000:.0f} ms, "
        f"flood {flood_rate / 1024:.0f} KiB/s queued by the flooder"
    )
    logging.getLogger("tests").warning("a flood from one county: %s", figures)
    assert loaded[4] <= max(3 * quiet[4], quiet[4] + 0.25), figures
