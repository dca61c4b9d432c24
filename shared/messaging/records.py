"""A transport-neutral view of one consumed Kafka record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

LOG_APPEND_TIME: Final = 1
"""Kafka's timestamp type of a record the broker stamped on arrival (0: the producer's CreateTime)."""


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int | None = None
    timestamp_type: int | None = None

    @classmethod
    def from_consumer_record(cls, record: Any) -> Record:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple((name, value or b"") for name, value in (record.headers or ())),
            timestamp_ms=record.timestamp,
            timestamp_type=record.timestamp_type,
        )

    @property
    def origin(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def appended_at(self) -> datetime | None:
        """When the broker appended the record (None: the topic keeps the producer's time instead)."""
        if self.timestamp_type != LOG_APPEND_TIME or self.timestamp_ms is None:
            return None
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)
