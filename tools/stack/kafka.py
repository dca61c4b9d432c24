"""The embedded default broker: Apache Kafka 4.x (KRaft, one combined broker+controller JVM).

Its jars come from Maven Central through `deploy/kafka/pom.xml` (`ensure_kafka_jars`, run once
per pom and kept under a cache folder). `KafkaBroker` keeps its whole state under `data_dir`:
the server config, the log4j2 config, the KRaft storage (formatted once, `--standalone`), the
cluster id and the ports of the last run, so a restarted broker keeps its data and its address.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .embedded import DATA_DIR, REPO_ROOT, die_with_parent, free_port, port_open
from .operators import BROKER, CONTROLLER, HEALTH, LEGACY, SUPER_USERS

POM_PATH = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
JARS_CACHE_DIR = DATA_DIR / "cache"
"""Where the jars go by default (`<it>/kafka-<version>/libs`), shared by every data_dir."""
MIN_JAVA = 17
MAVEN_TIMEOUT_S = 900

# The JVM options of Kafka's bin/kafka-run-class.sh (KAFKA_JVM_PERFORMANCE_OPTS), plus one
# that ends a broker that ran out of heap instead of leaving it half alive.
KAFKA_JVM_OPTS: tuple[str, ...] = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
    "-XX:+ExitOnOutOfMemoryError",
)

LOG4J2_CONFIG = """\
# Written by tools/stack/kafka.py: the broker logs to stdout (the broker's log file).
status = warn
# Kafka's own shutdown hook logs its controlled shutdown: log4j2's must not stop logging first
shutdownHook = disable
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {root_level}
rootLogger.appenderRef.stdout.ref = STDOUT
{loggers}"""

# Loggers turned down to WARN: the full config dumps (hundreds of lines per start), and the
# per-request / per-partition state loggers that Kafka's own log4j2.yaml sends to other files.
QUIET_LOGGERS: tuple[str, ...] = (
    "org.apache.kafka.common.config.AbstractConfig",
    "kafka.request.logger",
    "kafka.network.RequestChannel$",
    "state.change.logger",
    "kafka.authorizer.logger",
    "org.apache.kafka.common.utils.AppInfoParser",
)


def log4j2_config(root_level: str) -> str:
    """The broker's log4j2 properties: the console at `root_level`, QUIET_LOGGERS at WARN (the
    embedded broker's and the local Kafka image's)."""
    loggers = "".join(f"logger.q{i}.name = {name}\nlogger.q{i}.level = WARN\n" for i, name in enumerate(QUIET_LOGGERS))
    return LOG4J2_CONFIG.format(root_level=root_level, loggers=loggers)


# ---- jars -------------------------------------------------------------------------------------


def kafka_version(pom: Path = POM_PATH) -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    if match is None:
        raise RuntimeError(f"{pom} names no <kafka.version> property")
    return match.group(1).strip()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_kafka_jars(cache_dir: Path, pom: Path = POM_PATH) -> Path:
    """The folder holding every jar the broker needs (`<cache_dir>/kafka-<version>/libs`).

    Maven copies them (from ~/.m2, downloading what it lacks) only when the stamp beside the
    folder does not hold the pom's sha256; the stamp is written after a complete copy only."""
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    home = cache_dir / f"kafka-{kafka_version(pom)}"
    libs, stamp = home / "libs", home / "pom.sha256"
    if _stamp_matches(stamp, digest, libs):
        return libs
    with _file_lock(home / ".lock"):
        if _stamp_matches(stamp, digest, libs):  # another process did it while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError(
                "Maven (`mvn`) is not on PATH: it fetches the Kafka broker's jars (apt-get install maven)"
            )
        staging = home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        command = [
            mvn,
            "-B",
            "-q",
            "-Dstyle.color=never",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=MAVEN_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"Maven did not finish within {MAVEN_TIMEOUT_S}s: {' '.join(command)}") from exc
        jars = list(staging.glob("*.jar")) if staging.is_dir() else []
        if result.returncode != 0 or not jars:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-40:])
            raise RuntimeError(
                f"Maven could not fetch the Kafka jars (exit {result.returncode}, {len(jars)} jars)\n"
                f"command: {' '.join(command)}\n{tail}"
            )
        stamp.unlink(missing_ok=True)
        shutil.rmtree(libs, ignore_errors=True)
        for archive in home.glob("cds-*.jsa*"):  # class-data archives of the old jars
            archive.unlink(missing_ok=True)
        staging.rename(libs)
        _write_atomic(stamp, digest + "\n")
    return libs


def _stamp_matches(stamp: Path, digest: str, libs: Path) -> bool:
    with contextlib.suppress(OSError):
        return stamp.read_text().strip() == digest and libs.is_dir()
    return False


# ---- java -------------------------------------------------------------------------------------


def find_java() -> str:
    """JAVA_HOME/bin/java, else `java` on PATH; Java 17 or newer (Kafka 4's broker needs 17)."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not candidate or not os.access(candidate, os.X_OK):
        where = f"JAVA_HOME={java_home}" if java_home else "PATH"
        raise RuntimeError(f"no java found through {where}: the Kafka broker needs Java {MIN_JAVA} or newer")
    major = java_major_version(candidate)
    if major < MIN_JAVA:
        raise RuntimeError(f"{candidate} is Java {major}: the Kafka broker needs Java {MIN_JAVA} or newer")
    return candidate


def java_major_version(java: str) -> int:
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False, timeout=60)
    match = re.search(r'version "([^"]+)"', result.stderr + result.stdout)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"`{java} -version` failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    parts = match.group(1).split(".")
    major = int(re.sub(r"\D.*", "", parts[1] if parts[0] == "1" else parts[0]) or 0)  # "1.8.0_x" is 8
    return major


# ---- readiness ----------------------------------------------------------------------------------


def _metadata_brokers(host: str, port: int, timeout_s: float = 2.0) -> list[int]:
    """Node ids in a Metadata (v4, no topics) response: the broker answers requests."""
    client_id = b"expert-teams-probe"
    # request header v1: api_key, api_version, correlation_id, client_id; body: topics=[], allow_auto=false
    body = struct.pack(">hhih", 3, 4, 7, len(client_id)) + client_id + struct.pack(">ib", 0, 0)
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        data = _recv_exactly(sock, size)
    correlation_id, _throttle_ms, count = struct.unpack_from(">iii", data, 0)
    if correlation_id != 7:
        raise RuntimeError(f"metadata response for correlation id {correlation_id}, not 7")
    offset, nodes = 12, []
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", data, offset)
        offset += 6 + host_len + 4  # node_id, host, port
        (rack_len,) = struct.unpack_from(">h", data, offset)
        offset += 2 + max(rack_len, 0)
        nodes.append(node_id)
    return nodes


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _port_free(port: int) -> bool:
    """Whether a listener can bind 127.0.0.1:port (with SO_REUSEADDR, as the JVM's do)."""
    if port <= 0:
        return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _write_atomic(path: Path, text: str, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _new_cluster_id() -> str:
    """Like Kafka's Uuid.randomUuid().toString(): 22 url-safe base64 characters, not starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _log_excerpt(path: Path | None, offset: int = 0, errors: int = 15, tail: int = 25) -> str:
    """The ERROR lines written since `offset` (the cause, usually), then the last lines."""
    if path is None:
        return ""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    first_errors = [line for line in lines if " ERROR " in line or " FATAL " in line][:errors]
    parts = [*(["errors:", *first_errors, "last lines:"] if first_errors else []), *lines[-tail:]]
    return "\n".join(parts)


# ---- security -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerSecurity:
    """SASL/SCRAM-SHA-512 on the client listener (TLS too when `keystore` is given), Kafka's
    StandardAuthorizer with no access unless an ACL grants it, and the KRaft controller listener
    on SASL/PLAIN (Kafka does not take SCRAM there). The brokers replicate as `broker`, a super user
    with `controller`; `broker` and `health` (the readiness check's principal) are written into the
    storage when it is formatted, the other principals are made by `operators.bootstrap`
    (tools/stack/operators.py). The passwords reach the JVMs through files only (owner-only): the
    server.properties of the listeners, an argument file for the format step."""

    broker_password: str = field(repr=False)
    controller_password: str = field(repr=False)
    health_password: str | None = field(default=None, repr=False)
    """The healthcheck's password (None: the readiness check logs in as `broker`)."""
    keystore: Path | None = None
    """PEM file with the broker's private key and certificate chain: the listener is SASL_SSL."""
    cafile: Path | None = None
    """The CA that signed the keystore's certificate (for the launcher's own clients)."""
    reauth_ms: int = 15 * 60 * 1000
    """Connections authenticate again this often (a deleted credential ends its sessions by then;
    deleting a principal's ACLs refuses its requests at once)."""

    @property
    def protocol(self) -> str:
        return "SASL_SSL" if self.keystore is not None else "SASL_PLAINTEXT"

    def properties(self, port: int, controller_port: int) -> dict[str, str]:
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        props = {
            "listeners": f"BROKER://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"BROKER://127.0.0.1:{port}",
            "inter.broker.listener.name": "BROKER",
            "listener.security.protocol.map": f"BROKER:{self.protocol},CONTROLLER:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                f'{plain} required username="{CONTROLLER}" password="{self.controller_password}" '
                f'user_{CONTROLLER}="{self.controller_password}";'
            ),
            "listener.name.broker.scram-sha-512.sasl.jaas.config": (
                f'{scram} required username="{BROKER}" password="{self.broker_password}";'
            ),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": ";".join(f"User:{name}" for name in SUPER_USERS),
            "allow.everyone.if.no.acl.found": "false",
            "connections.max.reauth.ms": str(self.reauth_ms),
        }
        if self.keystore is not None:
            props |= {"listener.name.broker.ssl.keystore.type": "PEM"}
            props |= {"listener.name.broker.ssl.keystore.location": str(self.keystore)}
        if self.keystore is not None and self.cafile is not None:  # the broker is its own peer's client
            props |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(self.cafile)}
        return props

    def format_users(self) -> dict[str, str]:
        """The SCRAM users written into the storage when it is formatted, with their passwords."""
        users = {BROKER: self.broker_password}
        if self.health_password is not None:
            users[HEALTH] = self.health_password
        return users

    def format_arguments(self) -> list[str]:
        """`kafka-storage format`'s arguments that create those users. They hold passwords: they
        go into an owner-only argument file (`java @file`), never onto a command line."""
        arguments = []
        for user, password in self.format_users().items():
            arguments += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
        return arguments

    def secrets(self) -> list[str]:
        """Every password this broker is given (redacted from any output of its tools)."""
        return [p for p in (self.broker_password, self.controller_password, self.health_password) if p]


def redacted(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced (a tool's output may echo its arguments)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def java_argument_file(arguments: Iterable[str]) -> str:
    """The text of a JDK launcher argument file (`java @file`): one quoted argument a line."""
    quoted = (argument.replace("\\", "\\\\").replace('"', '\\"') for argument in arguments)
    return "".join(f'"{argument}"\n' for argument in quoted)


def _admin_sees_brokers(config: Mapping[str, str], timeout_s: float = 2.0) -> bool:
    """The readiness check: a Metadata request answered with the cluster's brokers (the request
    kafka-broker-api-versions.sh starts with; it needs no ACL)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**config, "socket.connection.setup.timeout.ms": 2000, "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=timeout_s).brokers)
    except Exception as exc:  # a KafkaException while the broker starts: not serving yet
        raise RuntimeError(f"the broker does not answer an authenticated client yet: {exc}") from exc


# ---- the broker ---------------------------------------------------------------------------------


@dataclass
class KafkaBroker:
    """Apache Kafka (KRaft, broker+controller in one JVM) on loopback, its state in `data_dir`.

    `port=0` reuses the client port of the last run on this data_dir when it is free (else a
    free one); the controller port likewise. The storage is formatted on the first start only."""

    data_dir: Path
    port: int = 0
    controller_port: int = 0
    heap: str = "256m"
    properties: dict[str, str] = field(default_factory=dict)
    jars_cache_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    log_level: str = "INFO"
    security: BrokerSecurity | None = None
    """Authentication and authorization (None: a PLAINTEXT listener anyone on the machine may use)."""
    cds: bool = True
    """Share a class-data archive (AppCDS) between runs: the first clean stop writes it beside the
    jars, later starts map it (about a third faster, lower RSS). The JVM checks that it matches."""
    node_id: int = 1
    quorum_voters: str | None = None
    """A node of a cluster (`tools/stack/cluster.py`): the static KRaft quorum `id@host:port,...`.
    None: a single node, its own quorum (formatted `--standalone`)."""
    replication_factor: int = 1
    """Of the internal topics and the broker's default; a cluster of three: 3, with `min_insync_replicas` 2."""
    min_insync_replicas: int = 1
    cluster_id: str | None = None
    """The cluster's id when this node is one of several (the same in every node's storage)."""
    _cds_pending: Path | None = field(default=None, repr=False)
    _log_offset: int = field(default=0, repr=False)
    _wanted_ports: tuple[int, int] | None = field(default=None, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "kraft-logs"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # ---- start ------------------------------------------------------------------------------

    def start(self, log_path: Path | None = None, timeout_s: float = 60.0) -> KafkaBroker:
        if self.running:
            return self
        deadline = self.launch(log_path, timeout_s)
        try:
            self.wait_serving(deadline, timeout_s)
        except BaseException:
            self.kill()
            raise
        return self

    def reserve_ports(self, avoid: set[int] | None = None) -> tuple[int, int]:
        """The client and controller ports this node listens on: the ones asked for, else those of
        its last run when free, else free ones (a cluster reserves every node's before writing any
        node's quorum)."""
        self.data_dir = self.data_dir.resolve()
        if self._wanted_ports is None:  # what the caller asked for (0: any), kept for restarts
            self._wanted_ports = (self.port, self.controller_port)
        wanted_port, wanted_controller_port = self._wanted_ports
        state = self._load_state()
        taken = set(avoid or ())
        self.port = self._choose_port(wanted_port, state.get("port"), avoid=taken)
        self.controller_port = self._choose_port(
            wanted_controller_port, state.get("controller_port"), avoid=taken | {self.port}
        )
        return self.port, self.controller_port

    def launch(self, log_path: Path | None = None, timeout_s: float = 60.0) -> float:
        """Format the storage on the first start, write the configs, start the JVM; returns the
        deadline by which it should serve (`wait_serving`)."""
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = (log_path or self.log_path or self.data_dir / "broker.log").resolve()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        libs = ensure_kafka_jars(self.jars_cache_dir or JARS_CACHE_DIR)
        java = find_java()
        deadline = time.monotonic() + timeout_s  # for the broker itself: Maven's first run takes longer

        if self.quorum_voters is None:
            self.reserve_ports()
        state = self._load_state()
        formatted_id = self._formatted_cluster_id()
        cluster_id = formatted_id or str(self.cluster_id or state.get("cluster_id") or _new_cluster_id())
        # the brokers' own SCRAM users are written into the storage when it is formatted; one
        # formatted before (without authentication, or with the old `admin` only) gets them now
        wanted = self.security.format_users() if self.security is not None else {}
        scram_users = set(state.get("scram_users", [])) if formatted_id else set(wanted)
        missing = {user: password for user, password in wanted.items() if user not in scram_users}
        if formatted_id and missing:
            self._add_scram_users(missing, log_path, timeout_s)
            scram_users |= set(missing)
        self._save_state(
            {
                "cluster_id": cluster_id,
                "port": self.port,
                "controller_port": self.controller_port,
                "scram_users": sorted(scram_users),
            }
        )
        config = self.data_dir / "server.properties"
        properties = "".join(f"{key}={value}\n" for key, value in self.server_properties().items())
        _write_atomic(config, properties, private=True)  # holds the listeners' own passwords
        _write_atomic(self.data_dir / "log4j2.properties", self._log4j2_config(self.log_level))
        _write_atomic(self.data_dir / "log4j2-tools.properties", self._log4j2_config("WARN"))

        classpath = f"{libs}/*"
        if not (self.log_dir / "meta.properties").exists():
            self._format(java, classpath, config, cluster_id, deadline)

        with self.log_path.open("ab") as out:
            self._log_offset = out.tell()
            self.process = subprocess.Popen(
                [
                    java,
                    *self.jvm_options(),
                    *self._cds_options(java, libs),
                    f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(config),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                preexec_fn=die_with_parent,  # the JVM must not outlive its launcher
            )
        return deadline

    def jvm_options(self) -> list[str]:
        return [f"-Xmx{self.heap}", "-Xms64m", *KAFKA_JVM_OPTS]

    def _cds_options(self, java: str, libs: Path) -> list[str]:
        if not self.cds:
            return []
        stamp = ""
        with contextlib.suppress(OSError):
            stamp = (libs.parent / "pom.sha256").read_text()
        key = hashlib.sha256(f"{os.path.realpath(java)}\n{libs}\n{stamp}".encode()).hexdigest()[:16]
        archive = libs.parent / f"cds-{key}.jsa"
        quiet = "-Xlog:cds*=error"  # (its warnings list every class it cannot archive)
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}", quiet]
        for stale in libs.parent.glob("cds-*.jsa.*.tmp"):  # left by a JVM that never stopped cleanly
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > 3600:
                    stale.unlink()
        self._cds_pending = libs.parent / f"cds-{key}.jsa.{uuid.uuid4().hex[:8]}.tmp"
        return [f"-XX:ArchiveClassesAtExit={self._cds_pending}", quiet]

    def _settle_cds(self) -> None:
        """Keep the archive a cleanly stopped JVM wrote (exit 0 or 143 after SIGTERM), else drop it."""
        pending, self._cds_pending = self._cds_pending, None
        if pending is None or self.process is None:
            return
        with contextlib.suppress(OSError):
            if self.process.returncode in (0, 128 + signal.SIGTERM) and pending.is_file():
                os.replace(pending, pending.with_name(pending.name.split(".jsa.")[0] + ".jsa"))
            else:
                pending.unlink(missing_ok=True)

    def server_properties(self) -> dict[str, str]:
        listeners = f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        replicas, min_isr = str(self.replication_factor), str(self.min_insync_replicas)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "listeners": listeners,
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": "1",
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "unclean.leader.election.enable": "false",
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            # internal topics: as many replicas as the cluster has nodes, and few partitions (fast creation)
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "share.coordinator.state.topic.num.partitions": "10",
            # nothing is deleted by age or size unless a topic says so (the project sets retention)
            "log.retention.ms": "-1",
            "log.retention.bytes": "-1",
            # the log cleaner (compacted topics) allocates this on the heap at start: 128 MiB by default
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            # a restart after a crash (SIGKILL) waits for the dead incarnation's session to expire
            "broker.session.timeout.ms": "3000",
            # a node waits this long for the quorum at its first start (slow when three JVMs and a
            # busy machine start together; Kafka's 60 s default was seen to run out)
            "initial.broker.registration.timeout.ms": "300000",
            "broker.heartbeat.interval.ms": "500",
            "num.io.threads": "4",
            "num.network.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
        }
        if self.quorum_voters is None:
            props["controller.quorum.bootstrap.servers"] = f"127.0.0.1:{self.controller_port}"
        else:
            props["controller.quorum.voters"] = self.quorum_voters
        if self.security is not None:
            props.update(self.security.properties(self.port, self.controller_port))
        props.update(self.properties)
        return props

    def _log4j2_config(self, root_level: str) -> str:
        return log4j2_config(root_level)

    def _format(self, java: str, classpath: str, config: Path, cluster_id: str, deadline: float) -> None:
        """`kafka-storage format`, its arguments (the SCRAM users' passwords among them) in an
        owner-only argument file the JDK launcher reads (`java @file`): the process's command line
        shows the file's name only. The file is deleted once the JVM has run, whatever happened,
        and the tool's output is kept (in the broker's log, and in an error) with every password
        redacted."""
        arguments = [
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(config),
            *(["--standalone"] if self.quorum_voters is None else []),
            "--ignore-formatted",
            *(self.security.format_arguments() if self.security is not None else []),
        ]
        argument_file = self.data_dir / "format.args"
        _write_atomic(argument_file, java_argument_file(arguments), private=True)
        command = [
            java,
            "-Xmx256m",
            "-XX:-UsePerfData",  # no hsperfdata file, which would hold the expanded arguments
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2-tools.properties'}",
            "-cp",
            classpath,
            f"@{argument_file}",
        ]
        secrets = self.security.secrets() if self.security is not None else []
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=False,
                timeout=max(deadline - time.monotonic(), 1.0),
                preexec_fn=die_with_parent,
            )
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"formatting the Kafka storage in {self.log_dir} timed out") from exc
        finally:
            argument_file.unlink(missing_ok=True)
        output = redacted(result.stdout + result.stderr, secrets)
        if self.log_path is not None:
            with contextlib.suppress(OSError), self.log_path.open("a") as out:
                out.write(output)
        if result.returncode != 0:
            tail = "\n".join(output.strip().splitlines()[-30:])
            shown = " ".join([*arguments[:2], "--cluster-id", cluster_id, "--config", str(config), "..."])
            raise RuntimeError(f"formatting the Kafka storage failed (exit {result.returncode}): {shown}\n{tail}")

    def wait_serving(self, deadline: float, timeout_s: float) -> None:
        assert self.process is not None
        last_error: Exception | None = None
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"kafka exited with {self.process.returncode} while starting (log: {self.log_path})\n"
                    + _log_excerpt(self.log_path, self._log_offset)
                )
            if port_open("127.0.0.1", self.port):
                try:
                    if self._serves_metadata():
                        return
                except (OSError, RuntimeError, struct.error) as exc:
                    last_error = exc
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"kafka did not serve metadata on {self.port} within {timeout_s}s"
                    f" (last error: {last_error!r}; log: {self.log_path})\n"
                    + _log_excerpt(self.log_path, self._log_offset)
                )
            time.sleep(0.1)

    def _serves_metadata(self) -> bool:
        if self.security is None:
            return bool(_metadata_brokers("127.0.0.1", self.port))
        return _admin_sees_brokers(self.health_config())

    def client_config(self, user: str, password: str) -> dict[str, str]:
        """librdkafka settings of a client that logs in to this broker as `user`."""
        config = {"bootstrap.servers": self.bootstrap_servers}
        if self.security is not None:
            config |= {
                "security.protocol": self.security.protocol,
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": user,
                "sasl.password": password,
            }
            if self.security.cafile is not None:
                config["ssl.ca.location"] = str(self.security.cafile)
        return config

    def health_config(self) -> dict[str, str]:
        """The readiness check's client: `health` (no ACL needed), else the brokers' own principal."""
        if self.security is not None and self.security.health_password is not None:
            return self.client_config(HEALTH, self.security.health_password)
        return self.broker_config()

    def broker_config(self) -> dict[str, str]:
        """The brokers' own principal, a super user: for bootstrapping the others only
        (`operators.bootstrap`); the launcher's clients act as `provisioner` and `operator`."""
        return self.client_config(BROKER, self.security.broker_password if self.security is not None else "")

    def _add_scram_users(self, users: Mapping[str, str], log_path: Path | None, timeout_s: float) -> None:
        """A storage formatted before these users existed (without authentication, or with the old
        `admin` only): start it once as it was (PLAINTEXT, no authorizer), create them, delete the
        old `admin`, stop it cleanly."""
        from .access_control import admin_client, delete_user, upsert_user

        assert self.security is not None
        security, self.security = self.security, None
        try:
            self.start(log_path=log_path, timeout_s=timeout_s)
            admin = admin_client({"bootstrap.servers": self.bootstrap_servers})
            for user, password in users.items():
                upsert_user(admin, user, password)
            for legacy in LEGACY:
                delete_user(admin, legacy)
            self.stop()
        finally:
            self.security = security
        log_note = f"added the SCRAM users {', '.join(sorted(users))} to the broker storage in {self.log_dir}\n"
        if self.log_path is not None:
            with contextlib.suppress(OSError), self.log_path.open("a") as out:
                out.write(log_note)

    # ---- state kept in data_dir ---------------------------------------------------------------

    def _load_state(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            state = json.loads((self.data_dir / "broker.json").read_text())
            if isinstance(state, dict):
                return state
        return {}

    def _formatted_cluster_id(self) -> str | None:
        """The cluster id in the storage's meta.properties, when it is formatted already."""
        with contextlib.suppress(OSError):
            for line in (self.log_dir / "meta.properties").read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "cluster.id" and value.strip():
                    return value.strip()
        return None

    def _save_state(self, state: dict[str, Any]) -> None:
        _write_atomic(self.data_dir / "broker.json", json.dumps(state, indent=2) + "\n")

    @staticmethod
    def _choose_port(given: int, remembered: object, avoid: set[int]) -> int:
        if given:
            if not _port_free(given):
                raise RuntimeError(f"port {given} on 127.0.0.1 is in use: the Kafka broker cannot listen on it")
            return given
        if isinstance(remembered, int) and remembered not in avoid and _port_free(remembered):
            return remembered
        while True:
            port = free_port()
            if port not in avoid:
                return port

    # ---- stop and faults ----------------------------------------------------------------------

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (a controlled shutdown that flushes the logs), SIGKILL after timeout_s."""
        if self.process is None or self.process.poll() is not None:
            self._settle_cds()
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGCONT)  # a paused JVM cannot handle SIGTERM
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self._settle_cds()

    def kill(self) -> None:
        """SIGKILL, as a crash would (the next start recovers the logs)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()
        self._settle_cds()

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
