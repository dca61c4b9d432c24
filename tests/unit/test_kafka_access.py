"""How a client reaches a cluster of several brokers, and what a service says when its share of
the partitions changes."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

import structlog

from services.catalog import DEFINITIONS
from shared.kafka_access import KafkaAccess
from shared.runtime.service import PartitionsLog, ServiceRuntime
from shared.settings import KafkaSettings, ServiceSettings


class TopicPartition(NamedTuple):
    topic: str
    partition: int


def test_a_clusters_comma_separated_bootstrap_servers_reach_the_clients_one_by_one() -> None:
    access = KafkaAccess("kafka-1:9092, kafka-2:9092,kafka-3:9092", "SASL_SSL", "service.funding", "secret")

    assert access.servers == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]
    assert access.aiokafka()["bootstrap_servers"] == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]
    assert access.confluent()["bootstrap.servers"] == "kafka-1:9092, kafka-2:9092,kafka-3:9092"


def test_a_service_gives_its_kafka_client_every_broker_of_the_list() -> None:
    """FastStream takes a string as one address: "kafka-1:9092,kafka-2:9092" would be looked up
    as one host name and no service of compose or Kubernetes would ever connect."""
    runtime = ServiceRuntime(
        DEFINITIONS[0],
        ServiceSettings(database_url="postgresql://expert@db/expert_teams_orders"),
        KafkaSettings(bootstrap_servers="kafka-1:9092, kafka-2:9092,kafka-3:9092"),
    )
    assert runtime.broker._connection_kwargs["bootstrap_servers"] == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]


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
