"""One trace per order across the four services: the W3C trace context travels in the CloudEvents
distributed-tracing extension, and every service's spans (process, handle, publish) hang under the
partner's span. The four services run in this process, each with its own tracer provider writing
to one in-memory exporter; the partner scenario sends each order's commands in that order's trace."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.contract.events.orders import DemandSubmitted
from shared.topics import REJECTIONS, SERVICES, deadletter, events
from tests.builders import SHIZHU, new_order_id, tianma_demand
from tests.conftest import NO_PUBLIC_NOTICE, Infrastructure, running_service
from tests.signing import KEYRING, OPERATOR
from tools.client import ProgrammeClient, TopicObserver, about
from tools.scenario.cast import county_source
from tools.scenario.programme import ProgrammeRun
from tools.scenario.seed import generate

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ORDERS = 4
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
"""A partner's trace context, as the W3C recommendation's own example writes it."""


def provider_for(service: str, exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@contextlib.asynccontextmanager
async def four_traced_services(
    infrastructure: Infrastructure, prefix: str, database_factory: Any, exporter: InMemorySpanExporter, clock: Path
) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for name in SERVICES:
            await stack.enter_async_context(
                running_service(
                    name,
                    infrastructure,
                    prefix,
                    database_factory,
                    database=f"traced_{name}",
                    tracer_provider=provider_for(name, exporter),
                    clock_file=clock,
                    # the scenario reads TeamAccepted right after AwardOrder; with the notice, the
                    # TeamAccepted a timer makes would start a trace of its own
                    policy=NO_PUBLIC_NOTICE if name in ("matching", "reviews") else None,
                )
            )
        yield


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes[SERVICE_NAME])


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def one(spans: Sequence[ReadableSpan], name: str, service: str, **attributes: object) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.name == name
        and service_of(s) == service
        and all(s.attributes is not None and s.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert found, f"no span {name!r} of {service} with {attributes}; names: {sorted({s.name for s in spans})}"
    return found[-1]


def an_order_paid_on_acceptance_and_after_its_review(programme: Any, observer: TopicObserver) -> str:
    """An order whose first tranche TeamAccepted released (not the bureau raising the envelope for
    a held grant: that command is about no one order and has a trace of its own) and whose review
    passed (its second tranche released)."""
    accepted = {o.data["order_id"]: o.envelope.id for o in observer.distinct_of_type("TeamAccepted") if o.envelope}
    for order in programme.orders:
        released = [o for o in observer.distinct_of_type("FundingReleased") if o.data["order_id"] == order.order_id]
        causes = {o.envelope.causation_id for o in released if o.envelope}
        if order.grade != "unqualified" and len(released) == 2 and accepted.get(order.order_id) in causes:
            return str(order.order_id)
    raise AssertionError("no order of the programme was released on acceptance and after its review")


async def test_one_orders_year_is_one_trace_from_the_county_to_the_review_and_its_money(
    infrastructure: Infrastructure, run_id: str, database_factory: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("REVIEWS_EXPORT_DIR", str(tmp_path / "exports"))
    exporter = InMemorySpanExporter()
    prefix = f"t{run_id}traced."
    partner = provider_for("county-and-bureau-systems", exporter)
    watched = [f"{prefix}{t}" for t in (*(events(s) for s in SERVICES), REJECTIONS, *map(deadletter, SERVICES))]
    async with (
        four_traced_services(infrastructure, prefix, database_factory, exporter, tmp_path / "programme-clock"),
        ProgrammeClient(
            infrastructure.kafka, topic_prefix=prefix, keyring=KEYRING, enrol=True, operator=OPERATOR
        ) as client,
        TopicObserver(infrastructure.kafka, watched) as observer,
    ):
        programme = generate(ORDERS)
        run = ProgrammeRun(
            client,
            observer,
            programme,
            out=io.StringIO(),
            tracer=partner.get_tracer("scenario"),
            clock_file=tmp_path / "programme-clock",
        )
        report = await run.play()
        assert report.failures == []
        order_id = an_order_paid_on_acceptance_and_after_its_review(programme, observer)
        released = [o for o in observer.distinct_of_type("FundingReleased") if o.data["order_id"] == order_id]
        graded = [o for o in observer.distinct_of_type("ReviewGraded") if o.data["order_id"] == order_id]
        completed = [o for o in observer.distinct_of_type("ReviewCompleted") if o.data["order_id"] == order_id]
        spans = exporter.get_finished_spans()

    root = run.traces.roots[order_id] if run.traces else None
    assert root is not None
    trace_id = root.get_span_context().trace_id
    story = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in story if s.context is not None}
    assert {service_of(s) for s in story} == {"county-and-bureau-systems", *SERVICES}

    # Every event emitted for the order carries its trace: the span that emitted it is its parent.
    for observed in (*released[:1], *graded):
        assert observed.envelope is not None
        traceparent = observed.envelope.extensions["traceparent"]
        assert traceparent.split("-")[1] == format(trace_id, "032x")
        emitter = by_id[int(traceparent.split("-")[2], 16)]
        assert emitter.name.startswith("handle ")

    # The first tranche: the award handled by matching emitted TeamAccepted; funding's process span
    # of it is that handle span's child, and FundingReleased was published under funding's handle span.
    handled_acceptance = one(story, "handle TeamAccepted", "funding")
    chain = ancestors(handled_acceptance, by_id)
    assert [(service_of(s), s.name) for s in chain[:3]] == [
        ("funding", f"process {prefix}matching.events"),
        ("matching", "handle AwardOrder"),
        ("matching", f"process {prefix}matching.inbound.bureau.hrss"),  # the bureau's own topic
    ]
    assert chain[-1].context is not None and chain[-1].context.span_id == root.get_span_context().span_id
    assert handled_acceptance.context is not None
    published = [
        s
        for s in story
        if s.name == f"publish {prefix}funding.events"
        and s.parent is not None
        and s.parent.span_id == handled_acceptance.context.span_id
    ]
    assert published and all(s.end_time and s.start_time and s.end_time >= s.start_time for s in published)

    # The review: the last panel score, handled by reviews, emitted ReviewGraded in the order's trace.
    # The grade takes effect when the cycle's results are published (here without a notice period):
    # ReviewCompleted and the money it releases are in the trace of the bureau's CloseReviewCycle,
    # which is about every order of the cycle, and carry the order's correlation id.
    handled_score = by_id[int(graded[0].envelope.extensions["traceparent"].split("-")[2], 16)]  # type: ignore[union-attr]
    assert (service_of(handled_score), handled_score.name) == ("reviews", "handle PanelScoreSubmitted")
    (in_effect,) = completed
    assert in_effect.envelope is not None
    closing_trace = int(in_effect.envelope.extensions["traceparent"].split("-")[1], 16)
    closing = [s for s in spans if s.context is not None and s.context.trace_id == closing_trace]
    closing_by_id = {s.context.span_id: s for s in closing if s.context is not None}
    process = one(
        closing,
        f"process {prefix}reviews.events",
        "funding",
        **{"cloudevents.event_type": "ReviewCompleted", "cloudevents.event_subject": order_id},
    )
    above = [(service_of(s), s.name) for s in (process, *ancestors(process, closing_by_id))]
    assert above[:3] == [
        ("funding", f"process {prefix}reviews.events"),
        ("reviews", "handle CloseReviewCycle"),
        ("reviews", f"process {prefix}reviews.inbound.bureau.hrss"),
    ]
    assert released[-1].envelope is not None
    assert released[-1].envelope.extensions["traceparent"].split("-")[1] == format(closing_trace, "032x")


async def test_a_partners_trace_context_passes_to_the_events_it_causes_when_we_export_no_spans(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    demand = DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县人力社保局")
    sent = await client.send(demand, source=county_source(SHIZHU), trace={"traceparent": TRACEPARENT})
    (submitted,) = await observer.wait_for(about(order_id, "OrderSubmitted"))
    assert submitted.envelope is not None
    assert submitted.envelope.causation_id == sent.id
    assert submitted.envelope.extensions["traceparent"] == TRACEPARENT
    assert submitted.header("traceparent") == TRACEPARENT


async def test_a_malformed_traceparent_is_dropped_and_the_event_still_applied(
    orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = new_order_id()
    demand = DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县人力社保局")
    await client.send(demand, source=county_source(SHIZHU), trace={"traceparent": "00-not-a-trace-01"})
    (submitted,) = await observer.wait_for(about(order_id, "OrderSubmitted"))
    assert submitted.envelope is not None
    assert "traceparent" not in submitted.envelope.extensions
    assert submitted.header("traceparent") is None
