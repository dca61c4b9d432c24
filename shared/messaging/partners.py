"""The key registry on Kafka: the `partners` topic (its whole history, shared.contract.partners),
read and tailed by every service (PartnerDirectory), appended to by the operator
(append_registry_record).

A service reads the topic from the beginning at start, then follows it. Before it judges events,
it makes sure it has read every registry record appended before they arrived (`catch_up`): when
its last complete read began too early for them, it reads up to the topic's end offset as it is
now. So a key registered, or revoked, before an event reached the brokers is always seen, and
the verdict is the one a rebuild reaches, which reads the history to its end first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from shared.contract.keys import SigningKey
from shared.contract.partners import KeyHistory, OperatorKeys, PartnerRecord, RegistryHead, registry_record
from shared.kafka_access import KafkaAccess

from .kafka import start_with_retry

log = structlog.get_logger("shared.messaging.partners")


class RegistryUnavailable(Exception):
    """The key registry could not be read in time (the broker does not answer)."""


CLOCK_MARGIN = timedelta(seconds=1)
"""How far a broker's clock may be ahead of this process's: a registry read that began less than
this after an event arrived is not taken to have seen every record appended before it."""


class PartnerDirectory:
    """The key registry's history as read from the `partners` topic, kept current."""

    def __init__(
        self,
        access: KafkaAccess,
        topic: str,
        operators: OperatorKeys,
        *,
        read_timeout_s: float = 30.0,
        on_change: Callable[[PartnerRecord], None] | None = None,
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
        self.history = KeyHistory(operators)
        self.ignored: list[tuple[int, str]] = []
        """(offset, why) of every record the history refused."""
        self._next_offset = 0
        self._read = asyncio.Condition()
        self._refreshing = asyncio.Lock()
        self._complete_as_of = datetime.min.replace(tzinfo=UTC)
        """When the last read up to the topic's end offset began (this process's clock)."""
        self._timeout_s = read_timeout_s
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0
        """End-offset requests made to catch up (the tests count them)."""

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
        log.info(
            "key registry read",
            topic=self.topic,
            sources=len(self.history.sources()),
            records=len(self.history.records),
            ignored=len(self.ignored),
        )
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

    def records(self) -> list[PartnerRecord]:
        """Every source's latest record (its current key, or its revocation), by source."""
        return [record for source in self.history.sources() if (record := self.history.latest(source))]

    async def catch_up(self, arrived_until: datetime, fetched_at: datetime) -> None:
        """Make sure every registry record appended before events that arrived up to
        `arrived_until` (a broker's stamp) and were fetched by `fetched_at` (this process's clock)
        has been read: by a read begun after they were fetched, or long enough after they arrived.
        Raises RegistryUnavailable when the broker does not answer."""

        def covered() -> bool:
            return self._complete_as_of >= min(fetched_at, arrived_until + CLOCK_MARGIN)

        if covered():
            return
        async with self._refreshing:
            if not covered():  # a read begun while this call waited may cover it
                await self._read_to_end()

    async def refresh(self) -> None:
        """Read up to the registry's end offset as it is now (or as a read begun after this call
        was made found it). Raises RegistryUnavailable when the broker does not answer."""
        await self.catch_up(datetime.now(UTC), datetime.now(UTC))

    async def _read_to_end(self) -> None:
        began = datetime.now(UTC)
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
        self._complete_as_of = max(self._complete_as_of, began)

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
                    try:
                        self._apply(record.key, record.value, record.offset, record.timestamp)
                    except Exception as exc:  # a record that breaks the reader must not stop it
                        self._ignore(record.offset, f"it could not be read: {type(exc).__name__}: {exc}"[:500])
                    self._next_offset = record.offset + 1
                if not batches:
                    with contextlib.suppress(Exception):
                        self._next_offset = max(self._next_offset, await self._consumer.position(self._partition))
                self._read.notify_all()

    def _apply(self, key: bytes | None, value: bytes | None, offset: int, timestamp_ms: int) -> None:
        appended_at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        try:
            record = PartnerRecord.model_validate_json(value or b"")
        except ValidationError as exc:
            self._ignore(offset, f"not a PartnerRecord v2: {str(exc)[:300]}")
            return
        if key is None or key.decode("utf-8", errors="replace") != record.source:
            self._ignore(offset, "its Kafka key is not its source")
            return
        why = self.history.apply(record, appended_at)
        if why is not None:
            self._ignore(offset, why)
            return
        log.info(
            "partner key registered" if record.active else "partner key revoked",
            source=record.source,
            principal=record.principal,
            key_id=record.key_id,
            algorithm=record.algorithm,
            sequence=record.sequence,
            changed_by=record.changed_by,
            changed_at=record.changed_at.isoformat(),
        )
        if self._on_change is not None:
            try:
                self._on_change(record)
            except Exception as exc:
                log.warning("reacting to a key registry change failed", source=record.source, error=repr(exc))

    def _ignore(self, offset: int, why: str) -> None:
        self.ignored.append((offset, why))
        log.error("key registry record ignored", topic=self.topic, offset=offset, why=why)


async def publish_partner(access: KafkaAccess, topic: str, record: PartnerRecord, *, timeout_s: float = 30.0) -> Any:
    """Write one registry record (acks=all) as it is; returns the broker's RecordMetadata."""
    producer = AIOKafkaProducer(
        **access.aiokafka(), acks="all", enable_idempotence=True, client_id="expert-teams-partner-registry"
    )
    await start_with_retry(producer.start, "partner registry writer", timeout_s=timeout_s)
    try:
        return await producer.send_and_wait(topic, record.to_json(), key=record.source.encode())
    finally:
        await producer.stop()


class RegistryConflict(Exception):
    """Another writer kept appending ahead of this one: the record could not be chained."""


async def append_registry_record(
    directory: PartnerDirectory,
    access: KafkaAccess,
    operator: SigningKey,
    *,
    source: str,
    principal: str,
    algorithm: str,
    public_key: str,
    status: Literal["active", "revoked"],
    changed_by: str,
    attempts: int = 5,
) -> PartnerRecord:
    """Append one change to the registry `directory` reads (started: read to its end), signed by
    `operator` and chained to the head as every reader sees it; read back to confirm the readers
    accept it (another writer may have appended first: then it is made again after the new head)."""
    for _ in range(attempts):
        head: RegistryHead = directory.history.head
        record = registry_record(
            head=head,
            source=source,
            principal=principal,
            algorithm=algorithm,
            public_key=public_key,
            status=status,
            changed_at=datetime.now(UTC),
            changed_by=changed_by,
            operator=operator,
        )
        await publish_partner(access, directory.topic, record)
        await directory.refresh()
        if any(accepted.digest() == record.digest() for accepted, _ in directory.history.records[-50:]):
            return record
    raise RegistryConflict(f"the registry kept changing while {source}'s record was appended; try again")
