"""Records reach our code as the broker stored them: no library decodes a key, a value or a
header on the way in.

Two libraries would otherwise decode what a sender wrote:
- aiokafka's record reader decodes every header *name* as strict UTF-8. A record whose header
  name is not UTF-8 (Kafka stores whatever bytes a producer sent) makes the fetcher raise for
  the whole partition, over and over: nothing after it is ever delivered.
- FastStream's batch parser decodes every header *value* as UTF-8 before our handler runs; one
  such value fails the whole batch, which is then acknowledged without being processed.

So the fetcher reads record batches through `TolerantMemoryRecords` (aiokafka's fast reader
first; for a batch it cannot read, our own reader of the v2 record format, which decodes header
names with `surrogateescape`, so that `raw_header_name` gives back the exact bytes), and the
subscriber's `raw_batch_parser` hands FastStream the records without their headers, keeping
the untouched records as the message's `raw_message`.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, Final

import structlog
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.record.memory_records import MemoryRecords

log = structlog.get_logger("shared.messaging.transport")

_BATCH_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
_LENGTH_AT: Final = 8
_MAGIC_AT: Final = 16
_LOG_OVERHEAD: Final = 12
_CODEC_MASK: Final = 0x07
_TIMESTAMP_TYPE_MASK: Final = 0x08
_LOG_APPEND_TIME: Final = 1


def raw_header_name(name: str) -> bytes:
    """The bytes the sender wrote as a header name (names that were not UTF-8 come back exactly)."""
    return name.encode("utf-8", "surrogateescape")


def header_name_is_text(name: str) -> bool:
    """True when the sender's header name was valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class TolerantRecord:
    """One record read by `tolerant_records` (the attributes aiokafka's fetcher reads)."""

    __slots__ = ("headers", "key", "offset", "timestamp", "timestamp_type", "value")

    def __init__(
        self,
        offset: int,
        timestamp: int,
        timestamp_type: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]],
    ) -> None:
        self.offset = offset
        self.timestamp = timestamp
        self.timestamp_type = timestamp_type
        self.key = key
        self.value = value
        self.headers = headers

    @property
    def checksum(self) -> None:
        return None


def _varint(buffer: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint (Kafka's record fields) at `pos`; returns (value, next position)."""
    shift = 0
    raw = 0
    while True:
        byte = buffer[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 64 bits")
    return (raw >> 1) ^ -(raw & 1), pos


def _bytes_field(buffer: bytes, pos: int) -> tuple[bytes | None, int]:
    length, pos = _varint(buffer, pos)
    if length < 0:
        return None, pos
    end = pos + length
    if end > len(buffer):
        raise ValueError("a field runs past the end of its record")
    return bytes(buffer[pos:end]), end


def _uncompressed(codec: int, data: bytes) -> bytes:
    if codec == 0:
        return data
    from aiokafka import codec as codecs

    decode: dict[int, Callable[[bytes], bytes]] = {
        1: codecs.gzip_decode,
        2: codecs.snappy_decode,
        3: codecs.lz4_decode,
        4: codecs.zstd_decode,
    }
    return bytes(decode[codec](data))


def tolerant_records(batch: bytes) -> Iterator[TolerantRecord]:
    """Every record of one v2 record batch (KIP-98 format), header names decoded leniently."""
    (
        base_offset,
        _length,
        _leader_epoch,
        _magic,
        _crc,
        attributes,
        _last_offset_delta,
        first_timestamp,
        max_timestamp,
        _producer_id,
        _producer_epoch,
        _base_sequence,
        count,
    ) = _BATCH_HEADER.unpack_from(batch)
    buffer = _uncompressed(attributes & _CODEC_MASK, bytes(batch[_BATCH_HEADER.size :]))
    log_append = bool(attributes & _TIMESTAMP_TYPE_MASK)
    pos = 0
    for _ in range(count):
        length, pos = _varint(buffer, pos)
        end = pos + length
        pos += 1  # record attributes: unused
        timestamp_delta, pos = _varint(buffer, pos)
        offset_delta, pos = _varint(buffer, pos)
        key, pos = _bytes_field(buffer, pos)
        value, pos = _bytes_field(buffer, pos)
        header_count, pos = _varint(buffer, pos)
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(header_count):
            name, pos = _bytes_field(buffer, pos)
            header_value, pos = _bytes_field(buffer, pos)
            headers.append(((name or b"").decode("utf-8", "surrogateescape"), header_value))
        if pos != end:
            raise ValueError(f"record at offset delta {offset_delta} has {end - pos} unread bytes")
        yield TolerantRecord(
            offset=base_offset + offset_delta,
            timestamp=max_timestamp if log_append else first_timestamp + timestamp_delta,
            timestamp_type=_LOG_APPEND_TIME if log_append else 0,
            key=key,
            value=value,
            headers=headers,
        )


class _TolerantBatch:
    """aiokafka's record batch, read by aiokafka; if it cannot read a record (a header name that
    is not UTF-8), that record and the rest of the batch are read by `tolerant_records`."""

    def __init__(self, batch: Any, raw: bytes) -> None:
        self._batch = batch
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __next__(self) -> Any:
        return next(self._batch)

    def __iter__(self) -> Iterator[Any]:
        read = 0
        try:
            for record in self._batch:
                yield record
                read += 1
        except UnicodeDecodeError:
            log.debug("a record batch has a header name that is not UTF-8; reading it byte by byte")
            for index, record in enumerate(tolerant_records(self._raw)):
                if index >= read:
                    yield record


class TolerantMemoryRecords:
    """Stands in for aiokafka's MemoryRecords in its fetcher (see `install`)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._records = MemoryRecords(data)
        self._pos = 0

    def size_in_bytes(self) -> int:
        return int(self._records.size_in_bytes())

    def has_next(self) -> bool:
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        start = self._pos
        length = int.from_bytes(self._data[start + _LENGTH_AT : start + _LENGTH_AT + 4], "big", signed=True)
        self._pos = start + _LOG_OVERHEAD + length
        if batch is None or self._data[start + _MAGIC_AT] < 2:
            return batch  # legacy message sets have no headers
        return _TolerantBatch(batch, bytes(self._data[start : self._pos]))


def install() -> None:
    """Make aiokafka's fetcher read record batches through TolerantMemoryRecords (idempotent)."""
    aiokafka_fetcher.MemoryRecords = TolerantMemoryRecords


RawParser = Callable[[Any], Awaitable[Any]]


async def raw_batch_parser(records: tuple[Any, ...], original: RawParser) -> Any:
    """FastStream's batch parser given the records without headers (it decodes them as UTF-8);
    the message keeps the untouched records as `raw_message`, for our consumer and for the
    ack policy's seek on failure."""
    message = await original(tuple(replace(record, headers=()) for record in records))
    message.raw_message = records
    return message
