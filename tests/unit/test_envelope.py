"""CloudEvents on Kafka: what is accepted, what is refused and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.contract.envelope import EnvelopeError, parse_record
from shared.contract.events.orders import DemandEndorsed
from tools.client import binary_headers, envelope_for

STRUCTURED = [("content-type", b"application/cloudevents+json")]


def endorsement() -> DemandEndorsed:
    return DemandEndorsed(order_id="500240-2019-001", endorsed_by="石柱县人力社保局", note="同意")


def test_a_structured_event_round_trips_with_its_correlation_and_causation() -> None:
    sent = envelope_for(
        endorsement(), source="/counties/500240", time=datetime(2019, 5, 20, 9, 0, tzinfo=UTC), correlation_id="c-1"
    )
    received = parse_record(sent.to_structured_json(), STRUCTURED, b"500240-2019-001")
    assert received.id == sent.id
    assert received.type == "DemandEndorsed"
    assert received.subject == "500240-2019-001"
    assert received.correlation_id == "c-1"
    assert received.time == datetime(2019, 5, 20, 9, 0, tzinfo=UTC)
    assert received.data["endorsed_by"] == "石柱县人力社保局"
    assert received.dataschema == "urn:cq-expert-teams:schema:DemandEndorsed:v1"


def test_a_binary_mode_event_is_read_from_ce_headers() -> None:
    sent = envelope_for(endorsement(), source="/counties/500240", time=datetime(2019, 5, 20, tzinfo=UTC))
    value = json.dumps(endorsement().model_dump(mode="json")).encode()
    received = parse_record(value, binary_headers(sent), b"500240-2019-001")
    assert (received.id, received.source, received.type) == (sent.id, "/counties/500240", "DemandEndorsed")
    assert received.data == endorsement().model_dump(mode="json")


def test_the_correlation_id_defaults_to_the_event_id() -> None:
    sent = envelope_for(endorsement(), source="/counties/500240", time=datetime(2019, 5, 20, tzinfo=UTC))
    assert parse_record(sent.to_structured_json(), STRUCTURED, None).correlation_id == sent.id


def document(**changes: object) -> bytes:
    base: dict[str, object] = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/counties/500240",
        "type": "DemandEndorsed",
        "time": "2019-05-20T09:00:00+08:00",
        "subject": "500240-2019-001",
        "data": {"order_id": "500240-2019-001", "endorsed_by": "石柱县"},
    }
    for key, value in changes.items():
        if value is None:
            base.pop(key)
        else:
            base[key] = value
    return json.dumps(base).encode()


@pytest.mark.parametrize(
    ("value", "reason", "words"),
    [
        (b"\xff\xfe not text", "not_json", "not JSON"),
        (b"{broken", "not_json", "not JSON"),
        (b"[1, 2]", "not_cloudevent", "not an object"),
        (b"{}", "not_cloudevent", "specversion"),
        (document(time=None), "not_cloudevent", "time"),
        (document(subject=None), "not_cloudevent", "subject"),
        (document(id=None), "not_cloudevent", "id"),
        (document(specversion="0.3"), "not_cloudevent", "0.3"),
        (document(time="yesterday"), "not_cloudevent", ""),
        (document(data=[1, 2]), "schema_violation", "JSON object"),
    ],
)
def test_what_is_not_a_usable_cloudevent_is_refused_with_a_reason(value: bytes, reason: str, words: str) -> None:
    with pytest.raises(EnvelopeError) as refused:
        parse_record(value, STRUCTURED, None)
    assert refused.value.reason == reason
    assert words in refused.value.detail


def test_a_time_with_an_offset_is_read_as_that_instant() -> None:
    received = parse_record(document(), STRUCTURED, None)
    assert received.time.utcoffset() is not None
    assert received.time == datetime(2019, 5, 20, 1, 0, tzinfo=UTC)


def test_a_tombstone_is_not_an_event() -> None:
    with pytest.raises(EnvelopeError, match="tombstone"):
        parse_record(None, [], b"500240-2019-001")


def test_an_event_too_large_for_a_kafka_message_is_refused_when_made_not_when_published() -> None:
    from shared.clock import FixedClock
    from shared.contract.events.matching import AssignmentPair, AssignmentRecommended
    from shared.contract.registry import REGISTRY
    from shared.messaging.context import EmitContext
    from shared.rules import RuleBroken

    reasons = ("天麻种源繁育专长与需求一致；团队负责人为国务院特殊津贴专家，具备牵头资格。" * 40,)
    advice = AssignmentRecommended(
        call="2026年第一批",
        pairs=tuple(
            AssignmentPair(
                order_id=f"500240-2026-{i}",
                team_id=f"TEAM-{i}",
                application_id=f"APP-{i}",
                mismatch=0.1,
                reasons=reasons,
            )
            for i in range(300)
        ),
        total_mismatch=30.0,
        unassigned_orders=(),
        unassigned_cost=1.0,
        objective=30.0,
        solver="exact",
        requested_by="市人力社保局",
        recommended_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    ctx = EmitContext(
        conn=None,  # type: ignore[arg-type]
        service="matching",
        clock=FixedClock(datetime(2026, 3, 1, tzinfo=UTC)),
        registry=REGISTRY,
        topic_prefix="",
    )

    with pytest.raises(RuleBroken) as refused:
        ctx.emit(advice)

    assert refused.value.rule == "event_too_large"
    assert "900,000 bytes" in refused.value.reason
    assert ctx.emitted == []
    ctx.emit(advice.model_copy(update={"pairs": advice.pairs[:10]}))
    assert len(ctx.emitted) == 1


def test_a_name_given_twice_is_refused_however_the_json_is_laid_out() -> None:
    from shared.contract.envelope import read_json

    compact = b'{"source":"/counties/500240","source":"/bureau/hrss"}'
    spaced = b'{"source" : "/counties/500240",\n "source": "/bureau/hrss"}'
    escaped = b'{"note":"\\":", "source":"/counties/500240", "source":"/bureau/hrss"}'
    nested = b'{"data":{"order_id":"500240-2027-001","order_id":"500240-2027-002"}}'
    for document in (compact, spaced, escaped, nested):
        with pytest.raises(EnvelopeError, match="appears twice in one object") as refused:
            read_json(document)
        assert refused.value.reason == "not_json"
    assert read_json(b'{"note":"\\":", "a": {"b": [1, {"c": 2}]}}') == {"note": '":', "a": {"b": [1, {"c": 2}]}}


def test_numbers_and_nesting_beyond_the_limits_are_refused_on_every_reading_path() -> None:
    from shared.contract.envelope import read_json

    for document in (b'{"x": 9223372036854775808}', b'{"x": -9223372036854775809}', b'{"x": 1e400}', b'{"x": NaN}'):
        with pytest.raises(EnvelopeError) as refused:
            read_json(document)
        assert refused.value.reason == "over_limits", document
    assert read_json(b'{"x": 9223372036854775807}') == {"x": 9223372036854775807}
    deep = b'{"x":' + b"[" * 32 + b"]" * 32 + b"}"
    with pytest.raises(EnvelopeError, match="nested deeper than 32"):
        read_json(deep)
    inner = read_json(b'{"x":' + b"[" * 31 + b"]" * 31 + b"}")["x"]  # 32 levels with the object: allowed
    for _ in range(30):
        (inner,) = inner
    assert inner == []
