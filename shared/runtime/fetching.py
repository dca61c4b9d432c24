"""How a service's consumer fetches its batches: at once when records arrive, without spinning idle.

FastStream's batch subscriber (0.7, `BatchSubscriber.get_msg`) asks aiokafka for a batch with
`getmany(timeout_ms=batch_timeout_ms)` and, when nothing came, sleeps `batch_timeout_ms` before
asking again. aiokafka's `getmany` already waits up to its timeout and returns as soon as a record
is fetched, so the sleep only delays: an event arriving during it waited up to `batch_timeout_ms`
before its handler ran, at every service an event chain crosses.
Shortening the timeout shortens the delay but wakes every idle consumer more often (measured on
the embedded stack: 5 ms doubled each idle service's CPU, 2.5 % -> 5.2 % of a core).

`prompt_batches(subscriber)` gives the subscriber a fetch without that sleep: an idle consumer
waits in `getmany` for up to `batch_timeout_ms` and is woken by the first record. An empty answer
that came back early (a rebalance in progress, the consumer closing) is followed by a short pause,
so that no loop spins."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any, Protocol

from aiokafka.errors import IllegalStateError

EARLY_EMPTY_PAUSE_S = 0.05
"""The pause after an empty answer that came back before half its timeout."""


class Fetching(Protocol):
    """What `prompt_batches` needs of aiokafka's consumer."""

    async def getmany(self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None) -> Any: ...


class BatchSubscribing(Protocol):
    """What `prompt_batches` needs of FastStream's batch subscriber."""

    batch_timeout_ms: int
    max_records: int | None


Pause = Callable[[float], Awaitable[None]]


async def fetch_batch(
    subscriber: BatchSubscribing, consumer: Fetching, *, pause: Pause = asyncio.sleep
) -> tuple[Any, ...]:
    """The records fetched within the subscriber's batch timeout (none: an empty tuple)."""
    loop = asyncio.get_running_loop()
    asked = loop.time()
    try:
        fetched = await consumer.getmany(timeout_ms=subscriber.batch_timeout_ms, max_records=subscriber.max_records)
    except IllegalStateError:  # a pattern subscription before its first assignment: nothing to fetch yet
        await pause(EARLY_EMPTY_PAUSE_S)
        return ()
    if fetched:
        return tuple(chain.from_iterable(fetched.values()))
    if loop.time() - asked < subscriber.batch_timeout_ms / 2000:
        await pause(EARLY_EMPTY_PAUSE_S)
    return ()


def prompt_batches(subscriber: BatchSubscribing, *, pause: Pause = asyncio.sleep) -> None:
    """The subscriber fetches with `fetch_batch` instead of FastStream's fetch-then-sleep."""

    async def get_msg(consumer: Fetching) -> tuple[Any, ...]:
        return await fetch_batch(subscriber, consumer, pause=pause)

    subscriber.get_msg = get_msg  # type: ignore[attr-defined]
