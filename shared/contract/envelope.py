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
        document["time"] = _rfc3339(self.time)
        document["data"] = self.data
        return orjson.dumps(document)


def _rfc3339(value: datetime) -> str:
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
    )


def parse_record(value: bytes | None, headers: Sequence[tuple[str, bytes]], key: bytes | None) -> Envelope:
    """Read a Kafka record as a CloudEvent (either content mode) or raise EnvelopeError."""
    if value is None:
        raise EnvelopeError("not_cloudevent", "the record has no value (tombstone)")
    header_map: dict[str, bytes] = {}
    for name, raw in headers:
        header_map[name.lower()] = raw if isinstance(raw, bytes) else bytes(raw or b"")
    if not any(name.startswith("ce_") for name in header_map):
        return parse_structured(value)
    return parse_with_sdk(value, header_map, key)


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
        message = ce_kafka.KafkaMessage(headers=dict(header_map), key=key, value=value)
        event = ce_kafka.from_kafka(message, _JSON, None)
    except UnicodeDecodeError as exc:
        raise EnvelopeError("not_json", f"not UTF-8 text: {exc}") from exc
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
    try:
        return json.loads(decoded)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError("schema_violation", f"'data' is not JSON: {exc}") from exc


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


_MAYBE_BEYOND_64_BITS: Final = re.compile(rb"\d{19,}")


def _json_loads(value: bytes) -> Any:
    """What json.loads reads, read by orjson where the two agree: orjson makes integers beyond
    64 bits floats (such values go to json), and refuses what json accepts (NaN, 1e400, UTF-16,
    a BOM, surrogates), which then goes to json too."""
    if not _MAYBE_BEYOND_64_BITS.search(value):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    return json.loads(value)


def _require_json_object(value: bytes) -> dict[str, Any]:
    try:
        document = _json_loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError("not_json", f"the value is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise EnvelopeError("not_cloudevent", f"the value is JSON {type(document).__name__}, not an object")
    return document


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
        try:
            data = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError("schema_violation", f"'data' is not JSON: {exc}") from exc
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
