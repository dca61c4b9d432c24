"""A partner's client quotas as values (tools/stack/quotas.py); the broker's side is in
tests/integration/test_client_quotas.py."""

from __future__ import annotations

from typing import Any

import pytest

from tools.stack.quotas import KIB, MIB, PartnerQuotas


def test_the_defaults_are_a_quarter_mebibyte_written_a_mebibyte_read_and_a_quarter_of_a_broker_thread() -> None:
    assert PartnerQuotas().values() == {
        "producer_byte_rate": 256 * KIB,
        "consumer_byte_rate": MIB,
        "request_percentage": 25.0,
    }
    assert PartnerQuotas().shown() == "writes 256 KiB/s, reads 1 MiB/s, requests 25 % of a broker thread"


@pytest.mark.parametrize(
    "wrong",
    [
        {"producer_byte_rate": 0},
        {"producer_byte_rate": True},
        {"consumer_byte_rate": 1.5},
        {"request_percentage": -1.0},
        {"request_percentage": float("inf")},
    ],
)
def test_a_quota_is_a_whole_positive_byte_rate_or_a_positive_share_of_a_thread(wrong: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(wrong))):
        PartnerQuotas(**wrong)


def test_a_kind_left_out_is_no_quota_of_that_kind_and_none_set_reads_as_none() -> None:
    only_writes = PartnerQuotas(producer_byte_rate=64 * KIB, consumer_byte_rate=None, request_percentage=None)

    assert only_writes.values() == {"producer_byte_rate": 65536.0}
    assert only_writes.shown() == "writes 64 KiB/s, reads unlimited, requests unlimited"
    assert PartnerQuotas.of({"producer_byte_rate": 65536.0, "controller_mutation_rate": 5.0}) == only_writes
    assert PartnerQuotas.of({"controller_mutation_rate": 5.0}) is None
    assert PartnerQuotas.of({}) is None
