"""What a hostile partner can put on the wire with an ordinary Kafka client, and what we expect
for it: header names that are not UTF-8, thousands of headers, JSON nested 100,000 deep,
numbers of 50,000 digits, duplicate names, values near the broker's size limit."""

from __future__ import annotations

import json
from typing import Any

import aiokafka.producer.message_accumulator as accumulator
import aiokafka.producer.producer as producer_module
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy


class RawName(str):
    """A header name given as bytes (any bytes, as Kafka allows), for aiokafka's producer.

    aiokafka encodes header names with `name.encode("utf-8")`; this name encodes to its raw
    bytes instead. Only its pure-Python record builder calls `encode` (see allow_raw_header_names)."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawName:
        name = super().__new__(cls, raw.decode("latin-1"))
        name.raw = raw
        return name

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


def allow_raw_header_names() -> None:
    """aiokafka's producers in this process build record batches with its pure-Python builder
    (the same bytes as the compiled one), which lets RawName through."""
    accumulator.DefaultRecordBatchBuilder = _DefaultRecordBatchBuilderPy
    producer_module.DefaultRecordBatchBuilder = _DefaultRecordBatchBuilderPy


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def with_extra(document: bytes, name: str, raw_json: bytes) -> bytes:
    """A JSON object with one more member whose value is given as raw JSON text."""
    assert document.endswith(b"}")
    return document[:-1] + b"," + json.dumps(name).encode() + b":" + raw_json + b"}"


def duplicated(document: bytes, name: str, first_value: Any) -> bytes:
    """The same object with `name` appearing twice: `first_value` first, then the original."""
    assert document.startswith(b"{")
    return b"{" + json.dumps(name).encode() + b":" + json.dumps(first_value).encode() + b"," + document[1:]
