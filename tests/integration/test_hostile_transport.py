"""Hostile input costs nobody else anything: whatever one sender puts in a record's headers,
size or JSON, the other senders' events around it are all applied, the hostile record is
dead-lettered with its reason and kept whole, and its partition moves on."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.contract import limits
from shared.contract.events.orders import DemandSubmitted
from shared.contract.partners import principal_of
from shared.topics import partner_inbound
from tests.builders import SHIZHU, new_order_id, tianma_demand
from tests.hostile import RawName, allow_raw_header_names, duplicated, nested_arrays, with_extra
from tests.signing import signed
from tests.waiting import eventually
from tools.client import ProgrammeClient, TopicObserver, binary_headers, envelope_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHIZHU_SYSTEM = f"/counties/{SHIZHU}"
NOW = datetime.now(UTC)
"""When the test events say they were signed: now, as a partner's are (freshness, docs/contract/README.md)."""
STRUCTURED = [("content-type", b"application/cloudevents+json")]


def submission(order_id: str) -> DemandSubmitted:
    return DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县人力社保局")


def structured(order_id: str) -> bytes:
    """石柱县's signed submission: what an attack does to it is all that is wrong with it."""
    return signed(envelope_for(submission(order_id), source=SHIZHU_SYSTEM, time=NOW).to_structured_json())


def origins_of_dead_letters(observer: TopicObserver) -> dict[tuple[str, int, int], Any]:
    return {
        (
            o.header("dlt.origin.topic") or "",
            int(o.header("dlt.origin.partition") or -1),
            int(o.header("dlt.origin.offset") or -1),
        ): o
        for o in observer.distinct
        if o.header("dlt.origin.topic")
    }


async def submitted(observer: TopicObserver, event_ids: list[str], timeout_s: float = 60) -> None:
    """Every one of these DemandSubmitted was applied: each has its OrderSubmitted."""

    def done() -> bool:
        return all(any(a.type == "OrderSubmitted" for a in observer.answers_to(i)) for i in event_ids)

    await observer.wait_until(done, timeout_s=timeout_s)


async def test_a_header_value_that_is_not_utf8_loses_none_of_the_events_sent_with_it(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    topic = client.topic(partner_inbound("orders", principal_of(SHIZHU_SYSTEM)))
    noted = envelope_for(submission(new_order_id()), source=SHIZHU_SYSTEM, time=NOW)
    await client.enrol(SHIZHU_SYSTEM)
    await client.send_raw(
        topic,
        signed(noted.to_structured_json()),
        key=noted.subject.encode(),
        headers=[*STRUCTURED, ("x-note", b"\xff\xfe")],
    )
    others = await client.send_many([(submission(new_order_id()), SHIZHU_SYSTEM) for _ in range(8)])

    await submitted(observer, [noted.id, *(e.id for e in others)])

    states = await orders_service.pool.fetch(
        "SELECT order_id FROM orders WHERE order_id = ANY($1::text[])", [noted.subject, *(e.subject for e in others)]
    )
    assert len(states) == 9, "the noted event and the eight sent right after it are all orders now"


Attack = Callable[[str], tuple[bytes | None, list[tuple[str, bytes]]]]


def _binary(order_id: str, **changed: bytes) -> list[tuple[str, bytes]]:
    headers = binary_headers(envelope_for(submission(order_id), source=SHIZHU_SYSTEM, time=NOW))
    return [(name, changed.get(name, value)) for name, value in headers]


ATTACKS: list[tuple[str, Attack, str]] = [
    (
        "a header name that is not UTF-8",
        lambda oid: (structured(oid), [*STRUCTURED, (RawName(b"\xff\xfe"), b"x")]),
        "bad_headers",
    ),
    (
        "5,000 headers",
        lambda oid: (structured(oid), [*STRUCTURED, *[(f"x-{i}", b"1") for i in range(5000)]]),
        "bad_headers",
    ),
    ("a header name of 4,096 bytes", lambda oid: (structured(oid), [*STRUCTURED, ("n" * 4096, b"1")]), "bad_headers"),
    (
        "a header value of 200 KB",
        lambda oid: (structured(oid), [*STRUCTURED, ("x-note", b"v" * 200_000)]),
        "bad_headers",
    ),
    (
        "a binary-mode source that is not UTF-8",
        lambda oid: (
            json.dumps(submission(oid).model_dump(mode="json")).encode(),
            _binary(oid, ce_source=b"\xff\xfe/counties"),
        ),
        "bad_headers",
    ),
    (
        "structured content type with binary-mode headers",
        lambda oid: (structured(oid), [*STRUCTURED, *_binary(oid)]),
        "bad_headers",
    ),
    (
        "arrays nested 100,000 deep",
        lambda oid: (with_extra(structured(oid), "x", nested_arrays(100_000)), STRUCTURED),
        "over_limits",
    ),
    (
        "arrays nested 40 deep",
        lambda oid: (with_extra(structured(oid), "x", nested_arrays(40)), STRUCTURED),
        "over_limits",
    ),
    (
        "a number of 5,000 digits",
        lambda oid: (with_extra(structured(oid), "x", b"9" * 5000), STRUCTURED),
        "over_limits",
    ),
    ("an integer beyond 64 bits", lambda oid: (with_extra(structured(oid), "x", b"9" * 30), STRUCTURED), "over_limits"),
    (
        "an extension attribute of 100 KB",
        lambda oid: (with_extra(structured(oid), "padding", json.dumps("x" * 100_000).encode()), STRUCTURED),
        "over_limits",
    ),
    ("a number beyond 1.8e308", lambda oid: (with_extra(structured(oid), "x", b"1e400"), STRUCTURED), "over_limits"),
    (
        "the source given twice",
        lambda oid: (duplicated(structured(oid), "source", "/bureau/hrss"), STRUCTURED),
        "not_json",
    ),
    ("an unpaired surrogate", lambda oid: (with_extra(structured(oid), "x", b'"\\ud800"'), STRUCTURED), "not_json"),
    ("UTF-16 text", lambda oid: (structured(oid).decode().encode("utf-16"), STRUCTURED), "not_json"),
]


@pytest.mark.parametrize(("attack", "reason"), [(a, r) for _, a, r in ATTACKS], ids=[n for n, _, _ in ATTACKS])
async def test_a_hostile_record_is_dead_lettered_with_its_reason_and_its_partition_moves_on(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver, attack: Attack, reason: str
) -> None:
    allow_raw_header_names()
    order_id = new_order_id()
    value, headers = attack(order_id)
    topic = client.topic(partner_inbound("orders", principal_of(SHIZHU_SYSTEM)))
    await client.enrol(SHIZHU_SYSTEM)
    hostile = await client.send_raw(topic, value, key=order_id.encode(), headers=headers)
    after = await client.send(submission(order_id), source=SHIZHU_SYSTEM)  # same key: same partition, later

    origin = (hostile.topic, hostile.partition, hostile.offset)
    await observer.wait_until(lambda: origin in origins_of_dead_letters(observer), timeout_s=60)
    await submitted(observer, [after.id])

    letter = origins_of_dead_letters(observer)[origin]
    assert letter.header("dlt.reason") == reason, letter.header("dlt.detail")
    assert letter.header("dlt.service") == "orders"
    row = await orders_service.pool.fetchrow(
        "SELECT reason_code, value, header_names, header_values FROM dead_letters "
        "WHERE origin_topic = $1 AND origin_partition = $2 AND origin_offset = $3",
        *origin,
    )
    assert row["reason_code"] == reason
    assert row["value"] == value, "the original value is kept byte for byte"
    sent_names = [n.encode("utf-8") if not isinstance(n, RawName) else n.raw for n, _ in headers]
    assert list(row["header_names"]) == sent_names, "the original header names are kept byte for byte"
    assert list(row["header_values"]) == [v for _, v in headers]


async def test_a_record_near_the_broker_limit_is_dead_lettered_within_the_limit_and_kept_whole(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    document = json.loads(structured(order_id))
    document["data"]["padding"] = "天" * 320_000  # 960,000 bytes: within the broker's limit, beyond ours
    value = signed(json.dumps(document, ensure_ascii=False).encode())
    assert len(value) > limits.MAX_RECORD_BYTES
    await client.enrol(SHIZHU_SYSTEM)
    hostile = await client.send_raw(
        client.topic(partner_inbound("orders", principal_of(SHIZHU_SYSTEM))),
        value,
        key=order_id.encode(),
        headers=[*STRUCTURED, ("x-big", b"1")],
    )
    after = await client.send(submission(order_id), source=SHIZHU_SYSTEM)
    origin = (hostile.topic, hostile.partition, hostile.offset)
    await observer.wait_until(lambda: origin in origins_of_dead_letters(observer), timeout_s=60)
    await submitted(observer, [after.id])

    letter = origins_of_dead_letters(observer)[origin]
    assert letter.header("dlt.reason") == "schema_violation", letter.header("dlt.detail")
    assert letter.value == b"", "the value is withheld from the dead-letter topic"
    letter_id = int(letter.header("dlt.id") or 0)
    assert f"dead_letters row {letter_id}" in (letter.header("dlt.withheld") or "")
    size = len(letter.key or b"") + sum(len(n) + len(v) for n, v in letter.headers)
    assert size < limits.MAX_RECORD_BYTES
    kept = await orders_service.pool.fetchval("SELECT value FROM dead_letters WHERE id = $1", letter_id)
    assert kept == value

    async def outbox_drained() -> bool:
        # the relay marks rows published after the broker's acks, which the observer may see first
        unpublished = await orders_service.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return bool(unpublished == 0)

    await eventually(outbox_drained, "nothing is left behind in the outbox", timeout_s=10)
