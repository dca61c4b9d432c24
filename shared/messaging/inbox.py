"""The idempotent inbox: (source, id) of every consumed event, in the effect's transaction."""

from __future__ import annotations

import enum
import hashlib
import json

from shared.contract.envelope import Envelope
from shared.db.types import Connection

from .records import Record


class Claim(enum.Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    """Same (source, id), same content: already processed; do nothing, emit nothing."""
    CONFLICT = "conflict"
    """Same (source, id), different content: the sender reused an id."""


def content_digest(envelope: Envelope) -> bytes:
    """Digest of what the event says (type, subject, data), independent of its encoding."""
    canonical = json.dumps(
        [envelope.type, envelope.subject, envelope.data],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).digest()


_CLAIM = """
INSERT INTO inbox (source, event_id, event_type, subject, correlation_id,
                   topic, kafka_partition, kafka_offset, value_sha256, value, outcome)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'applied')
ON CONFLICT (source, event_id) DO NOTHING
RETURNING 1
"""


async def claim(conn: Connection, envelope: Envelope, record: Record) -> Claim:
    digest = content_digest(envelope)
    inserted = await conn.fetchval(
        _CLAIM,
        envelope.source,
        envelope.id,
        envelope.type,
        envelope.subject,
        envelope.correlation_id,
        record.topic,
        record.partition,
        record.offset,
        digest,
        record.value or b"",
    )
    if inserted:
        return Claim.NEW
    existing = await conn.fetchval(
        "SELECT value_sha256 FROM inbox WHERE source = $1 AND event_id = $2", envelope.source, envelope.id
    )
    return Claim.DUPLICATE if existing == digest else Claim.CONFLICT


async def set_outcome(conn: Connection, envelope: Envelope, outcome: str, reason_code: str | None) -> None:
    await conn.execute(
        "UPDATE inbox SET outcome = $3, reason_code = $4 WHERE source = $1 AND event_id = $2",
        envelope.source,
        envelope.id,
        outcome,
        reason_code,
    )
