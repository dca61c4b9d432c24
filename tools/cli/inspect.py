"""Reading the topics for operators: one order's history, dead letters.

Each read goes up to every partition's high watermark at the moment it starts, then waits
`idle_s` more for what is still arriving (an order being processed right now)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from shared.contract.replays import REPLAY_HEADERS, replay_headers
from shared.topics import SERVICES, all_topics, deadletter, events, with_prefix
from tools.cli.connection import Connection
from tools.client import Observed, ProgrammeClient, TopicObserver, partner_topics_on_broker
from tools.figures import Figures
from tools.keyring import Operator


async def _read_all(connection: Connection, topics: list[str], idle_s: float) -> TopicObserver:
    observer = TopicObserver(
        connection.kafka,
        [with_prefix(connection.topic_prefix, t) for t in topics],
        connect_timeout_s=connection.timeout_s,
    )
    await observer.start()
    await observer.read_to_end()
    if idle_s > 0:
        await observer.settle(idle_s)
    return observer


def _when(o: Observed) -> datetime:
    if o.envelope is not None:
        return o.envelope.time
    return datetime.fromtimestamp(o.timestamp_ms / 1000, tz=UTC)


def _related(seen: list[Observed], key: str) -> list[Observed]:
    direct = [o for o in seen if o.subject == key or (o.key or b"").decode(errors="replace") == key]
    correlations = {o.envelope.correlation_id for o in direct if o.envelope}
    related = [o for o in seen if o.envelope and o.envelope.correlation_id in correlations]
    unique = {(o.topic, o.partition, o.offset): o for o in [*direct, *related]}
    return sorted(unique.values(), key=lambda o: (_when(o), o.topic, o.offset))


def describe(o: Observed) -> dict[str, Any]:
    row: dict[str, Any] = {
        "time": _when(o).isoformat(),
        "topic": o.topic,
        "ref": f"{o.topic}:{o.partition}:{o.offset}",
    }
    if o.envelope is not None:
        e = o.envelope
        row |= {"type": e.type, "source": e.source, "id": e.id, "subject": e.subject}
        row |= {"correlation_id": e.correlation_id, "causation_id": e.causation_id}
        if e.type == "EventRejected":
            row["reason"] = f"{e.data.get('reason_code')}: {e.data.get('reason')}"
    if o.header("dlt.reason"):
        row["dead_letter"] = {
            "reason": o.header("dlt.reason"),
            "rule": o.header("dlt.rule"),
            "detail": o.header("dlt.detail"),
            "service": o.header("dlt.service"),
            "origin": f"{o.header('dlt.origin.topic')}:{o.header('dlt.origin.partition')}:"
            f"{o.header('dlt.origin.offset')}",
        }
    return row


def _print_row(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(row, ensure_ascii=False))
        return
    what = row.get("type", "(not a CloudEvent)")
    line = f"{row['time'][:23]}  {row['topic']:20} {what:18} {row.get('source', ''):22}"
    if "reason" in row:
        line += f"  {row['reason']}"
    if "dead_letter" in row:
        dl = row["dead_letter"]
        line += f"  DEAD LETTER {dl['reason']}{'/' + dl['rule'] if dl['rule'] else ''}: {dl['detail']}"
    print(line)


async def _every_topic(connection: Connection) -> list[str]:
    """The programme's topics and every partner's (unprefixed names)."""
    partners = await partner_topics_on_broker(
        connection.kafka, connection.topic_prefix, connect_timeout_s=connection.timeout_s
    )
    return [t.name for t in all_topics()] + [name.removeprefix(connection.topic_prefix) for name in partners]


async def export_history(connection: Connection, key: str, *, idle_s: float) -> dict[str, Any]:
    """One order's whole history as a document for auditors: every event in time order, who
    sent it, and which events it caused."""
    observer = await _read_all(connection, await _every_topic(connection), idle_s)
    try:
        related = _related(observer.seen, key)
    finally:
        await observer.stop()
    rows = [describe(o) for o in related]
    caused: dict[str, list[str]] = {}
    for row in rows:
        if row.get("causation_id"):
            caused.setdefault(row["causation_id"], []).append(row["id"])
    for row in rows:
        if "id" in row:
            row["caused"] = caused.get(row["id"], [])
    return {"key": key, "exported_at": datetime.now(UTC).isoformat(), "events": rows}


async def follow(connection: Connection, key: str, *, as_json: bool, tail: bool, idle_s: float) -> None:
    observer = await _read_all(connection, await _every_topic(connection), idle_s)
    printed: set[tuple[str, int, int]] = set()
    try:
        while True:
            for o in _related(observer.seen, key):
                ref = (o.topic, o.partition, o.offset)
                if ref not in printed:
                    printed.add(ref)
                    _print_row(describe(o), as_json)
            if not tail:
                break
            await asyncio.sleep(0.5)
    finally:
        await observer.stop()
    if not printed and not as_json:
        print(f"no events found for {key}")


async def bureau_figures(connection: Connection, *, idle_s: float) -> Figures:
    """The bureau's figures from every event the services emitted, in the order they were published."""
    observer = await _read_all(connection, [events(s) for s in SERVICES], idle_s)
    try:
        ordered = sorted(observer.distinct, key=lambda o: (o.timestamp_ms, o.topic, o.partition, o.offset))
        return Figures.of((o.type, o.data) for o in ordered if o.type is not None)
    finally:
        await observer.stop()


def _deadletter_topics(service: str | None) -> list[str]:
    return [deadletter(service)] if service else [deadletter(s) for s in SERVICES]


async def list_dead_letters(connection: Connection, *, service: str | None, as_json: bool, idle_s: float) -> None:
    observer = await _read_all(connection, _deadletter_topics(service), idle_s)
    try:
        rows = [describe(o) for o in sorted(observer.seen, key=_when)]
    finally:
        await observer.stop()
    for row in rows:
        if as_json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            dl = row.get("dead_letter", {})
            rule = f"/{dl['rule']}" if dl.get("rule") else ""
            print(f"{row['ref']:28} {dl.get('reason', '?')}{rule:24} from {dl.get('origin')}  {dl.get('detail')}")
    if not rows and not as_json:
        print("no dead letters")


async def _dead_letter_at(connection: Connection, ref: str, idle_s: float) -> Observed | None:
    """The record at TOPIC:PARTITION:OFFSET of a dead-letter topic, if there is one."""
    topic = ref.partition(":")[0]
    observer = await _read_all(connection, [topic.removeprefix(connection.topic_prefix)], idle_s)
    try:
        return next((o for o in observer.seen if f"{o.topic}:{o.partition}:{o.offset}" == ref), None)
    finally:
        await observer.stop()


async def show_dead_letter(connection: Connection, ref: str, *, idle_s: float, as_json: bool = False) -> bool:
    o = await _dead_letter_at(connection, ref, idle_s)
    if o is None:
        return False
    original_bytes = o.value or b""
    if as_json:
        try:
            original: dict[str, str] = {"original_value": original_bytes.decode("utf-8")}
        except UnicodeDecodeError:
            original = {"original_value_hex": original_bytes.hex()}
        document = describe(o) | {
            "headers": [[name, v.decode("utf-8", errors="replace")] for name, v in o.headers],
            "key": (o.key or b"").decode("utf-8", errors="replace"),
            **original,
        }
        print(json.dumps(document, ensure_ascii=False))
        return True
    print(json.dumps(describe(o), ensure_ascii=False, indent=2))
    print("headers:")
    for name, value in o.headers:
        print(f"  {name}: {value.decode('utf-8', errors='replace')}")
    print(f"key: {(o.key or b'').decode('utf-8', errors='replace')}")
    print("original value:")
    try:
        print(original_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        print(original_bytes.hex())
    return True


REPLAYED_BY = "replay.by"


async def replay_dead_letter(
    connection: Connection, ref: str, *, operator: Operator, idle_s: float
) -> dict[str, Any] | None:
    """Send a dead letter's original record back to where it came from, once its cause is fixed.

    The record keeps its key, bytes and original headers (the `dlt.*` and any earlier `replay.*`
    ones removed) and gets the operator's signed replay marker (shared.contract.replays: this dead
    letter, when the original arrived, when it is replayed) and `replay.by` (who asked): the
    consuming service judges the event as it arrived the first time and tries it again if it
    refused or dead-lettered it; one it already applied stays a no-op."""
    letter = await _dead_letter_at(connection, ref, idle_s)
    if letter is None:
        return None
    origin = letter.header("dlt.origin.topic")
    if not origin:
        raise SystemExit(f"{ref} has no dlt.origin.topic header: not a dead letter")
    arrived = await _original_arrival(connection, letter)
    headers = [
        (n, v) for n, v in letter.headers if not n.startswith("dlt.") and n not in (*REPLAY_HEADERS, REPLAYED_BY)
    ]
    headers += replay_headers(
        of=ref,
        at=datetime.now(UTC),
        arrived_at=arrived,
        topic=origin,
        key=letter.key,
        value=letter.value,
        operator=operator.key,
    )
    headers.append((REPLAYED_BY, operator.name.encode()))
    async with ProgrammeClient(connection.kafka, connect_timeout_s=connection.timeout_s) as client:
        sent = await client.send_raw(origin, letter.value, key=letter.key, headers=headers)
    return {"replayed": ref, "to": f"{origin}:{sent.partition}:{sent.offset}", "by": operator.name}


async def _original_arrival(connection: Connection, letter: Observed) -> datetime:
    """When the dead letter's original reached the brokers: `dlt.origin.timestamp`, or the original
    record's own timestamp read from its topic."""
    stamped = letter.header("dlt.origin.timestamp")
    if stamped:
        return datetime.fromtimestamp(int(stamped) / 1000, UTC)
    topic = letter.header("dlt.origin.topic") or ""
    partition, offset = int(letter.header("dlt.origin.partition") or 0), int(letter.header("dlt.origin.offset") or 0)
    observer = await _read_all(connection, [topic.removeprefix(connection.topic_prefix)], 0)
    try:
        for o in observer.seen:
            if o.partition == partition and o.offset == offset:
                return datetime.fromtimestamp(o.timestamp_ms / 1000, UTC)
    finally:
        await observer.stop()
    raise SystemExit(f"the original of {letter.topic}:{letter.partition}:{letter.offset} is no longer on {topic}")
