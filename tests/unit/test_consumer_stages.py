"""Each stage of the consumer alone, without a broker or a database: reading and routing a
record, authorizing its sender, validating its data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.orders.handlers import SUBSCRIPTIONS as ORDERS_SUBSCRIPTIONS
from shared.contract.authorization import SourcePolicy
from shared.contract.envelope import new_envelope
from shared.contract.events.orders import DemandSubmitted
from shared.contract.registry import REGISTRY
from shared.messaging import stages
from shared.messaging.records import Record
from tests.builders import SHIZHU, new_order_id, tianma_demand

ROUTES = {s.topic: s for s in ORDERS_SUBSCRIPTIONS}
SHIZHU_SYSTEM = f"/counties/{SHIZHU}"
NOW = datetime(2019, 6, 1, tzinfo=UTC)


def record(value: bytes, topic: str = "orders.inbound") -> Record:
    return Record(topic, 0, 7, b"500240-2019-001", value, (("content-type", b"application/cloudevents+json"),))


def submission(order_id: str, *, source: str = SHIZHU_SYSTEM, subject: str | None = None, **data: object) -> bytes:
    document = DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县").model_dump(mode="json")
    envelope = new_envelope(
        source=source, type="DemandSubmitted", subject=subject or order_id, data=document | data, time=NOW
    )
    return envelope.to_structured_json()


def test_a_county_demand_is_read_and_routed_to_its_handler() -> None:
    order_id = new_order_id()
    prepared = stages.read(record(submission(order_id)), ROUTES)
    assert prepared.error is None and prepared.envelope is not None
    assert prepared.envelope.subject == order_id
    assert prepared.handler is ROUTES["orders.inbound"].handlers["DemandSubmitted"]
    assert prepared.consumed


def test_bytes_that_are_not_json_become_a_letter_not_an_exception() -> None:
    prepared = stages.read(record(b"\xff\xfe not json"), ROUTES)
    assert prepared.envelope is None and prepared.error is not None
    assert prepared.error.reason == "not_json"


def test_an_event_of_another_service_that_orders_does_not_take_is_not_consumed() -> None:
    document = new_envelope(
        source="/services/matching", type="ApplicationReceived", subject="APP-1", data={"x": 1}, time=NOW
    ).to_structured_json()
    prepared = stages.read(record(document, topic="matching.events"), ROUTES)
    assert prepared.envelope is not None and prepared.handler is None
    assert not prepared.consumed, "not ours on another service's topic"
    unknown_on_own_topic = stages.read(record(document), ROUTES)
    assert unknown_on_own_topic.consumed, "on its own inbound topic a type without a handler must be refused"


def test_only_a_county_system_may_submit_a_demand() -> None:
    envelope = stages.read(record(submission(new_order_id(), source="/bureau/hrss")), ROUTES).envelope
    assert envelope is not None
    with pytest.raises(stages.Refused) as refused:
        stages.authorize(envelope, SourcePolicy.of(REGISTRY))
    assert refused.value.letter.reason == "unauthorized_source"
    assert "/counties/*" in refused.value.letter.detail
    county = stages.read(record(submission(new_order_id())), ROUTES).envelope
    assert county is not None
    stages.authorize(county, SourcePolicy.of(REGISTRY))


def test_data_that_is_not_the_model_or_a_subject_that_is_not_its_key_is_a_schema_violation() -> None:
    order_id = new_order_id()
    bad = stages.read(record(submission(order_id, submitted_by=None)), ROUTES).envelope
    assert bad is not None
    with pytest.raises(stages.Refused, match="submitted_by"):
        stages.validate(bad, REGISTRY)
    mismatched = stages.read(record(submission(order_id, subject="500240-2019-999")), ROUTES).envelope
    assert mismatched is not None
    with pytest.raises(stages.Refused, match="does not match the event's business key"):
        stages.validate(mismatched, REGISTRY)
    good = stages.read(record(submission(order_id)), ROUTES).envelope
    assert good is not None
    data = stages.validate(good, REGISTRY)
    assert isinstance(data, DemandSubmitted) and data.demand.place.county_name == "石柱县"
