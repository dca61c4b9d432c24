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


_RECLAIM = """
UPDATE inbox SET outcome = 'applied', reason_code = NULL, topic = $3, kafka_partition = $4, kafka_offset = $5,
                 received_at = clock_timestamp()
WHERE source = $1 AND event_id = $2 AND outcome <> 'applied' AND value_sha256 = $6
RETURNING 1
"""

REPLAY_HEADER = "replay.of"
"""Set by `expert-teams dead-letters replay`: an operator asks for a refused event to be tried again."""


async def claim(conn: Connection, envelope: Envelope, record: Record) -> Claim:
    """Record the event as received. A duplicate is not processed again, except that an
    operator's replay of an event that was refused or dead-lettered (REPLAY_HEADER) is."""
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
    if any(name == REPLAY_HEADER for name, _ in record.headers):
        reclaimed = await conn.fetchval(
            _RECLAIM, envelope.source, envelope.id, record.topic, record.partition, record.offset, digest
        )
        if reclaimed:
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
