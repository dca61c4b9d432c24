"""The service's Prometheus metrics (served on /metrics beside the health routes), in one
registry per service runtime. FastStream's Prometheus middleware adds its own
`faststream_*` series for the broker's messages; these say what the programme's pipeline did."""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from shared.messaging.outcomes import Outcome

from .watch import Partition

SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        self.records = Counter(
            "expert_teams_records",
            "Records consumed, by event type and what became of them "
            "(applied, duplicate, ignored, rejected, dead_lettered) and the reason of a refusal",
            ["service", "event_type", "outcome", "reason"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "expert_teams_batch_seconds",
            "Time to apply one fetched batch",
            ["service"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "expert_teams_handler_seconds",
            "Time a handler took for one event",
            ["service", "event_type"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "expert_teams_consumer_lag_records",
            "Records on a partition not yet applied (high watermark minus the next offset to apply)",
            ["service", "topic", "partition"],
            registry=self.registry,
        )
        self.partitions_stalled = Gauge(
            "expert_teams_partitions_stalled",
            "Partitions with records waiting and none applied for longer than STALL_AFTER_S",
            ["service"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "expert_teams_outbox_backlog_rows", "Outbox rows not yet published", ["service"], registry=self.registry
        )
        self.outbox_oldest_age = Gauge(
            "expert_teams_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none)",
            ["service"],
            registry=self.registry,
        )
        self.relay_publish_seconds = Histogram(
            "expert_teams_relay_publish_seconds",
            "Time from sending an outbox batch to the broker's acknowledgement of all of it",
            ["service"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.relay_published = Counter(
            "expert_teams_relay_published_rows", "Outbox rows published", ["service"], registry=self.registry
        )
        self.events_published = Counter(
            "expert_teams_events_published",
            "Events this service emitted that the broker acknowledged, by event type "
            '(dead letters and rejections to senders are counted under their own types; a dead letter is "")',
            ["service", "event_type"],
            registry=self.registry,
        )
        self.timer_runs = Counter(
            "expert_teams_timer_runs",
            "Runs of the service's timers, by outcome",
            ["service", "timer", "outcome"],
            registry=self.registry,
        )
        self.ready = Gauge("expert_teams_ready", "1 when /health/ready says ready", ["service"], registry=self.registry)

    # ---- the consumer (shared.messaging.outcomes.ConsumerObserver) ----------------------------

    def batch_done(self, outcomes: Sequence[Outcome], seconds: float) -> None:
        self.batch_seconds.labels(self.service).observe(seconds)
        for outcome in outcomes:
            letter = outcome.letter
            reason = (letter.rule or letter.reason) if letter is not None else ""
            event_type = outcome.envelope.type if outcome.envelope is not None else ""
            self.records.labels(self.service, event_type, outcome.kind, reason).inc()

    def handled(self, event_type: str, seconds: float) -> None:
        self.handler_seconds.labels(self.service, event_type).observe(seconds)

    # ---- the relay, the watch, the timers -----------------------------------------------------

    def published(self, event_types: Sequence[str], seconds: float) -> None:
        self.relay_publish_seconds.labels(self.service).observe(seconds)
        self.relay_published.labels(self.service).inc(len(event_types))
        for event_type, rows in collections.Counter(event_types).items():
            self.events_published.labels(self.service, event_type).inc(rows)

    def progress(self, lag: Mapping[Partition, int], stalled: int) -> None:
        self.consumer_lag.clear()
        for partition, records in lag.items():
            self.consumer_lag.labels(self.service, partition.topic, str(partition.partition)).set(records)
        self.partitions_stalled.labels(self.service).set(stalled)

    def outbox(self, backlog: int, oldest_age_s: float) -> None:
        self.outbox_backlog.labels(self.service).set(backlog)
        self.outbox_oldest_age.labels(self.service).set(oldest_age_s)

    def timer_ran(self, timer: str, outcome: str) -> None:
        self.timer_runs.labels(self.service, timer, outcome).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
