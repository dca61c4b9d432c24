"""The key registry on Kafka: the compacted `partners` topic, read whole and tailed by every
service (PartnerDirectory), written by the operator (publish_partner).

A service reads the topic from the beginning at start, then follows it. When an event's source
has no key, or its signature does not verify, the service `refresh`es: it reads up to the
topic's end offset as it is *after* the event arrived, so a key registered before the event was
sent is always seen. Refreshes are spaced at least `min_refresh_interval_s` apart (a flood of
forged events costs one end-offset request per interval, whatever its size).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from shared.contract.partners import PartnerRecord
from shared.kafka_access import KafkaAccess

from .kafka import start_with_retry

log = structlog.get_logger("shared.messaging.partners")


class RegistryUnavailable(Exception):
    """The key registry could not be read in time (the broker does not answer)."""


class PartnerDirectory:
    """Every source's latest PartnerRecord, kept current from the `partners` topic."""

    def __init__(
        self,
        access: KafkaAccess,
        topic: str,
        *,
        min_refresh_interval_s: float = 0.2,
        read_timeout_s: float = 30.0,
    ) -> None:
        self.topic = topic
        self._partition = TopicPartition(topic, 0)
        self._consumer = AIOKafkaConsumer(
            **access.aiokafka(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            client_id="expert-teams-partner-directory",
        )
        self._records: dict[str, PartnerRecord] = {}
        self._next_offset = 0
        self._read = asyncio.Condition()
        self._refreshing = asyncio.Lock()
        self._checked_at = float("-inf")
        """When the last end-offset request was made (event loop time)."""
        self._min_interval_s = min_refresh_interval_s
        self._timeout_s = read_timeout_s
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0
        """End-offset requests made by `refresh` (the tests count them)."""

    async def start(self) -> PartnerDirectory:
        """Read the whole registry as it is now, then follow it in the background."""
        try:
            await start_with_retry(self._consumer.start, "partner directory")
            self._consumer.assign([self._partition])
            await self._consumer.seek_to_beginning(self._partition)
            self._task = asyncio.create_task(self._follow(), name=f"partner-directory-{self.topic}")
            await self._read_to_end()
        except BaseException:
            await self.stop()
            raise
        log.info("key registry read", topic=self.topic, sources=len(self._records))
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._consumer.stop()

    async def __aenter__(self) -> PartnerDirectory:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def key_for(self, source: str) -> PartnerRecord | None:
        return self._records.get(source)

    def records(self) -> list[PartnerRecord]:
        """Every source's current record (active or revoked), by source."""
        return [self._records[source] for source in sorted(self._records)]

    async def refresh(self) -> None:
        """Read up to the registry's end offset as it is now (or as a request made after this
        call began found it). Raises RegistryUnavailable when the broker does not answer."""
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        async with self._refreshing:
            if self._checked_at >= asked_at:
                return  # a request made while this call waited covers it
            wait = self._checked_at + self._min_interval_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._read_to_end()

    async def _read_to_end(self) -> None:
        loop = asyncio.get_running_loop()
        self._checked_at = loop.time()
        self.refreshes += 1
        try:
            async with asyncio.timeout(self._timeout_s):
                end = (await self._consumer.end_offsets([self._partition]))[self._partition]
                async with self._read:
                    await self._read.wait_for(lambda: self._next_offset >= end or self._task_ended())
        except TimeoutError:
            raise RegistryUnavailable(
                f"the key registry {self.topic} could not be read within {self._timeout_s:.0f} s"
            ) from None
        if self._task_ended():
            raise RegistryUnavailable(f"reading the key registry {self.topic} stopped (see the log)")

    def _task_ended(self) -> bool:
        return self._task is not None and self._task.done()

    async def _follow(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(self._partition, timeout_ms=500, max_records=1000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading the key registry failed; retrying", topic=self.topic, error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            async with self._read:
                for record in batches.get(self._partition, ()):
                    self._apply(record.key, record.value, record.offset)
                    self._next_offset = record.offset + 1
                if not batches:
                    with contextlib.suppress(Exception):
                        self._next_offset = max(self._next_offset, await self._consumer.position(self._partition))
                self._read.notify_all()

    def _apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        source = key.decode("utf-8", errors="replace") if key is not None else None
        if value is None:
            if source is not None and self._records.pop(source, None) is not None:
                log.warning("a source's key was deleted from the key registry", source=source, offset=offset)
            return
        try:
            record = PartnerRecord.model_validate_json(value)
        except ValidationError as exc:
            log.error(
                "unreadable record in the key registry ignored", topic=self.topic, offset=offset, error=str(exc)[:500]
            )
            return
        if record.source != source:
            log.error(
                "key registry record ignored: its Kafka key is not its source",
                topic=self.topic,
                offset=offset,
                key=source,
                source=record.source,
            )
            return
        previous = self._records.get(record.source)
        self._records[record.source] = record
        if previous is None or previous.status != record.status or previous.public_key != record.public_key:
            log.info(
                "partner key registered" if record.active else "partner key revoked",
                source=record.source,
                principal=record.principal,
                changed_by=record.changed_by,
                changed_at=record.changed_at.isoformat(),
            )


async def publish_partner(access: KafkaAccess, topic: str, record: PartnerRecord, *, timeout_s: float = 30.0) -> Any:
    """Write one registry record (acks=all); returns the broker's RecordMetadata."""
    producer = AIOKafkaProducer(
        **access.aiokafka(), acks="all", enable_idempotence=True, client_id="expert-teams-partner-registry"
    )
    await start_with_retry(producer.start, "partner registry writer", timeout_s=timeout_s)
    try:
        return await producer.send_and_wait(topic, record.to_json(), key=record.source.encode())
    finally:
        await producer.stop()
