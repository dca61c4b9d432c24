"""docker-compose.yml as Docker Compose itself reads it (the release the project uses,
tools/containers/compose.py; `config` needs no engine): the production file alone keeps the
official images, and the local override swaps in the machine's own images without building or
pulling, runs two replicas of each service and lets the machine reach Kafka and PostgreSQL."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from shared.topics import SERVICES
from tools.containers.compose import (
    COMPOSE_FILE,
    LOCAL_OVERRIDE,
    MIN_COMPOSE_VERSION,
    ONE_BROKER_OVERRIDE,
    PROGRAMME_OVERRIDE,
    ComposeStack,
    ensure_compose_tool,
    version_of,
)
from tools.containers.engine import Engine
from tools.containers.images import IMAGES

pytestmark = pytest.mark.containers  # with the compose run: the first use builds Compose (minutes)

EXAMPLE_ENV = COMPOSE_FILE.parent / "deploy" / "compose" / "credentials.example.env"
BROKERS = ("kafka-1", "kafka-2", "kafka-3")
PORTS = {"EXPERT_TEAMS_LOCAL_KAFKA_1_PORT": "29092", "EXPERT_TEAMS_LOCAL_KAFKA_2_PORT": "29093"}


@pytest.fixture(scope="module")
def tool() -> list[str]:
    return ensure_compose_tool()


def resolved(tool: list[str], *files: Path, **environment: str) -> dict[str, Any]:
    stack = ComposeStack(tool, Engine(), "expert-teams", EXAMPLE_ENV, files=files, environment=environment)
    return stack.config()


def test_the_compose_tool_is_at_least_the_stated_minimum(tool: list[str]) -> None:
    found = version_of(tool)
    assert found is not None
    assert found >= MIN_COMPOSE_VERSION


def test_the_production_file_parses_and_keeps_the_official_images(tool: list[str]) -> None:
    project = resolved(tool, COMPOSE_FILE)
    services = project["services"]
    assert project["name"] == "expert-teams"
    assert {*BROKERS, "postgres", "operators", "topics", "acls", *SERVICES} <= set(services)
    assert "e2e-tests" not in services, "the e2e profile is off unless asked for"
    assert "cli" not in services, "the operator's CLI runs on demand only"
    assert {services[name]["image"] for name in BROKERS} == {"apache/kafka:4.1.0"}
    assert services["postgres"]["image"] == "postgres:16"
    for name in (*SERVICES, "operators", "topics", "acls"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["orders"]["environment"]["KAFKA_SASL_PASSWORD"] == "EXAMPLE-orders-not-a-password"


def test_the_local_override_runs_the_local_images_without_building_or_pulling(tool: list[str]) -> None:
    services = resolved(tool, COMPOSE_FILE, LOCAL_OVERRIDE)["services"]
    assert {services[name]["image"] for name in BROKERS} == {IMAGES.kafka}
    assert services["postgres"]["image"] == IMAGES.postgres
    for name in (*SERVICES, "operators", "topics", "acls"):
        assert services[name]["image"] == IMAGES.project
        assert "build" not in services[name]
    for name in (*BROKERS, "postgres", *SERVICES, "operators", "topics", "acls"):
        assert services[name]["pull_policy"] == "never"
    assert {name: services[name]["deploy"]["replicas"] for name in SERVICES} == dict.fromkeys(SERVICES, 2)


def test_the_local_override_keeps_the_production_settings_and_adds_a_listener_for_the_machine(
    tool: list[str],
) -> None:
    production = resolved(tool, COMPOSE_FILE)["services"]
    services = resolved(tool, COMPOSE_FILE, LOCAL_OVERRIDE, **PORTS)["services"]
    for number, name in enumerate(BROKERS, start=1):
        env = services[name]["environment"]
        port = PORTS.get(f"EXPERT_TEAMS_LOCAL_KAFKA_{number}_PORT", str(19091 + number))
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"BROKER://{name}:9092,HOST://127.0.0.1:{port}"
        assert "HOST:SASL_PLAINTEXT" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
        assert [(p["host_ip"], p["published"], p["target"]) for p in services[name]["ports"]] == [
            ("127.0.0.1", port, 19092)
        ]
        changed = {"KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"}
        added = {"KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___512_SASL_JAAS_CONFIG"}
        assert set(env) == set(production[name]["environment"]) | added
        kept = {k: v for k, v in env.items() if k not in changed | added}
        assert kept == {k: v for k, v in production[name]["environment"].items() if k not in changed}
        assert env["KAFKA_LISTENERS"] == production[name]["environment"]["KAFKA_LISTENERS"] + ",HOST://:19092"
        assert services[name]["command"] == production[name]["command"], "the brokers start as in production"
        healthcheck = services[name]["healthcheck"]
        assert healthcheck["test"] == ["CMD", "/etc/kafka/docker/healthcheck"], "no JVM per check"
        assert healthcheck | {"test": None} == production[name]["healthcheck"] | {"test": None}
    for name in SERVICES:
        healthcheck, production_check = services[name]["healthcheck"], production[name]["healthcheck"]
        assert healthcheck["test"][0] == "CMD-SHELL"
        assert shlex.split(healthcheck["test"][1]) == production_check["test"][1:], "the same request"
        assert healthcheck | {"test": None} == production_check | {"test": None}
    for name in (*SERVICES, "operators", "topics", "acls"):
        assert services[name]["environment"] == production[name]["environment"]
        assert services[name].get("depends_on") == production[name].get("depends_on")
    assert [(p["host_ip"], p["target"]) for p in services["postgres"]["ports"]] == [("127.0.0.1", 5432)]


def test_the_programme_override_gives_the_services_the_players_clock_and_reviews_its_exports_folder(
    tool: list[str], tmp_path: Path
) -> None:
    services = resolved(
        tool,
        COMPOSE_FILE,
        LOCAL_OVERRIDE,
        PROGRAMME_OVERRIDE,
        EXPERT_TEAMS_LOCAL_PROGRAMME_DIR=str(tmp_path),
    )["services"]
    for name in SERVICES:
        assert services[name]["environment"]["CLOCK_FILE"] == "/programme/programme-clock"
        assert services[name]["environment"]["TIMERS_EVERY_S"] == "1", "a programme month passes in seconds"
        mounts = {v["target"]: (v["source"], v.get("read_only", False)) for v in services[name]["volumes"]}
        assert mounts["/programme"] == (str(tmp_path), True)
    exports = {v["target"]: v for v in services["reviews"]["volumes"]}["/exports"]
    assert (exports["type"], exports["source"]) == ("bind", str(tmp_path / "exports"))


def test_the_programme_override_refuses_to_run_without_its_folder(tool: list[str]) -> None:
    stack = ComposeStack(tool, Engine(), "expert-teams", EXAMPLE_ENV, files=(COMPOSE_FILE, PROGRAMME_OVERRIDE))
    refused = stack.run("config", check=False)
    assert refused.returncode != 0
    assert "EXPERT_TEAMS_LOCAL_PROGRAMME_DIR" in refused.stderr


def test_the_one_broker_override_runs_one_kafka_node_and_points_every_client_and_dependency_at_it(
    tool: list[str],
) -> None:
    production = resolved(tool, COMPOSE_FILE)["services"]
    for files in ((COMPOSE_FILE, ONE_BROKER_OVERRIDE), (COMPOSE_FILE, LOCAL_OVERRIDE, ONE_BROKER_OVERRIDE)):
        services = resolved(tool, *files)["services"]
        assert set(services) == {"kafka-1", "postgres", "operators", "topics", "acls", *SERVICES}, "one node only"
        broker = services["kafka-1"]["environment"]
        assert broker["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka-1:9093", "the node votes alone"
        for setting in (
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
            "KAFKA_DEFAULT_REPLICATION_FACTOR",
            "KAFKA_MIN_INSYNC_REPLICAS",
        ):
            assert broker[setting] == "1", setting
        assert broker["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
        assert services["kafka-1"]["command"] == production["kafka-1"]["command"]
        command = services["topics"]["command"]
        assert command[command.index("--replication-factor") + 1] == "1"
        assert command[command.index("--min-insync-replicas") + 1] == "1"
        for name in ("operators", "topics", "acls", *SERVICES):
            assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-1:9092", name
            assert not {"kafka-2", "kafka-3"} & set(services[name].get("depends_on", {})), name
        for name in SERVICES:
            env, production_env = services[name]["environment"], production[name]["environment"]
            assert (env["KAFKA_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) == ("1", "1")
            assert set(services[name]["depends_on"]) == {"kafka-1", "postgres", "topics", "acls"}
            changed = {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_REPLICATION_FACTOR", "KAFKA_MIN_INSYNC_REPLICAS"}
            assert {k: v for k, v in env.items() if k not in changed} == {
                k: v for k, v in production_env.items() if k not in changed
            }, "every other setting as in production"
