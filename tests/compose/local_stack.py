"""The compose stack on the local engine and images, as the compose tests use it: up with fresh
credentials and free ports, reached from this machine (Kafka's HOST listeners, PostgreSQL's
published port), stopped and started, torn down with its volumes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka_access import KafkaAccess
from shared.topics import SERVICES
from tools.containers.compose import (
    COMPOSE_FILE,
    LOCAL_OVERRIDE,
    ONE_BROKER_OVERRIDE,
    PROGRAMME_OVERRIDE,
    ComposeStack,
    ensure_compose_tool,
    new_credentials,
    write_env_file,
)
from tools.containers.engine import EngineUnavailable, ensure_engine
from tools.containers.images import build_all
from tools.keyring import Operator
from tools.stack.embedded import DATA_DIR, free_port
from tools.stack.operators import OPERATOR

PROJECT = "expert-teams-local"
IMAGE_UID = 10001
"""The project image's user (deploy/local/images/project/Containerfile), who writes the exports."""
POSTGRES_USER = "expert:expert"
"""docker-compose.yml's PostgreSQL user and password."""


@dataclass
class LocalStack:
    compose: ComposeStack
    kafka: KafkaAccess
    postgres_port: int
    programme_dir: Path
    brokers: Sequence[str] = ("kafka-1", "kafka-2", "kafka-3")
    up_seconds: float = 0.0
    services: Sequence[str] = SERVICES
    timings: dict[str, float] = field(default_factory=dict)
    operator: Operator | None = None
    """The operator's signing key the compose services trust (made for the run)."""

    @property
    def signer(self) -> Operator:
        assert self.operator is not None, "the stack was made without the operator's key"
        return self.operator

    @property
    def clock_file(self) -> Path:
        return self.programme_dir / "programme-clock"

    @property
    def exports_dir(self) -> Path:
        return self.programme_dir / "exports"

    def database_url(self, service: str) -> str:
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.postgres_port}/expert_teams_{service}"

    def stop_services(self) -> None:
        """Stop the four services (every replica): their databases and topics stop changing."""
        self.compose.stop(*self.services)

    def stop_and_start_the_rest(self) -> float:
        """With the services stopped: stop everything else (Kafka, PostgreSQL), then start Kafka and
        PostgreSQL again, healthy, the services still stopped (seconds)."""
        began = time.monotonic()
        self.compose.stop()
        self.compose.start(*self.brokers, "postgres")
        return time.monotonic() - began

    def start_services(self) -> float:
        """Start the services again (and the jobs they wait for) until all are healthy (seconds)."""
        began = time.monotonic()
        self.compose.start()
        return time.monotonic() - began


@contextlib.contextmanager
def start_local_stack(brokers: int = 3) -> Iterator[LocalStack]:
    """Engine, images and compose tool (each made when missing), then the stack, torn down after:
    three Kafka nodes, or one (`brokers=1`: deploy/compose/one-broker.yml over the others)."""
    if brokers not in (1, 3):
        raise ValueError(f"the compose file runs three Kafka nodes or one, not {brokers}")
    nodes = tuple(range(1, brokers + 1))
    try:
        engine = ensure_engine()
    except EngineUnavailable as exc:
        pytest.fail(f"the compose tests need the local container engine: {exc}")
    timings: dict[str, float] = {}
    began = time.monotonic()
    build_all(engine)
    timings["images (build or cache)"] = time.monotonic() - began
    programme_dir = DATA_DIR / "compose" / "programme"
    shutil.rmtree(programme_dir, ignore_errors=True)
    (programme_dir / "exports").mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(programme_dir / "exports", IMAGE_UID, IMAGE_UID)
    credentials = new_credentials()
    operator = Operator.from_file(programme_dir / "operator-key.pem", "operator (compose tests)", create=True)
    if os.geteuid() == 0:  # the e2e container reads it as the image's user (a secret file, mounted as it is)
        os.chown(programme_dir / "operator-key.pem", IMAGE_UID, IMAGE_UID)
    credentials |= {
        "EXPERT_TEAMS_OPERATOR_PUBLIC_KEYS": operator.trusted.text(),
        "EXPERT_TEAMS_OPERATOR_KEY_FILE": str(programme_dir / "operator-key.pem"),
    }
    env_file = write_env_file(DATA_DIR / "compose" / "compose.env", credentials)
    ports = {f"EXPERT_TEAMS_LOCAL_KAFKA_{n}_PORT": free_port() for n in nodes}
    ports["EXPERT_TEAMS_LOCAL_POSTGRES_PORT"] = free_port()
    compose = ComposeStack(
        ensure_compose_tool(),
        engine,
        PROJECT if brokers == 3 else f"{PROJECT}-one-broker",
        env_file,
        files=(COMPOSE_FILE, LOCAL_OVERRIDE, PROGRAMME_OVERRIDE, *((ONE_BROKER_OVERRIDE,) if brokers == 1 else ())),
        environment={k: str(v) for k, v in ports.items()} | {"EXPERT_TEAMS_LOCAL_PROGRAMME_DIR": str(programme_dir)},
    )
    compose.down()  # what an interrupted run left
    kafka = KafkaAccess(
        ",".join(f"127.0.0.1:{ports[f'EXPERT_TEAMS_LOCAL_KAFKA_{n}_PORT']}" for n in nodes),
        "SASL_PLAINTEXT",
        OPERATOR,
        credentials["EXPERT_TEAMS_KAFKA_OPERATOR_PASSWORD"],
    )
    stack = LocalStack(
        compose,
        kafka,
        ports["EXPERT_TEAMS_LOCAL_POSTGRES_PORT"],
        programme_dir,
        brokers=tuple(f"kafka-{n}" for n in nodes),
        timings=timings,
        operator=operator,
    )
    try:
        try:
            stack.up_seconds = compose.up()
        except RuntimeError as exc:
            pytest.fail(f"{exc}\n{compose.logs(tail=60)}")
        timings["compose up to healthy"] = stack.up_seconds
        yield stack
    finally:
        began = time.monotonic()
        if not os.environ.get("EXPERT_TEAMS_KEEP_COMPOSE_STACK"):
            compose.down()
        print(f"\ncompose down: {time.monotonic() - began:.1f} s", flush=True)


async def committed_offsets(
    kafka: KafkaAccess, groups: Sequence[str], loaded_within_s: float = 0.0
) -> dict[str, dict[TopicPartition, int]]:
    """Each consumer group's committed offsets. `loaded_within_s`: brokers just started load the
    groups' offsets in the background and answer none until then: ask again (up to that long)
    while a group has none."""
    admin = AIOKafkaAdminClient(**kafka.aiokafka())
    await admin.start()
    deadline = time.monotonic() + loaded_within_s
    try:
        while True:
            offsets = {
                name: {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(name)).items()}
                for name in groups
            }
            if all(offsets.values()) or time.monotonic() > deadline:
                return offsets
            await asyncio.sleep(1.0)
    finally:
        await admin.close()
