"""The testcontainers path of the test infrastructure (tests/conftest.py): Apache Kafka and
PostgreSQL in containers of whichever Docker API answers, from the images the environment names
(EXPERT_TEAMS_KAFKA_IMAGE, EXPERT_TEAMS_POSTGRES_IMAGE: `python3 tasks.py containers` names the
local ones of deploy/local/), by default the official ones docker-compose.yml names.

Kafka runs as the embedded broker does: one KRaft node, SASL/SCRAM-SHA-512 on every client
connection, ACLs (StandardAuthorizer), the brokers' own `broker` and the healthcheck's `health`
created in the storage when it is formatted (tests/conftest.py then makes the other principals as
`broker`, as the launcher does); its properties are the embedded broker's own
(tools/stack/kafka.py), passed as the apache/kafka image's KAFKA_* variables, which the local image
reads the same way."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.kafka_access import KafkaAccess
from tools.stack.embedded import DATA_DIR, free_port
from tools.stack.kafka import BrokerSecurity, KafkaBroker
from tools.stack.operators import BROKER, HEALTH
from tools.stack.security import SecurityStore

OFFICIAL_KAFKA_IMAGE = "apache/kafka:4.1.0"
OFFICIAL_POSTGRES_IMAGE = "postgres:16"
CONTAINER_PORT = 19092
"""The client listener (HOST) the tests reach through the published port."""
START_TIMEOUT_S = 180.0
CLUSTER_ID = "5L6g3nShT-eMCtK--X86sw"
"""A KRaft cluster id (22 url-safe base64 characters); each container formats a new storage."""
# The embedded broker's properties that name its host folders and loopback ports: the container has its own.
PLACED_BY_THE_CONTAINER = (
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "controller.quorum.bootstrap.servers",
    "log.dirs",
)


def kafka_image() -> str:
    return os.environ.get("EXPERT_TEAMS_KAFKA_IMAGE", OFFICIAL_KAFKA_IMAGE)


def postgres_image() -> str:
    return os.environ.get("EXPERT_TEAMS_POSTGRES_IMAGE", OFFICIAL_POSTGRES_IMAGE)


def environment_name(key: str) -> str:
    """A broker property as the apache/kafka image's variable: '_' -> '__', '-' -> '___', '.' -> '_'."""
    return "KAFKA_" + key.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def broker_properties(security: BrokerSecurity, host_port: int) -> dict[str, str]:
    """The embedded broker's properties for a container: BROKER (inside, inter-broker) and HOST
    (the published port) authenticate with SCRAM, CONTROLLER with PLAIN."""
    embedded = KafkaBroker(DATA_DIR / "unused", port=9092, controller_port=9093, security=security)
    properties = {k: v for k, v in embedded.server_properties().items() if k not in PLACED_BY_THE_CONTAINER}
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    return properties | {
        "listeners": f"BROKER://:9092,CONTROLLER://:9093,HOST://:{CONTAINER_PORT}",
        "advertised.listeners": f"BROKER://localhost:9092,HOST://127.0.0.1:{host_port}",
        "listener.security.protocol.map": "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,HOST:SASL_PLAINTEXT",
        "inter.broker.listener.name": "BROKER",
        "listener.name.host.scram-sha-512.sasl.jaas.config": f"{scram} required;",
        "controller.quorum.voters": "1@localhost:9093",
        "log.dirs": "/var/lib/kafka/data",
    }


# The image's own start (/etc/kafka/docker/run) after formatting with the brokers' and the
# healthcheck's SCRAM credentials, which only the format step can add, as docker-compose.yml's
# brokers do: the passwords go from the environment into an owner-only argument file (printf is a
# shell builtin) that the JDK launcher reads (`java @file`), never onto a command line.
FORMAT_THEN_RUN = f"""\
umask 077
trap 'rm -f /tmp/format.properties /tmp/format.args' EXIT
printf '%s\\n' "$EXPERT_TEAMS_FORMAT_PROPERTIES" > /tmp/format.properties
printf '"%s"\\n' kafka.tools.StorageTool format --ignore-formatted --cluster-id "$CLUSTER_ID" \
  --config /tmp/format.properties \
  --add-scram "SCRAM-SHA-512=[name={BROKER},password=$EXPERT_TEAMS_BROKER_PASSWORD]" \
  --add-scram "SCRAM-SHA-512=[name={HEALTH},password=$EXPERT_TEAMS_HEALTH_PASSWORD]" > /tmp/format.args
KAFKA_OPTS=-XX:-UsePerfData /opt/kafka/bin/kafka-run-class.sh @/tmp/format.args
rm -f /tmp/format.properties /tmp/format.args
trap - EXIT
exec /etc/kafka/docker/run
"""


@contextmanager
def kafka_container() -> Iterator[tuple[KafkaAccess, SecurityStore]]:
    """A Kafka container that authenticates, and the access of its super user `broker` (for
    making the other principals: tests/conftest.py)."""
    from testcontainers.core.container import DockerContainer

    store = SecurityStore(DATA_DIR / "test-security").ensure()
    security = BrokerSecurity(store.broker_password, store.controller_password, store.health_password)
    host_port = free_port()
    properties = broker_properties(security, host_port)
    container = (
        DockerContainer(kafka_image())
        .with_bind_ports(CONTAINER_PORT, host_port)
        .with_command(["bash", "-ec", FORMAT_THEN_RUN])
        .with_envs(**{environment_name(k): v for k, v in properties.items()})
        .with_envs(
            CLUSTER_ID=CLUSTER_ID,
            EXPERT_TEAMS_FORMAT_PROPERTIES="\n".join(f"{k}={v}" for k, v in properties.items()),
            EXPERT_TEAMS_BROKER_PASSWORD=store.broker_password,
            EXPERT_TEAMS_HEALTH_PASSWORD=store.health_password,
        )
    )
    container.start()
    try:
        access = store.access(BROKER, f"127.0.0.1:{host_port}")
        _wait_serving(access, container)
        yield access, store
    finally:
        container.stop()


def _wait_serving(access: KafkaAccess, container: Any) -> None:
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + START_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AdminClient({**access.confluent(), "socket.connection.setup.timeout.ms": 2000, "log_level": 0})
        try:
            if admin.list_topics(timeout=2).brokers:
                return
        except Exception as exc:  # a KafkaException while the broker starts
            last = exc
        time.sleep(0.5)
    stdout, stderr = container.get_logs()
    logs = (stdout + stderr).decode(errors="replace")[-4000:]
    raise TimeoutError(f"the Kafka container did not serve within {START_TIMEOUT_S}s (last: {last!r})\n{logs}")
