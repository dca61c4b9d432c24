"""Kafka clients configured from settings, and explicit topic creation."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.settings import KafkaSettings
from shared.topics import TopicSpec, with_prefix

log = structlog.get_logger("shared.messaging.kafka")


def make_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    acks: int | str = "all" if settings.acks == "all" else int(settings.acks)
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks=acks,
        enable_idempotence=settings.enable_idempotence,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
    )


async def start_with_retry(start: object, what: str, timeout_s: float = 60.0) -> None:
    """Start a Kafka client, retrying while the broker is not reachable yet."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    delay = 0.1
    while True:
        try:
            await start()  # type: ignore[operator]
            return
        except (KafkaError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.info("broker not reachable yet; retrying", client=what, error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def ensure_topics(
    bootstrap_servers: str, specs: list[TopicSpec], *, prefix: str = "", replication_factor: int = 1
) -> list[str]:
    """Create missing topics with explicit partition counts; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="expert-teams-admin")
    await start_with_retry(admin.start, "admin")
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if with_prefix(prefix, s.name) not in existing]
        created: list[str] = []
        if missing:
            new = [
                NewTopic(
                    with_prefix(prefix, s.name),
                    num_partitions=s.partitions,
                    replication_factor=replication_factor,
                )
                for s in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile by another starter
                await admin.create_topics(new)
            created = [t.name for t in new]
        return created
    finally:
        await admin.close()
