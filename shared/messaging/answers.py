"""The answer stage: a record that cannot be applied is kept as a dead letter (its original
bytes, origin and reason, in the database and on the service's dead-letter topic), and a
readable event is answered with EventRejected twice:

- to the partner that wrote it, on its own `answers.<principal>` topic (the principal whose
  inbound topic carried it, whatever source the event claims), with the reason as the sender may
  read it (DeadLetter.told: no other person, institution or team);
- in full on `rejections`, which only the operator and auditors read.

Events from another service's topic are answered on `rejections` only. Both answers are emitted
like any handler event, through a MessageContext, with ids derived from the refused event
(ordinals 0 and -1, which no handler event uses), so a redelivered refusal makes the same answers."""

from __future__ import annotations

from shared.clock import Clock
from shared.contract.envelope import Envelope
from shared.contract.events.system import EventRejected
from shared.contract.registry import EventRegistry
from shared.db.types import Connection
from shared.topics import answers, deadletter, split_inbound, with_prefix
from shared.tracing import NO_TRACING, Tracing

from . import inbox, outbox
from .context import MessageContext, emitted_event_id
from .deadletter import DeadLetter, dead_letter_message, record_dead_letter
from .outcomes import Outcome
from .records import Record

ANSWER_ORDINAL = 0
"""The ordinal of a refusal's answer to its writer among what the service emits for the refused event."""
RECORD_ORDINAL = -1
"""The ordinal of the operator's full record of a refusal (on `rejections`)."""


class Answers:
    def __init__(
        self, *, service: str, clock: Clock, registry: EventRegistry, topic_prefix: str, tracing: Tracing = NO_TRACING
    ) -> None:
        self._service = service
        self._tracing = tracing
        self._clock = clock
        self._registry = registry
        self._prefix = topic_prefix
        self._deadletter_topic = with_prefix(topic_prefix, deadletter(service))

    async def dead_letter(
        self,
        conn: Connection,
        record: Record,
        letter: DeadLetter,
        envelope: Envelope | None,
        messages: list[outbox.OutboxMessage],
    ) -> Outcome:
        """Record the dead letter and add its message to the batch's outbox (`duplicate`: it
        was recorded before, by an earlier delivery of the same record)."""
        letter_id = await record_dead_letter(conn, record, letter, envelope)
        if letter_id is None:
            return Outcome("duplicate", record, envelope)
        messages.append(
            dead_letter_message(
                record,
                letter,
                service=self._service,
                topic=self._deadletter_topic,
                at=self._clock.now(),
                letter_id=letter_id,
            )
        )
        return Outcome("dead_lettered", record, envelope, letter=letter)

    async def refuse(
        self,
        conn: Connection,
        record: Record,
        envelope: Envelope,
        letter: DeadLetter,
        messages: list[outbox.OutboxMessage],
        *,
        claimed: bool = True,
    ) -> Outcome:
        """Dead-letter a readable event and answer its sender with EventRejected."""
        outcome = await self.dead_letter(conn, record, letter, envelope, messages)
        if outcome.kind == "duplicate":
            return outcome
        kind = "rejected" if letter.reason == "business_rule" else "dead_lettered"
        if claimed:
            await inbox.set_outcome(conn, envelope, kind, letter.rule or letter.reason)
        context = MessageContext(
            conn=conn,
            envelope=envelope,
            service=self._service,
            clock=self._clock,
            registry=self._registry,
            topic_prefix=self._prefix,
            tracing=self._tracing,
        )
        rejected = EventRejected(
            rejected_event_id=envelope.id[:120],
            rejected_event_type=envelope.type[:120],
            rejected_source=envelope.source[:120],
            rejected_subject=envelope.subject[:120] or None,
            reason_code=letter.rule or letter.reason,
            reason=letter.detail[:4000] or letter.reason,
            service=self._service,
            rejected_at=context.now(),
        )
        context.emit(rejected, event_id=emitted_event_id(self._service, envelope, RECORD_ORDINAL))
        partner = split_inbound(record.topic, self._prefix)
        if partner is not None:
            told = rejected.model_copy(update={"reason": letter.told[:4000] or letter.reason})
            context.emit(
                told,
                event_id=emitted_event_id(self._service, envelope, ANSWER_ORDINAL),
                topic=answers(partner[1]),
            )
        messages.extend(context.emitted)
        outcome.kind = kind
        return outcome
