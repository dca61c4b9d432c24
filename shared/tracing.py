"""OpenTelemetry traces: one trace follows a partner's request through every service it moves.

The W3C trace context travels in the CloudEvents distributed-tracing extension: the `traceparent`
(and `tracestate`) attributes of the event, and, for Kafka tooling, the record's `traceparent`
header beside it. Each service makes three kinds of span:

    process <topic>    one per consumed record, child of the event's traceparent (CONSUMER)
    handle <type>      the handler applying it, child of the process span
    publish <topic>    the outbox relay sending an emitted event, child of the span that emitted
                       it, from the send to the broker's acknowledgement (PRODUCER)

and every event a handler emits carries its handle span as traceparent, so the next service's
process span is that span's child: a county's DemandSubmitted → … → FundingReleased is one trace.

Tracing is off unless OTEL_TRACES_EXPORTER names an exporter (`otlp`, `console`; `none` or unset:
off; OTEL_SDK_DISABLED=true: off). The other standard variables work as the SDK documents them:
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,
OTEL_BSP_*. Off, no span is made, and an event's trace context still passes unchanged to the events
it causes: a partner's trace continues through us whether or not we export spans.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.contract.envelope import Envelope

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
INSTRUMENTATION: Final = "expert_teams"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_NOTHING: Final = contextlib.nullcontext(None)
_SAMPLED: Final = ("1", "3", "5", "7", "9", "b", "d", "f")
"""The last hex digit of a traceparent's flags when its `sampled` bit is set."""


def trace_id_of(envelope: Envelope | None) -> str | None:
    """The trace an event belongs to (32 hex digits), from its `traceparent`, if it has a valid one."""
    if envelope is None or TRACEPARENT not in envelope.extensions:
        return None
    carried = trace_context_of(envelope.extensions)
    return carried[TRACEPARENT].split("-")[1] if carried else None


def trace_context_of(carrier: Mapping[str, str]) -> dict[str, str]:
    """The valid W3C trace context in `carrier` (event attributes or record headers); {} if none.
    A malformed traceparent is dropped, as the W3C recommendation says, never refused."""
    parent = carrier.get(TRACEPARENT)
    if not parent:
        return {}
    context = _PROPAGATOR.extract({TRACEPARENT: parent, TRACESTATE: carrier.get(TRACESTATE, "")})
    if not trace.get_current_span(context).get_span_context().is_valid:
        return {}
    state = carrier.get(TRACESTATE)
    return {TRACEPARENT: parent, TRACESTATE: state} if state else {TRACEPARENT: parent}


class Tracing:
    """A service's spans, or none (`Tracing(None)`, the default): then nothing is measured."""

    def __init__(self, tracer: Tracer | None = None) -> None:
        self._tracer = tracer

    @classmethod
    def of(cls, provider: TracerProvider | None) -> Tracing:
        return cls(provider.get_tracer(INSTRUMENTATION) if provider is not None else None)

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def consuming(
        self, topic: str, partition: int, offset: int, envelope: Envelope | None
    ) -> contextlib.AbstractContextManager[Span | None]:
        """The `process <topic>` span of one record, current while it is processed."""
        if self._tracer is None:
            return _NOTHING
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.kafka.offset": offset,
        }
        parent: Context | None = None
        if envelope is not None:
            attributes |= {
                "cloudevents.event_id": envelope.id,
                "cloudevents.event_type": envelope.type,
                "cloudevents.event_source": envelope.source,
                "cloudevents.event_subject": envelope.subject,
            }
            carried = trace_context_of(envelope.extensions)
            parent = _PROPAGATOR.extract(carried) if carried else None
        return self._tracer.start_as_current_span(
            f"process {topic}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )

    def handling(self, event_type: str) -> contextlib.AbstractContextManager[Span | None]:
        """The `handle <type>` span around a handler: its failures are recorded on it. None when the
        record's trace is not sampled (its process span records nothing): nobody would see it."""
        if self._tracer is None or not trace.get_current_span().is_recording():
            return _NOTHING
        return self._tracer.start_as_current_span(
            f"handle {event_type}", attributes={"cloudevents.event_type": event_type}
        )

    @contextlib.contextmanager
    def timer_run(self, timer: str) -> Iterator[Span | None]:
        """A timer's run: the events it emits start a trace of their own."""
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(f"timer {timer}", context=Context()) as span:
            yield span

    def emitted_context(self, cause: Envelope | None) -> dict[str, str]:
        """The trace context an emitted event carries: the current span when tracing, otherwise
        the cause's own (passed through unchanged); {} when there is neither."""
        if self._tracer is not None:
            span = trace.get_current_span()
            if span.get_span_context().is_valid:
                carrier: dict[str, str] = {}
                _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
                return carrier
        return trace_context_of(cause.extensions) if cause is not None else {}

    def published(self, topic: str, headers: Sequence[tuple[str, bytes]], started_ns: int, acked_ns: int) -> None:
        """The `publish <topic>` span of one relayed event that carries a trace context."""
        if self._tracer is None:
            return
        carrier = {name: value.decode(errors="replace") for name, value in headers if name in (TRACEPARENT, TRACESTATE)}
        if not carrier.get(TRACEPARENT, "").endswith(_SAMPLED):
            return  # an event of a trace nobody records (or of none)
        carried = trace_context_of(carrier)
        if not carried:
            return
        span = self._tracer.start_span(
            f"publish {topic}",
            context=_PROPAGATOR.extract(carried),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
            },
            start_time=started_ns,
        )
        span.end(end_time=acked_ns)


NO_TRACING: Final = Tracing(None)

ENVIRONMENT: Final = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
)
"""The standard variables a service's tracing reads (here, or in the OpenTelemetry SDK)."""


def record_outcome(span: Span | None, kind: str, reason: str | None) -> None:
    """What became of the record, on its process span: a dead letter is an error there."""
    if span is None:
        return
    span.set_attribute("expert_teams.outcome", kind)
    if reason:
        span.set_attribute("expert_teams.reason", reason)
    if kind == "dead_lettered":
        span.set_status(Status(StatusCode.ERROR, reason or "dead-lettered"))


def tracer_provider_from_environment(service: str, environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """The SDK's provider with the exporters OTEL_TRACES_EXPORTER names, or None when tracing is off."""
    env = os.environ if environ is None else environ
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    names = [n for n in names if n != "none"]
    if not names or env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    provider = SdkTracerProvider(resource=Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or service}))
    for name in names:
        exporter: SpanExporter
        if name == "otlp":
            protocol = (
                env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            )
            if protocol != "http/protobuf":
                raise ValueError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: this build exports OTLP over http/protobuf only"
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        elif name == "console":
            exporter = ConsoleSpanExporter(service_name=service)
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: use otlp, console or none")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def shut_down(provider: TracerProvider | None) -> None:
    """Export what is buffered and stop (a provider this process made)."""
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()
