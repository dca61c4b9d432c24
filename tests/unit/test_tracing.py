"""The trace context an event carries, and the one the events it causes carry (shared/tracing.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.clock import FixedClock
from shared.contract.envelope import Envelope, new_envelope
from shared.contract.events.orders import OrderEndorsed
from shared.contract.registry import REGISTRY
from shared.messaging.context import MessageContext
from shared.tracing import NO_TRACING, Tracing, trace_context_of, trace_id_of, tracer_provider_from_environment

W3C_EXAMPLE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def endorsement(**extensions: str) -> Envelope:
    return new_envelope(
        source="/counties/500240",
        type="DemandEndorsed",
        subject="500240-2027-001",
        data={"order_id": "500240-2027-001", "endorsed_by": "石柱县人力社保局"},
        time=datetime(2027, 3, 1, 9, 0, tzinfo=UTC),
        extensions=extensions,
    )


def context_of(cause: Envelope, tracing: Tracing) -> MessageContext:
    return MessageContext(
        conn=None,  # emit() writes nothing until the batch commits
        envelope=cause,
        service="orders",
        clock=FixedClock(datetime(2027, 3, 1, 9, 0, 1, tzinfo=UTC)),
        registry=REGISTRY,
        topic_prefix="",
        tracing=tracing,
    )


def endorsed() -> OrderEndorsed:
    return OrderEndorsed(
        order_id="500240-2027-001",
        county_code="500240",
        endorsed_by="石柱县人力社保局",
        endorsed_at=datetime(2027, 3, 1, tzinfo=UTC),
    )


def test_a_valid_traceparent_is_kept_with_its_tracestate() -> None:
    carried = {"traceparent": W3C_EXAMPLE, "tracestate": "cqhrss=1"}
    assert trace_context_of(carried) == carried
    assert trace_id_of(endorsement(traceparent=W3C_EXAMPLE)) == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-not-a-trace-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # the all-zero trace id is invalid
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # so is the all-zero parent
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is forbidden
        "",
    ],
)
def test_a_malformed_traceparent_is_dropped_not_passed_on(traceparent: str) -> None:
    assert trace_context_of({"traceparent": traceparent}) == {}
    assert trace_id_of(endorsement(traceparent=traceparent)) is None


def test_without_tracing_an_emitted_event_carries_its_causes_trace_context_unchanged() -> None:
    ctx = context_of(endorsement(traceparent=W3C_EXAMPLE, tracestate="cqhrss=1"), NO_TRACING)
    emitted = ctx.emit(endorsed())
    assert emitted.extensions == {"traceparent": W3C_EXAMPLE, "tracestate": "cqhrss=1"}
    (message,) = ctx.emitted
    assert ("traceparent", W3C_EXAMPLE.encode()) in message.headers
    assert b'"traceparent":"' + W3C_EXAMPLE.encode() in message.value


def test_without_tracing_an_event_without_trace_context_causes_events_without_one() -> None:
    ctx = context_of(endorsement(), NO_TRACING)
    assert ctx.emit(endorsed()).extensions == {}
    assert [name for name, _ in ctx.emitted[0].headers] == ["content-type"]


def test_with_tracing_an_emitted_event_is_the_child_of_the_handle_span_in_the_same_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing.of(provider)
    cause = endorsement(traceparent=W3C_EXAMPLE)
    ctx = context_of(cause, tracing)
    with tracing.consuming("orders.inbound", 2, 41, cause), tracing.handling("DemandEndorsed"):
        emitted = ctx.emit(endorsed())
    process, handle = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert process.name == "process orders.inbound" and handle.name == "handle DemandEndorsed"
    assert process.parent is not None and format(process.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert handle.parent is not None and process.context is not None
    assert handle.parent.span_id == process.context.span_id
    assert handle.context is not None
    version, trace_id, parent_id, _ = emitted.extensions["traceparent"].split("-")
    assert (version, trace_id) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736")
    assert int(parent_id, 16) == handle.context.span_id
    assert process.attributes is not None and process.attributes["messaging.kafka.offset"] == 41


@pytest.mark.parametrize(
    "environ",
    [{}, {"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}],
)
def test_tracing_is_off_unless_an_exporter_is_named(environ: dict[str, str]) -> None:
    assert tracer_provider_from_environment("funding", environ) is None


def test_the_console_exporter_makes_a_provider_named_after_the_service() -> None:
    provider: Any = tracer_provider_from_environment("funding", {"OTEL_TRACES_EXPORTER": "console"})
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "funding"
    provider.shutdown()


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "jaeger"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
    ],
)
def test_an_exporter_this_build_cannot_make_fails_the_start_with_its_name(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        tracer_provider_from_environment("funding", environ)


def test_a_trace_the_sender_did_not_sample_makes_no_spans_here_and_stays_unsampled_downstream() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # parent-based: an unsampled parent is not sampled here either
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing.of(provider)
    unsampled = W3C_EXAMPLE[:-2] + "00"
    cause = endorsement(traceparent=unsampled)
    ctx = context_of(cause, tracing)
    with tracing.consuming("orders.inbound", 0, 7, cause), tracing.handling("DemandEndorsed") as handle:
        emitted = ctx.emit(endorsed())
    assert handle is None
    tracing.published("orders.events", ctx.emitted[0].headers, 1, 2)
    assert exporter.get_finished_spans() == ()
    _, trace_id, _, flags = emitted.extensions["traceparent"].split("-")
    assert (trace_id, flags) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00")
