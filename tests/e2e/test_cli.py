"""The operator CLI against the real broker and a running orders service."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from shared.contract.events.orders import DemandEndorsed, DemandSubmitted
from shared.contract.partners import principal_of
from shared.contract.signing import generate_private_key, save_private_key
from tests.builders import new_order_id, tianma_demand
from tests.conftest import Infrastructure
from tests.signing import OPERATOR
from tools.client import ProgrammeClient, TopicObserver
from tools.stack.embedded import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


OPERATOR_KEY = Path(tempfile.mkdtemp(prefix="operator-")) / "signing-key.pem"
"""The tests' operator key as an operator keeps it (PEM, 0600): the CLI signs registry records and
replays with it (EXPERT_TEAMS_OPERATOR_KEY_FILE); the services in the tests trust it."""


async def cli(infrastructure: Infrastructure, prefix: str, *args: str) -> tuple[int, str, str]:
    if not OPERATOR_KEY.exists():
        save_private_key(OPERATOR.key, OPERATOR_KEY)
    env = dict(
        os.environ,
        **infrastructure.kafka.environment(),
        KAFKA_TOPIC_PREFIX=prefix,
        EXPERT_TEAMS_OPERATOR_KEY_FILE=str(OPERATOR_KEY),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.cli.main",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


def key_file(client: ProgrammeClient, source: str, directory: Path) -> str:
    """The source's private key as a partner keeps it (PEM, 0600), for `send --signing-key`."""
    assert client.keyring is not None
    path = directory / principal_of(source) / "signing-key.pem"
    save_private_key(client.keyring[source], path)
    return str(path)


async def test_an_operator_sends_events_follows_the_order_and_reads_its_dead_letters(
    orders_service: Any,
    observer: TopicObserver,
    client: ProgrammeClient,
    infrastructure: Infrastructure,
    topics_ready: str,
    tmp_path: Path,
) -> None:
    for partner in ("/counties/500240", "/bureau/hrss"):
        await client.enrol(partner)  # the operator registered their public keys
    order_id = new_order_id()
    data_file = tmp_path / "demand.json"
    data_file.write_text(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县人力社保局").model_dump_json(),
        encoding="utf-8",
    )
    code, out, err = await cli(
        infrastructure,
        topics_ready,
        "send",
        "--type",
        "DemandSubmitted",
        "--source",
        "/counties/500240",
        "--data-file",
        str(data_file),
        "--signing-key",
        key_file(client, "/counties/500240", tmp_path),
    )
    assert code == 0, err
    sent_id = json.loads(out)["sent"]
    await observer.wait_for(lambda o: o.type == "OrderSubmitted" and o.subject == order_id)

    endorsement = json.dumps({"order_id": order_id, "endorsed_by": "市人力社保局"}, ensure_ascii=False)
    code, out, err = await cli(
        infrastructure,
        topics_ready,
        "send",
        "--type",
        "DemandEndorsed",
        "--source",
        "/bureau/hrss",
        "--data",
        endorsement,
        "--binary",
        "--signing-key",
        key_file(client, "/bureau/hrss", tmp_path),
    )
    assert code == 0, err
    await observer.wait_for(lambda o: o.header("dlt.reason") == "unauthorized_source" and o.subject == order_id)

    code, out, err = await cli(infrastructure, topics_ready, "follow", order_id, "--json", "--idle", "1")
    assert code == 0, err
    history = [json.loads(line) for line in out.splitlines()]
    kinds = [(row["topic"].removeprefix(topics_ready), row.get("type")) for row in history]
    assert ("orders.inbound.counties.500240", "DemandSubmitted") in kinds, "the county's own topic"
    assert ("orders.events", "OrderSubmitted") in kinds
    assert ("rejections", "EventRejected") in kinds, "the operator's full record of the refusal"
    assert ("answers.bureau.hrss", "EventRejected") in kinds, "the answer to the bureau's system that sent it"
    assert any("dead_letter" in row for row in history)
    caused = [row for row in history if row.get("causation_id") == sent_id]
    assert [row["type"] for row in caused] == ["OrderSubmitted"]
    assert [row["time"] for row in history] == sorted(row["time"] for row in history), "in time order"

    code, out, err = await cli(infrastructure, topics_ready, "dead-letters", "list", "--service", "orders", "--json")
    assert code == 0, err
    letters = [json.loads(line) for line in out.splitlines()]
    mine = [row for row in letters if row.get("subject") == order_id]
    assert len(mine) == 1
    assert mine[0]["dead_letter"]["reason"] == "unauthorized_source"
    assert mine[0]["dead_letter"]["origin"].startswith(f"{topics_ready}orders.inbound.bureau.hrss:")

    code, out, err = await cli(infrastructure, topics_ready, "dead-letters", "show", mine[0]["ref"])
    assert code == 0, err
    assert "dlt.reason: unauthorized_source" in out
    assert "市人力社保局" in out, "the original value is shown"
    code, out, err = await cli(infrastructure, topics_ready, "dead-letters", "show", mine[0]["ref"], "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert ["dlt.reason", "unauthorized_source"] in shown["headers"]
    assert "市人力社保局" in shown["original_value"], "the original value, as text"
    assert shown["key"] == order_id


async def test_the_cli_explains_itself_and_refuses_an_incomplete_send(
    infrastructure: Infrastructure, topics_ready: str
) -> None:
    code, out, _ = await cli(infrastructure, topics_ready, "--help")
    assert code == 0
    for command in ("send", "follow", "dead-letters", "demo", "stack"):
        assert command in out
    code, _, err = await cli(infrastructure, topics_ready, "send", "--type", "DemandSubmitted")
    assert code != 0
    assert "give --file, or all of --type, --source and --data" in err
    code, _, err = await cli(
        infrastructure,
        topics_ready,
        "send",
        "--type",
        "DemandEndorsed",
        "--source",
        "/counties/500240",
        "--data",
        '{"order_id": 500240}',
    )
    assert code != 0
    assert "order_id: Input should be a valid string" in err and "endorsed_by: Field required" in err, err
    code, out, _ = await cli(infrastructure, topics_ready, "topics", "list", "--json")
    assert code == 0
    assert {"orders.inbound.<principal>", "answers.<principal>", "rejections", "reviews.deadletter"} <= {
        json.loads(line)["topic"] for line in out.splitlines()
    }


async def test_an_operator_replays_a_dead_letter_once_its_cause_is_fixed_and_exports_the_history(
    orders_service: Any,
    observer: TopicObserver,
    client: ProgrammeClient,
    infrastructure: Infrastructure,
    topics_ready: str,
    tmp_path: Path,
) -> None:
    order_id = new_order_id()
    early = await client.send(
        DemandEndorsed(order_id=order_id, endorsed_by="石柱县人力社保局"), source="/counties/500240"
    )
    (letter,) = await observer.wait_for(lambda o: o.header("dlt.rule") == "unknown_order" and o.subject == order_id)
    await client.send(
        DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县人力社保局"),
        source="/counties/500240",
    )
    await observer.wait_for(lambda o: o.type == "OrderSubmitted" and o.subject == order_id)

    ref = f"{letter.topic}:{letter.partition}:{letter.offset}"
    code, out, err = await cli(infrastructure, topics_ready, "dead-letters", "replay", ref)
    assert code == 0, err
    assert json.loads(out)["replayed"] == ref
    assert json.loads(out)["to"].startswith(f"{topics_ready}orders.inbound.counties.500240:"), "where it came from"
    (endorsed,) = await observer.wait_for(lambda o: o.type == "OrderEndorsed" and o.subject == order_id)
    assert endorsed.envelope is not None and endorsed.envelope.causation_id == early.id, "the original event, applied"
    inbox = await orders_service.pool.fetchrow("SELECT outcome, reason_code FROM inbox WHERE event_id = $1", early.id)
    assert dict(inbox) == {"outcome": "applied", "reason_code": None}

    code, _, err = await cli(infrastructure, topics_ready, "dead-letters", "replay", ref)  # replayed twice
    assert code == 0, err
    await observer.settle(1.0)
    assert len([o for o in observer.seen if o.type == "OrderEndorsed" and o.subject == order_id]) == 1

    export = tmp_path / "history.json"
    code, out, err = await cli(infrastructure, topics_ready, "follow", order_id, "--export", str(export), "--idle", "1")
    assert code == 0, err
    document = json.loads(export.read_text(encoding="utf-8"))
    assert document["key"] == order_id
    submitted = next(e for e in document["events"] if e.get("type") == "DemandSubmitted")
    created = next(e for e in document["events"] if e.get("type") == "OrderSubmitted")
    assert created["id"] in submitted["caused"], "what each event caused"
    assert submitted["source"] == "/counties/500240", "who sent it"


async def test_a_command_that_cannot_reach_the_broker_says_so_in_one_line_and_fails(
    infrastructure: Infrastructure, topics_ready: str
) -> None:
    unreachable = f"127.0.0.1:{free_port()}"
    for command in (("dead-letters", "list"), ("follow", "500240-2027-001"), ("topics", "ensure", "--check")):
        code, out, err = await cli(infrastructure, topics_ready, *command, "--bootstrap", unreachable, "--timeout", "1")
        assert code == 3, (command, err)
        (line,) = err.strip().splitlines()
        assert line.startswith(f"expert-teams: the Kafka broker at {unreachable} did not answer within 1 s"), line
        assert "Traceback" not in err and out == ""


async def test_an_operator_onboards_a_county_which_then_writes_only_its_inbound_topic_until_revoked(
    infrastructure: Infrastructure, topics_ready: str, tmp_path: Path
) -> None:
    from confluent_kafka import KafkaError

    from tests.integration.test_partner_identity import produce

    folder = tmp_path / "wulong"
    own_key = generate_private_key()  # 武隆区's own: its private key never leaves it
    code, out, err = await cli(
        infrastructure,
        topics_ready,
        "partners",
        "add",
        "/counties/500156",
        "--out",
        str(folder),
        "--public-key",
        own_key.public_key,
    )
    assert code == 0, err
    assert "onboarded /counties/500156 as principal counties.500156" in out
    own_topic = f"{topics_ready}orders.inbound.counties.500156"
    assert f"writes:   {own_topic}" in out
    assert f"Ed25519 key {own_key.key_id} registered" in out
    assert not (folder / "signing-key.pem").exists(), "no private key made on the operator's side"
    assert f"reads {topics_ready}answers.counties.500156 in consumer groups named {topics_ready}counties.500156:" in out
    assert "quotas:   writes 256 KiB/s, reads 1 MiB/s, requests 25 % of a broker thread per broker" in out
    assert "sasl.mechanism=SCRAM-SHA-512" in out and "sasl.username=counties.500156" in out
    settings = folder / "client.properties"
    assert settings.stat().st_mode & 0o777 == 0o600, "only its owner may read the password"
    values = dict(line.split("=", 1) for line in settings.read_text().splitlines() if line and line[0] != "#")
    assert values["sasl.password"] not in out, "the password is in the file, not on the screen"
    partner = infrastructure.kafka.as_user(values["sasl.username"], values["sasl.password"])
    assert await asyncio.to_thread(produce, partner, own_topic) is None
    for elsewhere in ("orders.events", "orders.inbound.counties.500240", "rejections"):
        refused = await asyncio.to_thread(produce, partner, f"{topics_ready}{elsewhere}")
        assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, elsewhere

    code, out, err = await cli(infrastructure, topics_ready, "partners", "list")
    assert code == 0, err
    assert f"counties.500156                  writes {own_topic}; Ed25519 key {own_key.key_id} active" in out

    code, out, err = await cli(
        infrastructure, topics_ready, "partners", "add", "/counties/500156", "--out", str(folder), "--generate"
    )
    assert code != 0 and "onboarded already" in err
    code, out, err = await cli(
        infrastructure, topics_ready, "partners", "add", "/counties/500156", "--out", str(folder), "--rotate"
    )
    assert code == 0, err
    assert "rotated /counties/500156" in out and "its registered key stays" in out, "a new password, the same key"
    rotated_values = dict(line.split("=", 1) for line in settings.read_text().splitlines() if line and line[0] != "#")
    assert rotated_values["sasl.password"] != values["sasl.password"]
    partner = infrastructure.kafka.as_user(values["sasl.username"], rotated_values["sasl.password"])

    rotated = generate_private_key()
    code, out, err = await cli(
        infrastructure, topics_ready, "partners", "key", "/counties/500156", "--public-key", rotated.public_key
    )
    assert code == 0, err
    assert f"registered Ed25519 key {rotated.key_id} for /counties/500156" in out

    code, out, err = await cli(infrastructure, topics_ready, "partners", "revoke", "/counties/500156")
    assert code == 0, err
    assert "principal counties.500156 deleted" in out
    assert f"key {own_key.key_id} revoked" in out and f"key {rotated.key_id} revoked" in out
    refused = await asyncio.to_thread(produce, partner, own_topic, 8.0)
    assert refused is not None, "revoked credentials no longer write"
    assert "counties.500156" not in (await cli(infrastructure, topics_ready, "partners", "list"))[1]

    code, out, err = await cli(infrastructure, topics_ready, "partners", "history", "--json")
    assert code == 0, err
    changes = [json.loads(line) for line in out.splitlines() if "/counties/500156" in line]
    assert [(c["key_id"], c["status"]) for c in changes] == [
        (own_key.key_id, "active"),
        (rotated.key_id, "active"),
        (own_key.key_id, "revoked"),
        (rotated.key_id, "revoked"),
    ], "every change kept, in order, for the auditor"
    assert not any("ignored_offset" in line for line in out.splitlines())
