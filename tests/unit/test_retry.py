"""One backoff for every retry of the platform (tenacity): delays grow after each failure in a
row up to a ceiling and start again after a success; reaching a dependency at start retries
only the errors that mean "not reachable yet", and gives up at its deadline."""

from __future__ import annotations

import pytest

from shared.retry import Backoff, until_reachable


def test_delays_grow_up_to_the_ceiling_and_start_again_after_a_success() -> None:
    backoff = Backoff(0.2, 3.0)
    delays = [backoff.next() for _ in range(6)]
    assert 0.2 <= delays[0] <= 0.3
    assert 0.4 <= delays[1] <= 0.5
    assert 0.8 <= delays[2] <= 0.9
    assert delays[-1] == delays[-2] == 3.0
    assert backoff.failures == 6
    backoff.reset()
    assert backoff.failures == 0
    assert 0.2 <= backoff.next() <= 0.3


async def test_a_database_not_reachable_yet_is_tried_again_until_it_answers() -> None:
    answers = iter([ConnectionRefusedError("石柱县 database starting"), ConnectionRefusedError("still starting")])

    async def connect() -> str:
        failure = next(answers, None)
        if failure is not None:
            raise failure
        return "connected"

    assert await until_reachable(lambda: connect(), "database", errors=(OSError,), initial_s=0.01) == "connected"
    assert next(answers, None) is None, "both refusals were tried through"


async def test_an_error_that_is_not_unreachability_is_raised_at_once() -> None:
    calls = 0

    async def connect() -> str:
        nonlocal calls
        calls += 1
        raise ValueError("bad database URL")

    with pytest.raises(ValueError, match="bad database URL"):
        await until_reachable(connect, "database", errors=(OSError,), initial_s=0.01)
    assert calls == 1


async def test_a_dependency_that_never_answers_fails_the_start_at_its_deadline() -> None:
    calls = 0

    async def connect() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError(f"refused, attempt {calls}")

    with pytest.raises(ConnectionRefusedError, match="refused, attempt"):
        await until_reachable(connect, "broker", errors=(OSError,), timeout_s=0.3, initial_s=0.02, maximum_s=0.05)
    assert calls >= 3
