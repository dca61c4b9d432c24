"""Planted bug: a handler makes its effect twice. Every IncentiveGranted a handler emits is written
to the outbox twice, in the same transaction, with the same (derived) event id: on the topics the
second copy looks like a republished message; only counting effects by business key finds it."""

from shared.messaging.context import EmitContext

_emit = EmitContext.emit


def _emit_twice(self, data, **options):
    envelope = _emit(self, data, **options)
    if type(data).__name__ == "IncentiveGranted" and self.emitted:
        self.emitted.append(self.emitted[-1])
    return envelope


EmitContext.emit = _emit_twice
