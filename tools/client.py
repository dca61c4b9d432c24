"""A partner-side client: what a county system, the bureau's portal, the demo and the tests
use to send CloudEvents to the programme and to watch what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.clock import Clock, SystemClock
from shared.contract.envelope import (
    STRUCTURED_CONTENT_TYPE,
    Envelope,
    EnvelopeError,
    new_envelope,
    parse_record,
    rfc3339,
)
from shared.contract.events.base import EventData
from shared.contract.partners import principal_of
from shared.contract.registry import REGISTRY
from shared.contract.signing import sign_record
from shared.kafka_access import KafkaAccess, access_of
from shared.messaging import transport
from shared.messaging.kafka import start_with_retry, track_topic
from shared.topics import ANSWERS, answers, inbound, partner_inbound, split_inbound, with_prefix
from tools.keyring import Keyring, Operator, Registry, enrol


def envelope_for(
    data: EventData,
    *,
    source: str,
    time: datetime,
    correlation_id: str | None = None,
    event_id: str | None = None,
    trace: Mapping[str, str] | None = None,
) -> Envelope:
    """`trace`: the sender's W3C trace context (`traceparent`, `tracestate`), carried in the
    CloudEvents distributed-tracing extension."""
    spec = REGISTRY.for_model(type(data))
    return new_envelope(
        source=source,
        type=spec.type,
        subject=data.subject(),
        data=data.model_dump(mode="json"),
        time=time,
        correlation_id=correlation_id,
        event_id=event_id,
        dataschema=spec.dataschema,
        extensions=trace,
    )


def structured_headers(envelope: Envelope) -> list[tuple[str, bytes]]:
    """CloudEvents structured content mode; the trace context also as the `traceparent` header."""
    headers = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]
    if traceparent := envelope.extensions.get("traceparent"):
        headers.append(("traceparent", traceparent.encode()))
    return headers


def binary_headers(envelope: Envelope) -> list[tuple[str, bytes]]:
    """CloudEvents binary content mode: attributes as `ce_*` headers (the same text as in
    structured mode, so that one signature fits both)."""
    headers = [("content-type", b"application/json")]
    for name, value in envelope.to_attributes().items():
        if name == "datacontenttype":
            continue
        text = rfc3339(value) if isinstance(value, datetime) else str(value)
        headers.append((f"ce_{name}", text.encode()))
    return headers


async def partner_topics_on_broker(
    kafka: KafkaAccess | str, prefix: str = "", *, connect_timeout_s: float = 60.0
) -> list[str]:
    """Every partner's inbound and answers topic the broker has in this environment (prefixed names)."""
    admin = AIOKafkaAdminClient(**access_of(kafka).aiokafka(), client_id="expert-teams-topics")
    await start_with_retry(admin.start, "admin (topics)", timeout_s=connect_timeout_s)
    try:
        names = await admin.list_topics()
    finally:
        await admin.close()
    answers_prefix = with_prefix(prefix, f"{ANSWERS}.")
    return sorted(n for n in names if split_inbound(n, prefix) is not None or n.startswith(answers_prefix))


async def wait_until_consumed(
    kafka: KafkaAccess | str, group: str, records: Sequence[Observed], *, timeout_s: float = 60.0
) -> None:
    """Until consumer `group` has committed past every one of `records` (its committed offsets).
    A broker that is down, or a coordinator moving, is asked again until the timeout (a fault
    suite asks while it kills brokers)."""
    ends: dict[TopicPartition, int] = {}
    for o in records:
        tp = TopicPartition(o.topic, o.partition)
        ends[tp] = max(ends.get(tp, 0), o.offset + 1)
    if not ends:
        return
    admin = AIOKafkaAdminClient(**access_of(kafka).aiokafka())
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
            except KafkaError as exc:
                if not exc.retriable:
                    raise
                behind, last = list(ends), f"; last answer {exc!r}"
            else:
                behind = [tp for tp, end in ends.items() if committed.get(tp) is None or committed[tp].offset < end]
                last = ""
            if not behind:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"consumer group {group} did not get past {behind[:3]} within {timeout_s}s{last}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


class ProgrammeClient:
    def __init__(
        self,
        kafka: KafkaAccess | str,
        *,
        topic_prefix: str = "",
        enable_idempotence: bool = True,
        clock: Clock | None = None,
        connect_timeout_s: float = 60.0,
        keyring: Keyring | None = None,
        enrol: bool = False,
        operator: Operator | None = None,
    ) -> None:
        """`keyring`: the private keys events to inbound topics are signed with (without one they
        go unsigned, and the services refuse them). `enrol` (with the `operator`'s key): before a
        source's first event, open its topics and register its public key on the `partners` topic
        (the key is made if the keyring has none): for clients that act as the operator too, as
        the demo and the tests do.

        Events go to their sender's own inbound topic (`<service>.inbound.<principal>`, the
        principal by convention from the source): this client writes as that principal, or as the
        operator who may write every topic."""
        self.keyring = keyring
        self.operator = operator
        if enrol and keyring is not None and operator is None:
            raise ValueError("enrolling sources needs the operator's signing key (operator=)")
        self.enrol_sources = enrol and keyring is not None
        self.topic_prefix = topic_prefix
        self.connect_timeout_s = connect_timeout_s
        """How long `start` waits for the broker before raising the last connection error."""
        self.kafka = access_of(kafka)
        self.clock = clock or SystemClock()
        self.sent_at: dict[str, int] = {}
        """When each event this client sent reached the broker (its RecordMetadata timestamp, ms), by id."""
        self._producer = AIOKafkaProducer(
            **self.kafka.aiokafka(),
            client_id="expert-teams-client",
            acks="all",
            enable_idempotence=enable_idempotence,
            linger_ms=0,
        )

    async def start(self) -> ProgrammeClient:
        try:
            await start_with_retry(self._producer.start, "client producer", timeout_s=self.connect_timeout_s)
        except BaseException:
            await self._producer.stop()
            raise
        return self

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> ProgrammeClient:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def topic(self, logical: str) -> str:
        return with_prefix(self.topic_prefix, logical)

    def topic_of(self, event_type: str, source: str) -> str:
        """Where `source` sends an event of this type: its own inbound topic of the type's service."""
        logical = REGISTRY[event_type].topic
        service = logical.removesuffix(".inbound")
        if logical == inbound(service):
            return self.topic(partner_inbound(service, principal_of(source)))
        return self.topic(logical)

    def answers_topic(self, source: str) -> str:
        """Where the answers to `source`'s refused events go (its principal's, by convention)."""
        return self.topic(answers(principal_of(source)))

    @property
    def registry(self) -> Registry:
        assert self.operator is not None, "the registry is changed by the operator"
        return Registry(self.kafka, self.topic_prefix, self.operator)

    async def send(
        self,
        data: EventData,
        *,
        source: str,
        correlation_id: str | None = None,
        event_id: str | None = None,
        binary: bool = False,
        trace: Mapping[str, str] | None = None,
    ) -> Envelope:
        """Send one event as `source`, to the topic the registry names for its type."""
        envelope = envelope_for(
            data, source=source, time=self.clock.now(), correlation_id=correlation_id, event_id=event_id, trace=trace
        )
        await self.send_envelope(envelope, binary=binary)
        return envelope

    async def send_many(
        self, items: Iterable[tuple[EventData, str]], *, traces: Sequence[Mapping[str, str] | None] | None = None
    ) -> list[Envelope]:
        """Send many (data, source) pairs at once: handed to the producer together, then awaited
        (`traces`: each item's trace context, in the same order)."""
        envelopes, futures = [], []
        for index, (data, source) in enumerate(items):
            trace = traces[index] if traces is not None else None
            envelope = envelope_for(data, source=source, time=self.clock.now(), trace=trace)
            topic = self.topic_of(envelope.type, envelope.source)
            value, headers = await self.signed(
                topic, envelope.source, envelope.to_structured_json(), structured_headers(envelope)
            )
            track_topic(self._producer, topic)
            futures.append(await self._producer.send(topic, value, key=envelope.subject.encode(), headers=headers))
            envelopes.append(envelope)
        for envelope, metadata in zip(envelopes, await asyncio.gather(*futures), strict=True):
            self.sent_at[envelope.id] = metadata.timestamp
        return envelopes

    async def send_envelope(self, envelope: Envelope, *, topic: str | None = None, binary: bool = False) -> Any:
        """`topic`: a logical topic name (the prefix is added); by default the sender's own topic
        of the type's service."""
        if topic is None:
            if REGISTRY.get(envelope.type) is None:
                raise ValueError(f"unknown event type {envelope.type}; give the topic explicitly")
            target = self.topic_of(envelope.type, envelope.source)
        else:
            target = self.topic(topic)
        if binary:
            import json

            value = json.dumps(dict(envelope.data), ensure_ascii=False).encode()
            headers = binary_headers(envelope)
        else:
            value = envelope.to_structured_json()
            headers = structured_headers(envelope)
        value, headers = await self.signed(target, envelope.source, value, headers)
        metadata = await self.send_raw(target, value, key=envelope.subject.encode(), headers=headers)
        self.sent_at[envelope.id] = metadata.timestamp
        return metadata

    async def signed(
        self, topic: str, source: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> tuple[bytes, list[tuple[str, bytes]]]:
        """The record signed with the source's key when it goes to an inbound topic and this
        client has a keyring (the other topics are protected by the broker's ACLs)."""
        if self.keyring is None or split_inbound(topic, self.topic_prefix) is None:
            return value, headers
        if self.enrol_sources:
            await self.enrol(source)
        return sign_record(value, headers, self.keyring[source])

    async def enrol(self, source: str, algorithm: str = "Ed25519") -> None:
        """Open the source's topics and register its public key (made if the keyring has none),
        once per broker and topic prefix; acknowledged by every replica before the source's first
        event is sent."""
        assert self.keyring is not None, "enrolling needs a keyring"
        registered = (self.kafka.bootstrap_servers, self.topic_prefix, source)
        if registered in self.keyring.enrolled:
            return
        await enrol(self.registry, source, self.keyring, algorithm=algorithm)

    async def send_raw(
        self, topic: str, value: bytes | None, *, key: bytes | None = None, headers: Iterable[tuple[str, bytes]] = ()
    ) -> Any:
        """Send bytes as they are; returns the broker's RecordMetadata (partition, offset)."""
        track_topic(self._producer, topic)
        return await self._producer.send_and_wait(topic, value, key=key, headers=list(headers))


@dataclass(frozen=True, slots=True)
class Observed:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int
    seen_at: float
    envelope: Envelope | None

    @property
    def type(self) -> str | None:
        return self.envelope.type if self.envelope else None

    @property
    def subject(self) -> str | None:
        return self.envelope.subject if self.envelope else None

    @property
    def source(self) -> str | None:
        return self.envelope.source if self.envelope else None

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.envelope.data) if self.envelope else {}

    @property
    def identity(self) -> tuple[str, ...]:
        """The same message published twice has the same identity: a dead letter by its origin,
        an event by (source, id), anything else by its position."""
        origin = self.header("dlt.origin.topic")
        if origin is not None:
            return ("dlt", origin, self.header("dlt.origin.partition") or "", self.header("dlt.origin.offset") or "")
        if self.envelope is not None:
            return ("event", self.envelope.source, self.envelope.id)
        return ("record", self.topic, str(self.partition), str(self.offset))

    def header(self, name: str) -> str | None:
        found = None
        for header, value in self.headers:
            if header == name:
                found = value.decode("utf-8", errors="replace")
        return found


def about(subject: str, event_type: str) -> Callable[[Observed], bool]:
    """A predicate for TopicObserver: the events of one type about one business key."""

    def match(o: Observed) -> bool:
        return o.subject == subject and o.type == event_type

    return match


class TopicObserver:
    """Reads topics from the beginning without a consumer group and keeps what it saw."""

    def __init__(
        self,
        kafka: KafkaAccess | str,
        topics: Iterable[str],
        *,
        fetch_max_wait_ms: int = 20,
        connect_timeout_s: float = 60.0,
    ) -> None:
        self._topics = list(topics)
        self._connect_timeout_s = connect_timeout_s
        transport.install()  # inbound topics may hold header names that are not UTF-8
        self._consumer = AIOKafkaConsumer(
            **access_of(kafka).aiokafka(),
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=fetch_max_wait_ms,
            client_id="expert-teams-observer",
        )
        self.seen: list[Observed] = []
        self.by_causation: dict[str, list[Observed]] = {}
        self.by_type: dict[str, list[Observed]] = {}
        self.distinct: list[Observed] = []
        """What was seen, each message once: an at-least-once relay may publish a message again."""
        self._distinct_keys: set[tuple[str, ...]] = set()
        self._distinct_by_type: dict[str, list[Observed]] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._next: dict[TopicPartition, int] = {}
        """Per partition, the offset after the last record seen."""

    async def start(self) -> TopicObserver:
        try:
            await start_with_retry(self._consumer.start, "observer", timeout_s=self._connect_timeout_s)
        except BaseException:
            await self._consumer.stop()
            raise
        partitions = []
        for topic in self._topics:
            for partition in sorted(self._consumer.partitions_for_topic(topic) or await self._partitions(topic)):
                partitions.append(TopicPartition(topic, partition))
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._run(), name="topic-observer")
        return self

    async def _partitions(self, topic: str) -> set[int]:
        for _ in range(50):
            await self._consumer._client.force_metadata_update()
            found = self._consumer.partitions_for_topic(topic)
            if found:
                return set(found)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {topic} does not exist")

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=1000)
            if not batches:
                continue
            now = time.monotonic()
            async with self._changed:
                for records in batches.values():
                    for r in records:
                        headers = tuple((h, v or b"") for h, v in (r.headers or ()))
                        envelope = None
                        with contextlib.suppress(EnvelopeError):
                            envelope = parse_record(r.value, headers, r.key)
                        observed = Observed(
                            r.topic, r.partition, r.offset, r.key, r.value, headers, r.timestamp, now, envelope
                        )
                        self.seen.append(observed)
                        self._next[TopicPartition(r.topic, r.partition)] = r.offset + 1
                        if observed.identity not in self._distinct_keys:
                            self._distinct_keys.add(observed.identity)
                            self.distinct.append(observed)
                            if envelope is not None:
                                self._distinct_by_type.setdefault(envelope.type, []).append(observed)
                        if envelope is not None:
                            self.by_type.setdefault(envelope.type, []).append(observed)
                            if envelope.causation_id:
                                self.by_causation.setdefault(envelope.causation_id, []).append(observed)
                self._changed.notify_all()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        try:
            await self._consumer.stop()
        except asyncio.CancelledError:
            # A fetch that timed out while this loop was not running (a sync test between async
            # ones) surfaces as a cancellation from aiokafka's stop; only a real one is passed on.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
        except Exception:
            pass  # a watcher whose connection broke has nothing left to release

    async def __aenter__(self) -> TopicObserver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def matching(self, predicate: Callable[[Observed], bool]) -> list[Observed]:
        return [o for o in self.seen if predicate(o)]

    async def wait_for(
        self, predicate: Callable[[Observed], bool], *, count: int = 1, timeout_s: float = 20.0
    ) -> list[Observed]:
        """Wait until at least `count` observed messages match; return them all."""

        def enough() -> bool:
            return len(self.matching(predicate)) >= count

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(enough), timeout=timeout_s)
            except TimeoutError:
                found = len(self.matching(predicate))
                raise TimeoutError(f"saw {found} of {count} expected messages within {timeout_s}s") from None
        return self.matching(predicate)

    async def wait_until(self, condition: Callable[[], bool], *, timeout_s: float = 60.0) -> None:
        """Wait until `condition()` holds (checked whenever new records arrive); use the indexes
        (`by_causation`, `by_type`) to keep it cheap with many events."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(condition), timeout=timeout_s)

    def distinct_of_type(self, event_type: str) -> list[Observed]:
        """Events of a type, each once (a relay that crashed after publishing publishes again)."""
        return self._distinct_by_type.get(event_type, [])

    def answers_to(self, event_id: str) -> list[Observed]:
        """Everything emitted because of the event `event_id` (its causationid)."""
        return self.by_causation.get(event_id, [])

    async def all_parts(self, event_id: str, event_type: str, *, timeout_s: float = 60.0) -> list[Observed]:
        """Every part (`part` 1..`parts` in its data) of an answer sent in parts, e.g. a large
        call's AssignmentRecommended, in part order; each part once."""

        def parts() -> dict[int, Observed]:
            found: dict[int, Observed] = {}
            for o in self.answers_to(event_id):
                if o.type == event_type:
                    found.setdefault(int(o.data.get("part", 1)), o)
            return found

        def complete() -> bool:
            found = parts()
            return bool(found) and len(found) >= int(next(iter(found.values())).data.get("parts", 1))

        await self.wait_until(complete, timeout_s=timeout_s)
        return [o for _, o in sorted(parts().items())]

    async def read_to_end(self, *, timeout_s: float = 60.0) -> None:
        """Until every record that was on the topics when this was called has been seen (each
        partition read up to its high watermark at that moment)."""
        partitions = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(partitions)
        starts = await self._consumer.beginning_offsets(partitions)

        def read() -> bool:
            return all(self._next.get(tp, starts[tp]) >= end for tp, end in ends.items())

        await self.wait_until(read, timeout_s=timeout_s)

    async def settle(self, quiet_s: float = 0.5) -> None:
        """Wait until nothing new arrived for `quiet_s` (to prove that something did NOT happen)."""
        last = len(self.seen)
        while True:
            await asyncio.sleep(quiet_s)
            if len(self.seen) == last:
                return
            last = len(self.seen)
