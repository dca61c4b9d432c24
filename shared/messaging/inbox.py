"""The idempotent inbox: (source, id) of every consumed event, in the effect's transaction."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from shared.contract.envelope import Envelope
from shared.contract.replays import REPLAY_OF
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
                 received_at = clock_timestamp(), applied_seq = DEFAULT
WHERE source = $1 AND event_id = $2 AND outcome <> 'applied' AND value_sha256 = $6
RETURNING 1
"""

REPLAY_HEADER = REPLAY_OF
"""Set by `expert-teams dead-letters replay` with the rest of the operator's signed marker
(shared.contract.replays): an operator asks for a refused event to be tried again."""


async def claim(conn: Connection, envelope: Envelope, record: Record, *, replay: bool = False) -> Claim:
    """Record the event as received. A duplicate is not processed again, except that an
    operator's replay (`replay`: its marker verified) of an event that was refused or
    dead-lettered is."""
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
    if replay:
        reclaimed = await conn.fetchval(
            _RECLAIM, envelope.source, envelope.id, record.topic, record.partition, record.offset, digest
        )
        if reclaimed:
            return Claim.NEW
    existing = await conn.fetchval(
        "SELECT value_sha256 FROM inbox WHERE source = $1 AND event_id = $2", envelope.source, envelope.id
    )
    return Claim.DUPLICATE if existing == digest else Claim.CONFLICT


async def received_before(conn: Connection, envelope: Envelope) -> bool:
    """Whether this very event (its source, id and content) was received before."""
    stored = await conn.fetchval(
        "SELECT value_sha256 FROM inbox WHERE source = $1 AND event_id = $2", envelope.source, envelope.id
    )
    return stored is not None and stored == content_digest(envelope)


async def set_outcome(conn: Connection, envelope: Envelope, outcome: str, reason_code: str | None) -> None:
    await conn.execute(
        "UPDATE inbox SET outcome = $3, reason_code = $4 WHERE source = $1 AND event_id = $2",
        envelope.source,
        envelope.id,
        outcome,
        reason_code,
    )


_CLAIM_MANY = """
INSERT INTO inbox (source, event_id, event_type, subject, correlation_id,
                   topic, kafka_partition, kafka_offset, value_sha256, value, outcome)
SELECT source, event_id, event_type, subject, correlation_id, topic, kafka_partition, kafka_offset,
       value_sha256, value, 'applied'
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::bigint[],
            $9::bytea[], $10::bytea[]) WITH ORDINALITY
     AS claimed (source, event_id, event_type, subject, correlation_id, topic, kafka_partition, kafka_offset,
                 value_sha256, value, n)
ORDER BY n
ON CONFLICT (source, event_id) DO NOTHING
RETURNING source, event_id
"""
_EXISTING = """
SELECT i.source, i.event_id, i.value_sha256 FROM inbox i
JOIN unnest($1::text[], $2::text[]) AS wanted (source, event_id) USING (source, event_id)
"""


async def claim_many(conn: Connection, items: Sequence[tuple[Envelope, Record, bool]]) -> list[Claim]:
    """`claim` for a whole batch in one statement (two when some were seen before); the same
    answers as claiming one by one in order, a second copy within the batch included."""
    if not items:
        return []
    digests = [content_digest(envelope) for envelope, _, _ in items]
    columns: list[list[Any]] = [[] for _ in range(10)]
    for (envelope, record, _), digest in zip(items, digests, strict=True):
        row = (
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
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    inserted = {(r["source"], r["event_id"]) for r in await conn.fetch(_CLAIM_MANY, *columns)}
    claims: list[Claim] = []
    first_digest: dict[tuple[str, str], bytes] = {}
    unknown: list[int] = []
    for index, ((envelope, _, _), digest) in enumerate(zip(items, digests, strict=True)):
        key = (envelope.source, envelope.id)
        if key in inserted and key not in first_digest:
            first_digest[key] = digest
            claims.append(Claim.NEW)
        elif key in first_digest:
            claims.append(Claim.DUPLICATE if first_digest[key] == digest else Claim.CONFLICT)
        else:
            claims.append(Claim.CONFLICT)  # decided below against what the inbox holds
            unknown.append(index)
    if unknown:
        sources = [items[i][0].source for i in unknown]
        ids = [items[i][0].id for i in unknown]
        stored = {(r["source"], r["event_id"]): r["value_sha256"] for r in await conn.fetch(_EXISTING, sources, ids)}
        for i in unknown:
            envelope, record, replay = items[i]
            if replay:
                claims[i] = await claim(conn, envelope, record, replay=True)
            else:
                same = stored.get((envelope.source, envelope.id)) == digests[i]
                claims[i] = Claim.DUPLICATE if same else Claim.CONFLICT
    return claims
