"""The compose file describes a stack that can run: every service, the variables it really
reads, healthchecks and start order."""

from __future__ import annotations

from services.catalog import DEFINITIONS
from tests.unit.deploy_files import compose, variables_read_by_services

BROKERS = ("kafka-1", "kafka-2", "kafka-3")


def test_every_built_service_runs_in_compose_on_three_apache_kafka_nodes_and_postgres() -> None:
    services = compose()["services"]
    voters = services["kafka-1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    for number, name in enumerate(BROKERS, start=1):
        broker = services[name]
        env = broker["environment"]
        assert broker["image"].startswith("apache/kafka:4.")
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert env["KAFKA_NODE_ID"] == number
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == voters
        assert f"{number}@{name}:9093" in voters
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert broker["volumes"] == [f"{name}:/var/lib/kafka/data"], "each node keeps its data in its own volume"
    topics = services["topics"]["command"]
    assert dict(zip(topics[3::2], topics[4::2], strict=True)) == {
        "--partitions": "6",
        "--replication-factor": "3",
        "--min-insync-replicas": "2",
    }
    for definition in DEFINITIONS:
        service = services[definition.name]
        assert service["command"] == ["python", "-m", f"services.{definition.name}"]
        assert service["environment"]["DATABASE_URL"].endswith(f"/expert_teams_{definition.name}")


def test_each_service_gets_only_variables_it_reads_and_all_it_needs() -> None:
    services = compose()["services"]
    known = variables_read_by_services()
    for definition in DEFINITIONS:
        env = services[definition.name]["environment"]
        assert set(env) <= known, f"{definition.name} sets variables nobody reads: {set(env) - known}"
        assert {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"} <= set(env)


def test_services_wait_for_healthy_dependencies_and_have_healthchecks() -> None:
    services = compose()["services"]
    for name in (*BROKERS, "postgres"):
        assert services[name]["healthcheck"]["test"]
    assert services["topics"]["command"][:3] == ["expert-teams", "topics", "ensure"]
    for definition in DEFINITIONS:
        service = services[definition.name]
        assert "/health/ready" in " ".join(service["healthcheck"]["test"])
        for broker in BROKERS:
            assert service["depends_on"][broker]["condition"] == "service_healthy"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
