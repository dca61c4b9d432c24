"""Production's Kafka topology on one machine: three Apache Kafka nodes (KRaft, each broker and
controller, one JVM each) on loopback, a static quorum of the three controllers, every topic with
three replicas and `min.insync.replicas=2`, as compose and Kubernetes run it (docs/kafka.md).

The fault suites use it: a node can be killed (SIGKILL), stopped cleanly, paused (SIGSTOP: cut off
from the others while its process lives) and started again on its own storage and ports; the
active controller is asked of the quorum itself (`Admin.describeMetadataQuorum`, through Kafka's
own client in `QuorumLeader.java`, run by the JVM from source: no build step).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.kafka_access import KafkaAccess

from .embedded import die_with_parent
from .kafka import (
    JARS_CACHE_DIR,
    BrokerSecurity,
    KafkaBroker,
    _new_cluster_id,
    _write_atomic,
    ensure_kafka_jars,
    find_java,
)

QUORUM_LEADER_SOURCE = Path(__file__).with_name("QuorumLeader.java")


@dataclass
class KafkaCluster:
    data_dir: Path
    nodes: int = 3
    heap: str = "256m"
    security: BrokerSecurity | None = None
    jars_cache_dir: Path | None = None
    logs_dir: Path | None = None
    brokers: list[KafkaBroker] = field(default_factory=list)
    client: KafkaAccess | None = None
    """Whom `active_controller` asks as on an authenticating cluster: the operator (DescribeQuorum
    needs Describe on the cluster; the launcher sets it once the operator exists)."""

    @property
    def replication_factor(self) -> int:
        return min(self.nodes, 3)

    @property
    def min_insync_replicas(self) -> int:
        return 2 if self.nodes >= 3 else 1

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(b.bootstrap_servers for b in self.brokers)

    def __iter__(self) -> Iterator[KafkaBroker]:
        return iter(self.brokers)

    def node(self, node_id: int) -> KafkaBroker:
        return next(b for b in self.brokers if b.node_id == node_id)

    def start(self, timeout_s: float = 120.0) -> KafkaCluster:
        """Every node launched at once (a controller alone has no quorum), then each waited for."""
        self.data_dir = self.data_dir.resolve()
        cluster_id = self._cluster_id()
        if not self.brokers:
            self.brokers = [
                KafkaBroker(
                    self.data_dir / f"node-{n}",
                    heap=self.heap,
                    security=self.security,
                    jars_cache_dir=self.jars_cache_dir,
                    node_id=n,
                    cluster_id=cluster_id,
                    replication_factor=self.replication_factor,
                    min_insync_replicas=self.min_insync_replicas,
                    log_path=(self.logs_dir or self.data_dir) / f"kafka-{n}.log",
                )
                for n in range(1, self.nodes + 1)
            ]
            taken: set[int] = set()
            for broker in self.brokers:
                taken.update(broker.reserve_ports(taken))
            voters = ",".join(f"{b.node_id}@127.0.0.1:{b.controller_port}" for b in self.brokers)
            for broker in self.brokers:
                broker.quorum_voters = voters
        deadlines = [(b, b.launch(timeout_s=timeout_s)) for b in self.brokers if not b.running]
        try:
            for broker, deadline in deadlines:
                broker.wait_serving(deadline, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _cluster_id(self) -> str:
        path = self.data_dir / "cluster-id"
        if path.exists():
            return path.read_text().strip()
        cluster_id = _new_cluster_id()
        _write_atomic(path, cluster_id + "\n")
        return cluster_id

    def restart(self, node_id: int, timeout_s: float = 90.0) -> None:
        """Start a stopped or killed node again, on its storage and ports, and wait until it serves."""
        self.node(node_id).start(timeout_s=timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        for broker in self.brokers:
            broker.stop(timeout_s)

    def active_controller(self, timeout_s: float = 60.0) -> int:
        """The node id of the quorum's leader, as the quorum itself says (DescribeQuorum)."""
        live = next(b for b in self.brokers if b.running)
        config = self.data_dir / "quorum-client.properties"
        lines = {"bootstrap.servers": ",".join(b.bootstrap_servers for b in self.brokers if b.running)}
        lines |= {"request.timeout.ms": "10000", "default.api.timeout.ms": str(int(timeout_s * 1000))}
        if self.security is not None:
            if self.client is None or not self.client.sasl:
                raise RuntimeError("an authenticating cluster is asked as a principal: set KafkaCluster.client")
            scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
            lines |= {
                "security.protocol": self.security.protocol,
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.jaas.config": (
                    f'{scram} required username="{self.client.username}" password="{self.client.password}";'
                ),
            }
            if self.security.cafile is not None:
                lines |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(self.security.cafile)}
        # the password reaches the JVM in this owner-only file, deleted after the run
        _write_atomic(config, "".join(f"{k}={v}\n" for k, v in lines.items()), private=True)
        libs = ensure_kafka_jars(self.jars_cache_dir or JARS_CACHE_DIR)
        try:
            result = subprocess.run(
                [
                    find_java(),
                    "-Xmx128m",
                    f"-Dlog4j2.configurationFile={live.data_dir / 'log4j2-tools.properties'}",
                    "-cp",
                    f"{libs}/*",
                    str(QUORUM_LEADER_SOURCE),
                    str(config),
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout_s + 30,
                preexec_fn=die_with_parent,
            )
        finally:
            config.unlink(missing_ok=True)
        if result.returncode != 0 or not result.stdout.strip().lstrip("-").isdigit():
            raise RuntimeError(f"the quorum did not say its leader (exit {result.returncode}): {result.stderr[-2000:]}")
        return int(result.stdout.strip())

    def wait_all_in_sync(self, admin_config: dict[str, str], timeout_s: float = 120.0) -> None:
        """Until every partition has all its replicas in sync again (after a node came back)."""
        from confluent_kafka.admin import AdminClient

        config: dict[str, str | int | float | bool] = dict(admin_config)
        admin = AdminClient(config)
        deadline = time.monotonic() + timeout_s
        while True:
            metadata = admin.list_topics(timeout=10)
            behind = [
                f"{topic.topic}-{p.id}"
                for topic in metadata.topics.values()
                for p in topic.partitions.values()
                if len(p.isrs) < len(p.replicas)
            ]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(behind)} partitions still under-replicated, e.g. {behind[:5]}")
            time.sleep(0.5)
