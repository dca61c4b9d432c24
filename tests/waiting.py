"""The one way tests wait for something another process or task does: poll a check until it
holds, within a deadline, and fail saying what did not happen."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, *, timeout_s: float = 20.0, every_s: float = 0.05
) -> T:
    """The first truthy answer of `check()`; TimeoutError naming `what` (and the last answer) after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        answer = await check()
        if answer:
            return answer
        if loop.time() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s (last answer: {answer!r})")
        await asyncio.sleep(every_s)
