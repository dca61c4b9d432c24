"""Work a service does on a schedule rather than on a message (a suspension lifting itself on
its date, a review deadline passing). Each run is one transaction: state changes and the
events they imply commit together, exactly like a message handler's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from shared.clock import Clock
from shared.contract.registry import REGISTRY
from shared.messaging import outbox
from shared.messaging.consumer import TRANSIENT_ERRORS
from shared.messaging.context import EmitContext
from shared.policy import ProgrammePolicy
from shared.tracing import NO_TRACING, Tracing

log = structlog.get_logger("shared.runtime.timers")


@dataclass(frozen=True, slots=True)
class Timer:
    name: str
    every_s: float
    run: Callable[[EmitContext], Awaitable[None]]
    """Does what is due at ctx.now(); must be safe to run again at any time (idempotent)."""


async def run_timer_once(
    pool: Any,
    timer: Timer,
    *,
    service: str,
    clock: Clock,
    topic_prefix: str,
    policy: ProgrammePolicy | None = None,
    settings: object = None,
    tracing: Tracing = NO_TRACING,
) -> int:
    """Run a timer in one transaction; returns the number of events it emitted."""
    with tracing.timer_run(timer.name):
        async with pool.acquire() as conn:
            async with conn.transaction():
                ctx = EmitContext(
                    conn=conn,
                    service=service,
                    clock=clock,
                    registry=REGISTRY,
                    topic_prefix=topic_prefix,
                    policy=policy,
                    settings=settings,
                    tracing=tracing,
                )
                await timer.run(ctx)
                await ctx.unit.flush(conn)
                await outbox.append(conn, ctx.emitted)
            for work in ctx.work_after_commit:
                await work(conn)
    for note in ctx.notes:
        log.info(note.message, service=service, timer=timer.name, **note.fields)
    return len(ctx.emitted)


async def run_timer_forever(
    pool: Any,
    timer: Timer,
    *,
    service: str,
    clock: Clock,
    topic_prefix: str,
    stopping: asyncio.Event,
    policy: ProgrammePolicy | None = None,
    settings: object = None,
    observe: Callable[[str, str], None] | None = None,
    tracing: Tracing = NO_TRACING,
) -> None:
    """Run the timer every `every_s` until stopping; `observe(timer, outcome)` after each run."""
    while not stopping.is_set():
        outcome = "ok"
        try:
            await run_timer_once(
                pool,
                timer,
                service=service,
                clock=clock,
                topic_prefix=topic_prefix,
                policy=policy,
                settings=settings,
                tracing=tracing,
            )
        except TRANSIENT_ERRORS as exc:
            outcome = "database_unreachable"
            log.warning("timer could not run: database unreachable", service=service, timer=timer.name, error=str(exc))
        except Exception:
            outcome = "failed"
            log.exception("timer failed; it will run again", service=service, timer=timer.name)
        if observe is not None:
            observe(timer.name, outcome)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=timer.every_s)
