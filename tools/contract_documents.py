"""The published contract, generated from the code: one JSON Schema per event type and version
(the whole CloudEvent, `data` included) and an AsyncAPI 3.0 document of topics, messages and
which service sends or receives what. `expert-teams contract check` fails when the files in
docs/contract differ from what the code generates.

Why not FastStream's generator: our subscribers deliberately take raw records (so that a
malformed message reaches the dead-letter logic instead of failing in a decoder), so the
handler signatures FastStream documents would say "bytes". The registry is the source of
truth, and this module renders it in the same AsyncAPI 3.0 format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared import topics
from shared.contract.envelope import CAUSATION_ID, CORRELATION_ID, DATA_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE
from shared.contract.partners import PartnerRecord
from shared.contract.registry import REGISTRY, EventRegistry, EventSpec
from shared.contract.signing import SIGNATURE, SIGNATURE_KEY_ID
from shared.messaging.deadletter import REASONS
from shared.runtime.service import ServiceDefinition

CONTRACT_DIR = Path(__file__).resolve().parents[1] / "docs" / "contract"
CONTRACT_VERSION = "2.0.0"
PARTNER_RECORD_SCHEMA = "PartnerRecord.v2.json"
PRINCIPAL = "{principal}"


def event_schema(spec: EventSpec) -> dict[str, Any]:
    data_schema = spec.model.model_json_schema(ref_template="#/$defs/{model}", mode="serialization")
    defs = data_schema.pop("$defs", {})
    senders = ", ".join(spec.senders)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": spec.dataschema,
        "title": f"{spec.type} v{spec.version}",
        "description": f"{(spec.model.__doc__ or spec.summary).strip()}\n\nTopic: {spec.topic}. Senders: {senders}.",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "subject", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "minLength": 1, "description": "Unique per source; (source, id) deduplicates"},
            "source": {"type": "string", "minLength": 1, "description": f"The sending system. Allowed: {senders}"},
            "type": {"const": spec.type},
            "time": {"type": "string", "format": "date-time", "description": "RFC 3339 with offset"},
            "subject": {"type": "string", "minLength": 1, "description": "Business key; also the Kafka key"},
            "datacontenttype": {"const": DATA_CONTENT_TYPE},
            "dataschema": {"const": spec.dataschema, "description": "Optional on input; absent means this version"},
            CORRELATION_ID: {"type": "string", "description": "Follows one order across all services"},
            CAUSATION_ID: {"type": "string", "description": "The id of the event that caused this one"},
            "data": data_schema,
        },
    }
    if spec.topic.endswith(".inbound"):
        schema["required"] = [*schema["required"], SIGNATURE_KEY_ID, SIGNATURE]
        schema["properties"][SIGNATURE_KEY_ID] = {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{43}$",
            "description": "The id of the key that signed (its RFC 7638 JWK thumbprint, as `expert-teams partners "
            "add` prints it); signed with the rest of the event",
        }
        schema["properties"][SIGNATURE] = {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{86}$",
            "description": "Required on this topic (else unauthorized_source): the sender's signature (Ed25519, or "
            "SM2 with SM3 as r||s), exactly 64 bytes in base64url without padding, of the RFC 8785 (JCS) form of this "
            "object without `signature`, verified against the key `signaturekeyid` names in the key registry's "
            "history for `source` (README: Signing your events)",
        }
        schema["description"] += (
            f" Each sender writes its own topic {spec.topic}.{PRINCIPAL}; its `time` must be within the freshness "
            "window of its arrival (README: Freshness)."
        )
    if defs:
        schema["$defs"] = defs
    return schema


def schema_filename(spec: EventSpec) -> str:
    return f"{spec.type}.v{spec.version}.json"


def asyncapi(definitions: Sequence[ServiceDefinition], registry: EventRegistry = REGISTRY) -> dict[str, Any]:
    specs = list(registry)
    channels: dict[str, Any] = {}
    for service in topics.SERVICES:
        inbound = topics.inbound(service)
        refs = {s.type: {"$ref": f"#/components/messages/{s.type}"} for s in specs if s.topic == inbound}
        if refs:
            channels[_channel_id(inbound)] = {
                "address": f"{inbound}.{PRINCIPAL}",
                "description": f"one partner's input of {service}: only that principal writes it (topics.py)",
                "parameters": {"principal": {"description": "the sender's Kafka principal, e.g. counties.500240"}},
                "messages": refs,
            }
    channels["answers"] = {
        "address": topics.answers(PRINCIPAL),
        "description": "the answers to one partner's refused events: only that principal reads them",
        "parameters": {"principal": {"description": "the sender's Kafka principal, e.g. counties.500240"}},
        "messages": {"EventRejected": {"$ref": "#/components/messages/EventRejected"}},
    }
    for topic in topics.all_topics():
        on_topic = [s for s in specs if s.topic == topic.name]
        refs = {s.type: {"$ref": f"#/components/messages/{s.type}"} for s in on_topic}
        if topic.name.endswith(".deadletter"):
            refs = {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}}
        if topic.name == topics.PARTNERS:
            refs = {"PartnerRecord": {"$ref": "#/components/messages/PartnerRecord"}}
        if not refs:
            continue
        channels[_channel_id(topic.name)] = {
            "address": topic.name,
            "description": f"{topic.purpose} ({topic.partitions} partitions by default)",
            "messages": refs,
        }
    operations: dict[str, Any] = {}
    for definition in definitions:
        for subscription in definition.subscriptions:
            channel = _channel_id(subscription.topic)
            operations[f"{definition.name}_receives_{channel}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"{definition.name} consumes {subscription.topic}",
                "messages": [{"$ref": f"#/channels/{channel}/messages/{t}"} for t in sorted(subscription.handlers)],
            }
        emits = sorted({s.topic for s in specs if f"/services/{definition.name}" in s.senders})
        for topic_name in [*emits, topics.deadletter(definition.name), topics.ANSWERS]:
            channel = _channel_id(topic_name)
            if channel not in channels:
                continue
            operations[f"{definition.name}_sends_{channel}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"{definition.name} publishes to {topic_name} (through its transactional outbox)",
            }
    messages: dict[str, Any] = {
        s.type: {
            "name": s.type,
            "title": f"{s.type} v{s.version}",
            "summary": s.summary,
            "contentType": STRUCTURED_CONTENT_TYPE,
            "correlationId": {"location": f"$message.payload#/{CORRELATION_ID}"},
            "payload": {"$ref": f"./schemas/{schema_filename(s)}"},
        }
        for s in specs
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "A record a service could not process",
        "summary": "The original key and value, byte for byte; the reason and origin are headers.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": {
                "dlt.reason": {"type": "string", "enum": sorted(REASONS), "description": "machine-readable category"},
                "dlt.rule": {"type": "string", "description": "for business_rule: the rule that was broken"},
                "dlt.detail": {"type": "string"},
                "dlt.service": {"type": "string"},
                "dlt.origin.topic": {"type": "string"},
                "dlt.origin.partition": {"type": "string"},
                "dlt.origin.offset": {"type": "string"},
                "dlt.origin.timestamp": {"type": "string", "description": "the original's arrival (ms since 1970)"},
                "dlt.at": {"type": "string", "format": "date-time"},
            },
            "required": ["dlt.reason", "dlt.detail", "dlt.origin.topic", "dlt.origin.partition", "dlt.origin.offset"],
        },
        "payload": {"description": "the original bytes"},
    }
    messages["PartnerRecord"] = {
        "name": "PartnerRecord",
        "title": "One change of the key registry: a key registered or revoked",
        "summary": "Kafka key = the source. Signed by the operator and chained to the record before it; "
        "the history is kept forever.",
        "contentType": "application/json",
        "payload": {"$ref": f"./schemas/{PARTNER_RECORD_SCHEMA}"},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Chongqing order-based expert service teams (专家服务团) — event contract",
            "version": CONTRACT_VERSION,
            "description": (
                "CloudEvents 1.0 in structured mode (binary mode accepted on input); `subject` is the "
                "business key and the Kafka key. Generated from the code by `expert-teams contract generate`."
            ),
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "servers": {
            "production": {"host": "kafka:9092", "protocol": "kafka", "description": "Apache Kafka (KRaft)"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _channel_id(topic_name: str) -> str:
    return topic_name.replace(".", "_")


def partner_record_schema() -> dict[str, Any]:
    schema = PartnerRecord.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:cq-expert-teams:schema:PartnerRecord:v2",
        "title": "PartnerRecord v2",
        "description": f"{(PartnerRecord.__doc__ or '').strip()} Topic: {topics.PARTNERS} (one partition, kept "
        "forever, never compacted), Kafka key = `source`. Written by the operator only; a record not signed by the "
        "operator's key or not chained to the one before (`sequence`, `previous`) is ignored by every reader.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def render(definitions: Sequence[ServiceDefinition]) -> dict[Path, str]:
    """Every published contract file and its content."""
    files = {CONTRACT_DIR / "schemas" / schema_filename(spec): _dump(event_schema(spec)) for spec in REGISTRY}
    files[CONTRACT_DIR / "schemas" / PARTNER_RECORD_SCHEMA] = _dump(partner_record_schema())
    files[CONTRACT_DIR / "asyncapi.json"] = _dump(asyncapi(definitions))
    return files


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write(definitions: Sequence[ServiceDefinition]) -> list[Path]:
    files = render(definitions)
    schema_dir = CONTRACT_DIR / "schemas"
    schema_dir.mkdir(parents=True, exist_ok=True)
    for stale in set(schema_dir.glob("*.json")) - set(files):
        stale.unlink()
    for path, content in files.items():
        path.write_text(content, encoding="utf-8")
    return sorted(files)


def differences(definitions: Sequence[ServiceDefinition]) -> list[str]:
    """What differs between the committed documents and the code (empty when in step)."""
    files = render(definitions)
    problems = []
    for path, content in files.items():
        if not path.exists():
            problems.append(f"missing: {path.relative_to(CONTRACT_DIR.parent.parent)}")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"out of date: {path.relative_to(CONTRACT_DIR.parent.parent)}")
    for extra in set((CONTRACT_DIR / "schemas").glob("*.json")) - set(files):
        problems.append(f"no longer generated: {extra.relative_to(CONTRACT_DIR.parent.parent)}")
    return sorted(problems)
