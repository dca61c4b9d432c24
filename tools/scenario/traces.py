"""The partner side of tracing: one trace per order. Every command the scenario sends about an
order (its demand, endorsement, publication, the team's application, the award, the outcome
report, the panel's scores) carries the context of that order's root span, so everything the
services do for the order hangs under one trace (shared/tracing.py)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.contract.events.base import EventData

_PROPAGATOR = TraceContextTextMapPropagator()


class OrderTraces:
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self.roots: dict[str, Span] = {}
        """The root span of each order the scenario has sent a command about."""

    def context_for(self, data: EventData) -> dict[str, str] | None:
        """The trace context for a command: its order's root span (None if it names no order)."""
        order_id = getattr(data, "order_id", None)
        if not isinstance(order_id, str):
            return None
        root = self.roots.get(order_id)
        if root is None:
            root = self._tracer.start_span(
                f"order {order_id}", kind=SpanKind.PRODUCER, attributes={"expert_teams.order_id": order_id}
            )
            self.roots[order_id] = root
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(root))
        return carrier

    def close(self) -> None:
        """End every order's root span (when the scenario is done)."""
        for root in self.roots.values():
            root.end()
