"""The security documents say what the code does: docs/kafka.md's table of ACLs is the output of
the snippet under it (tools/stack/access_control.py), and the partner's Python example in
docs/contract/README.md sends an event the services accept, on the topic its type goes to, with
the client settings the operator hands over."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from shared.contract.envelope import parse_record
from shared.contract.registry import REGISTRY
from tests.unit.deploy_files import ROOT
from tools.stack.access_control import inbound_topics_of

DOC = ROOT / "docs" / "kafka.md"
CONTRACT = ROOT / "docs" / "contract" / "README.md"


def security_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("\n## Security\n", 1)[1].split("\n## ", 1)[0]


def test_the_acl_table_in_the_security_section_is_the_output_of_its_snippet() -> None:
    section = security_section()
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, str(DOC), "exec"), {"__name__": "docs_kafka_snippet"})
    table = printed.getvalue().strip()
    assert table.count("\n") >= 11, "a header, a rule, four services and six partners"
    assert table in section


def test_the_security_section_states_the_settings_the_embedded_broker_uses() -> None:
    from tools.stack.kafka import BrokerSecurity

    properties = BrokerSecurity("a", "c").properties(9092, 9093)
    section = security_section()
    assert f"authorizer.class.name={properties['authorizer.class.name']}" in section
    assert f"allow.everyone.if.no.acl.found={properties['allow.everyone.if.no.acl.found']}" in section
    reauth = int(properties["connections.max.reauth.ms"])
    assert f"`connections.max.reauth.ms` = {reauth:,}" in section and reauth == 15 * 60 * 1000
    assert properties["sasl.mechanism.controller.protocol"] == "PLAIN" and "**PLAIN**" in section


def partner_section() -> str:
    text = CONTRACT.read_text(encoding="utf-8")
    return text.split("\n## Connecting as a partner\n", 1)[1].split("\n## ", 1)[0]


class FakeProducer:
    sent: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def produce(self, topic: str, **record: Any) -> None:
        self.sent.append({"topic": topic, "config": self.config, **record})

    def flush(self, timeout: float) -> int:
        return 0


def test_the_partners_python_example_sends_an_event_the_services_accept_on_its_topic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = partner_section()
    (properties,) = re.findall(r"```properties\n(.*?)```", section, flags=re.DOTALL)
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    (tmp_path / "client.properties").write_text(re.sub(r"(?m)^  ", "", properties), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    fake = types.ModuleType("confluent_kafka")
    fake.Producer = FakeProducer  # type: ignore[attr-defined]
    fake.KafkaError = type("KafkaError", (), {"TOPIC_AUTHORIZATION_FAILED": 29})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "confluent_kafka", fake)
    FakeProducer.sent = []
    exec(compile(snippet, str(CONTRACT), "exec"), {"__name__": "docs_partner_snippet"})
    (sent,) = FakeProducer.sent
    assert sent["config"]["security.protocol"] == "SASL_SSL"
    assert sent["config"]["sasl.mechanism"] == "SCRAM-SHA-512"
    assert sent["config"]["acks"] == "all" and sent["config"]["enable.idempotence"] is True
    envelope = parse_record(sent["value"], sent["headers"], sent["key"])
    assert sent["key"] == envelope.subject.encode(), "the subject is the message key"
    spec = REGISTRY[envelope.type]
    assert sent["topic"] == spec.topic
    spec.model.model_validate(envelope.data)
    assert sent["topic"] in inbound_topics_of(envelope.source), "a topic the partner's ACLs let it write"
    assert sent["config"]["sasl.username"] == envelope.source.strip("/").replace("/", ".")
