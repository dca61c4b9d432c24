"""Runtime settings of a service process, read from the environment once, at start; missing or
invalid ones fail fast. Nothing below the runtime reads the environment: what a handler needs
(the programme policy, the service's own settings) is handed to it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contract.partners import OperatorKeys
from shared.kafka_access import KafkaAccess, SecurityProtocol
from shared.policy import ProgrammePolicy


class KafkaSettings(BaseSettings):
    """How to reach the broker, and how the programme's topics are configured (docs/kafka.md)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    """`KAFKA_SECURITY_PROTOCOL`: SASL_PLAINTEXT or SASL_SSL (SCRAM-SHA-512, TLS with SASL_SSL);
    PLAINTEXT only for a broker without authentication (docs/kafka.md, Security)."""
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    """`KAFKA_SASL_PASSWORD`: from a Kubernetes Secret or the embedded stack's `.data/security`; never logged."""
    ssl_cafile: Path | None = None
    """`KAFKA_SSL_CAFILE`: PEM of the CA that signed the brokers' certificates (SASL_SSL)."""
    manage_topics: bool = True
    """`KAFKA_MANAGE_TOPICS`: the service creates missing topics and corrects their configs at
    start. Off where its principal may not (an authorizing broker): it only checks that they exist."""
    topic_prefix: str = ""
    """Prepended to every topic name, so that several environments can share a cluster."""
    enable_idempotence: bool = True
    """Idempotent producer (with acks=all): the broker refuses duplicates and reordering of a
    producer's retried batches; the outbox relay relies on it for per-key order."""
    acks: Literal["all", "1", "0"] = "all"
    linger_ms: int = 2
    request_timeout_ms: int = 30_000
    fetch_max_wait_ms: int = 100
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    """A consumer that has not fetched for this long leaves its group and its partitions move to the
    service's other replicas (the fault suites shorten it to see that happen)."""
    metadata_max_age_ms: int = 5_000
    """How often the services' consumers refresh the cluster's metadata: a new partner's inbound
    topic is joined within this at the latest (at once when its key is registered)."""
    max_poll_records: int = 500
    batch_timeout_ms: int = 500
    """How long an idle consumer waits in one fetch for records; the first record to arrive ends the
    wait (shared/runtime/fetching.py), so this sets how often an idle service wakes, not how long an
    event waits."""
    partitions: int = 6
    replication_factor: int = 1
    """Of every topic created; compose and Kubernetes run three brokers with 3."""
    min_insync_replicas: int = 1
    """Replicas that must have a write before it is acknowledged (acks=all); 2 of 3 in production."""
    retention_ms: int = -1
    """How long every topic keeps its records; -1 (forever): the topics are the programme's audit
    trail and the input of a rebuild."""
    group_suffix: str = ""
    """Appended to each service's consumer group: a new suffix makes a service re-read every
    topic from the beginning (a full replay; the inbox turns it into no-ops)."""

    @model_validator(mode="after")
    def _access_works(self) -> KafkaSettings:
        self.access  # noqa: B018 (fails fast, at start, on settings that cannot connect)
        return self

    @property
    def access(self) -> KafkaAccess:
        password = self.sasl_password.get_secret_value() if self.sasl_password else None
        return KafkaAccess(
            self.bootstrap_servers, self.security_protocol, self.sasl_username, password, self.ssl_cafile
        )


class ServiceSettings(BaseSettings):
    """Everything one service process reads from its environment."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(description="PostgreSQL URL of this service's own database")
    database_create_if_missing: bool = True
    database_pool_min: int = 1
    database_pool_max: int = 8
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    service_instance: str | None = None
    """`SERVICE_INSTANCE`: which of the service's replicas this process is (e.g. the pod's name),
    in every log line; one consumer group and one database are shared by all of them."""
    handler_max_attempts: int = 3
    """Attempts of a handler that raises an unexpected error before its event is dead-lettered."""
    handler_retry_backoff_s: float = 0.2
    transient_retry_max_backoff_s: float = 10.0
    """Longest wait between redeliveries while the database or broker is unreachable."""
    redeliveries_before_distrust: int = 5
    """A batch that failed this many times in a row with a database error while the database
    answers is then processed record by record, each record's error its own (dead-lettered)."""
    repeated_error_log_interval_s: float = 30.0
    """A repeating error is logged at most once per this interval (with the count held back)."""
    stall_after_s: float = 120.0
    """A partition with records waiting and none applied for this long is reported stalled
    (log line, /health/ready)."""
    outbox_max_age_s: float = 120.0
    """An outbox whose oldest unpublished row is older than this is reported (log, /health/ready)."""
    progress_check_interval_s: float = 5.0
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 1.0
    """Fallback poll of the outbox when no NOTIFY arrives (e.g. the listener reconnects)."""
    shutdown_grace_s: float = 15.0
    timers_enabled: bool = True
    timers_every_s: float | None = Field(default=None, gt=0)
    """`TIMERS_EVERY_S`: run every timer this often instead of its own interval. For stacks whose
    programme clock a scenario drives (a month passes in a second there), never needed in production."""
    clock_file: Path | None = None
    """`CLOCK_FILE`, for the demo and the tests only, never in production: the programme's date is
    read from this file, which a scenario sets as it plays the calendar (shared.clock.DrivenClock);
    without the file, the system clock. The service logs a warning at start when it is set."""
    metrics_enabled: bool = True
    """`METRICS_ENABLED`: count and time the pipeline for /metrics (off, /metrics answers 404 and
    nothing is counted; the benchmarks measure the difference). Traces are switched by the
    standard OTEL_TRACES_EXPORTER (shared/tracing.py)."""
    """Run the service's scheduled work (tests with a fixed clock turn it off and trigger it)."""
    authorized_sources: dict[str, list[str]] | None = None
    """`AUTHORIZED_SOURCES`: JSON object of event type -> source patterns, replacing the contract
    registry's senders of those types (docs/contract/README.md)."""
    signatures_required: bool = True
    """`SIGNATURES_REQUIRED`: every event on the service's inbound topic must be signed by its
    source with the key registered on the `partners` topic (docs/contract/README.md, "Signing your
    events"). Never off in production: without it any client that may write an inbound topic can
    claim any source. It exists only so that a benchmark can measure what verification costs."""
    operator_public_keys: str = ""
    """`OPERATOR_PUBLIC_KEYS`: the operator's public keys, the trust anchor of the key registry and
    of replays (`Ed25519:<base64url key>`, several separated by commas while the operator's key is
    rotated). Required when signatures are: a registry record or replay marker that none of these
    keys signed is ignored. `expert-teams operator-key` prints the operator's."""
    faults: str = Field(default="", validation_alias="EXPERT_TEAMS_FAULTS")
    """Crash points armed for fault tests (shared/faults.py); empty in production."""
    faults_log: Path | None = Field(default=None, validation_alias="EXPERT_TEAMS_FAULTS_LOG")
    """Where a crash point that fires records it before the process dies (the fault suites read it back)."""
    rebuild: bool = False
    """Rebuild this service's state from its input topics into an empty database (with a new
    KAFKA_GROUP_SUFFIX, so that every topic is read from the beginning): every event is applied
    and recorded in the inbox as usual, nothing is emitted (what it caused is already on the
    topics), timers do not run, and the log has one line per batch. See docs/messaging.md."""

    @model_validator(mode="after")
    def _operator_keys_read(self) -> ServiceSettings:
        self.operators()  # a malformed key fails here, at start
        return self

    def operators(self) -> OperatorKeys:
        return OperatorKeys.parse(self.operator_public_keys)


class PolicySettings(ProgrammePolicy, BaseSettings):
    """The programme policy with its `POLICY_<NAME>` overrides (shared/policy.py)."""

    model_config = SettingsConfigDict(env_prefix="POLICY_", extra="ignore", frozen=True)


def load_policy() -> ProgrammePolicy:
    """The programme policy of this process: DOMAIN.md's defaults and the environment's overrides."""
    return ProgrammePolicy.model_validate(PolicySettings().model_dump())
