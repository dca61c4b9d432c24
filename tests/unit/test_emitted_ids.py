"""The id of an emitted event is the RFC 9562 version-5 UUID of its cause and ordinal, as
uuid.uuid5 makes it: ids recorded before the faster derivation are made again identically."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from shared.contract.envelope import Envelope, new_envelope
from shared.messaging.context import _EMITTED_IDS, emitted_event_id

TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60)


def cause(source: str, event_id: str) -> Envelope:
    return new_envelope(
        source=source,
        type="DemandSubmitted",
        subject="500240-2027-001",
        data={"order_id": "500240-2027-001"},
        time=datetime(2027, 3, 1, 9, 0, tzinfo=UTC),
        event_id=event_id,
    )


@given(service=TEXT, source=TEXT, event_id=TEXT, ordinal=st.integers(min_value=1, max_value=10_000))
def test_an_emitted_id_is_the_version_5_uuid_of_its_cause_and_ordinal(
    service: str, source: str, event_id: str, ordinal: int
) -> None:
    made = emitted_event_id(service, cause(source, event_id), ordinal)
    expected = uuid.uuid5(_EMITTED_IDS, f"{service}\x1f{source}\x1f{event_id}\x1f{ordinal}")
    assert made == str(expected)
    assert uuid.UUID(made).version == 5


def test_the_order_of_石柱县_submitted_twice_gets_the_same_id_and_the_next_event_another() -> None:
    submitted = cause("/counties/500240", "9f1d0c4e-天麻-1")
    first = emitted_event_id("orders", submitted, 1)
    assert first == emitted_event_id("orders", submitted, 1)
    assert first != emitted_event_id("orders", submitted, 2)
    assert first != emitted_event_id("matching", submitted, 1)
