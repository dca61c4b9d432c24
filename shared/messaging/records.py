"""A transport-neutral view of one consumed Kafka record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_consumer_record(cls, record: Any) -> Record:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple((name, value or b"") for name, value in (record.headers or ())),
        )

    @property
    def origin(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"
