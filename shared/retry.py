"""Every wait-and-try-again of the platform, on tenacity's exponential backoff with jitter:

- `until_reachable`: at start, try to reach the database or the broker until a deadline;
- `Backoff`: the delays of a loop that keeps running (the outbox relay, a batch rolled back
  while the database is unreachable, a handler's bounded attempts): longer after each failure
  in a row, back to the first after a success.

Jitter keeps the replicas of a service from retrying in step after a shared outage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
import tenacity

log = structlog.get_logger("shared.retry")

T = TypeVar("T")


def exponential(initial_s: float, maximum_s: float) -> tenacity.wait.wait_base:
    """initial, 2×initial, 4×initial … up to maximum, each plus up to half of initial at random."""
    return tenacity.wait_exponential_jitter(multiplier=initial_s, max=maximum_s, jitter=initial_s / 2)


async def until_reachable(
    make: Callable[[], Awaitable[T]],
    what: str,
    *,
    errors: tuple[type[BaseException], ...],
    timeout_s: float = 60.0,
    initial_s: float = 0.2,
    maximum_s: float = 2.0,
) -> T:
    """`await make()` until it raises none of `errors`; after `timeout_s` the last error is raised."""

    def waiting(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else None
        log.info(f"{what} not reachable yet; retrying", error=repr(error), retry_in_s=round(delay or 0, 2))

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(errors),
        stop=tenacity.stop_after_delay(timeout_s),
        wait=exponential(initial_s, maximum_s),
        before_sleep=waiting,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await make()
    raise AssertionError("tenacity ends with a result or the last error")  # pragma: no cover


class Backoff:
    """The next delay of a loop that keeps running, by the number of failures in a row."""

    def __init__(self, initial_s: float, maximum_s: float) -> None:
        self._wait = exponential(initial_s, maximum_s)
        self._state = tenacity.RetryCallState(tenacity.AsyncRetrying(), fn=None, args=(), kwargs={})
        self.failures = 0

    def next(self) -> float:
        """The delay after one more failure."""
        self.failures += 1
        self._state.attempt_number = self.failures
        return float(self._wait(self._state))

    def reset(self) -> None:
        """A success: the next failure waits the shortest delay again."""
        self.failures = 0
