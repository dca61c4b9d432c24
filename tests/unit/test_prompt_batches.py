"""A service's consumer hands over what it fetched at once and waits in the fetch when idle: no sleep
after an empty fetch (FastStream's batch subscriber slept its batch timeout there, and an event
arriving then waited for it), and no spinning when an empty answer comes back early."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber, LogicSubscriber

from shared.runtime.fetching import EARLY_EMPTY_PAUSE_S, fetch_batch, prompt_batches


class Subscriber:
    def __init__(self, batch_timeout_ms: int, max_records: int | None = 500) -> None:
        self.batch_timeout_ms = batch_timeout_ms
        self.max_records = max_records


class Consumer:
    """aiokafka's consumer as the fetch sees it: `getmany` answers `fetched`, at once or, with
    `arrives`, when that event is set (empty after the timeout if it never is)."""

    def __init__(self, fetched: dict[TopicPartition, list[str]], arrives: asyncio.Event | None = None) -> None:
        self.fetched = fetched
        self.arrives = arrives
        self.asked: list[tuple[int, int | None]] = []

    async def getmany(self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        self.asked.append((timeout_ms, max_records))
        if self.arrives is not None:
            try:
                await asyncio.wait_for(self.arrives.wait(), timeout_ms / 1000)
            except TimeoutError:
                return {}
        return self.fetched


class Pauses:
    """The pauses a fetch takes (given to it in place of asyncio.sleep)."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


async def test_records_fetched_are_handed_over_in_one_batch_without_a_pause() -> None:
    matching, reviews = TopicPartition("matching.events", 2), TopicPartition("reviews.inbound", 0)
    consumer = Consumer(
        {matching: ["TeamAccepted 石柱县", "MemberChangeApproved 石柱县"], reviews: ["PanelScoreSubmitted"]}
    )
    pauses = Pauses()

    batch = await fetch_batch(Subscriber(batch_timeout_ms=500, max_records=200), consumer, pause=pauses)

    assert batch == ("TeamAccepted 石柱县", "MemberChangeApproved 石柱县", "PanelScoreSubmitted")
    assert consumer.asked == [(500, 200)]
    assert pauses.taken == []


async def test_a_record_arriving_while_the_consumer_waits_ends_the_wait() -> None:
    arrived = asyncio.Event()
    consumer = Consumer({TopicPartition("matching.events", 0): ["TeamAccepted 天麻基地"]}, arrives=arrived)
    asyncio.get_running_loop().call_later(0.01, arrived.set)
    pauses = Pauses()

    batch = await fetch_batch(Subscriber(batch_timeout_ms=60_000), consumer, pause=pauses)

    assert batch == ("TeamAccepted 天麻基地",)  # long before the minute the fetch may wait
    assert pauses.taken == []


async def test_an_idle_fetch_that_waited_its_timeout_asks_again_without_a_pause() -> None:
    pauses = Pauses()

    assert await fetch_batch(Subscriber(batch_timeout_ms=20), Consumer({}, arrives=asyncio.Event()), pause=pauses) == ()
    assert pauses.taken == []


async def test_an_empty_answer_that_came_back_early_is_followed_by_a_short_pause() -> None:
    pauses = Pauses()
    early = Consumer({})  # a rebalance in progress, or the consumer closing: {} at once

    assert await fetch_batch(Subscriber(batch_timeout_ms=500), early, pause=pauses) == ()
    assert pauses.taken == [EARLY_EMPTY_PAUSE_S]


async def test_faststreams_batch_subscriber_fetches_through_the_prompt_fetch() -> None:
    broker = KafkaBroker("127.0.0.1:9092")
    subscriber = broker.subscriber("matching.events", group_id="funding", batch=True, batch_timeout_ms=500)
    assert isinstance(subscriber, BatchSubscriber)
    # FastStream's consume loop asks `get_msg` for each batch: what prompt_batches replaces
    assert "self.get_msg(consumer)" in inspect.getsource(LogicSubscriber._run_consume_loop)
    pauses = Pauses()

    prompt_batches(subscriber, pause=pauses)
    early = Consumer({})

    assert await subscriber.get_msg(early) == ()
    assert early.asked == [(500, subscriber.max_records)]
    assert pauses.taken == [EARLY_EMPTY_PAUSE_S]  # FastStream's own fetch sleeps 500 ms on anyio instead
