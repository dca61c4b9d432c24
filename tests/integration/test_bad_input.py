"""Nothing lost, nothing stops: every kind of bad input is dead-lettered with its reason, the
sender is answered when it is known, no state changes, and the next good event is processed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.metrics_core import Metric

from shared.contract.envelope import new_envelope
from shared.contract.events.orders import DemandEndorsed, DemandSubmitted, PublishOrder
from shared.messaging.answers import RECORD_ORDINAL
from shared.messaging.context import emitted_event_id
from shared.policy import YUAN
from tests.builders import SHIZHU, new_order_id, tianma_demand
from tests.signing import signed
from tools.client import ProgrammeClient, TopicObserver, envelope_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHIZHU_SYSTEM = f"/counties/{SHIZHU}"
NOW = datetime.now(UTC)
"""When the test events say they were signed: now, as a partner's are (freshness, docs/contract/README.md)."""
STRUCTURED = [("content-type", b"application/cloudevents+json")]


def valid_submission(order_id: str, **changes: Any) -> dict[str, Any]:
    data = DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县").model_dump(mode="json")
    return data | changes


def ce(order_id: str, *, type: str = "DemandSubmitted", source: str = SHIZHU_SYSTEM, data: Any = None) -> bytes:
    """The event as its source signs it (a refusal of its content is then about the content)."""
    envelope = new_envelope(
        source=source, type=type, subject=order_id, data=data or valid_submission(order_id), time=NOW
    )
    return signed(envelope.to_structured_json())


def without(document: bytes, attribute: str) -> bytes:
    parsed = json.loads(document)
    parsed.pop(attribute)
    return json.dumps(parsed).encode()


BadInput = Callable[[str], bytes]

CASES: list[tuple[str, BadInput, str, str | None, bool]] = [
    # name, bad bytes for an order id, dlt.reason, dlt.rule, sender answered?
    ("not JSON", lambda oid: b"\x00\x01 not json", "not_json", None, False),
    ("JSON but not a CloudEvent", lambda oid: json.dumps({"order_id": oid}).encode(), "not_cloudevent", None, False),
    ("a CloudEvent without time", lambda oid: without(ce(oid), "time"), "not_cloudevent", None, False),
    ("an unknown event type", lambda oid: ce(oid, type="DemandTeleported"), "unknown_type", None, True),
    (
        "a schema violation",
        lambda oid: ce(oid, data=valid_submission(oid, submitted_by=12345, extra_field="x")),
        "schema_violation",
        None,
        True,
    ),
    (
        "a county publishing an order",
        lambda oid: ce(
            oid,
            type="PublishOrder",
            data=PublishOrder(order_id=oid, published_by="县", call="2019年第一批").model_dump(mode="json"),
        ),
        "unauthorized_source",
        None,
        True,
    ),
    (
        "funding outside 50,000-200,000 yuan",
        lambda oid: ce(
            oid,
            data=valid_submission(oid, demand=tianma_demand(funding_asked_fen=300_000 * YUAN).model_dump(mode="json")),
        ),
        "business_rule",
        "funding_out_of_range",
        True,
    ),
    (
        "endorsing an order that does not exist",
        lambda oid: ce(
            oid,
            type="DemandEndorsed",
            data=DemandEndorsed(order_id=oid, endorsed_by="石柱县").model_dump(mode="json"),
        ),
        "business_rule",
        "unknown_order",
        True,
    ),
]


def refusals_counted(service: Any, reason: str) -> float:
    """Records orders refused for this reason, as its Prometheus metrics count them."""
    families: list[Metric] = list(service.metrics.records.collect())
    return sum(
        s.value for f in families for s in f.samples if s.name.endswith("_total") and s.labels["reason"] == reason
    )


@pytest.mark.parametrize(("name", "bad", "reason", "rule", "answered"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_dead_lettered_with_its_reason_and_the_next_event_is_processed(
    orders_service: Any,
    client: ProgrammeClient,
    observer: TopicObserver,
    name: str,
    bad: BadInput,
    reason: str,
    rule: str | None,
    answered: bool,
) -> None:
    order_id = new_order_id()
    value = bad(order_id)
    refusals_before = refusals_counted(orders_service, rule or reason)
    await client.enrol(SHIZHU_SYSTEM)
    own_topic = client.topic_of("DemandSubmitted", SHIZHU_SYSTEM)  # 石柱县's own inbound topic
    sent = await client.send_raw(own_topic, value, key=order_id.encode(), headers=STRUCTURED)
    good = await client.send(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县"), source=SHIZHU_SYSTEM
    )

    (letter,) = await observer.wait_for(
        lambda o: (
            o.header("dlt.origin.offset") == str(sent.offset)
            and o.header("dlt.origin.partition") == str(sent.partition)
            and o.header("dlt.origin.topic") == own_topic
        )
    )
    assert letter.value == value, "the dead letter keeps the original bytes"
    assert letter.key == order_id.encode()
    assert letter.header("dlt.reason") == reason
    assert letter.header("dlt.rule") == rule
    assert letter.header("dlt.service") == "orders"
    assert letter.header("dlt.detail")
    assert letter.topic == client.topic("orders.deadletter")
    assert refusals_counted(orders_service, rule or reason) == refusals_before + 1, "the metric counts the refusal"

    # the consumer went on: the good event after it, on the same partition, was applied
    (submitted,) = await observer.wait_for(lambda o: o.type == "OrderSubmitted" and o.subject == order_id)
    assert submitted.envelope is not None and submitted.envelope.causation_id == good.id

    answers = [o for o in observer.seen if o.type == "EventRejected" and o.subject == order_id]
    if answered:
        assert len(answers) == 1
        assert answers[0].data["reason_code"] == (rule or reason)
        assert answers[0].data["rejected_source"] == SHIZHU_SYSTEM
        assert answers[0].data["service"] == "orders"
        refused = SimpleNamespace(source=SHIZHU_SYSTEM, id=answers[0].data["rejected_event_id"])
        assert answers[0].envelope is not None
        assert answers[0].envelope.id == emitted_event_id("orders", refused, RECORD_ORDINAL), "derived from its cause"  # type: ignore[arg-type]
    else:
        assert answers == []
    pool = orders_service.pool
    history = await pool.fetch("SELECT cause_event_id FROM order_history WHERE order_id = $1", order_id)
    assert [h["cause_event_id"] for h in history] == [good.id], "the bad input changed nothing"
    recorded = await pool.fetchrow(
        "SELECT reason_code FROM dead_letters WHERE origin_partition = $1 AND origin_offset = $2 AND origin_topic = $3",
        sent.partition,
        sent.offset,
        own_topic,
    )
    assert recorded["reason_code"] == reason


async def test_a_binary_mode_event_from_a_partner_is_accepted(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    envelope = envelope_for(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县"),
        source=SHIZHU_SYSTEM,
        time=NOW,
    )
    await client.send_envelope(envelope, binary=True)
    (submitted,) = await observer.wait_for(lambda o: o.type == "OrderSubmitted" and o.subject == order_id)
    assert submitted.envelope is not None and submitted.envelope.causation_id == envelope.id


async def test_a_dead_letter_is_recorded_once_however_often_its_record_is_consumed(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    await client.enrol(SHIZHU_SYSTEM)
    own_topic = client.topic_of("DemandSubmitted", SHIZHU_SYSTEM)
    sent = await client.send_raw(own_topic, b"{broken", key=order_id.encode())
    await observer.wait_for(lambda o: o.header("dlt.origin.offset") == str(sent.offset) and o.key == order_id.encode())
    from shared.messaging.records import Record

    redelivered = Record(own_topic, sent.partition, sent.offset, order_id.encode(), b"{broken", ())
    await orders_service.handle_records([redelivered])  # as after a crash before the offset commit
    await observer.settle(0.5)
    letters = [
        o for o in observer.seen if o.header("dlt.origin.offset") == str(sent.offset) and o.key == order_id.encode()
    ]
    assert len(letters) == 1
