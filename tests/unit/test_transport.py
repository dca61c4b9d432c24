"""Records are read as they were written: a header name that is not UTF-8 neither stops the
reader nor loses the records around it, and comes back byte for byte."""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy

from shared.messaging.transport import (
    TolerantMemoryRecords,
    header_name_is_text,
    raw_header_name,
    tolerant_records,
)
from tests.hostile import RawName


def record_batch(records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]], codec: int = 0) -> bytes:
    builder = _DefaultRecordBatchBuilderPy(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=10_000_000,
    )
    for offset, (key, value, headers) in enumerate(records):
        builder.append(offset, timestamp=1_700_000_000_000 + offset, key=key, value=value, headers=headers)
    return bytes(builder.build())


def with_base_offset(batch: bytes, base: int) -> bytes:
    return base.to_bytes(8, "big") + batch[8:]


SHIZHU_RECORDS = [
    (b"500240-2027-001", b'{"type": "DemandSubmitted"}', [("content-type", b"application/cloudevents+json")]),
    (b"500240-2027-002", b"{}", [(RawName(b"\xff\xfe\x00name"), b"\xff"), ("x-note", b"\xfe")]),
    (None, None, []),
    (b"500240-2027-004", "石柱县天麻".encode(), [("ok", b"1")]),
]


@pytest.mark.parametrize("codec", [0, 1], ids=["uncompressed", "gzip"])
def test_the_byte_reader_reads_every_record_of_a_batch_as_written(codec: int) -> None:
    batch = with_base_offset(record_batch(SHIZHU_RECORDS, codec), 40)

    read = list(tolerant_records(batch))

    assert [r.offset for r in read] == [40, 41, 42, 43]
    assert [r.key for r in read] == [k for k, _, _ in SHIZHU_RECORDS]
    assert [r.value for r in read] == [v for _, v, _ in SHIZHU_RECORDS]
    assert [r.timestamp for r in read] == [1_700_000_000_000 + i for i in range(4)]
    assert [raw_header_name(n) for n, _ in read[1].headers] == [b"\xff\xfe\x00name", b"x-note"]
    assert [v for _, v in read[1].headers] == [b"\xff", b"\xfe"]
    assert not header_name_is_text(read[1].headers[0][0])
    assert header_name_is_text(read[1].headers[1][0])


def test_a_fetch_with_a_header_name_that_is_not_utf8_yields_every_record_once() -> None:
    first = record_batch(SHIZHU_RECORDS[:1])
    hostile = with_base_offset(record_batch(SHIZHU_RECORDS[1:]), 1)
    fetched = TolerantMemoryRecords(first + hostile)

    offsets: list[int] = []
    names: list[bytes] = []
    while fetched.has_next():
        for record in fetched.next_batch():
            offsets.append(record.offset)
            names.extend(raw_header_name(n) for n, _ in record.headers)

    assert offsets == [0, 1, 2, 3]
    assert names == [b"content-type", b"\xff\xfe\x00name", b"x-note", b"ok"]


def test_a_record_that_runs_past_its_batch_is_refused_not_misread() -> None:
    batch = record_batch(SHIZHU_RECORDS[:1])
    truncated = batch[:-5]
    with pytest.raises((ValueError, IndexError)):
        list(tolerant_records(truncated))
