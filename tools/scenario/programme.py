"""Plays a seeded programme (seed.py) through the running services, phase by phase, acting
only as the partner systems and bureau staff would: it sends CloudEvents and waits for the
services' answers on the topics. Shows progress; ends with the official's report."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from opentelemetry.trace import Tracer

from shared.clock import local_date
from shared.contract.envelope import Envelope
from shared.contract.events.base import EventData
from shared.contract.events.funding import (
    DecideRectification,
    PaymentConfirmed,
    PaymentFailed,
    RectificationReportSubmitted,
    SetBudgetEnvelope,
)
from shared.contract.events.matching import (
    AwardOrder,
    DecideMemberChange,
    EndProject,
    RecommendAssignment,
    RequestMemberChange,
    TeamApplicationSubmitted,
    TeamComposition,
)
from shared.contract.events.orders import DemandEndorsed, DemandReturned, DemandSubmitted, PublishOrder
from shared.contract.events.reviews import (
    CloseReviewCycle,
    CriterionScore,
    DecideObjection,
    IndicatorResult,
    LodgeObjection,
    OpenMidTermCheck,
    OpenReviewCycle,
    OutcomeReportSubmitted,
    PanelScoreSubmitted,
    RecordServiceActivity,
    Reviewer,
    WorkDone,
)
from shared.contract.speakers import reviewer_source
from shared.policy import YUAN, format_yuan
from tools.client import Observed, ProgrammeClient, TopicObserver, wait_until_consumed
from tools.scenario.calendar import CalendarDriver, ProgrammeCalendar
from tools.scenario.cast import BUREAU_SOURCE, BUREAU_STAFF, county_source
from tools.scenario.report import Report, public_exports
from tools.scenario.seed import CRITERIA, MemberChange, SecondCallOrder, SeededOrder, SeedProgramme
from tools.scenario.traces import OrderTraces

REGISTRY_SOURCE = "/registry/talent"
PORTAL_SOURCE = "/portal/applications"
SERVICE_DAYS = 30
"""Days on site each project records in its first year (the policy's minimum, POLICY_MIN_SERVICE_DAYS_PER_YEAR):
half by the end of June, half from July to November."""
BEHIND_DAYS = 6
"""Days on site the story's flagged project records by the end of June (it makes up the rest later)."""


TREASURY_SOURCE = "/treasury/cq-finance"


def _more_than(count: Callable[[], int], seen: int) -> Callable[[], bool]:
    return lambda: count() > seen


@dataclass(frozen=True)
class Ask:
    """One event a partner sends, and the answer it expects: an event type, or `EventRejected(rule)`;
    `A|B` when either answer is right (e.g. an award without public notice is accepted at once)."""

    data: EventData
    source: str
    expect: str

    @property
    def expected_types(self) -> set[str]:
        return {e.split("(")[0] for e in self.expect.split("|")}


class ProgrammeRun:
    def __init__(
        self,
        client: ProgrammeClient,
        observer: TopicObserver,
        programme: SeedProgramme,
        *,
        out: Any = sys.stdout,
        exports_dir: Path | None = None,
        timeout_s: float = 120.0,
        narrate: bool = False,
        tracer: Tracer | None = None,
        clock_file: Path | None = None,
        two_years: bool = False,
        catch_up: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.calendar = CalendarDriver(clock_file, ProgrammeCalendar(programme.start)) if clock_file else None
        """With the services' clock file, each step happens on its date of the programme's calendar
        (tools/scenario/calendar.py); without, everything happens now, and the yearly review waits
        for its real deadline."""
        if self.calendar is not None:
            client.clock = self.calendar.clock  # the partners' events are dated by the programme's calendar
        self.client = client
        self.traces = OrderTraces(tracer) if tracer is not None else None
        """With a tracer, every command about an order is sent in that order's trace."""
        self.observer = observer
        self.p = programme
        self.out = out
        self.exports_dir = exports_dir
        self.timeout_s = timeout_s
        self.narrate = narrate
        """Show every event sent and what answered it (the demo's --story), not only each phase's count."""
        self.results_noticed = True
        """Whether the published results went on public notice (policy: 0 working days = none)."""
        self.two_years = two_years
        """Play on into the next year: rectification, and the next year's second call (the demo)."""
        self.report = Report(real_orders={o.order_id for o in programme.orders if o.real})
        self.approved_fen = {o.order_id: o.approved_fen for o in programme.orders if o.approved_fen is not None}
        """The amounts the bureau approves below the ask, by order."""
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.sent: dict[str, list[Envelope]] = {}
        self.started = time.monotonic()
        self.catch_up = catch_up
        """Awaited before the first ask after the programme's date moved: on the calendar weeks pass
        between two steps, so a service that is behind (a replica killed, its partitions moving)
        reads the past weeks' events before the partners ask what depends on them. It raises
        TimeoutError when a service does not catch up (a failure of the run)."""
        self.date_moved = False
        self.catch_up_waits: list[float] = []
        """Seconds each catch-up took (the fault suites' longest wait caused by a fault)."""

    # ---- sending and waiting --------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def on_date(self, step: str) -> None:
        """Within a step: the programme's date moves to the next part of it (said when it moves)."""
        if self.calendar is not None:
            day = self._move_date(self.calendar, step)
            self.say(f"   {day.year}年{day.month}月{day.day}日: {step}")

    def say_on(self, step: str, heading: str) -> None:
        """A step's heading; with a calendar, the programme's date moves to the step's first."""
        if self.calendar is None:
            self.say(heading)
            return
        day = self._move_date(self.calendar, step)
        self.say(f"{heading} — {day.year}年{day.month}月{day.day}日")

    def _move_date(self, calendar: CalendarDriver, step: str) -> date:
        """The programme's date moves to `step`'s; the next ask first waits for the services to catch up."""
        self.date_moved = True
        return calendar.step(step)

    async def _caught_up(self) -> None:
        """The services have read what happened before the date moved (see `catch_up`)."""
        if self.catch_up is None or not self.date_moved:
            return
        self.date_moved = False
        started = time.monotonic()
        try:
            await self.catch_up()
        except TimeoutError as exc:
            self.report.failures.append(f"the services did not catch up before the next step: {exc}")
        waited = time.monotonic() - started
        self.catch_up_waits.append(waited)
        if waited >= 1.0:
            self.say(f"   (the services caught up with the past weeks' events in {waited:.1f} s)")

    async def exchange(self, title: str, asks: Sequence[Ask]) -> dict[str, Observed]:
        """Send every ask, wait for each answer, count what differs from the expectation."""
        if not asks:
            return {}
        await self._caught_up()
        phase_started = time.monotonic()
        traces = [self.traces.context_for(a.data) for a in asks] if self.traces is not None else None
        envelopes = await self.client.send_many([(a.data, a.source) for a in asks], traces=traces)
        for envelope in envelopes:
            self.sent.setdefault(envelope.type, []).append(envelope)
        expected = {e.id: a for e, a in zip(envelopes, asks, strict=True)}

        def answer(envelope_id: str) -> Observed | None:
            ask = expected[envelope_id]
            for o in self.observer.answers_to(envelope_id):
                if o.type in ask.expected_types or o.type == "EventRejected":
                    return o
            return None

        def answered() -> int:
            return sum(1 for envelope_id in expected if answer(envelope_id) is not None)

        deadline = time.monotonic() + self.timeout_s
        while (done := answered()) < len(asks) and time.monotonic() < deadline:
            if self.tty:
                print(f"\r  … {title}: {done}/{len(asks)}", end="", file=self.out, flush=True)
            try:
                await self.observer.wait_until(_more_than(answered, done), timeout_s=1.0)
            except TimeoutError:
                continue
        answers = {envelope_id: o for envelope_id in expected if (o := answer(envelope_id)) is not None}
        surprises = self._check(expected, answers)
        mark = "✓" if not surprises and len(answers) == len(asks) else "✗"
        if self.tty:
            print("\r", end="", file=self.out)
        self.say(
            f"  {mark} {title}: {len(answers)}/{len(asks)} answered in {time.monotonic() - phase_started:.1f} s"
            + (f" — {'; '.join(surprises[:3])}" if surprises else "")
        )
        self.report.steps.append({"phase": title, "sent": len(asks), "answered": len(answers), "surprises": surprises})
        if self.narrate:
            for envelope_id, ask in expected.items():
                self._narrate(ask.source, ask.data.EVENT_TYPE, ask.data.subject(), answers.get(envelope_id))
        return answers

    def _narrate(self, source: str, event_type: str, subject: str, answer: Observed | None) -> None:
        if answer is None:
            said = "no answer"
        elif answer.type == "EventRejected":
            said = f"EventRejected {answer.data['reason_code']}: {answer.data.get('reason', '')}"
        else:
            said = f"{answer.type} from {answer.source}"
        self.say(f"      {source} sent {event_type} {subject} → {said}")

    def _check(self, expected: dict[str, Ask], answers: dict[str, Observed]) -> list[str]:
        surprises = []
        for envelope_id, ask in expected.items():
            o = answers.get(envelope_id)
            if o is None:
                surprises.append(f"no answer to {ask.data.EVENT_TYPE} {ask.data.subject()}")
                continue
            got = o.type or "?"
            if got == "EventRejected":
                got = f"EventRejected({o.data['reason_code']})"
            if got not in ask.expect.split("|"):
                detail = f": {o.data.get('reason')}" if o.type == "EventRejected" else ""
                surprises.append(f"{ask.data.EVENT_TYPE} {ask.data.subject()} answered {got}{detail}")
        self.report.failures.extend(surprises)
        return surprises

    async def await_caused(self, title: str, causes: Sequence[str], types: set[str]) -> None:
        """Wait until each cause has emitted at least one event of these types (automatic steps)."""
        phase_started = time.monotonic()

        def done() -> bool:
            return all(any(o.type in types for o in self.observer.answers_to(c)) for c in causes)

        try:
            await self.observer.wait_until(done, timeout_s=self.timeout_s)
            self.say(f"  ✓ {title}: {len(causes)} in {time.monotonic() - phase_started:.1f} s")
            if self.narrate:
                for cause in causes:
                    for o in self.observer.answers_to(cause):
                        if o.type in types:
                            self.say(f"      {o.source} emitted {o.type} {o.subject}")
        except TimeoutError:
            missing = sum(1 for c in causes if not any(o.type in types for o in self.observer.answers_to(c)))
            self.report.failures.append(f"{title}: {missing} of {len(causes)} did not happen")
            self.say(f"  ✗ {title}: {missing} of {len(causes)} did not happen")

    # ---- the programme ---------------------------------------------------------------------------

    async def play(self) -> Report:
        try:
            await self.until_the_awards()
            return await self.from_the_payments()
        finally:
            if self.traces is not None:
                self.traces.close()

    async def until_the_awards(self) -> None:
        """The first half of the year: from the villages' needs to the teams' awards and grants."""
        p = self.p
        self.say(
            f"Programme {p.call}: {len(p.orders)} orders, {len(p.experts)} experts, "
            f"seed {p.seed} (the two named projects are real, the rest synthetic)"
        )
        await self.villages_raise_needs()
        await self.counties_decide()
        await self.registry_announces_experts()
        await self.bureau_publishes()
        await self.teams_apply()
        await self.bureau_awards()

    async def from_the_payments(self) -> Report:
        """The second half: payments, the yearly review and its consequences, the published results."""
        p = self.p
        await self.treasury_pays("first payments")
        await self.during_the_service()
        await self.yearly_review()
        await self.bureau_publishes_results()
        await self.teams_object()
        await self.results_take_effect()
        await self.treasury_pays("year's payments")
        if self.two_years and p.story is not None and p.story.second_call:
            await self.the_next_year()
            await self.bureau_ends_a_project()
        await self.partner_guarantees()
        await self.observer.settle(0.5)
        self.report.summarize(self.observer.distinct)
        if self.exports_dir is not None:
            cycle = str(p.year)
            self.report.exports = await public_exports(self.exports_dir, cycle)
        return self.report

    def _demo_orders(self) -> tuple[SeededOrder, SeededOrder]:
        """The first two synthetic orders carry the scenario's few mistakes and corrections."""
        return self.p.orders[2], self.p.orders[min(3, len(self.p.orders) - 1)]

    async def villages_raise_needs(self) -> None:
        self.say_on("demands", "\n1. Villages raise needs; county systems submit them (基层乡村提出订单)")
        mistaken, _ = self._demo_orders()
        too_much = mistaken.demand.model_copy(update={"funding_asked_fen": 250_000 * YUAN})
        await self.exchange(
            "a demand asking 250,000 元 is refused",
            [
                Ask(
                    DemandSubmitted(order_id=mistaken.order_id, demand=too_much, submitted_by=mistaken.submitted_by),
                    county_source(mistaken.county_code),
                    "EventRejected(funding_out_of_range)",
                )
            ],
        )
        await self.exchange(
            "demands submitted",
            [
                Ask(
                    DemandSubmitted(order_id=o.order_id, demand=o.demand, submitted_by=o.submitted_by),
                    county_source(o.county_code),
                    "OrderSubmitted",
                )
                for o in self.p.orders
            ],
        )

    async def counties_decide(self) -> None:
        self.say_on("counties", "\n2. Counties collect and endorse (区县汇总)")
        _, returned = self._demo_orders()
        source = county_source(returned.county_code)
        await self.exchange(
            "one demand returned for more detail",
            [
                Ask(
                    DemandReturned(
                        order_id=returned.order_id, returned_by=returned.submitted_by, reason="请补充产出目标基线"
                    ),
                    source,
                    "OrderReturned",
                )
            ],
        )
        await self.exchange(
            "and resubmitted",
            [
                Ask(
                    DemandSubmitted(
                        order_id=returned.order_id, demand=returned.demand, submitted_by=returned.submitted_by
                    ),
                    source,
                    "OrderSubmitted",
                )
            ],
        )
        await self.exchange(
            "demands endorsed",
            [
                Ask(
                    DemandEndorsed(order_id=o.order_id, endorsed_by=o.submitted_by),
                    county_source(o.county_code),
                    "OrderEndorsed",
                )
                for o in self.p.orders
            ],
        )

    async def registry_announces_experts(self) -> None:
        self.say_on("registry", "\n3. The talent registry announces experts")
        await self.exchange(
            "experts recorded",
            [Ask(e, REGISTRY_SOURCE, "ExpertProfileRecorded") for e in self.p.experts],
        )

    async def bureau_publishes(self) -> None:
        self.say_on(
            "publication", "\n4. The bureau publishes the orders (统一发布订单); matching recommends candidates"
        )
        await self.exchange(
            f"budget envelope {self.p.year} set to {format_yuan(self.p.envelope_first_fen)}",
            [
                Ask(
                    SetBudgetEnvelope(year=self.p.year, amount_fen=self.p.envelope_first_fen, set_by=BUREAU_STAFF),
                    BUREAU_SOURCE,
                    "BudgetEnvelopeSet",
                )
            ],
        )
        answers = await self.exchange(
            "orders published",
            [
                Ask(
                    PublishOrder(order_id=o.order_id, published_by=BUREAU_STAFF, call=self.p.call),
                    BUREAU_SOURCE,
                    "OrderPublished",
                )
                for o in self.p.orders
            ],
        )
        published = [o.envelope.id for o in answers.values() if o.envelope is not None]
        await self.await_caused("candidates recommended for each order", published, {"CandidatesRecommended"})

    async def teams_apply(self) -> None:
        self.say_on("applications", "\n5. Lead experts apply with 1+N+1 teams (专家组团接单)")
        target, _ = self._demo_orders()
        spares = [
            e
            for e in self.p.spare_experts
            if e.qualifications[0]
            in {
                "national_talent_project",
                "state_council_allowance",
                "chongqing_talent_scientist",
                "other_national_title",
                "other_municipal_title",
            }
        ]
        others = [e for e in self.p.spare_experts if e not in spares]
        asks = [self._application(o, o.team, f"APP-{o.order_id}", "ApplicationReceived") for o in self.p.orders]
        if spares and len(others) >= 2:
            no_local = TeamComposition(
                team_id="TEAM-SPARE-NOLOCAL",
                name=f"{spares[0].name}团队（无本地人才）",
                lead_expert_id=spares[0].expert_id,
                member_expert_ids=(others[0].expert_id, others[1].expert_id),
            )
            asks.append(
                self._application(target, no_local, f"APP-{target.order_id}-X", "EventRejected(no_local_talent)")
            )
        await self.exchange("applications", asks)

    def _application(self, order: SeededOrder, team: TeamComposition, application_id: str, expect: str) -> Ask:
        return Ask(
            TeamApplicationSubmitted(
                application_id=application_id,
                order_id=order.order_id,
                team=team,
                plan=f"{team.name}：编制项目规划、解决技术难题、培养本地人才、培育品牌和产业链",
                site=order.site,
                service_period=order.demand.service_period,
                funding_asked_fen=order.demand.funding_asked_fen,
            ),
            PORTAL_SOURCE,
            expect,
        )

    async def bureau_awards(self) -> None:
        self.say_on("awards", "\n6. The bureau takes the optimal assignment's advice and awards (确定承接团队)")
        answers = await self.exchange(
            "optimal assignment of the call",
            [
                Ask(
                    RecommendAssignment(call=self.p.call, requested_by=BUREAU_STAFF),
                    BUREAU_SOURCE,
                    "AssignmentRecommended",
                )
            ],
        )
        ((asked, advice),) = answers.items()
        parts = await self.observer.all_parts(asked, "AssignmentRecommended", timeout_s=self.timeout_s)
        pairs = [pair for part in parts for pair in part.data.get("pairs", [])]
        unassigned = [order for part in parts for order in part.data.get("unassigned_orders", [])]
        self.say(
            f"        advice: {len(pairs)} pairs, total mismatch {advice.data.get('total_mismatch')}, "
            f"{len(unassigned)} orders unassigned ({len(parts)} part{'s' if len(parts) > 1 else ''})"
        )
        accepted = await self.award(pairs, "awards in effect")
        causes = [o.envelope.id for o in accepted if o.envelope is not None]
        await self.await_caused("grants opened or held by funding", causes, {"GrantOpened", "GrantHeld"})
        held = len(self.observer.distinct_of_type("GrantHeld"))
        self.say(f"        {held} grants held: the {self.p.year} envelope is exhausted")
        raised = await self.exchange(
            f"the bureau raises the envelope to {format_yuan(self.p.envelope_raised_fen)}",
            [
                Ask(
                    SetBudgetEnvelope(year=self.p.year, amount_fen=self.p.envelope_raised_fen, set_by=BUREAU_STAFF),
                    BUREAU_SOURCE,
                    "BudgetEnvelopeSet",
                )
            ],
        )
        if held:
            cause = list(raised)
            await self.observer.wait_until(
                lambda: len(self.observer.distinct_of_type("GrantOpened")) >= len(causes), timeout_s=self.timeout_s
            )
            opened = sum(1 for x in self.observer.answers_to(cause[0]) if x.type == "GrantOpened")
            self.say(f"  ✓ held grants opened within the raised envelope: {opened}")

    async def award(self, pairs: Sequence[dict[str, Any]], in_effect: str) -> list[Observed]:
        """Award each pair; the award list is publicly noticed (公示) and takes effect when the
        notice ends: matching then emits TeamAccepted. Returns the TeamAccepted events."""
        answers = await self.exchange(
            "orders awarded; the award list is publicly noticed (公示)",
            [
                Ask(
                    AwardOrder(
                        order_id=pair["order_id"],
                        application_id=pair["application_id"],
                        awarded_by=BUREAU_STAFF,
                        approved_fen=self.approved_fen.get(pair["order_id"]),
                    ),
                    BUREAU_SOURCE,
                    "AwardAnnounced|TeamAccepted",
                )
                for pair in pairs
            ],
        )
        announced = [o for o in answers.values() if o.type == "AwardAnnounced"]
        ends = sorted({o.data["notice_ends_on"] for o in announced})
        if announced:
            self.say(f"        notice of {len(announced)} awards until {', '.join(ends)}")
        else:
            self.say("        no public notice by policy: the awards took effect at once")
        orders = {o.data["order_id"] for o in answers.values() if o.type in ("AwardAnnounced", "TeamAccepted")}
        self.on_date(in_effect)

        def accepted() -> list[Observed]:
            return [o for o in self.observer.distinct_of_type("TeamAccepted") if o.data["order_id"] in orders]

        try:
            await self.observer.wait_until(lambda: len(accepted()) >= len(orders), timeout_s=self.timeout_s)
            after = "the notice over with no objection: " if announced else ""
            self.say(f"  ✓ {after}{len(accepted())} teams accepted their orders (TeamAccepted)")
            for o in accepted():
                approved, asked = o.data.get("approved_fen"), o.data["funding_asked_fen"]
                if approved is not None and approved != asked:
                    self.say(
                        f"        {o.data['order_id']}: {o.data['team_name']} asked {format_yuan(asked)}, "
                        f"the bureau approved {format_yuan(approved)}"
                    )
        except TimeoutError:
            missing = len(orders) - len(accepted())
            self.report.failures.append(f"awards in effect: {missing} of {len(orders)} not accepted")
            self.say(f"  ✗ awards in effect: {missing} of {len(orders)} not accepted")
        return accepted()

    async def treasury_pays(self, step: str) -> None:
        released = self.observer.distinct_of_type("FundingReleased")
        paid = {o.data["release_id"] for o in self.observer.distinct_of_type("ReleasePaid")}
        unpaid = [o for o in released if o.data["release_id"] not in paid]
        if not unpaid:
            return
        self.say_on(step, "\n   The treasury pays what funding released (资助经费)")
        if not self.observer.distinct_of_type("PaymentRetryRequested"):
            first = unpaid[0].data
            await self.exchange(
                "a payment fails once and is retried",
                [
                    Ask(
                        PaymentFailed(release_id=first["release_id"], reason="收款账户信息待核实"),
                        TREASURY_SOURCE,
                        "PaymentRetryRequested",
                    )
                ],
            )
        today = local_date(self.client.clock.now())
        await self.exchange(
            f"payments confirmed ({format_yuan(sum(o.data['amount_fen'] for o in unpaid))})",
            [
                Ask(
                    PaymentConfirmed(
                        release_id=o.data["release_id"],
                        amount_fen=o.data["amount_fen"],
                        payment_reference=f"CQCZ-{o.data['release_id']}",
                        paid_on=today,
                    ),
                    TREASURY_SOURCE,
                    "ReleasePaid",
                )
                for o in unpaid
            ],
        )

    # ---- during the service period (定点、定人、定服务期) --------------------------------------------

    async def during_the_service(self) -> None:
        """The year's service: a member change, days on site, and (on the calendar) the mid-term check."""
        story = self.p.story
        if story is not None and story.member_change is not None:
            await self.members_change(story.member_change)
        await self.service_on_site("service: first half", 1)
        if self.calendar is not None:
            await self.mid_term_check()

    async def members_change(self, change: MemberChange) -> None:
        order = change.order
        self.say_on(
            "member change requested",
            f"\n   During the service: the lead of {order.order_id} asks to change the team's people (人员变更)",
        )
        requests = (
            (f"MC-{order.order_id}-1", change.leaving, change.joining, f"{change.leaving.name}因病无法继续驻点服务"),
            (
                f"MC-{order.order_id}-2",
                change.refused_leaving,
                change.refused_joining,
                f"{change.refused_leaving.name}工作调动",
            ),
        )
        await self.exchange(
            "the lead's requests recorded",
            [
                Ask(
                    RequestMemberChange(
                        change_id=change_id,
                        order_id=order.order_id,
                        kind="replace",
                        leaving_expert_id=leaving.expert_id,
                        joining_expert_id=joining.expert_id,
                        effective_from=change.effective_from,
                        reason=reason,
                        requested_by=order.team.lead_expert_id,
                    ),
                    PORTAL_SOURCE,
                    "MemberChangeRequested",
                )
                for change_id, leaving, joining, reason in requests
            ],
        )
        self.on_date("member change decided")
        answers = await self.exchange(
            "the bureau decides, the acceptance rules checked again on the changed team",
            [
                Ask(
                    DecideMemberChange(
                        change_id=change_id,
                        order_id=order.order_id,
                        approve=True,
                        reason="同意更换，新成员具备相应专业能力",
                        decided_by=BUREAU_STAFF,
                    ),
                    BUREAU_SOURCE,
                    expect,
                )
                for (change_id, *_), expect in zip(
                    requests, ("MemberChangeApproved", "MemberChangeRefused"), strict=True
                )
            ],
        )
        for answer in answers.values():
            d = answer.data
            if answer.type == "MemberChangeApproved":
                self.say(
                    f"        {d['change_id']}: {d['leaving']['name']} leaves, {d['joining']['name']} "
                    f"({d['joining']['institution']}) joins from {d['effective_from']}; the team is now "
                    f"1+{len(d['members'])}+{len(d['local_talents'])}"
                )
            elif answer.type == "MemberChangeRefused":
                self.say(f"        {d['change_id']} refused, rule {d['rule']}: {d['reason']}")

    async def service_on_site(self, step: str, half: int) -> None:
        """The leads record their days on site through the portal (half 1: January to June; 2: July on)."""
        if half == 1:
            self.say_on(step, "\n   Experts record their days on site through the portal (驻点服务)")
        asks = [self._service_day(o, number, day) for o in self.p.orders for number, day in self._days_on_site(o, half)]
        months = "January to June" if half == 1 else "July to November"
        await self.exchange(f"days on site recorded, {months}", asks)
        recorded = Counter(o.data["order_id"] for o in self.observer.distinct_of_type("ServiceActivityRecorded"))
        fewest = min(recorded.values(), default=0)
        self.say(
            f"        {sum(recorded.values())} days on site in all on {len(recorded)} projects so far "
            f"(fewest on one project: {fewest}; most: {max(recorded.values(), default=0)})"
        )

    def _days_on_site(self, order: SeededOrder, half: int) -> list[tuple[int, date]]:
        """(number, day) of the lead's days on site in each half of the first service year: every 11th
        day from its 4th in the first half, every 9th from its 186th in the second (the story's project
        that falls behind: fewer in the first half, every 5th day in the second)."""
        story = self.p.story
        behind = story is not None and story.flagged is not None and story.flagged.order_id == order.order_id
        first = BEHIND_DAYS if behind else SERVICE_DAYS // 2
        start = order.demand.service_period.start
        if half == 1:
            return [(n + 1, start + timedelta(days=3 + 11 * n)) for n in range(first)]
        step = 5 if behind else 9
        return [(first + n + 1, start + timedelta(days=185 + step * n)) for n in range(SERVICE_DAYS - first)]

    async def mid_term_check(self) -> None:
        year = self.p.year
        self.say_on("mid-term check", "\n   The bureau's mid-term check (中期检查): is every project on pace?")
        as_of = local_date(self.client.clock.now())
        answers = await self.exchange(
            "mid-term check made",
            [
                Ask(
                    OpenMidTermCheck(check_id=f"MTC-{year}", year=year, as_of=as_of, opened_by=BUREAU_STAFF),
                    BUREAU_SOURCE,
                    "MidTermCheckCompleted",
                )
            ],
        )
        story = self.p.story
        expected = [story.flagged.order_id] if story is not None and story.flagged is not None else []
        for asked, answer in answers.items():
            if answer.type == "MidTermCheckCompleted":
                await self._flags_told(asked, answer, expected)

    async def _flags_told(self, asked: str, completed: Observed, expected: list[str]) -> None:
        """The check's ProjectFlagged events (each team told why), said; the flags are the story's."""
        flagged = list(completed.data["flagged_order_ids"])

        def told() -> list[Observed]:
            return [o for o in self.observer.answers_to(asked) if o.type == "ProjectFlagged"]

        try:
            await self.observer.wait_until(lambda: len(told()) >= len(flagged), timeout_s=self.timeout_s)
        except TimeoutError:
            self.report.failures.append(f"mid-term check: {len(told())} of {len(flagged)} teams told")
        self.say(
            f"        {completed.data['checked']} projects checked as of {completed.data['as_of']}, "
            f"{len(flagged)} flagged"
        )
        for o in told():
            self.say(
                f"        {o.data['order_id']} flagged, {o.data['team_name']} told: {'; '.join(o.data['reasons'])}"
            )
        if sorted(flagged) != expected:
            self.report.failures.append(f"mid-term check flagged {flagged}, expected {expected}")

    # ---- the yearly review -------------------------------------------------------------------------

    async def yearly_review(self) -> None:
        p = self.p
        cycle = str(p.year)
        self.say_on(
            "review opened", f"\n7. A year of service later: the yearly assessment (每年进行考核评估), cycle {cycle}"
        )
        deadline = (
            self.calendar.calendar.report_deadline
            if self.calendar is not None
            else local_date(self.client.clock.now()) + timedelta(days=30)
        )
        # A year passes in seconds here: the reviews service (perhaps just restarted) must have
        # read every TeamAccepted before the cycle decides which projects it reviews.
        await wait_until_consumed(
            self.client.kafka,
            f"{self.client.topic_prefix}reviews",
            self.observer.distinct_of_type("TeamAccepted"),
            timeout_s=self.timeout_s,
        )
        await self.service_on_site("review opened", 2)
        await self.exchange(
            "review cycle opened",
            [
                Ask(
                    OpenReviewCycle(cycle_id=cycle, year=p.year, submission_deadline=deadline, opened_by=BUREAU_STAFF),
                    BUREAU_SOURCE,
                    "ReviewCycleOpened",
                )
            ],
        )
        self.on_date("reports")
        await self.exchange("outcome reports accepted", [self._report(o, cycle) for o in p.orders])
        self.on_date("panel scores")
        if p.conflicted is not None:
            reviewer, order = p.conflicted
            await self.exchange(
                "a reviewer of the lead's institution is refused",
                [
                    Ask(
                        self._score(order, reviewer, 99.0, cycle),
                        reviewer_source(reviewer.reviewer_id),
                        "EventRejected(reviewer_same_institution)",
                    )
                ],
            )
        scores = [
            Ask(self._score(o, r, s, cycle), reviewer_source(r.reviewer_id), "PanelScoreRecorded")
            for o in p.orders
            for r, s in o.panel
        ]
        await self.exchange("panel scores recorded", scores)
        try:
            await self.observer.wait_until(
                lambda: len(self._of_cycle("ReviewGraded")) >= len(p.orders), timeout_s=self.timeout_s
            )
        except TimeoutError:
            self.report.failures.append(f"graded: {len(self._of_cycle('ReviewGraded'))} of {len(p.orders)}")
        grades = Counter(o.data["grade"] for o in self._of_cycle("ReviewGraded"))
        self.say(
            f"  ✓ projects graded by their panels: {sum(grades.values())} ({dict(sorted(grades.items()))}); "
            "no consequence before the results are public"
        )

    def _of_cycle(self, event_type: str) -> list[Observed]:
        cycle = str(self.p.year)
        return [o for o in self.observer.distinct_of_type(event_type) if o.data.get("cycle_id") == cycle]

    def _report(self, order: SeededOrder, cycle: str) -> Ask:
        indicators = tuple(
            IndicatorResult(
                indicator=t.indicator,
                label=t.label,
                unit=t.unit,
                baseline=t.baseline,
                target=t.target,
                actual=order.actuals[t.indicator],
            )
            for t in order.demand.outcome_targets
        )
        work = WorkDone(plan_compiled=True, problems_solved=5, local_talents_trained=3, research_results_transferred=1)
        return Ask(
            OutcomeReportSubmitted(
                report_id=f"RPT-{cycle}-{order.order_id}",
                cycle_id=cycle,
                order_id=order.order_id,
                indicators=indicators,
                work=work,
                submitted_by=order.team.name,
            ),
            PORTAL_SOURCE,
            "OutcomeReportAccepted",
        )

    def _service_day(self, order: SeededOrder, number: int, day: date) -> Ask:
        place = order.demand.place
        return Ask(
            RecordServiceActivity(
                activity_id=f"ACT-{order.order_id}-{number}",
                order_id=order.order_id,
                expert_id=order.team.lead_expert_id,
                on=day,
                township=place.township,
                village=place.village or place.township,
                kind="training",
                people_trained=3,
                hours=6,
                summary=f"{order.demand.industry}技术培训",
            ),
            PORTAL_SOURCE,
            "ServiceActivityRecorded",
        )

    def _score(self, order: SeededOrder, reviewer: Reviewer, score: float, cycle: str) -> PanelScoreSubmitted:
        return PanelScoreSubmitted(
            cycle_id=cycle,
            order_id=order.order_id,
            reviewer=reviewer,
            scores=tuple(CriterionScore(criterion=c, score=score) for c in CRITERIA),
        )

    async def bureau_publishes_results(self) -> None:
        self.say_on(
            "results published", "\n8. The cycle closes; the results are published for public notice (考核结果公示)"
        )
        answers = await self.exchange(
            "results published",
            [
                Ask(
                    CloseReviewCycle(cycle_id=str(self.p.year), closed_by=BUREAU_STAFF),
                    BUREAU_SOURCE,
                    "ReviewResultsPublished",
                )
            ],
        )
        for asked, answer in answers.items():
            if answer.type == "ReviewResultsPublished":
                parts = await self.observer.all_parts(asked, "ReviewResultsPublished", timeout_s=self.timeout_s)
                ends = answer.data.get("notice_ends_on")
                self.results_noticed = ends != str(local_date(self.client.clock.now()))
                notice = (
                    f"under public notice until {ends}" if self.results_noticed else "in effect at once (no notice)"
                )
                self.say(
                    f"        {sum(len(p.data['results']) for p in parts)} results in {len(parts)} part(s), {notice}"
                )

    async def teams_object(self) -> None:
        story = self.p.story
        if not self.results_noticed or story is None:
            return
        if story.objection_upheld is None and story.objection_rejected is None:
            return
        cycle = str(self.p.year)
        objected = [
            (o, upheld) for o, upheld in ((story.objection_upheld, True), (story.objection_rejected, False)) if o
        ]
        self.on_date("objections")
        await self.exchange(
            "teams object to their published results (异议)",
            [
                Ask(
                    LodgeObjection(
                        objection_id=f"OBJ-{cycle}-{o.order_id}",
                        cycle_id=cycle,
                        order_id=o.order_id,
                        grounds="示范面积与带动就业人数经县级部门核实高于报告所列，请求复核"
                        if upheld
                        else "认为成果应评为优秀，请求复核",
                        lodged_by=o.team.name,
                    ),
                    PORTAL_SOURCE,
                    "ObjectionLodged",
                )
                for o, upheld in objected
            ],
        )
        self.on_date("objections decided")
        await self.exchange(
            "the bureau decides the objections",
            [
                Ask(
                    DecideObjection(
                        objection_id=f"OBJ-{cycle}-{o.order_id}",
                        cycle_id=cycle,
                        order_id=o.order_id,
                        upheld=upheld,
                        reason="核实材料与报告不符，由新的评审组复核" if upheld else "复查评分与材料一致，维持原评定",
                        decided_by=BUREAU_STAFF,
                    ),
                    BUREAU_SOURCE,
                    "ObjectionUpheld" if upheld else "ObjectionRejected",
                )
                for o, upheld in objected
            ],
        )

    async def results_take_effect(self) -> None:
        p = self.p
        upheld = p.story.objection_upheld if p.story is not None and self.results_noticed else None
        self.say_on(
            "results in effect", "\n   The notice is over: the results take effect; funding applies the consequences"
        )
        await self._consequences(len(p.orders) - (1 if upheld else 0), "results in effect")
        if upheld is None:
            return
        self.on_date("re-review")
        cycle = str(p.year)
        await self.exchange(
            f"a new panel re-reviews {upheld.order_id} (复核)",
            [
                Ask(self._score(upheld, r, score, cycle), reviewer_source(r.reviewer_id), "PanelScoreRecorded")
                for r, score in upheld.rereview
            ],
        )
        await self._consequences(len(p.orders), "re-reviewed result in effect")

    async def _consequences(self, expected: int, title: str) -> None:
        try:
            await self.observer.wait_until(
                lambda: len(self._of_cycle("ReviewCompleted")) >= expected, timeout_s=self.timeout_s
            )
        except TimeoutError:
            self.report.failures.append(f"{title}: {len(self._of_cycle('ReviewCompleted'))} of {expected}")
        completed = [o.envelope.id for o in self._of_cycle("ReviewCompleted") if o.envelope]
        grades = Counter(o.data["grade"] for o in self._of_cycle("ReviewCompleted"))
        self.say(f"  ✓ {title}: {len(completed)} grades in effect ({dict(sorted(grades.items()))})")
        # Each review's events land on several partitions: the money decision (every project has
        # its first year's tranche left) may be seen after its incentives. The treasury pays what
        # it has seen, so wait for it.
        await self.await_caused(
            "consequences applied by funding: first service year's tranche released, or what is left withheld",
            completed,
            {"FundingReleased", "FundingWithheld"},
        )

    # ---- the next year (the demo): rectification and the next year's second call ----------------

    async def the_next_year(self) -> None:
        story = self.p.story
        assert story is not None
        cycle = str(self.p.year)
        self.say_on("second call: needs", f"\n9. {self.p.year + 1}: the next call ({story.second_call_name}) opens")
        await self.exchange(
            "the talent registry announces the new teams' experts",
            [Ask(e, REGISTRY_SOURCE, "ExpertProfileRecorded") for e in story.second_call_experts],
        )
        orders = [c.order for c in story.second_call]
        await self.exchange(
            "villages' needs submitted",
            [
                Ask(
                    DemandSubmitted(order_id=o.order_id, demand=o.demand, submitted_by=o.submitted_by),
                    county_source(o.county_code),
                    "OrderSubmitted",
                )
                for o in orders
            ],
        )
        await self.exchange(
            "and endorsed by their counties",
            [
                Ask(
                    DemandEndorsed(order_id=o.order_id, endorsed_by=o.submitted_by),
                    county_source(o.county_code),
                    "OrderEndorsed",
                )
                for o in orders
            ],
        )
        failing = [o for o in (story.rectification_accepted, story.rectification_rejected) if o is not None]
        self.say_on("rectification reports", "\n10. Unqualified teams rectify within the deadline (限期整改)")
        await self.exchange(
            "rectification reports submitted",
            [
                Ask(
                    RectificationReportSubmitted(
                        order_id=o.order_id,
                        review_id=f"RV-{cycle}-{o.order_id}",
                        summary="补种示范园、增设培训班，整改后主要指标达到年度目标的90%以上",
                        submitted_by=o.team.name,
                    ),
                    PORTAL_SOURCE,
                    "RectificationReportRecorded",
                )
                for o in failing
            ],
        )
        year = self.p.year + 1
        self.say_on("second call: publication", f"\n11. The bureau publishes the {story.second_call_name} call")
        envelope = sum(o.demand.funding_asked_fen for o in orders)
        await self.exchange(
            f"budget envelope {year} set to {format_yuan(envelope)}",
            [
                Ask(
                    SetBudgetEnvelope(year=year, amount_fen=envelope, set_by=BUREAU_STAFF),
                    BUREAU_SOURCE,
                    "BudgetEnvelopeSet",
                )
            ],
        )
        await self.exchange(
            "orders published",
            [
                Ask(
                    PublishOrder(order_id=o.order_id, published_by=BUREAU_STAFF, call=story.second_call_name),
                    BUREAU_SOURCE,
                    "OrderPublished",
                )
                for o in orders
            ],
        )
        self.on_date("rectification decisions")
        await self.exchange(
            "the bureau decides the rectifications",
            [
                Ask(
                    DecideRectification(
                        order_id=o.order_id,
                        review_id=f"RV-{cycle}-{o.order_id}",
                        accepted=o is story.rectification_accepted,
                        reason="整改到位，恢复拨付"
                        if o is story.rectification_accepted
                        else "整改措施未落实，终止项目",
                        decided_by=BUREAU_STAFF,
                    ),
                    BUREAU_SOURCE,
                    "RectificationAccepted" if o is story.rectification_accepted else "RectificationRejected",
                )
                for o in failing
            ],
        )
        self.say_on(
            "second call: applications",
            "\n12. Teams apply; a suspended team is refused, an excellent one applies for continued support",
        )
        await self.exchange(
            "applications",
            [self._second_call_application(c, n) for c in story.second_call for n in range(len(c.applications))],
        )
        self.say_on("second call: awards", "\n13. The bureau takes the assignment's advice and awards")
        answers = await self.exchange(
            "optimal assignment of the call",
            [
                Ask(
                    RecommendAssignment(call=story.second_call_name, requested_by=BUREAU_STAFF),
                    BUREAU_SOURCE,
                    "AssignmentRecommended",
                )
            ],
        )
        ((asked, _),) = answers.items()
        parts = await self.observer.all_parts(asked, "AssignmentRecommended", timeout_s=self.timeout_s)
        pairs = [pair for part in parts for pair in part.data.get("pairs", [])]
        accepted = await self.award(pairs, "second call: awards in effect")
        causes = [o.envelope.id for o in accepted if o.envelope is not None]
        await self.await_caused("grants opened by funding", causes, {"GrantOpened", "GrantHeld"})
        for o in accepted:
            if o.data.get("continued_support_of"):
                self.say(
                    f"        {o.data['team_name']} continues {o.data['continued_support_of']} (继续支持) "
                    f"on {o.data['order_id']}"
                )
        await self.treasury_pays("second call: awards in effect")
        self.say_on("rectification deadline passed", "\n14. The rectification deadline passes")
        silent = [
            o.order_id
            for o in self.p.orders
            if o.final_grade == "unqualified" and o not in (story.rectification_accepted, story.rectification_rejected)
        ]
        ended = {o.data["order_id"] for o in self.observer.distinct_of_type("ProjectEnded")}
        expected = set(silent) | ({story.rectification_rejected.order_id} if story.rectification_rejected else set())
        try:
            await self.observer.wait_until(
                lambda: expected <= {o.data["order_id"] for o in self.observer.distinct_of_type("ProjectEnded")},
                timeout_s=self.timeout_s,
            )
            ended = {o.data["order_id"] for o in self.observer.distinct_of_type("ProjectEnded")}
            self.say(
                f"  ✓ projects ended, withheld money forfeited: {len(ended)} "
                f"({len(silent)} sent no report by the deadline)"
            )
        except TimeoutError:
            self.report.failures.append(f"projects ended: {sorted(ended)} of {sorted(expected)}")
            self.say(f"  ✗ projects ended: {len(ended)} of {len(expected)}")

    async def bureau_ends_a_project(self) -> None:
        """The bureau ends a project before its service period is over (提前终止): its people are free,
        funding settles the money not yet released by policy."""
        story = self.p.story
        order = story.ended_early if story is not None else None
        if order is None:
            return
        self.say_on("project ended early", f"\n15. The bureau ends {order.order_id} before its service period is over")
        answers = await self.exchange(
            "project ended early (提前终止)",
            [
                Ask(
                    EndProject(
                        order_id=order.order_id,
                        effective_on=local_date(self.client.clock.now()),
                        reason="村里调整产业规划，该订单的需求已不存在（村委会申请，区县人力社保局核实）",
                        decided_by=BUREAU_STAFF,
                    ),
                    BUREAU_SOURCE,
                    "ProjectEndedEarly",
                )
            ],
        )
        ended = [o for o in answers.values() if o.type == "ProjectEndedEarly" and o.envelope is not None]
        if not ended:
            return
        d, cause = ended[0].data, ended[0].envelope.id if ended[0].envelope else ""
        self.say(
            f"        service planned until the day before {d['planned_end']}, ended on {d['ended_on']}; "
            f"{len(d['freed_expert_ids'])} people free to join other teams"
        )
        await self.await_caused("funding settles the grant", [cause], {"GrantSettled"})
        for o in self.observer.answers_to(cause):
            if o.type == "GrantSettled":
                g = o.data
                self.say(
                    f"        granted {format_yuan(g['granted_fen'])}: "
                    f"released before {format_yuan(g['released_before_fen'])}, "
                    f"released now {format_yuan(g['released_fen'])}, forfeited {format_yuan(g['forfeited_fen'])} "
                    f"(policy: {g['rule']}), {format_yuan(g['returned_to_budget_fen'])} back to the "
                    f"{g['budget_year']} budget"
                )
        await self.treasury_pays("project ended early")

    def _second_call_application(self, call: SecondCallOrder, number: int) -> Ask:
        team, continued, expect = call.applications[number]
        order = call.order
        return Ask(
            TeamApplicationSubmitted(
                application_id=f"APP-{order.order_id}-{number + 1}",
                order_id=order.order_id,
                team=team,
                plan=f"{team.name}："
                + ("在前期优秀项目基础上继续支持，延伸产业链" if continued else "编制项目规划、培养本地人才"),
                site=order.site,
                service_period=order.demand.service_period,
                funding_asked_fen=order.demand.funding_asked_fen,
                continued_support_of=continued,
            ),
            PORTAL_SOURCE,
            expect,
        )

    async def partner_guarantees(self) -> None:
        self.say("\nWhat partners can rely on")
        order = self.p.orders[0]
        publication = next(e for e in self.sent["PublishOrder"] if e.subject == order.order_id)
        await self.client.send_envelope(publication)  # the same event delivered again, months later
        await self.observer.settle(1.0)
        # distinct: a relay that crashed after publishing publishes the same event again
        copies = list({o.identity: o for o in self.observer.answers_to(publication.id)}.values())
        ok = len(copies) == 1
        self.say(
            f"  {'✓' if ok else '✗'} {order.order_id}'s PublishOrder delivered again: nothing new "
            f"({len(copies)} answer in total)"
        )
        if not ok:
            self.report.failures.append(f"a redelivered event was answered {len(copies)} times")
        await self._broken_message(order.order_id)

    async def _broken_message(self, key: str) -> None:
        county_system = f"/counties/{key.split('-', 1)[0]}"  # its own topic, opened when it first sent
        topic = self.client.topic_of("DemandSubmitted", county_system)
        sent = await self.client.send_raw(topic, b"{not json", key=key.encode())
        try:
            await self.observer.wait_until(
                lambda: any(
                    o.header("dlt.origin.topic") == topic and o.header("dlt.origin.offset") == str(sent.offset)
                    for o in self.observer.seen[-200:]
                ),
                timeout_s=30,
            )
            self.say("  ✓ a broken message is dead-lettered with its original bytes and reason not_json")
        except TimeoutError:
            self.report.failures.append("a broken message was not dead-lettered")
