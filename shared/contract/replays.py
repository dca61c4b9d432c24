"""The operator's replay of a dead letter: the original record written again to the topic it came
from, with headers that only the operator can make.

    replay.of         the dead letter replayed (`<dead-letter topic>:<partition>:<offset>`)
    replay.at         when the operator replayed it (RFC 3339)
    replay.arrived    when the original reached the brokers (RFC 3339; its LogAppendTime)
    replay.keyid      the operator key that signed the marker
    replay.signature  that key's signature (base64url, 64 bytes) of the RFC 8785 form of
                      {"of", "at", "arrived", "topic", "key", "value"}: the headers above, the topic
                      it is written to, and the SHA-256 (base64url) of the record's key and value

A service takes a marker only when it verifies with a key of the operator's trust anchor
(OPERATOR_PUBLIC_KEYS) and was made for this very record on this very topic. Then, and only then,
the record is judged as it arrived the first time (its freshness and its key's validity at
`replay.arrived`) and a refused or dead-lettered event may be applied again. A marker anyone else
wrote is ignored: the record is an ordinary event. No I/O here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import rfc8785

from .keys import SigningKey, b64url
from .partners import OperatorKeys

REPLAY_OF: Final = "replay.of"
REPLAY_AT: Final = "replay.at"
REPLAY_ARRIVED: Final = "replay.arrived"
REPLAY_KEY_ID: Final = "replay.keyid"
REPLAY_SIGNATURE: Final = "replay.signature"
REPLAY_HEADERS: Final = (REPLAY_OF, REPLAY_AT, REPLAY_ARRIVED, REPLAY_KEY_ID, REPLAY_SIGNATURE)


@dataclass(frozen=True, slots=True)
class Replay:
    """An operator's replay marker that verified."""

    of: str
    at: datetime
    arrived_at: datetime
    operator_key_id: str


def _document(of: str, at: str, arrived: str, topic: str, key: bytes | None, value: bytes | None) -> bytes:
    return rfc8785.dumps(
        {
            "of": of,
            "at": at,
            "arrived": arrived,
            "topic": topic,
            "key": b64url(hashlib.sha256(key).digest()) if key is not None else None,
            "value": b64url(hashlib.sha256(value or b"").digest()),
        }
    )


def replay_headers(
    *,
    of: str,
    at: datetime,
    arrived_at: datetime,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    operator: SigningKey,
) -> list[tuple[str, bytes]]:
    """The marker the operator adds to a replayed record written to `topic`."""
    at_text, arrived_text = at.isoformat(), arrived_at.isoformat()
    signature = b64url(operator.sign(_document(of, at_text, arrived_text, topic, key, value)))
    return [
        (REPLAY_OF, of.encode()),
        (REPLAY_AT, at_text.encode()),
        (REPLAY_ARRIVED, arrived_text.encode()),
        (REPLAY_KEY_ID, operator.key_id.encode()),
        (REPLAY_SIGNATURE, signature.encode()),
    ]


def has_marker(headers: Sequence[tuple[str, bytes]]) -> bool:
    return any(name in REPLAY_HEADERS for name, _ in headers)


def authentic_replay(
    headers: Sequence[tuple[str, bytes]], *, topic: str, key: bytes | None, value: bytes | None, operators: OperatorKeys
) -> Replay | None:
    """The record's replay marker if the operator made it for this record on this topic (None:
    no marker, or one that does not verify). Never raises on hostile headers."""
    found: dict[str, str] = {}
    for name, raw in headers:
        if name in REPLAY_HEADERS:
            if name in found:
                return None  # a marker twice: not one the operator wrote
            try:
                found[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
    if set(found) != set(REPLAY_HEADERS):
        return None
    try:
        at = datetime.fromisoformat(found[REPLAY_AT])
        arrived = datetime.fromisoformat(found[REPLAY_ARRIVED])
        document = _document(found[REPLAY_OF], found[REPLAY_AT], found[REPLAY_ARRIVED], topic, key, value)
    except (ValueError, rfc8785.CanonicalizationError):
        return None
    if at.tzinfo is None or arrived.tzinfo is None:
        return None
    if not operators.verifies_bytes(document, found[REPLAY_KEY_ID], found[REPLAY_SIGNATURE]):
        return None
    return Replay(found[REPLAY_OF], at, arrived, found[REPLAY_KEY_ID])
