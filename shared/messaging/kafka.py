"""Kafka clients configured from settings, and topics configured by code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    LeaderNotAvailableError,
    NodeNotReadyError,
    NotControllerError,
    RequestTimedOutError,
)
from faststream.security import BaseSecurity, SASLScram512

from shared.kafka_access import KafkaAccess, access_of
from shared.retry import until_reachable
from shared.settings import KafkaSettings
from shared.topics import TopicSpec

from . import topic_admin
from .topic_admin import TopicReport, TopicSettings

log = structlog.get_logger("shared.messaging.kafka")

NODE_UNAVAILABLE = (
    NodeNotReadyError,
    KafkaConnectionError,
    RequestTimedOutError,
    KafkaTimeoutError,
    NotControllerError,
    LeaderNotAvailableError,
)
"""What an admin request raises when the node it went to is down or was not ready, or leadership
is moving: with three brokers, one of them restarting, another node answers a moment later."""


def faststream_security(access: KafkaAccess) -> BaseSecurity | None:
    """FastStream's form of the same access (its KafkaBroker takes `security=`)."""
    if not access.sasl:
        return None
    return SASLScram512(
        str(access.username), str(access.password), ssl_context=access.ssl_context(), use_ssl=access.tls
    )


def make_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    acks: int | str = "all" if settings.acks == "all" else int(settings.acks)
    return AIOKafkaProducer(
        **settings.access.aiokafka(),
        client_id=client_id,
        acks=acks,
        enable_idempotence=settings.enable_idempotence,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
    )


def track_topic(producer: AIOKafkaProducer, topic: str) -> None:
    """Keep `topic` in the metadata the producer refreshes, before sending to it.

    aiokafka (0.14) starts a producer with the metadata of every topic and tracks none: a send
    to a topic that metadata already knows tracks nothing, and the first send to a topic created
    later (a partner's answers, onboarded while the service runs) makes that topic the only one
    the producer refreshes. The next refresh then forgets every other topic, and their records
    wait in the accumulator, without a leader, until the request timeout. Tracking every topic on
    its first use keeps them all."""
    client = getattr(producer, "client", None)  # a stand-in producer (tests) has none
    if client is not None:
        client.add_topic(topic)


async def start_with_retry(start: Callable[[], Awaitable[None]], what: str, timeout_s: float = 60.0) -> None:
    """Start a Kafka client, retrying while the broker is not reachable yet."""
    await until_reachable(start, f"broker ({what})", errors=(KafkaError, OSError), timeout_s=timeout_s, initial_s=0.1)


async def ensure_topics(
    kafka: KafkaAccess | str,
    specs: list[TopicSpec],
    *,
    prefix: str = "",
    settings: KafkaSettings | None = None,
    fix: bool = True,
    create: bool = True,
    connect_timeout_s: float = 60.0,
) -> TopicReport:
    """Create missing topics with their configs (replication, min ISR, retention from `settings`),
    report the others' drift and, with `fix`, correct it (shared.messaging.topic_admin)."""
    wanted = TopicSettings(
        replication_factor=settings.replication_factor if settings else 1,
        min_insync_replicas=settings.min_insync_replicas if settings else 1,
        retention_ms=settings.retention_ms if settings else -1,
    )
    admin = AIOKafkaAdminClient(**access_of(kafka).aiokafka(), client_id="expert-teams-admin")
    await start_with_retry(admin.start, "admin", timeout_s=connect_timeout_s)

    async def ensure() -> TopicReport:  # idempotent: a topic made by an earlier attempt is found as it is
        return await topic_admin.ensure_topics(admin, specs, prefix=prefix, settings=wanted, fix=fix, create=create)

    try:
        return await until_reachable(
            ensure, "a Kafka node (topics)", errors=NODE_UNAVAILABLE, timeout_s=connect_timeout_s, initial_s=0.2
        )
    finally:
        await admin.close()
