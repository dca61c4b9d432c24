"""Our one-pass structured-mode parser accepts and refuses exactly what the CloudEvents SDK
path does, with the same reason, and reads the same envelope."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract.envelope import Envelope, EnvelopeError, parse_structured, parse_with_sdk

STRUCTURED = {"content-type": b"application/cloudevents+json"}

json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)
times = st.sampled_from(
    (
        "2019-06-01T09:00:00Z",
        "2019-06-01T09:00:00+08:00",
        "2019-06-01T09:00:00.123456Z",
        "2019-06-01T09:00:00",
        "2019-06-01",
        "yesterday",
        "",
        "2019-13-01T00:00:00Z",
        "20190601T090000Z",
    )
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/counties/500240",
        "type": "DemandEndorsed",
        "time": "2019-06-01T09:00:00Z",
        "subject": "500240-2019-001",
        "data": {"order_id": "500240-2019-001", "endorsed_by": "石柱县"},
    }
    for _ in range(draw(st.integers(0, 3))):
        mutation = draw(st.sampled_from(("drop", "set", "extension", "time", "data", "base64", "specversion")))
        if mutation == "drop":
            document.pop(draw(st.sampled_from(sorted(document))), None)
        elif mutation == "set":
            key = draw(st.sampled_from(("id", "source", "type", "subject", "datacontenttype", "dataschema")))
            document[key] = draw(json_value | st.sampled_from(("application/json", "text/plain", "x")))
        elif mutation == "extension":
            name = draw(st.sampled_from(("correlationid", "causationid", "traceparent", "Bad-Name", "x1", "data")))
            document[name] = draw(json_value)
        elif mutation == "time":
            document["time"] = draw(times | json_value)
        elif mutation == "data":
            document["data"] = draw(json_value)
        elif mutation == "base64":
            document.pop("data", None)
            document["data_base64"] = draw(
                st.sampled_from(
                    ("!!notbase64", base64.b64encode(b'{"a": 1}').decode(), base64.b64encode(b"[1]").decode())
                )
            )
        else:
            document["specversion"] = draw(st.sampled_from(("0.3", "1.0", 1.0, "", "2.0")))
    return document


def outcome(parse: Any) -> tuple[str, Envelope | None]:
    try:
        return "ok", parse()
    except EnvelopeError as error:
        return error.reason, None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_the_fast_structured_parser_agrees_with_the_cloudevents_sdk(document: dict[str, Any]) -> None:
    value = json.dumps(document, ensure_ascii=False).encode()
    ours = outcome(lambda: parse_structured(value))
    sdk = outcome(lambda: parse_with_sdk(value, STRUCTURED, None))
    assert ours == sdk, (ours, sdk)


def test_a_valid_event_reads_the_same_through_both_parsers() -> None:
    value = json.dumps(
        {
            "specversion": "1.0",
            "id": "e-1",
            "source": "/counties/500240",
            "type": "DemandEndorsed",
            "time": "2019-06-01T09:00:00+08:00",
            "subject": "500240-2019-001",
            "correlationid": "c-9",
            "data": {"order_id": "500240-2019-001", "endorsed_by": "石柱县"},
        }
    ).encode()
    assert parse_structured(value) == parse_with_sdk(value, STRUCTURED, None)


def decoded(loads: Any, raw: bytes) -> tuple[str, str]:
    try:
        return "ok", repr(loads(raw))  # repr: NaN equals NaN, 1 differs from 1.0 and True
    except (ValueError, RecursionError) as error:
        return type(error).__name__, ""


json_texts = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
).map(lambda value: json.dumps(value, ensure_ascii=False).encode())
hostile_bytes = st.one_of(
    st.binary(max_size=40),
    json_texts.map(lambda raw: b"\xef\xbb\xbf" + raw),
    json_texts.map(lambda raw: raw.decode().encode("utf-16")),
    st.sampled_from((b'{"a": 1e400}', b'{"a": -0}', b'{"a": 1E5}', b'"\\ud800"', b'{"a":1,"a":2}', b"[" * 3000)),
    st.sampled_from(  # the edges of 64 bits, where orjson reads a float and json an integer
        (
            b"[9223372036854775807, -9223372036854775808, 18446744073709551615]",
            b"[9223372036854775808, 18446744073709551616, -9223372036854775809]",
            b'{"a": 12345678901234567890.5, "b": 0.12345678901234567890123, "c": 9.3e18}',
        )
    ),
    st.integers(min_value=-(2**66), max_value=2**66).map(lambda n: f'{{"fen": {n}}}'.encode()),
)


@settings(max_examples=800, deadline=None)
@given(raw=json_texts | hostile_bytes)
def test_the_fast_json_reader_reads_exactly_what_the_standard_library_reads(raw: bytes) -> None:
    from shared.contract.envelope import _json_loads

    assert decoded(_json_loads, raw) == decoded(json.loads, raw)
