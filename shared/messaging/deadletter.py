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
    dlt.at                when (RFC 3339, UTC)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from shared.contract.envelope import Envelope
from shared.db.types import Connection

from .outbox import OutboxMessage
from .records import Record

REASONS: Final = {
    "not_json": "the value is not JSON (or not UTF-8)",
    "not_cloudevent": "JSON, but not a CloudEvents 1.0 event with our required attributes",
    "unknown_type": "a CloudEvent of a type this service does not accept on this topic",
    "unauthorized_source": "the sender (source) is not entitled to send this type",
    "schema_violation": "the data does not match the type's JSON Schema",
    "id_reused": "the sender reused an event id for different content",
    "business_rule": "valid, but refused by a programme rule (see dlt.rule)",
    "handler_error": "the handler failed on every bounded retry (a defect to investigate)",
}

HEADER_PREFIX: Final = "dlt."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    detail: str
    rule: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown dead-letter reason {self.reason!r}")


def dead_letter_message(record: Record, letter: DeadLetter, *, service: str, topic: str, at: datetime) -> OutboxMessage:
    extra = [
        ("dlt.reason", letter.reason),
        ("dlt.detail", letter.detail[:4000]),
        ("dlt.service", service),
        ("dlt.origin.topic", record.topic),
        ("dlt.origin.partition", str(record.partition)),
        ("dlt.origin.offset", str(record.offset)),
        ("dlt.at", at.isoformat()),
    ]
    if letter.rule:
        extra.insert(1, ("dlt.rule", letter.rule))
    return OutboxMessage(
        topic=topic,
        key=record.key,
        value=record.value or b"",
        headers=record.headers + tuple((name, value.encode()) for name, value in extra),
    )


_RECORD = """
INSERT INTO dead_letters (origin_topic, origin_partition, origin_offset, reason_code, detail,
                          event_id, event_type, source, subject, correlation_id, kafka_key, value)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (origin_topic, origin_partition, origin_offset) DO NOTHING
RETURNING id
"""


async def record_dead_letter(conn: Connection, record: Record, letter: DeadLetter, envelope: Envelope | None) -> bool:
    """Remember the dead letter; False if this record was dead-lettered before (redelivery)."""
    detail = f"{letter.rule}: {letter.detail}" if letter.rule else letter.detail
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
    )
    return row_id is not None


def headers_of(headers: tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    """The last value of each header, decoded (dead-letter headers come last)."""
    out: dict[str, str] = {}
    for name, value in headers:
        out[name] = value.decode("utf-8", errors="replace")
    return out
