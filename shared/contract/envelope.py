"""CloudEvents 1.0 envelopes on Kafka.

Reading accepts structured mode (`application/cloudevents+json`) and binary mode (`ce_*`
headers); writing always produces structured mode with the business key (`subject`) as the
Kafka key. Parsing and attribute validation are done by the CloudEvents SDK
(`cloudevents.core`); this module adds what our contract requires on top of the spec:
`time` and `subject` present, `data` a JSON object, correlation and causation ids.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat

from . import limits

STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
DATA_CONTENT_TYPE: Final = "application/json"
CORRELATION_ID: Final = "correlationid"
CAUSATION_ID: Final = "causationid"
_PARTITION_KEY: Final = "partitionkey"  # the SDK adds the Kafka key under this name
_JSON = JSONFormat()


class EnvelopeError(Exception):
    """A record that is not a usable CloudEvent. `reason` is a dead-letter reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Envelope:
    """One CloudEvent as our services see it: attributes plus a JSON-object `data`."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str
    data: Mapping[str, Any]
    correlation_id: str
    causation_id: str | None = None
    dataschema: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)

    def to_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "subject": self.subject,
            "datacontenttype": DATA_CONTENT_TYPE,
            CORRELATION_ID: self.correlation_id,
        }
        if self.causation_id:
            attributes[CAUSATION_ID] = self.causation_id
        if self.dataschema:
            attributes["dataschema"] = self.dataschema
        attributes.update(self.extensions)
        return attributes

    def to_structured_json(self) -> bytes:
        """The wire form: one JSON document holding the attributes and `data` (UTF-8, RFC 3339 time)."""
        document = self.to_attributes()
        document["time"] = rfc3339(self.time)
        document["data"] = self.data
        return orjson.dumps(document)


def rfc3339(value: datetime) -> str:
    """The text of a time as we write it (UTC as `Z`)."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def new_envelope(
    *,
    source: str,
    type: str,
    subject: str,
    data: Mapping[str, Any],
    time: datetime,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    dataschema: str | None = None,
    event_id: str | None = None,
    extensions: Mapping[str, str] | None = None,
) -> Envelope:
    if time.tzinfo is None:
        raise ValueError("event time must be timezone-aware")
    eid = event_id or str(uuid.uuid4())
    return Envelope(
        id=eid,
        source=source,
        type=type,
        time=time,
        subject=subject,
        data=data,
        correlation_id=correlation_id or eid,
        causation_id=causation_id,
        dataschema=dataschema,
        extensions=dict(extensions) if extensions else {},
    )


def parse_record(value: bytes | None, headers: Sequence[tuple[str, bytes]], key: bytes | None) -> Envelope:
    """Read a Kafka record as a CloudEvent (either content mode) or raise EnvelopeError.

    Whatever the bytes, nothing but EnvelopeError leaves this function: a failure of a parser
    itself (a defect, memory) is the `unreadable` reason, so that no record can stall its
    partition."""
    try:
        return _parse_record(value, headers, key)
    except EnvelopeError:
        raise
    except RecursionError as exc:
        raise EnvelopeError("over_limits", f"nested too deeply to read ({exc})") from exc
    except Exception as exc:
        raise EnvelopeError("unreadable", f"reading the record failed: {type(exc).__name__}: {exc}"[:2000]) from exc


def _parse_record(value: bytes | None, headers: Sequence[tuple[str, bytes]], key: bytes | None) -> Envelope:
    header_map = checked_headers(headers)
    if value is None:
        raise EnvelopeError("not_cloudevent", "the record has no value (tombstone)")
    binary_mode = any(name.startswith("ce_") for name in header_map)
    if not binary_mode:
        return parse_structured(value)
    content_type = header_map.get("content-type", b"").decode()
    if content_type.lower().startswith(STRUCTURED_CONTENT_TYPE):
        raise EnvelopeError(
            "bad_headers", "the record claims structured mode (content-type) and carries ce_ headers of binary mode"
        )
    return parse_with_sdk(value, header_map, key)


def checked_headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    """The record's headers by lower-case name, once they keep the transport rules
    (shared.contract.limits): names UTF-8 text without NUL, bounded sizes and count, and the
    values we read (content-type and CloudEvents attributes) UTF-8 text."""
    if len(headers) > limits.MAX_HEADERS:
        raise EnvelopeError("bad_headers", f"{len(headers):,} headers; a record may carry {limits.MAX_HEADERS}")
    header_map: dict[str, bytes] = {}
    for name, raw in headers:
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError:
            raise EnvelopeError("bad_headers", f"a header name is not UTF-8 text: {_shown(name)}") from None
        if "\x00" in name:
            raise EnvelopeError("bad_headers", f"a header name contains NUL: {_shown(name)}")
        if len(encoded) > limits.MAX_HEADER_NAME_BYTES:
            raise EnvelopeError(
                "bad_headers",
                f"a header name is {len(encoded):,} bytes; names are limited to {limits.MAX_HEADER_NAME_BYTES}",
            )
        value = raw if isinstance(raw, bytes) else bytes(raw or b"")
        if len(value) > limits.MAX_HEADER_VALUE_BYTES:
            raise EnvelopeError(
                "bad_headers",
                f"header {_shown(name)} is {len(value):,} bytes; "
                f"values are limited to {limits.MAX_HEADER_VALUE_BYTES:,}",
            )
        lowered = name.lower()
        if lowered.startswith("ce_") or lowered == "content-type":
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                raise EnvelopeError("bad_headers", f"header {_shown(name)} is not UTF-8 text") from None
            if lowered in header_map:
                raise EnvelopeError("bad_headers", f"header {_shown(name)} appears more than once")
        header_map[lowered] = value
    return header_map


def _shown(name: str) -> str:
    """A header name as an operator can read it (bytes that are not text are escaped)."""
    return ascii(name.encode("utf-8", "surrogateescape")[:80])[1:]


def parse_with_sdk(value: bytes, header_map: Mapping[str, bytes], key: bytes | None) -> Envelope:
    """Either content mode through the CloudEvents SDK (used for binary mode, and in the tests as
    the reference that parse_structured must agree with)."""
    binary_mode = any(name.startswith("ce_") for name in header_map)
    if binary_mode:
        present = {name[3:] for name, raw in header_map.items() if name.startswith("ce_") and raw}
    else:
        present = {name for name, v in _require_json_object(value).items() if v not in (None, "")}
    # The SDK fills in a missing `id` and `time`; our contract requires the sender's own.
    missing = [name for name in _REQUIRED if name not in present]
    if missing:
        raise EnvelopeError("not_cloudevent", f"missing required attribute(s): {', '.join(missing)}")
    try:
        # The Kafka key is ours to judge, not the SDK's to decode (it would take it as UTF-8 text).
        message = ce_kafka.KafkaMessage(headers=dict(header_map), key=None, value=value)
        event = ce_kafka.from_kafka(message, _JSON, None)
    except UnicodeDecodeError as exc:
        raise EnvelopeError("not_json", f"not UTF-8 text: {exc}") from exc
    except RecursionError:
        raise
    except json.JSONDecodeError as exc:
        reason = "not_json" if not binary_mode else "schema_violation"
        raise EnvelopeError(reason, f"invalid JSON: {exc}") from exc
    except BaseCloudEventException as exc:
        raise EnvelopeError("not_cloudevent", str(exc)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError("not_cloudevent", f"{type(exc).__name__}: {exc}") from exc
    return _to_envelope(event)


_REQUIRED: Final = ("specversion", "id", "source", "type", "time", "subject")
_EXTENSION_NAME: Final = re.compile(r"^[a-z0-9]+$")
_KNOWN: Final = frozenset({"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema"})


def parse_structured(value: bytes) -> Envelope:
    """Structured mode, parsed once and checked against CloudEvents 1.0 and our contract; tests
    prove it accepts and refuses exactly what the SDK path does (see _json_loads)."""
    document = _require_json_object(value)
    missing = [name for name in _REQUIRED if document.get(name) in (None, "")]
    if missing:
        raise EnvelopeError("not_cloudevent", f"missing required attribute(s): {', '.join(missing)}")
    for name in ("id", "source", "type", "subject", "specversion"):
        if not isinstance(document[name], str):
            raise EnvelopeError("not_cloudevent", f"Attribute {name!r} must be a string")
    if document["specversion"] != "1.0":
        raise EnvelopeError("not_cloudevent", f"specversion {document['specversion']!r} is not '1.0'")
    time = _parse_time(document["time"])
    for name in ("datacontenttype", "dataschema"):
        if name in document and (not isinstance(document[name], str) or not document[name]):
            raise EnvelopeError("not_cloudevent", f"Attribute {name!r} must be a non-empty string")
    extensions = {k: v for k, v in document.items() if k not in _KNOWN and k not in ("data", "data_base64")}
    for name in extensions:
        if not _EXTENSION_NAME.match(name):
            raise EnvelopeError("not_cloudevent", f"extension attribute name {name!r} must be lowercase letters/digits")
    attributes = {k: v for k, v in document.items() if k not in ("data", "data_base64")}
    if "data_base64" in document and document.get("data") is not None:
        raise EnvelopeError("not_cloudevent", "an event carries either 'data' or 'data_base64', not both")
    if "data_base64" in document:
        data: Any = _decode_base64_json(document["data_base64"])
    else:
        data = document.get("data")
    if isinstance(data, str):  # as the SDK path does: a string `data` is read as JSON text
        data = read_json(data, not_json="schema_violation")
    return _checked_envelope(attributes, time, data, nul_possible="data_base64" in document or b"\\u0000" in value)


def _parse_time(raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise EnvelopeError("not_cloudevent", "Attribute 'time' must be an RFC 3339 timestamp")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise EnvelopeError("not_cloudevent", f"ValueError: {exc}") from exc
    if parsed.tzinfo is None:
        raise EnvelopeError("not_cloudevent", "Attribute 'time' must be timezone aware (RFC 3339 with an offset)")
    return parsed


def _decode_base64_json(raw: Any) -> Any:
    try:
        decoded = base64.b64decode(raw)
    except (TypeError, ValueError) as exc:
        raise EnvelopeError("not_cloudevent", f"'data_base64' is not base64: {exc}") from exc
    return read_json(decoded, not_json="schema_violation")


MAX_ATTRIBUTE_LENGTH: Final = 256
"""Longer ids, sources, types or subjects are refused: they are keys of the inbox's index."""


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _json_loads(value: bytes) -> Any:
    """What json.loads reads, read by orjson where the two agree: orjson makes integers beyond
    64 bits floats (such documents are read by json again), and refuses what json accepts (NaN,
    1e400, UTF-16, a BOM, surrogates), which then goes to json too."""
    return _loads(value)[0]


def _loads(value: bytes) -> tuple[Any, int | None]:
    """The document, and the names its objects hold when orjson read it (None when json did).
    A document orjson read holds no number that is not finite (orjson refuses those) and, once
    `_plain_names` has looked, no integer beyond 64 bits: orjson reads an integer beyond 2**64
    or below -2**63 as a float of that size, so a document with a number at or beyond 2**63 in
    size is read again by json, which keeps the integer (and refuses it later) or the float."""
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value), None
    names = _plain_names(document)
    if names is None:
        return json.loads(value), None
    return document, names


def _require_json_object(value: bytes) -> dict[str, Any]:
    document = read_json(value)
    if not isinstance(document, dict):
        raise EnvelopeError("not_cloudevent", f"the value is JSON {type(document).__name__}, not an object")
    return document


def read_json(value: bytes | str, *, not_json: str = "not_json") -> Any:
    """JSON text read as json.loads reads it, then held to I-JSON and our limits; refusals are
    EnvelopeError with `not_json` (or the given reason: data inside an event is a schema matter)
    or `over_limits`."""
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    try:
        raw.decode("utf-8")  # json.loads would also take UTF-16 and UTF-32; RFC 8259 says UTF-8
        if raw.startswith(b"\xef\xbb\xbf"):
            raise EnvelopeError(not_json, "the value starts with a byte order mark (RFC 8259: none)")
        document, names = _loads(raw)
    except RecursionError as exc:
        raise EnvelopeError("over_limits", f"JSON nested deeper than {limits.MAX_JSON_DEPTH} levels") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(not_json, f"the value is not JSON: {exc}") from exc
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise EnvelopeError("over_limits", f"a number beyond what is read: {exc}") from exc
    _check_json_limits(raw, document, not_json, names=names)
    if names is None and _SURROGATE_ESCAPE.search(raw):  # orjson refuses unpaired surrogates itself
        _refuse_lone_surrogates(document, not_json)
    return document


_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(document: Any, not_json: str) -> None:
    """I-JSON: no unpaired surrogate (json.loads makes one of a lone \\ud800 escape; no text
    column, Kafka header or UTF-8 encoder can hold it)."""
    stack = [document]
    while stack:
        item = stack.pop()
        texts: list[Any] = []
        if isinstance(item, dict):
            texts.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            texts.append(item)
        for text in texts:
            if isinstance(text, str) and not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise EnvelopeError(not_json, "a string holds an unpaired surrogate (I-JSON)") from None


_WHITESPACE_BEFORE_COLON: Final = re.compile(rb'"[ \t\r\n]+:')


def _whitespace_before_colon(value: bytes) -> bool:
    """A name followed by whitespace before its colon (rare: the regex only runs when it may)."""
    maybe = b'" ' in value or b'"\n' in value or b'"\t' in value or b'"\r' in value
    return maybe and _WHITESPACE_BEFORE_COLON.search(value) is not None


def _check_json_limits(value: bytes, document: Any, not_json: str, *, names: int | None = None) -> None:
    """I-JSON (RFC 7493) and our limits: no name twice in an object, nesting at most
    MAX_JSON_DEPTH, integers within 64 bits, finite numbers. A document orjson read (`names`
    counted by _plain_names) keeps the number limits by construction, and the depth limit when it
    has fewer brackets than that. Duplicate names are proven absent cheaply for ordinary
    documents (one `":` per name, no escaped quote that could fake one); any other document is
    read again with a check of every object's names."""
    if names is None or value.count(b"{") + value.count(b"[") > limits.MAX_JSON_DEPTH:
        names = _walk_limits(document)
    if value.count(b'":') == names and b'\\"' not in value and not _whitespace_before_colon(value):
        return
    try:
        json.loads(value, object_pairs_hook=_unique_names)
    except _DuplicateName as twice:
        raise EnvelopeError(not_json, f"the name {str(twice)[:80]!r} appears twice in one object (I-JSON)") from None


_CONTAINERS: Final = (dict, list)


_SMALLEST: Final = -(2**63)
_BEYOND: Final = 2**63


def _plain_names(document: Any) -> int | None:
    """How many names the objects of a document orjson read hold; None when a number in it is
    at or beyond 2**63 in size (orjson may have read an integer json keeps, see _loads)."""
    count = 0
    stack = [document]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            count += len(item)
            children: Any = item.values()
        elif kind is list:
            children = item
        else:
            children = (item,)
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append(child)
            elif (kind is int or kind is float) and not _SMALLEST < child < _BEYOND:
                return None
    return count


def _walk_limits(document: Any) -> int:
    """Every value checked against the depth and number limits; returns the names counted."""
    names = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limits.MAX_JSON_DEPTH and isinstance(item, dict | list):
            raise EnvelopeError("over_limits", f"JSON nested deeper than {limits.MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            names += len(item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if not -limits.MAX_INTEGER - 1 <= item <= limits.MAX_INTEGER:
                raise EnvelopeError(
                    "over_limits", f"an integer of {len(str(item))} digits; integers must fit in 64 bits"
                )
        elif isinstance(item, float) and not math.isfinite(item):
            raise EnvelopeError("over_limits", "a number that is not finite (NaN, Infinity, or beyond 1.8e308)")
    return names


class _DuplicateName(Exception):
    pass


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = dict(pairs)
    if len(names) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateName(name)
            seen.add(name)
    return names


def _to_envelope(event: Any) -> Envelope:
    attributes: dict[str, Any] = dict(event.get_attributes())
    attributes.pop(_PARTITION_KEY, None)
    if attributes.get("specversion") != "1.0":
        raise EnvelopeError("not_cloudevent", f"specversion {attributes.get('specversion')!r} is not '1.0'")
    time = attributes.get("time")
    if not isinstance(time, datetime):
        raise EnvelopeError("not_cloudevent", "missing required attribute 'time'")
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    data = event.get_data()
    if isinstance(data, bytes | str):
        data = read_json(data, not_json="schema_violation")
    return _checked_envelope(attributes, time, data, nul_possible=True)


def _checked_envelope(attributes: dict[str, Any], time: datetime, data: Any, *, nul_possible: bool) -> Envelope:
    """Our contract on top of CloudEvents: a subject, JSON data that is an object, bounded keys, no NUL."""
    subject = attributes.get("subject")
    if not isinstance(subject, str) or not subject:
        raise EnvelopeError("not_cloudevent", "missing required attribute 'subject' (the business key)")
    content_type = attributes.get("datacontenttype")
    if content_type is not None and not _JSON.JSON_CONTENT_TYPE_PATTERN.match(str(content_type)):
        raise EnvelopeError("schema_violation", f"datacontenttype {content_type!r} is not JSON")
    if not isinstance(data, dict):
        raise EnvelopeError("schema_violation", "'data' must be a JSON object")
    for name in ("id", "source", "type", "subject"):
        if len(str(attributes[name])) > MAX_ATTRIBUTE_LENGTH:
            raise EnvelopeError(
                "not_cloudevent", f"attribute {name!r} is longer than {MAX_ATTRIBUTE_LENGTH} characters"
            )
    if nul_possible and (_has_nul(attributes) or _has_nul(data)):
        raise EnvelopeError("schema_violation", "NUL characters (\\u0000) are not allowed in events")
    extensions = {
        k: str(v) for k, v in attributes.items() if k not in _KNOWN and k not in {CORRELATION_ID, CAUSATION_ID}
    }
    if len(extensions) > limits.MAX_EXTENSIONS:
        raise EnvelopeError(
            "over_limits", f"{len(extensions):,} extension attributes; an event may carry {limits.MAX_EXTENSIONS}"
        )
    for name, text in extensions.items():
        if len(text) > limits.MAX_HEADER_VALUE_BYTES:
            raise EnvelopeError(
                "over_limits",
                f"extension attribute {name[:40]!r} is {len(text):,} characters; "
                f"attributes are limited to {limits.MAX_HEADER_VALUE_BYTES:,}",
            )
    correlation = attributes.get(CORRELATION_ID)
    causation = attributes.get(CAUSATION_ID)
    return Envelope(
        id=str(attributes["id"]),
        source=str(attributes["source"]),
        type=str(attributes["type"]),
        time=time,
        subject=subject,
        data=data,
        correlation_id=str(correlation) if correlation else str(attributes["id"]),
        causation_id=str(causation) if causation else None,
        dataschema=str(attributes["dataschema"]) if attributes.get("dataschema") else None,
        extensions=extensions,
    )
