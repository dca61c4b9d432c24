"""The transactional outbox: messages are rows written in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.contract.envelope import STRUCTURED_CONTENT_TYPE, Envelope
from shared.db.types import Connection

NOTIFY_CHANNEL = "outbox"
"""Notified at the commit of every transaction that wrote the outbox (messaging migration 0004)."""
_STRUCTURED = STRUCTURED_CONTENT_TYPE.encode()

MAX_EVENT_BYTES = 900_000
"""The largest event a service may emit: Kafka refuses messages over 1 MiB by default (producer
max.request.size, broker message.max.bytes), and an outbox row that can never be published
would hold up every row after it. Larger results are sent in parts (e.g. AssignmentRecommended)."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    event_id: str | None = None
    event_type: str | None = None
    subject: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None

    @classmethod
    def for_event(cls, topic: str, envelope: Envelope) -> OutboxMessage:
        """A CloudEvent in structured mode, keyed by its subject; its trace context (the CloudEvents
        distributed-tracing extension) also in the `traceparent` header, for Kafka tooling."""
        headers: tuple[tuple[str, bytes], ...] = (("content-type", _STRUCTURED),)
        if traceparent := envelope.extensions.get("traceparent"):
            headers += (("traceparent", traceparent.encode()),)
        return cls(
            topic=topic,
            key=envelope.subject.encode(),
            value=envelope.to_structured_json(),
            headers=headers,
            event_id=envelope.id,
            event_type=envelope.type,
            subject=envelope.subject,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.causation_id,
        )


_INSERT = """
INSERT INTO outbox (topic, kafka_key, value, header_names, header_values,
                    event_id, event_type, subject, correlation_id, causation_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""


def _row(m: OutboxMessage) -> tuple[object, ...]:
    return (
        m.topic,
        m.key,
        m.value,
        [name for name, _ in m.headers],
        [value for _, value in m.headers],
        m.event_id,
        m.event_type,
        m.subject,
        m.correlation_id,
        m.causation_id,
    )


async def append(conn: Connection, messages: Sequence[OutboxMessage]) -> None:
    """Write messages in the current transaction. The relay is woken when it commits (a trigger on
    the table notifies NOTIFY_CHANNEL: messaging migration 0004)."""
    if len(messages) == 1:
        await conn.execute(_INSERT, *_row(messages[0]))
    elif messages:
        await conn.executemany(_INSERT, [_row(m) for m in messages])
