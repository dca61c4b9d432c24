"""Dead letters: the original record, where it came from, and why it was not processed.

On the `<service>.deadletter` topic a dead letter is the original key and value, byte for
byte, with the original headers followed by these:

    dlt.reason            machine-readable category (see REASONS)
    dlt.rule              for business_rule: the rule that was broken (e.g. invalid_transition)
    dlt.detail            the reason in words
    dlt.service           the service that gave up on it
    dlt.origin.topic      where it was consumed from
    dlt.origin.partition
    dlt.origin.offset
    dlt.origin.timestamp  when the original reached the broker (ms since the epoch; topics that
                          keep the broker's stamp, LogAppendTime: partners' inbound topics)
    dlt.at                when (RFC 3339, UTC)
    dlt.id                the dead letter's row in the service's `dead_letters` table
    dlt.withheld          present when part of the original could not be forwarded: which part
                          (headers, value, key) and why; the whole original is in that row

A dead letter obeys the size limit of every message we write (MAX_RECORD_BYTES): an original
too large to forward, or headers that break the transport rules (names that are not UTF-8,
thousands of headers), stay in the database and the message says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from shared.contract import limits
from shared.contract.envelope import Envelope, EnvelopeError, checked_headers
from shared.db.types import Connection

from .outbox import OutboxMessage
from .records import Record
from .transport import raw_header_name

REASONS: Final = {
    "bad_headers": "the headers break the transport rules (a name not UTF-8, too many or too large, "
    "a CloudEvents header not UTF-8, both content modes at once)",
    "not_json": "the value is not JSON (or not UTF-8, or not I-JSON: a name twice in one object)",
    "over_limits": "JSON beyond the contract's limits (nesting, 64-bit integers, finite numbers)",
    "not_cloudevent": "JSON, but not a CloudEvents 1.0 event with our required attributes",
    "unknown_type": "a CloudEvent of a type this service does not accept on this topic",
    "unauthorized_source": "the sender is not proven (signature, key, writer) or not entitled to send this type",
    "stale": "the event's time is older than the freshness window allows (it arrived too long after it was signed)",
    "from_the_future": "the event's time is later than its arrival by more than the clock skew allowed",
    "schema_violation": "the data does not match the type's JSON Schema",
    "id_reused": "the sender reused an event id for different content",
    "business_rule": "valid, but refused by a programme rule (see dlt.rule)",
    "handler_error": "the handler failed on every bounded retry (a defect to investigate)",
    "unreadable": "reading the record failed unexpectedly (a defect to investigate; the original is kept)",
}

OUR_FAULT: Final = (
    "the service could not process this event because of a fault on its side; it is kept as a dead letter for the "
    "operator, who will apply it once the fault is fixed: there is no need to send it again"
)
"""What the sender is told of a handler_error: the exception's text is for the operator only (it may
name anything the handler read)."""

HEADER_PREFIX: Final = "dlt."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    detail: str
    """In full, for the operator and auditors (the dead letter, the `rejections` topic)."""
    rule: str | None = None
    answer: str | None = None
    """What the sender is told, when it must be less than `detail` (RuleBroken.answer)."""

    @property
    def told(self) -> str:
        """The reason as the sender's answer gives it."""
        return self.detail if self.answer is None else self.answer

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown dead-letter reason {self.reason!r}")


def dead_letter_message(
    record: Record, letter: DeadLetter, *, service: str, topic: str, at: datetime, letter_id: int
) -> OutboxMessage:
    extra = [
        ("dlt.reason", letter.reason),
        ("dlt.detail", _text(letter.detail)[:4000]),
        ("dlt.service", service),
        ("dlt.origin.topic", record.topic),
        ("dlt.origin.partition", str(record.partition)),
        ("dlt.origin.offset", str(record.offset)),
        *((("dlt.origin.timestamp", str(record.timestamp_ms)),) if record.appended_at is not None else ()),
        ("dlt.at", at.isoformat()),
        ("dlt.id", str(letter_id)),
    ]
    if letter.rule:
        extra.insert(1, ("dlt.rule", letter.rule))
    headers, key, value = record.headers, record.key, record.value or b""
    withheld: list[str] = []
    if not forwardable_headers(headers):
        withheld.append(f"headers ({len(headers):,}: they break the transport rules)")
        headers = ()
    ours = sum(len(n) + len(v.encode()) for n, v in extra) + 200
    if len(key or b"") > limits.MAX_HEADER_VALUE_BYTES:
        withheld.append(f"key ({len(key or b''):,} bytes)")
        key = None
    size = len(key or b"") + len(value) + sum(len(n.encode()) + len(v) for n, v in headers) + ours
    if size > limits.MAX_RECORD_BYTES:
        withheld.append(f"value ({len(value):,} bytes: the dead letter would exceed {limits.MAX_RECORD_BYTES:,})")
        value = b""
        if sum(len(n.encode()) + len(v) for n, v in headers) + ours > limits.MAX_RECORD_BYTES:
            withheld.append("headers (too large)")
            headers = ()
    if withheld:
        extra.append(("dlt.withheld", f"{'; '.join(withheld)}; the original is dead_letters row {letter_id}"))
    return OutboxMessage(
        topic=topic,
        key=key,
        value=value,
        headers=headers + tuple((name, value.encode()) for name, value in extra),
    )


def forwardable_headers(headers: tuple[tuple[str, bytes], ...]) -> bool:
    """Headers that can be written to Kafka again as they came (the transport rules hold)."""
    try:
        checked_headers(headers)
    except EnvelopeError:
        return False
    return True


def _text(value: str) -> str:
    """Text PostgreSQL and Kafka headers can carry: no NUL, no lone surrogates."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


_RECORD = """
INSERT INTO dead_letters (origin_topic, origin_partition, origin_offset, reason_code, detail,
                          event_id, event_type, source, subject, correlation_id, kafka_key, value,
                          header_names, header_values)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (origin_topic, origin_partition, origin_offset) DO NOTHING
RETURNING id
"""


async def record_dead_letter(
    conn: Connection, record: Record, letter: DeadLetter, envelope: Envelope | None
) -> int | None:
    """Remember the dead letter, original headers included; its id, or None if this record was
    dead-lettered before (a redelivery)."""
    detail = _text(f"{letter.rule}: {letter.detail}" if letter.rule else letter.detail)
    row_id = await conn.fetchval(
        _RECORD,
        record.topic,
        record.partition,
        record.offset,
        letter.reason,
        detail,
        envelope.id if envelope else None,
        envelope.type if envelope else None,
        envelope.source if envelope else None,
        envelope.subject if envelope else None,
        envelope.correlation_id if envelope else None,
        record.key,
        record.value,
        [raw_header_name(name) for name, _ in record.headers],
        [value for _, value in record.headers],
    )
    return int(row_id) if row_id is not None else None


def headers_of(headers: tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    """The last value of each header, decoded (dead-letter headers come last)."""
    out: dict[str, str] = {}
    for name, value in headers:
        out[name] = value.decode("utf-8", errors="replace")
    return out
