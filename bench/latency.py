"""Latency of the automatic steps, idle and under a steady load, on the embedded stack.

    .venv/bin/python -m bench.latency [--samples 200] [--load half]

Measured from the partner event's broker timestamp (CreateTime) to the resulting event's:
  - TeamAccepted -> the first FundingReleased (funding opens the grant, releases tranche 1);
  - the panel's last PanelScoreSubmitted -> ReviewGraded (reviews grades the project at once;
    ReviewCompleted follows when the public notice is over, days later: a timer, not a reaction).
"Under load" adds a steady background of demands (orders) and expert records (matching) at
`--load` events/s while the same samples are taken: by default half the capacity bench.services
last measured for orders and matching.
The first step is also cut into segments from funding's own tables (`funding_segments`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import BENCH_DATA, RESULTS, percentiles, write_result
from shared.contract.events.base import EventData
from shared.contract.events.matching import ExpertRef, ExpertRegistered, TeamAccepted
from shared.contract.events.orders import DemandSubmitted, OrderPublished, ServicePeriod
from shared.contract.events.reviews import (
    CriterionScore,
    IndicatorResult,
    OpenReviewCycle,
    OutcomeReportSubmitted,
    PanelScoreSubmitted,
    Reviewer,
    WorkDone,
)
from shared.contract.speakers import reviewer_source
from shared.runtime.clock_file import set_programme_time
from shared.topics import SERVICES, events
from tools.client import ProgrammeClient, TopicObserver, envelope_for
from tools.scenario.seed import CRITERIA, generate
from tools.stack.launcher import Stack

YEAR = 2091
"""A budget and review year of its own, far from any other."""


async def send(client: ProgrammeClient, data: EventData, source: str) -> tuple[str, int]:
    """Send one event; return its id and its broker timestamp (ms)."""
    envelope = envelope_for(data, source=source, time=datetime.now(UTC))
    metadata = await client.send_envelope(envelope)
    return envelope.id, int(metadata.timestamp)


async def caused(observer: TopicObserver, event_id: str, event_type: str, timeout_s: float = 30) -> int:
    await observer.wait_until(
        lambda: any(o.type == event_type for o in observer.answers_to(event_id)), timeout_s=timeout_s
    )
    return next(o.timestamp_ms for o in observer.answers_to(event_id) if o.type == event_type)


def accepted(order_id: str, run: str, i: int, place: Any, service_year: int = YEAR) -> TeamAccepted:
    """A team accepted for a project serving in `service_year` (the review cycle of that year takes it)."""

    def ref(n: int) -> ExpertRef:
        return ExpertRef(expert_id=f"EXP-{run}-{i}-{n}", name=f"专家{n}", institution=f"机构{i}")

    return TeamAccepted(
        project_id=f"P-{order_id}",
        order_id=order_id,
        application_id=f"APP-{run}-{i}",
        team_id=f"TEAM-{run}-{i}",
        team_name=f"团队{i}",
        lead=ref(0),
        members=(ref(1), ref(2)),
        local_talents=(ref(3),),
        place=place,
        site="示范基地",
        industry="中药材",
        service_period=ServicePeriod(start=date(service_year, 1, 1), months=12),
        funding_asked_fen=10_000_000,
        call="2026年时延测试",
        awarded_by="bench",
        accepted_at=datetime(YEAR, 1, 1, tzinfo=UTC),
    )


@dataclass(frozen=True, slots=True)
class Step:
    """One TeamAccepted sent and the FundingReleased it caused (broker timestamps, ms)."""

    event_id: str
    sent_ms: int
    caused_ms: int

    @property
    def ms(self) -> float:
        return float(self.caused_ms - self.sent_ms)


async def funding_latency(client: ProgrammeClient, observer: TopicObserver, samples: int, run: str) -> list[Step]:
    place = generate(3).orders[0].demand.place
    out = []
    for i in range(samples):
        event_id, sent_ms = await send(
            client, accepted(f"500240-{run}-F{i}", run, i, place, YEAR - 1), "/services/matching"
        )
        out.append(Step(event_id, sent_ms, await caused(observer, event_id, "FundingReleased")))
        await asyncio.sleep(0.02)
    return out


_SEGMENTS = """
SELECT i.event_id, extract(epoch FROM i.received_at) * 1000 AS claimed_ms,
       extract(epoch FROM o.created_at) * 1000 AS written_ms, extract(epoch FROM o.published_at) * 1000 AS marked_ms
FROM inbox i JOIN outbox o ON o.causation_id = i.event_id AND o.event_type = 'FundingReleased'
WHERE i.event_id = ANY($1::text[])
"""


async def funding_segments(database_url: str, steps: list[Step]) -> dict[str, dict[str, float]]:
    """Where each TeamAccepted -> FundingReleased went, from funding's own tables (the broker's
    and PostgreSQL's clocks are this machine's): sent -> claimed in the inbox (the broker, the
    fetch, reading the record, BEGIN and the claim), claimed -> its outbox row (the handler and the
    writes), outbox row -> sent by the relay (the rest of the transaction, COMMIT, the wake-up,
    the relay's select; FundingReleased's timestamp is when the relay hands it to the producer),
    and sent by the relay -> marked published (the broker's ack and the mark: after the step)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = {r["event_id"]: r for r in await conn.fetch(_SEGMENTS, [s.event_id for s in steps])}
    finally:
        await conn.close()
    names = ("sent_to_claimed", "claimed_to_outbox_row", "outbox_row_to_relay_send", "relay_send_to_marked")
    parts: dict[str, list[float]] = {name: [] for name in names}
    for step in steps:
        row = rows[step.event_id]
        moments = (step.sent_ms, row["claimed_ms"], row["written_ms"], step.caused_ms, row["marked_ms"])
        for name, (start, end) in zip(names, pairwise(moments), strict=True):
            parts[name].append(float(end) - float(start))
    return {name: percentiles(values) for name, values in parts.items()}


async def until_reviews_holds(
    database_url: str, query: str, keys: list[str], what: str, timeout_s: float = 120
) -> None:
    """Until `query` (a count over `keys`) reaches len(keys) in the reviews service's database."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while await conn.fetchval(query, keys) < len(keys):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the reviews service did not take {what}")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


_PROJECTS_RECORDED = "SELECT count(*) FROM projects p JOIN published_orders o USING (order_id) WHERE order_id = ANY($1)"
_EVENTS_TAKEN = "SELECT count(*) FROM inbox WHERE event_id = ANY($1)"


async def review_latency(
    client: ProgrammeClient,
    observer: TopicObserver,
    samples: int,
    run: str,
    reviews_db: str,
    year: int,
    clock_file: Path,
) -> list[float]:
    """The review cycle of `year` (one per year) over `samples` projects serving that year."""
    template = generate(3).orders[2]
    cycle = f"L{run}"
    orders = []
    for i in range(samples):
        order_id = f"{template.county_code}-{run}-R{i}"
        demand = template.demand.model_copy(update={"service_period": ServicePeriod(start=date(year, 1, 1), months=12)})
        await client.send(
            OrderPublished(
                order_id=order_id,
                demand=demand,
                call="2026年时延测试",
                published_by="bench",
                published_at=datetime.now(UTC),
            ),
            source="/services/orders",
        )
        await client.send(accepted(order_id, run, 10_000 + i, demand.place, year), source="/services/matching")
        orders.append((order_id, demand))
    # the reviews service emits nothing for these: its tables say when it has recorded every project
    projects = [order_id for order_id, _ in orders]
    await until_reviews_holds(reviews_db, _PROJECTS_RECORDED, projects, "every project", timeout_s=60)
    # The programme's calendar (the stack's clock file): the cycle opens in December of its year,
    # reports and the first scores come before the deadline, the last scores after it.
    set_programme_time(clock_file, datetime(year, 12, 1, 1, 30, tzinfo=UTC))
    opened, _ = await send(
        client,
        OpenReviewCycle(cycle_id=cycle, year=year, submission_deadline=date(year, 12, 31), opened_by="bench"),
        "/bureau/hrss",
    )
    await caused(observer, opened, "ReviewCycleOpened", timeout_s=120)
    reviewers = [Reviewer(reviewer_id=f"REV-L{n}", name=f"评审{n}", institution=f"评审机构{n}") for n in range(3)]
    before_the_deadline: list[str] = []
    for order_id, demand in orders:
        indicators = tuple(
            IndicatorResult(
                indicator=t.indicator, label=t.label, unit=t.unit, baseline=t.baseline, target=t.target, actual=t.target
            )
            for t in demand.outcome_targets
        )
        report_id, _ = await send(
            client,
            OutcomeReportSubmitted(
                report_id=f"RPT-{order_id}",
                cycle_id=cycle,
                order_id=order_id,
                indicators=indicators,
                work=WorkDone(
                    plan_compiled=True, problems_solved=1, local_talents_trained=1, research_results_transferred=0
                ),
                submitted_by="bench",
            ),
            "/portal/applications",
        )
        before_the_deadline.append(report_id)
        for reviewer in reviewers[:2]:
            scored, _ = await send(client, score(cycle, order_id, reviewer), reviewer_source(reviewer.reviewer_id))
            before_the_deadline.append(scored)
    await until_reviews_holds(reviews_db, _EVENTS_TAKEN, before_the_deadline, "every report and first score")
    set_programme_time(clock_file, datetime(year + 1, 1, 5, 1, 30, tzinfo=UTC))  # the deadline has passed
    out = []
    for order_id, _ in orders:
        event_id, sent_ms = await send(
            client, score(cycle, order_id, reviewers[2]), reviewer_source(reviewers[2].reviewer_id)
        )
        out.append(float(await caused(observer, event_id, "ReviewGraded") - sent_ms))
        await asyncio.sleep(0.02)
    return out


def score(cycle: str, order_id: str, reviewer: Reviewer) -> PanelScoreSubmitted:
    return PanelScoreSubmitted(
        cycle_id=cycle,
        order_id=order_id,
        reviewer=reviewer,
        scores=tuple(CriterionScore(criterion=c, score=80) for c in CRITERIA),
    )


async def background_load(client: ProgrammeClient, per_s: float, run: str, stop: asyncio.Event) -> int:
    """Demands to orders and expert records to matching, in pairs, at a steady `per_s` events/s:
    every 50 ms, what is due since the start goes to the producer together (one send awaited
    per event held the sender to ~70 events/s)."""
    order = generate(3).orders[2]
    sent, pairs = 0, 0
    started = time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - started) * per_s / 2) - pairs
        items: list[tuple[EventData, str]] = []
        for i in range(pairs + 1, pairs + due + 1):
            items.append(
                (
                    DemandSubmitted(
                        order_id=f"{order.county_code}-{run}-BG{i}",
                        demand=order.demand,
                        submitted_by=order.submitted_by,
                    ),
                    f"/counties/{order.county_code}",
                )
            )
            items.append(
                (
                    ExpertRegistered(
                        expert_id=f"EXP-{run}-BG{i}",
                        name=f"专家{i}",
                        institution="重庆大学",
                        qualifications=("young_talent",),
                        specialties=("中药材",),
                    ),
                    "/registry/talent",
                )
            )
        if items:
            await client.send_many(items)
            pairs += due
            sent += len(items)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.05)
    return sent


async def run(stack: Stack, samples: int, load: float) -> dict[str, Any]:
    watched = [f"{stack.topic_prefix}{events(s)}" for s in SERVICES]
    result: dict[str, Any] = {}
    async with (
        ProgrammeClient(
            stack.kafka,
            topic_prefix=stack.topic_prefix,
            keyring=stack.partner_keyring(),
            enrol=True,
            operator=stack.operator,
        ) as client,
        TopicObserver(stack.kafka, watched) as observer,
    ):
        await funding_latency(client, observer, 5, "WARM")  # consumers joined and fetching, not measured
        for year, (label, rate) in enumerate((("idle", 0.0), ("under_load", load)), start=YEAR):
            tag = f"{label[0].upper()}{uuid.uuid4().hex[:5]}"
            stop = asyncio.Event()
            loaded_from = time.monotonic()
            loader = asyncio.create_task(background_load(client, rate, tag, stop)) if rate else None
            await asyncio.sleep(1.0 if rate else 0)
            funding = await funding_latency(client, observer, samples, tag)
            review = await review_latency(
                client, observer, samples, tag, stack.database_url("reviews"), year, stack.clock_file
            )
            stop.set()
            sent = await loader if loader else 0
            result[label] = {
                "background_events_per_s": rate,
                "background_events_sent": sent,
                "background_events_per_s_achieved": round(sent / (time.monotonic() - loaded_from), 1) if rate else 0,
                "team_accepted_to_funding_released_ms": percentiles([step.ms for step in funding]),
                "team_accepted_to_funding_released_segments_ms": await funding_segments(
                    stack.database_url("funding"), funding
                ),
                "last_panel_score_to_review_graded_ms": percentiles(review),
            }
            print(label, json.dumps(result[label], ensure_ascii=False), flush=True)
    return result


def half_capacity(fallback: float = 150.0) -> float:
    """Half the stack's capacity for the background load, from the last bench.services run
    (results/services.json): pairs of a demand (orders) and an expert record (matching). Each
    service's rate was measured with the machine to itself; one pair costs the machine
    1/orders + 1/matching seconds, so it takes 1 / (1/orders + 1/matching) pairs a second, and
    half of that, in events, is 1 / (1/orders + 1/matching). Without the file: `fallback`."""
    measured = RESULTS / "services.json"
    if not measured.exists():
        return fallback
    rates = json.loads(measured.read_text())
    if not all(name in rates for name in ("orders", "matching")):
        return fallback
    orders, matching = (float(rates[name]["service_events_per_s"]) for name in ("orders", "matching"))
    return round(1 / (1 / orders + 1 / matching), 1)


def main() -> None:
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--load",
        default="half",
        help="background events/s under load; `half` (the default): half of what orders and matching "
        "drained in the last bench.services run (results/services.json), 150 when it has not run",
    )
    args = parser.parse_args()
    load = half_capacity() if args.load == "half" else float(args.load)
    configure_logging("bench", fmt="console", level="WARNING")
    stack = Stack(data_dir=BENCH_DATA, fresh=True, extra_env={"POLICY_ANNUAL_ENVELOPE_FEN": str(10**12)})
    stack.start()
    try:
        result = asyncio.run(run(stack, args.samples, load))
    finally:
        stack.stop()
    print(f"written to {write_result('latency', result)}")


if __name__ == "__main__":
    main()
