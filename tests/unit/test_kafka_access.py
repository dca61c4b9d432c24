"""How a client reaches a cluster of several brokers, and what a service says when its share of
the partitions changes."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

import structlog

from shared.kafka_access import KafkaAccess
from shared.runtime.service import PartitionsLog


class TopicPartition(NamedTuple):
    topic: str
    partition: int


def test_a_clusters_comma_separated_bootstrap_servers_reach_the_clients_one_by_one() -> None:
    access = KafkaAccess("kafka-1:9092, kafka-2:9092,kafka-3:9092", "SASL_SSL", "service.funding", "secret")

    assert access.servers == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]
    assert access.aiokafka()["bootstrap_servers"] == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]
    assert access.confluent()["bootstrap.servers"] == "kafka-1:9092, kafka-2:9092,kafka-3:9092"


def test_a_service_logs_the_partitions_a_rebalance_gives_it_in_topic_order() -> None:
    assigned = {TopicPartition("matching.events", 3), TopicPartition("funding.inbound", 0)}
    with structlog.testing.capture_logs() as logs:
        asyncio.run(PartitionsLog("funding").on_partitions_assigned(assigned))

    assert logs == [
        {
            "event": "partitions assigned",
            "service": "funding",
            "partitions": "funding.inbound-0,matching.events-3",
            "count": 2,
            "log_level": "info",
        }
    ]
