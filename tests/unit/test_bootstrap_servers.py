"""A broker list (compose's three brokers, any production cluster) reaches FastStream as one
address each: FastStream takes a string as a single address, so "kafka-1:9092,kafka-2:9092"
would be looked up as one host name and no service would ever connect."""

from __future__ import annotations

from services.catalog import DEFINITIONS
from shared.runtime.service import ServiceRuntime
from shared.settings import KafkaSettings, ServiceSettings

BROKERS = "kafka-1:9092, kafka-2:9092,kafka-3:9092"


def test_the_bootstrap_servers_setting_is_read_as_one_address_per_broker() -> None:
    settings = KafkaSettings(bootstrap_servers=BROKERS)
    assert settings.bootstrap_server_list == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]
    assert KafkaSettings(bootstrap_servers="127.0.0.1:9092").bootstrap_server_list == ["127.0.0.1:9092"]


def test_a_service_gives_its_kafka_client_every_broker_of_the_list() -> None:
    runtime = ServiceRuntime(
        DEFINITIONS[0],
        ServiceSettings(database_url="postgresql://expert@db/expert_teams_orders"),
        KafkaSettings(bootstrap_servers=BROKERS),
    )
    assert runtime.broker._connection_kwargs["bootstrap_servers"] == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]
