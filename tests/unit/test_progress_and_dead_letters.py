"""A stalled partition is told apart from an idle one; a dead letter never exceeds the size of
a message we may write, and says what it withheld."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.contract import limits
from shared.logging import RateLimit
from shared.messaging.deadletter import DeadLetter, dead_letter_message
from shared.messaging.records import Record
from shared.runtime.watch import Partition, PartitionWatch

ORDERS_INBOUND = Partition("orders.inbound", 2)
AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def test_a_partition_with_waiting_records_and_no_progress_is_stalled_after_the_allowed_time() -> None:
    watch = PartitionWatch(stall_after_s=60)
    watch.started_at(ORDERS_INBOUND, committed=100, now=0)

    assert watch.stalls({ORDERS_INBOUND: 130}, now=59) == []
    (stall,) = watch.stalls({ORDERS_INBOUND: 130}, now=61)
    assert (stall.backlog, stall.next_offset, round(stall.stalled_for_s)) == (30, 100, 61)
    assert "orders.inbound[2]: 30 record(s) waiting at offset 100" in stall.describe()


def test_progress_resets_the_clock_and_an_idle_partition_is_never_stalled() -> None:
    watch = PartitionWatch(stall_after_s=60)
    watch.started_at(ORDERS_INBOUND, committed=100, now=0)
    watch.applied(ORDERS_INBOUND, last_offset=119, now=50)

    assert watch.stalls({ORDERS_INBOUND: 130}, now=100) == [], "it advanced 50 s ago"
    assert watch.stalls({ORDERS_INBOUND: 130}, now=111)[0].backlog == 10
    watch.applied(ORDERS_INBOUND, last_offset=129, now=112)
    assert watch.stalls({ORDERS_INBOUND: 130}, now=10_000) == [], "caught up: nothing waits"
    assert watch.stalls({ORDERS_INBOUND: 131}, now=10_030) == [], "a new record has waited 30 s only"


def test_a_partition_whose_start_is_unknown_or_no_longer_assigned_is_not_judged() -> None:
    watch = PartitionWatch(stall_after_s=1)
    assert watch.needs_start(ORDERS_INBOUND)
    assert watch.stalls({ORDERS_INBOUND: 5}, now=100) == []
    watch.started_at(ORDERS_INBOUND, committed=None, now=0)
    assert watch.stalls({ORDERS_INBOUND: 5}, now=100)[0].next_offset == 0
    watch.forget(set())
    assert watch.needs_start(ORDERS_INBOUND)


def shizhu_record(value: bytes, headers: tuple[tuple[str, bytes], ...], key: bytes = b"500240-2027-001") -> Record:
    return Record("orders.inbound", 1, 7, key, value, headers)


def test_a_dead_letter_of_a_forwardable_record_carries_it_whole() -> None:
    record = shizhu_record(b"not json", (("x-note", b"\xff\xfe"),))
    letter = dead_letter_message(
        record, DeadLetter("not_json", "not JSON"), service="orders", topic="orders.deadletter", at=AT, letter_id=9
    )
    names = [n for n, _ in letter.headers]
    assert letter.value == b"not json"
    assert letter.key == b"500240-2027-001"
    assert names[0] == "x-note"
    assert dict(letter.headers)["dlt.id"] == b"9"
    assert "dlt.withheld" not in names


def test_a_dead_letter_withholds_headers_that_break_the_rules_and_a_value_too_large_to_forward() -> None:
    thousands = tuple((f"x-{i}", b"1") for i in range(5000))
    record = shizhu_record(b"{" + b" " * 950_000 + b"}", thousands)
    letter = dead_letter_message(
        record, DeadLetter("bad_headers", "5,000 headers"), service="orders", topic="t", at=AT, letter_id=12
    )
    size = len(letter.key or b"") + len(letter.value) + sum(len(n) + len(v) for n, v in letter.headers)
    assert size < limits.MAX_RECORD_BYTES
    assert letter.value == b""
    withheld = dict(letter.headers)["dlt.withheld"].decode()
    assert "headers (5,000" in withheld
    assert "value (950,002 bytes" in withheld
    assert withheld.endswith("the original is dead_letters row 12")


def test_a_repeating_error_is_written_once_per_interval_with_the_count_held_back() -> None:
    rate = RateLimit(interval_s=30)
    written = [rate.allow("database down", now=t) for t in (0, 1, 2, 29, 31, 32)]
    assert written == [(True, 0), (False, 0), (False, 0), (False, 0), (True, 3), (False, 0)]
    assert rate.allow("another trouble", now=2) == (True, 0)
