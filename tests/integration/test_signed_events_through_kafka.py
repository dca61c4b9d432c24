"""Signed events through the real broker: a county cannot claim another county's source, an
unsigned event is refused, a revoked key stops working once its revocation is on the registry,
a reviewer cannot score as another reviewer, and a correctly signed event is applied. The attacks
of one institution on another, with real partner credentials, are in test_between_institutions.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from shared.contract.envelope import STRUCTURED_CONTENT_TYPE
from shared.contract.events.orders import DemandSubmitted
from shared.contract.events.reviews import CriterionScore, PanelScoreSubmitted, Reviewer
from shared.contract.signing import sign_record
from shared.contract.speakers import reviewer_source
from shared.messaging.partners import PartnerDirectory
from shared.topics import PARTNERS
from tests.builders import new_order_id, tea_demand, tianma_demand
from tests.conftest import Infrastructure, running_service
from tests.signing import KEYRING, OPERATOR
from tools.client import ProgrammeClient, TopicObserver, about, envelope_for, structured_headers
from tools.keyring import Operator, Registry, enrol, revoke

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHIZHU_SYSTEM = "/counties/500240"  # 石柱县
WUXI_SYSTEM = "/counties/500238"  # 巫溪县


def tianma(order_id: str | None = None) -> DemandSubmitted:
    return DemandSubmitted(order_id=order_id or new_order_id(), demand=tianma_demand(), submitted_by="石柱县人力社保局")


def wuxi_tea() -> DemandSubmitted:
    order_id = new_order_id().replace("500240-", "500238-", 1)
    return DemandSubmitted(order_id=order_id, demand=tea_demand(), submitted_by="巫溪县人力社保局")


async def letter_and_answer(observer: TopicObserver, event_id: str, subject: str) -> tuple[Any, Any]:
    (answer,) = await observer.wait_for(lambda o: o.type == "EventRejected" and o.data["rejected_event_id"] == event_id)
    (letter,) = await observer.wait_for(lambda o: o.header("dlt.reason") is not None and o.key == subject.encode())
    return letter, answer


async def sent_signed_as(client: ProgrammeClient, data: DemandSubmitted, claimed: str, signer: str) -> Any:
    """`data` claiming to come from `claimed`, signed with the key of `signer`, on `signer`'s own topic."""
    envelope = envelope_for(data, source=claimed, time=client.clock.now())
    value, headers = sign_record(envelope.to_structured_json(), structured_headers(envelope), KEYRING.ensure(signer))
    topic = client.topic_of("DemandSubmitted", signer)
    await client.send_raw(topic, value, key=envelope.subject.encode(), headers=headers)
    return envelope


async def test_an_event_signed_by_shizhu_claiming_to_be_wuxi_is_dead_lettered_and_answered(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    await client.enrol(SHIZHU_SYSTEM)
    await client.enrol(WUXI_SYSTEM)  # 巫溪县 has a key: the forgery is caught by its signature
    demand = wuxi_tea()
    forged = await sent_signed_as(client, demand, claimed=WUXI_SYSTEM, signer=SHIZHU_SYSTEM)

    letter, answer = await letter_and_answer(observer, forged.id, demand.order_id)
    assert letter.header("dlt.reason") == "unauthorized_source"
    assert letter.header("dlt.detail") == (
        f"source '/counties/500238' is not proven: key {KEYRING[SHIZHU_SYSTEM].key_id} is not registered for "
        "source /counties/500238"
    )
    assert answer.data["reason_code"] == "unauthorized_source"
    assert answer.data["rejected_source"] == WUXI_SYSTEM
    for county, answered in ((SHIZHU_SYSTEM, 1), (WUXI_SYSTEM, 0)):
        async with TopicObserver(client.kafka, [client.answers_topic(county)]) as answers:
            await answers.read_to_end()
            told = [o for o in answers.seen if o.data.get("rejected_event_id") == forged.id]
            assert len(told) == answered, f"answered to the writer (石柱县), never to the source it claimed: {county}"
    assert await orders_service.pool.fetchval("SELECT count(*) FROM orders WHERE order_id = $1", demand.order_id) == 0


async def test_an_unsigned_event_is_dead_lettered_and_answered(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    demand = tianma()
    envelope = envelope_for(demand, source=SHIZHU_SYSTEM, time=client.clock.now())
    await client.enrol(SHIZHU_SYSTEM)
    await client.send_raw(
        client.topic_of("DemandSubmitted", SHIZHU_SYSTEM),
        envelope.to_structured_json(),
        key=demand.order_id.encode(),
        headers=[("content-type", STRUCTURED_CONTENT_TYPE.encode())],
    )
    letter, answer = await letter_and_answer(observer, envelope.id, demand.order_id)
    assert letter.header("dlt.reason") == "unauthorized_source"
    assert "unsigned" in (letter.header("dlt.detail") or "")
    assert answer.data["reason_code"] == "unauthorized_source"
    assert "unsigned" in answer.data["reason"]


async def test_a_correctly_signed_event_is_applied_in_either_content_mode(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    structured = await client.send(tianma(), source=SHIZHU_SYSTEM)
    binary = await client.send(tianma(), source=SHIZHU_SYSTEM, binary=True)
    for sent in (structured, binary):
        (submitted,) = await observer.wait_for(about(sent.subject, "OrderSubmitted"))
        assert submitted.envelope is not None and submitted.envelope.causation_id == sent.id


async def test_a_key_registered_just_before_its_first_event_is_seen_and_a_revoked_key_is_refused(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver, infrastructure: Infrastructure
) -> None:
    on_duty = Registry(infrastructure.kafka, client.topic_prefix, Operator(OPERATOR.key, "值班员张三"))
    source = f"{SHIZHU_SYSTEM}/township-{uuid.uuid4().hex[:8]}"  # a system of 石柱县 of its own
    await enrol(on_duty, source, KEYRING)
    first = await client.send(tianma(), source=source)  # at once: the service catches up with the registry
    await observer.wait_for(lambda o: o.type == "OrderSubmitted" and o.subject == first.subject, timeout_s=30)

    (revoked,) = await revoke(on_duty, source)
    assert revoked.status == "revoked" and revoked.changed_by == "值班员张三"
    after = await client.send(tianma(), source=source)
    letter, answer = await letter_and_answer(observer, after.id, after.subject)
    assert letter.header("dlt.reason") == "unauthorized_source"
    assert f"key {revoked.key_id} of {source} was revoked on {revoked.changed_at.isoformat()} by 值班员张三" in (
        letter.header("dlt.detail") or ""
    )
    assert answer.data["reason_code"] == "unauthorized_source"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def reviews_service(
    infrastructure: Infrastructure, topics_ready: str, database_factory: Any
) -> AsyncIterator[Any]:
    async with running_service(
        "reviews", infrastructure, topics_ready, database_factory, database="reviews_signing", timers_enabled=False
    ) as runtime:
        yield runtime


async def test_a_reviewer_cannot_score_as_another_reviewer(
    reviews_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    score = PanelScoreSubmitted(
        cycle_id="2019",
        order_id=order_id,
        reviewer=Reviewer(reviewer_id="REV-WANG", name="王评审", institution="西南大学"),
        scores=(CriterionScore(criterion="outcomes_achieved", score=95),),
    )
    sent = await client.send(score, source=reviewer_source("REV-LI"))  # 李评审's own key, signed correctly
    letter, answer = await letter_and_answer(observer, sent.id, order_id)
    assert letter.topic.endswith("reviews.deadletter")
    assert letter.header("dlt.reason") == "unauthorized_source"
    assert letter.header("dlt.detail") == (
        "source /reviewers/REV-LI may only speak as its own reviewer, not as reviewer REV-WANG"
    )
    assert answer.data["reason_code"] == "unauthorized_source"


async def test_a_county_system_cannot_submit_another_countys_demand_even_with_its_own_key(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    demand = wuxi_tea()
    sent = await client.send(demand, source=SHIZHU_SYSTEM)
    letter, answer = await letter_and_answer(observer, sent.id, demand.order_id)
    assert letter.header("dlt.reason") == "unauthorized_source"
    assert (
        letter.header("dlt.detail") == "source /counties/500240 may only speak as its own county, not as county 500238"
    )
    assert answer.data["reason_code"] == "unauthorized_source"


async def test_catching_up_with_the_registry_costs_one_request_for_many_batches_and_none_for_old_events(
    infrastructure: Infrastructure, topics_ready: str
) -> None:
    access = infrastructure.kafka
    async with PartnerDirectory(access, f"{topics_ready}{PARTNERS}", OPERATOR.trusted) as directory:
        before = directory.refreshes
        now = datetime.now(UTC)
        await asyncio.gather(*(directory.catch_up(now, now) for _ in range(50)))  # fifty batches fetched at once
        assert directory.refreshes - before == 1, "concurrent catch-ups share one read of the registry"
        await directory.catch_up(now - timedelta(minutes=5), datetime.now(UTC))
        assert directory.refreshes - before == 1, "what arrived well before the last complete read needs no new one"
        await directory.catch_up(datetime.now(UTC), datetime.now(UTC))
        assert directory.refreshes - before == 2, "what arrived since it does"
        assert directory.history.keys_of("/counties/999999") == []
        assert directory.ignored == [], "every record the tests wrote is signed by the tests' operator and chained"
