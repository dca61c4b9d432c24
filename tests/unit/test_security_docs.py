"""The security documents say what the code does: docs/kafka.md's table of ACLs is the output of
the snippet under it (tools/stack/access_control.py), and the partner's Python example in
docs/contract/README.md sends a signed event the services accept (its key named, its signature
verifying), on the partner's own topic of its type's service, with the client settings the
operator hands over."""

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
from shared.contract.partners import principal_of
from shared.contract.registry import REGISTRY
from shared.contract.signing import SIGNATURE_KEY_ID, generate_private_key, record_document, save_private_key, verifies
from shared.topics import partner_inbound
from tests.unit.deploy_files import ROOT
from tools.stack.access_control import partner_grants

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


def partner_section(title: str = "Signing your events") -> str:
    text = CONTRACT.read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


class FakeProducer:
    sent: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def produce(self, topic: str, **record: Any) -> None:
        self.sent.append({"topic": topic, "config": self.config, **record})

    def flush(self, timeout: float | None = None) -> int:
        return 0


def test_the_partners_python_example_sends_an_event_the_services_accept_on_its_own_topic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (properties,) = re.findall(r"```properties\n(.*?)```", partner_section("Connecting as a partner"), flags=re.DOTALL)
    (snippet,) = re.findall(r"```python\n(.*?)```", partner_section(), flags=re.DOTALL)
    key = generate_private_key()
    save_private_key(key, tmp_path / "signing-key.pem")
    monkeypatch.chdir(tmp_path)
    fake = types.ModuleType("confluent_kafka")
    fake.Producer = FakeProducer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "confluent_kafka", fake)
    FakeProducer.sent = []
    exec(compile(snippet, str(CONTRACT), "exec"), {"__name__": "docs_partner_snippet"})
    (sent,) = FakeProducer.sent
    handed_over = dict(line.strip().split("=", 1) for line in properties.splitlines() if "=" in line)
    for setting in ("security.protocol", "sasl.mechanism", "sasl.username", "ssl.ca.location"):
        assert sent["config"][setting] == handed_over[setting], setting
    assert sent["config"]["acks"] == "all" and sent["config"]["enable.idempotence"] is True
    headers = list(sent["headers"].items())
    envelope = parse_record(sent["value"], headers, sent["key"].encode())
    assert sent["key"] == envelope.subject, "the subject is the message key"
    spec = REGISTRY[envelope.type]
    spec.model.model_validate(envelope.data)
    principal = principal_of(envelope.source)
    assert sent["config"]["sasl.username"] == principal
    assert sent["topic"] == partner_inbound(spec.topic.removesuffix(".inbound"), principal), "its own topic"
    own = {g.name for g in partner_grants(envelope.source) if g.operation == "WRITE"}
    assert sent["topic"] in own, "a topic the partner's ACLs let it write"
    document = record_document(sent["value"], headers)
    assert document[SIGNATURE_KEY_ID] == key.key_id, "the key id computed as the README says is ours"
    assert verifies(document, "Ed25519", key.public_key), "its signature verifies with the partner's key"
