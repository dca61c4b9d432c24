"""What became of each record, and the operator's log line for it (written after the commit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from shared.contract.envelope import Envelope
from shared.db.types import Connection
from shared.tracing import trace_id_of

from . import inbox
from .context import AfterCommit, Note
from .deadletter import DeadLetter
from .records import Record

log = structlog.get_logger("shared.messaging.consumer")


@dataclass(slots=True)
class Outcome:
    kind: str
    """applied | duplicate | ignored | rejected | dead_lettered"""
    record: Record
    envelope: Envelope | None = None
    notes: list[Note] = field(default_factory=list)
    after_commit: list[AfterCommit] = field(default_factory=list)
    letter: DeadLetter | None = None
    error: BaseException | None = None


class ConsumerObserver(Protocol):
    """Told what each batch became and how long each handler took (the runtime's metrics)."""

    def batch_done(self, outcomes: Sequence[Outcome], seconds: float) -> None: ...

    def handled(self, event_type: str, seconds: float) -> None: ...


def log_rebuilt(service: str, outcomes: Sequence[Outcome], counts: Mapping[str, int]) -> None:
    kinds: dict[str, int] = {}
    for outcome in outcomes:
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
    last = outcomes[-1].record if outcomes else None
    log.info(
        "rebuilt from the topics: batch applied, nothing emitted",
        service=service,
        records=len(outcomes),
        up_to=last.origin if last else None,
        total_applied=counts.get("applied", 0),
        **kinds,
    )


def log_outcome(service: str, outcome: Outcome) -> None:
    envelope = outcome.envelope
    bound = log.bind(service=service)
    replay_of = next((v.decode(errors="replace") for n, v in outcome.record.headers if n == inbox.REPLAY_HEADER), None)
    if replay_of:
        bound = bound.bind(replay_of=replay_of)
    if envelope is not None:
        bound = bound.bind(
            event_type=envelope.type,
            event_id=envelope.id,
            subject=envelope.subject,
            correlation_id=envelope.correlation_id,
            source=envelope.source,
        )
        if trace_id := trace_id_of(envelope):
            bound = bound.bind(trace_id=trace_id)
    if outcome.kind == "applied":
        for note in outcome.notes:
            bound.info(note.message, **note.fields)
        if not outcome.notes:
            bound.info("event applied")
    elif outcome.kind == "duplicate":
        bound.info("duplicate delivery ignored: already processed", origin=outcome.record.origin)
    elif outcome.kind == "ignored":
        bound.debug("event not consumed by this service", origin=outcome.record.origin)
    elif outcome.letter is not None:
        letter = outcome.letter
        fields: dict[str, Any] = {"reason": letter.reason, "detail": letter.detail, "origin": outcome.record.origin}
        if letter.rule:
            fields["rule"] = letter.rule
        if outcome.error is not None:
            bound.error("handler failed on every retry; event dead-lettered", exc_info=outcome.error, **fields)
        elif outcome.kind == "rejected":
            bound.warning("event rejected by a programme rule; sender answered", **fields)
        else:
            bound.warning("message dead-lettered", **fields)


async def do_after_commit(service: str, conn: Connection, outcomes: Sequence[Outcome]) -> None:
    """The work the applied events asked for once committed; a failure is logged, never raised
    (the batch is committed; the work is recorded for its timer to finish)."""
    for outcome in outcomes:
        for work in outcome.after_commit:
            try:
                await work(conn)
            except Exception:
                envelope = outcome.envelope
                log.exception(
                    "work after the commit failed; its timer will do it again",
                    service=service,
                    event_type=envelope.type if envelope else None,
                    event_id=envelope.id if envelope else None,
                    origin=outcome.record.origin,
                )
