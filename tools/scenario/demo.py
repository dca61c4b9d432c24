"""The README's demo: from villages' needs to orders taken by expert teams.

The scenario acts only as the partner systems and bureau staff would: it sends CloudEvents
and reads what the services emit (see cast.py for what is real and what is synthetic).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.clock import local_date
from shared.contract.envelope import Envelope
from shared.contract.events.base import EventData
from shared.contract.events.funding import PaymentConfirmed, PaymentFailed
from shared.contract.events.matching import (
    AwardOrder,
    RecommendAssignment,
    TeamApplicationSubmitted,
    TeamComposition,
)
from shared.contract.events.orders import (
    DemandEndorsed,
    DemandReturned,
    DemandSubmitted,
    PublishOrder,
    ServicePeriod,
    WithdrawDemand,
)
from shared.contract.events.reviews import (
    CloseReviewCycle,
    CriterionScore,
    IndicatorResult,
    OpenReviewCycle,
    OutcomeReportSubmitted,
    PanelScoreSubmitted,
    Reviewer,
    WorkDone,
)
from shared.contract.places import BUREAU_SOURCE, BUREAU_STAFF, county_source
from shared.policy import format_yuan
from shared.topics import REJECTIONS, SERVICES, deadletter, events
from tools.client import Observed, ProgrammeClient, TopicObserver
from tools.scenario import cast
from tools.scenario.report import Report, print_report, public_exports
from tools.stack.embedded import DATA_DIR
from tools.stack.launcher import Stack

YEAR = cast.programme_start().year
CALL = f"{YEAR}年第一批"
TIANMA, TEA, BEES, OIL_TEA = (f"{county}-{YEAR}-001" for county in ("500240", "500238", "500229", "500242"))
TREASURY_SOURCE = "/treasury/cq-finance"
REVIEWER_SOURCE = "/reviewers/panel"
REGISTRY_SOURCE = "/registry/talent"
PORTAL_SOURCE = "/portal/applications"


class Scenario:
    def __init__(
        self, client: ProgrammeClient, observer: TopicObserver, out: Any = sys.stdout, exports_dir: Path | None = None
    ) -> None:
        self.client = client
        self.exports_dir = exports_dir or DATA_DIR / "exports"
        self.observer = observer
        self.out = out
        self.report = Report()
        self.sent: list[Envelope] = []
        self.cycle_year = cast.programme_start().year
        self.cycle_id = str(self.cycle_year)
        self.payment_failed_once = False

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def step(self, actor: str, action: str, data: EventData, source: str, expect: str) -> Observed | None:
        envelope = await self.client.send(data, source=source)
        self.sent.append(envelope)
        return await self.expect(actor, action, envelope, expect)

    async def expect(self, actor: str, action: str, envelope: Envelope, expect: str) -> Observed | None:
        expected_type = expect.split("(")[0]

        def answers_it(o: Observed) -> bool:
            return (
                o.envelope is not None
                and o.envelope.causation_id == envelope.id
                and o.type in (expected_type, "EventRejected")
            )

        try:
            found = await self.observer.wait_for(answers_it, timeout_s=30)
        except TimeoutError:
            self.report.failures.append(f"{action}: no answer within 30 s")
            self.say(f"  ✗ {actor:14} {action} -> no answer")
            return None
        answer = next((o for o in found if o.type == expected_type), found[0])
        got, detail = answer.type or "?", ""
        if got == "EventRejected":
            got = f"EventRejected({answer.data['reason_code']})"
            detail = f": {answer.data['reason']}"
        mark = "✓" if got == expect else "✗"
        if got != expect:
            self.report.failures.append(f"{action}: expected {expect}, got {got}")
        self.say(f"  {mark} {actor:14} {action}\n        -> {got}{detail}")
        self.report.steps.append({"actor": actor, "action": action, "answer": got, "expected": expect})
        return answer

    async def play(self) -> Report:
        await self._villages_raise_needs()
        await self._counties_decide()
        await self._registry_announces_experts()
        await self._bureau_publishes()
        await self._teams_apply()
        await self._bureau_awards()
        await self._treasury_pays()
        await self._the_year_is_reviewed()
        await self._treasury_pays()
        await self._bureau_publishes_results()
        await self._partner_guarantees()
        await self.observer.settle(0.5)
        await self._summarize()
        return self.report

    # ---- 1-2: orders ------------------------------------------------------------------------------

    async def _villages_raise_needs(self) -> None:
        self.say("\n1. Villages raise needs; their county systems submit them (基层乡村提出订单)")
        shizhu, wuxi, chengkou, youyang = (county_source(c) for c in ("500240", "500238", "500229", "500242"))
        await self.step(
            "石柱县 system",
            f"submits {TIANMA} 洗新乡保合村 天麻 (150,000 元, 24 months)",
            DemandSubmitted(order_id=TIANMA, demand=cast.tianma_demand(), submitted_by="石柱县人力社保局"),
            shizhu,
            "OrderSubmitted",
        )
        await self.step(
            "巫溪县 system",
            f"submits {TEA} 红池坝镇茶园村 茶叶 (200,000 元, 36 months)",
            DemandSubmitted(order_id=TEA, demand=cast.tea_demand(), submitted_by="巫溪县人力社保局"),
            wuxi,
            "OrderSubmitted",
        )
        await self.step(
            "城口县 system",
            f"submits {BEES} 鸡鸣乡 中蜂 asking 250,000 元",
            DemandSubmitted(order_id=BEES, demand=cast.bee_demand(250_000), submitted_by="城口县人力社保局"),
            chengkou,
            "EventRejected(funding_out_of_range)",
        )
        await self.step(
            "城口县 system",
            "submits it again asking 180,000 元",
            DemandSubmitted(order_id=BEES, demand=cast.bee_demand(180_000), submitted_by="城口县人力社保局"),
            chengkou,
            "OrderSubmitted",
        )
        await self.step(
            "酉阳县 system",
            f"submits {OIL_TEA} 车田乡 油茶 (100,000 元)",
            DemandSubmitted(order_id=OIL_TEA, demand=cast.oil_tea_demand(), submitted_by="酉阳县人力社保局"),
            youyang,
            "OrderSubmitted",
        )

    async def _counties_decide(self) -> None:
        self.say("\n2. Counties endorse or return their villages' demands (区县汇总)")
        shizhu, wuxi, chengkou = (county_source(c) for c in ("500240", "500238", "500229"))
        await self.step(
            "石柱县 system",
            f"endorses {TIANMA}",
            DemandEndorsed(order_id=TIANMA, endorsed_by="石柱县人力社保局"),
            shizhu,
            "OrderEndorsed",
        )
        await self.step(
            "巫溪县 system",
            f"endorses {TEA}",
            DemandEndorsed(order_id=TEA, endorsed_by="巫溪县人力社保局"),
            wuxi,
            "OrderEndorsed",
        )
        await self.step(
            "城口县 system",
            f"returns {BEES}: targets need baselines",
            DemandReturned(order_id=BEES, returned_by="城口县人力社保局", reason="产出目标缺少基线值，请补充"),
            chengkou,
            "OrderReturned",
        )
        await self.step(
            "城口县 system",
            f"resubmits {BEES} with baselines",
            DemandSubmitted(
                order_id=BEES,
                demand=cast.bee_demand(180_000, revised=True),
                submitted_by="城口县人力社保局",
            ),
            chengkou,
            "OrderSubmitted",
        )
        await self.step(
            "城口县 system",
            f"endorses {BEES}",
            DemandEndorsed(order_id=BEES, endorsed_by="城口县人力社保局"),
            chengkou,
            "OrderEndorsed",
        )
        await self.step(
            "石柱县 system",
            f"tries to endorse 酉阳县's {OIL_TEA}",
            DemandEndorsed(order_id=OIL_TEA, endorsed_by="石柱县人力社保局"),
            shizhu,
            "EventRejected(county_mismatch)",
        )

    # ---- 3-4: experts and publication --------------------------------------------------------------

    async def _registry_announces_experts(self) -> None:
        self.say("\n3. The talent registry announces experts (names other than 郭顺星 and 钟应富 are synthetic)")
        sent = [await self.client.send(expert, source=REGISTRY_SOURCE) for expert in cast.EXPERTS]
        ids = {e.id for e in sent}
        try:
            recorded = await self.observer.wait_for(
                lambda o: (
                    o.type == "ExpertProfileRecorded" and o.envelope is not None and o.envelope.causation_id in ids
                ),
                count=len(ids),
                timeout_s=30,
            )
        except TimeoutError as exc:
            self.report.failures.append(f"expert registration: {exc}")
            return
        leads = [o.data["expert"]["name"] for o in recorded if o.data["can_lead"]]
        self.say(
            f"  ✓ registry        sends {len(sent)} experts\n        -> {len(recorded)} ExpertProfileRecorded; "
            f"may lead a team: {'、'.join(leads)}"
        )

    async def _bureau_publishes(self) -> None:
        self.say("\n4. The municipal bureau publishes endorsed orders (统一发布订单); matching recommends candidates")
        shizhu = county_source("500240")
        await self.step(
            "bureau",
            f"publishes {OIL_TEA} before its county endorsed it",
            PublishOrder(order_id=OIL_TEA, published_by=BUREAU_STAFF, call=CALL),
            BUREAU_SOURCE,
            "EventRejected(not_endorsed)",
        )
        await self.step(
            "石柱县 system",
            f"tries to publish {TIANMA} itself",
            PublishOrder(order_id=TIANMA, published_by="石柱县人力社保局", call=CALL),
            shizhu,
            "EventRejected(unauthorized_source)",
        )
        for order_id in (TIANMA, TEA, BEES):
            await self.step(
                "bureau",
                f"publishes {order_id} in {CALL}",
                PublishOrder(order_id=order_id, published_by=BUREAU_STAFF, call=CALL),
                BUREAU_SOURCE,
                "OrderPublished",
            )
            await self._show_recommendations(order_id)
        await self.step(
            "酉阳县 system",
            f"withdraws {OIL_TEA}: the village chose another plan",
            WithdrawDemand(order_id=OIL_TEA, withdrawn_by="酉阳县人力社保局", reason="村里调整了产业规划"),
            county_source("500242"),
            "OrderWithdrawn",
        )

    async def _show_recommendations(self, order_id: str) -> None:
        try:
            (recommended,) = await self.observer.wait_for(
                lambda o: o.type == "CandidatesRecommended" and o.subject == order_id, timeout_s=30
            )
        except (TimeoutError, ValueError):
            self.report.failures.append(f"no recommendations for {order_id}")
            return
        for candidate in recommended.data["experts"][:3]:
            self.say(
                f"        matching recommends {candidate['name']} ({candidate['score']:.2f}): "
                f"{'; '.join(candidate['reasons'][:2])}"
            )

    # ---- 5-6: applications and award --------------------------------------------------------------

    def _application(self, number: int, order_id: str, team: TeamComposition, site: str) -> TeamApplicationSubmitted:
        months = 36 if order_id.startswith("500238") else 24
        funding = {"500240": 150_000, "500238": 200_000, "500229": 180_000}[order_id[:6]] * 100
        return TeamApplicationSubmitted(
            application_id=f"APP-{YEAR}-{number:03d}",
            order_id=order_id,
            team=team,
            plan=f"{team.name}为{order_id}编制项目规划、解决技术难题、培养本地人才",
            site=site,
            service_period=ServicePeriod(start=cast.programme_start(), months=months),
            funding_asked_fen=funding,
        )

    async def _teams_apply(self) -> None:
        self.say("\n5. Lead experts apply with 1+N+1 teams (专家组团接单)")
        applications = [
            (
                "郭顺星",
                self._application(1, TIANMA, cast.GUO_TEAM, "洗新乡保合村天麻示范园"),
                "ApplicationReceived",
            ),
            ("何伟", self._application(2, TIANMA, cast.HERB_TEAM, "洗新乡保合村"), "ApplicationReceived"),
            (
                "孙磊",
                self._application(3, TIANMA, cast.NO_LOCAL_TEAM, "洗新乡保合村"),
                "EventRejected(no_local_talent)",
            ),
            (
                "钟应富",
                self._application(4, TEA, cast.ZHONG_TEAM, "红池坝镇茶园村"),
                "ApplicationReceived",
            ),
            ("黄志强", self._application(5, BEES, cast.BEE_TEAM, "鸡鸣乡祝乐村"), "ApplicationReceived"),
        ]
        for lead, application, expect in applications:
            team = application.team
            size = 1 + len(team.member_expert_ids) + len(team.local_talent_expert_ids)
            await self.step(
                f"{lead} (portal)",
                f"applies for {application.order_id} with {team.name}, {size} people",
                application,
                PORTAL_SOURCE,
                expect,
            )

    async def _bureau_awards(self) -> None:
        self.say("\n6. The bureau asks for the optimal assignment, then awards (确定承接团队)")
        advice = await self.step(
            "bureau",
            f"asks for the optimal assignment of {CALL}",
            RecommendAssignment(call=CALL, requested_by=BUREAU_STAFF),
            BUREAU_SOURCE,
            "AssignmentRecommended",
        )
        if advice is None or advice.envelope is None or advice.envelope.causation_id is None:
            return
        parts = await self.observer.all_parts(advice.envelope.causation_id, "AssignmentRecommended")
        pairs = [pair for part in parts for pair in part.data["pairs"]]
        for pair in pairs:
            self.say(
                f"        advice: {pair['order_id']} -> {pair['team_id']} (mismatch {pair['mismatch']:.3f}): "
                f"{'; '.join(pair['reasons'][:2])}"
            )
        for pair in pairs:
            await self.step(
                "bureau",
                f"awards {pair['order_id']} to {pair['team_id']}",
                AwardOrder(order_id=pair["order_id"], application_id=pair["application_id"], awarded_by=BUREAU_STAFF),
                BUREAU_SOURCE,
                "TeamAccepted",
            )

    # ---- 7: guarantees ---------------------------------------------------------------------------

    async def _treasury_pays(self) -> None:
        """Act as the treasury: pay every release not paid yet (the first one fails once)."""
        self.say("\n   The treasury pays what funding released (资助经费)")
        await self.observer.settle(0.5)
        released = [o for o in self.observer.seen if o.type == "FundingReleased"]
        paid = {o.data["release_id"] for o in self.observer.seen if o.type == "ReleasePaid"}
        for release in released:
            d = release.data
            if d["release_id"] in paid:
                continue
            if not self.payment_failed_once:
                self.payment_failed_once = True
                await self.step(
                    "treasury",
                    f"cannot pay {d['release_id']} ({format_yuan(d['amount_fen'])}) yet",
                    PaymentFailed(release_id=d["release_id"], reason="收款账户信息待核实"),
                    TREASURY_SOURCE,
                    "PaymentRetryRequested",
                )
            await self.step(
                "treasury",
                f"pays {d['release_id']}: {format_yuan(d['amount_fen'])} to {d['payee']['team_name']}",
                PaymentConfirmed(
                    release_id=d["release_id"],
                    amount_fen=d["amount_fen"],
                    payment_reference=f"CQCZ-{d['release_id']}",
                    paid_on=local_date(datetime.now(UTC)),
                ),
                TREASURY_SOURCE,
                "ReleasePaid",
            )

    async def _the_year_is_reviewed(self) -> None:
        self.say(f"\n7. A year of service later: the yearly assessment of {self.cycle_year} (每年进行考核评估)")
        deadline = local_date(datetime.now(UTC)) + timedelta(days=30)
        opened = await self.step(
            "bureau",
            f"opens review cycle {self.cycle_id}, reports due {deadline}",
            OpenReviewCycle(
                cycle_id=self.cycle_id, year=self.cycle_year, submission_deadline=deadline, opened_by=BUREAU_STAFF
            ),
            BUREAU_SOURCE,
            "ReviewCycleOpened",
        )
        if opened is None:
            return
        for review in opened.data["reviews"]:
            await self._team_reports(review["order_id"])
        for review in opened.data["reviews"]:
            await self._panel_scores(review["order_id"])

    async def _team_reports(self, order_id: str) -> None:
        order = next(o for o in self.observer.seen if o.type == "OrderPublished" and o.subject == order_id)
        indicators = tuple(
            IndicatorResult(
                indicator=t["indicator"],
                label=t["label"],
                unit=t["unit"],
                baseline=t["baseline"],
                target=t["target"],
                actual=cast.ACTUALS.get(t["indicator"], t["target"]),
            )
            for t in order.data["demand"]["outcome_targets"]
        )
        work = WorkDone(
            plan_compiled=True,
            problems_solved=6,
            local_talents_trained=3,
            research_results_transferred=1,
            brand=None,
            industry_chain=None,
        )
        achieved = ", ".join(f"{i.label} {_number(i.actual)}/{_number(i.target)}{i.unit}" for i in indicators)
        await self.step(
            "team (portal)",
            f"reports {order_id}: {achieved}",
            OutcomeReportSubmitted(
                report_id=f"RPT-{self.cycle_id}-{order_id}",
                cycle_id=self.cycle_id,
                order_id=order_id,
                indicators=indicators,
                work=work,
                submitted_by="领衔专家",
            ),
            PORTAL_SOURCE,
            "OutcomeReportAccepted",
        )

    async def _panel_scores(self, order_id: str) -> None:
        scores = cast.PANEL_SCORES[order_id[:6]]
        if order_id.startswith("500238"):
            rid, name, institution = cast.CONFLICTED_REVIEWER
            await self.step(
                name,
                f"tries to score {order_id} (same institution as its lead)",
                self._score(order_id, rid, name, institution, 99.0),
                REVIEWER_SOURCE,
                "EventRejected(reviewer_same_institution)",
            )
        for (rid, name, institution), score in zip(cast.REVIEWERS, scores, strict=True):
            last = rid == cast.REVIEWERS[-1][0]
            await self.step(
                name,
                f"scores {order_id}: {score:g}",
                self._score(order_id, rid, name, institution, score),
                REVIEWER_SOURCE,
                "ReviewCompleted" if last else "PanelScoreRecorded",
            )
        await self._show_consequences(order_id)

    async def _show_consequences(self, order_id: str) -> None:
        (completed,) = [o for o in self.observer.seen if o.type == "ReviewCompleted" and o.subject == order_id]
        review_event = completed.envelope.id if completed.envelope else ""

        def caused_by_review(o: Observed) -> bool:
            return o.envelope is not None and o.envelope.causation_id == review_event

        try:
            await self.observer.wait_for(
                lambda o: caused_by_review(o) and o.type in {"FundingReleased", "FundingWithheld"}, timeout_s=30
            )
        except TimeoutError:
            self.report.failures.append(f"no funding consequence of the review of {order_id}")
            return
        await self.observer.settle(0.3)
        caused = Counter(o.type or "" for o in self.observer.seen if caused_by_review(o))
        listed = ", ".join(f"{t} ×{n}" if n > 1 else t for t, n in sorted(caused.items()))
        self.say(f"        funding acts on {completed.data['grade']}: {listed}")

    def _score(self, order_id: str, rid: str, name: str, institution: str, score: float) -> PanelScoreSubmitted:
        criteria = (
            "outcomes_achieved",
            "plan_and_management",
            "local_talent_trained",
            "brand_and_industry_chain",
            "research_transferred",
        )
        return PanelScoreSubmitted(
            cycle_id=self.cycle_id,
            order_id=order_id,
            reviewer=Reviewer(reviewer_id=rid, name=name, institution=institution),
            scores=tuple(CriterionScore(criterion=c, score=score) for c in criteria),
        )

    async def _bureau_publishes_results(self) -> None:
        self.say("\n8. The bureau closes the cycle; the results are published (考核结果向社会公布)")
        published = await self.step(
            "bureau",
            f"closes review cycle {self.cycle_id}",
            CloseReviewCycle(cycle_id=self.cycle_id, closed_by=BUREAU_STAFF),
            BUREAU_SOURCE,
            "ReviewResultsPublished",
        )
        if published is not None and published.envelope is not None and published.envelope.causation_id:
            parts = await self.observer.all_parts(published.envelope.causation_id, "ReviewResultsPublished")
            for result in (r for part in parts for r in part.data["results"]):
                self.say(
                    f"        {result['county_name']} {result['project']}: {result['team_name']} "
                    f"({result['institution']}) — {result['grade']}"
                )

    async def _partner_guarantees(self) -> None:
        self.say("\n9. What partners can rely on")
        await self._redelivery_changes_nothing()
        await self._broken_message_is_dead_lettered()

    async def _redelivery_changes_nothing(self) -> None:
        """Send one PublishOrder twice with the same id: the second changes and emits nothing."""
        envelope = next(
            (e for e in self.sent if e.type == "PublishOrder" and e.subject == TEA and e.source == BUREAU_SOURCE),
            None,
        )
        if envelope is None:
            self.report.failures.append("redelivery: could not find the original PublishOrder")
            return
        await self.client.send_envelope(envelope)
        await self.observer.settle(1.0)
        answers = [o for o in self.observer.seen if o.envelope and o.envelope.causation_id == envelope.id]
        ok = len(answers) == 1
        if not ok:
            self.report.failures.append(f"redelivery produced {len(answers)} answers instead of 1")
        self.say(
            f"  {'✓' if ok else '✗'} bureau         sends the same PublishOrder (id {envelope.id[:8]}…) again"
            f"\n        -> nothing new: {len(answers)} OrderPublished for it in total"
        )

    async def _broken_message_is_dead_lettered(self) -> None:
        await self.client.send_raw(self.client.topic("orders.inbound"), b"{this is not json", key=TIANMA.encode())
        try:
            (letter,) = await self.observer.wait_for(lambda o: o.header("dlt.reason") == "not_json", timeout_s=30)
            self.say(
                f"  ✓ unknown sender sends a broken message\n        -> dead letter "
                f"{letter.topic}:{letter.partition}:{letter.offset} reason=not_json, original bytes kept"
            )
        except TimeoutError:
            self.report.failures.append("broken message: no dead letter")

    async def _summarize(self) -> None:
        self.report.summarize(self.observer.distinct)
        self.report.exports = await public_exports(self.exports_dir, self.cycle_id)


def _number(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:,.2f}"


async def play_demo(
    bootstrap_servers: str, topic_prefix: str = "", *, out: Any = sys.stdout, exports_dir: Path | None = None
) -> Report:
    watched = [*(events(s) for s in SERVICES), REJECTIONS, *(deadletter(s) for s in SERVICES)]
    async with (
        ProgrammeClient(bootstrap_servers, topic_prefix=topic_prefix) as client,
        TopicObserver(bootstrap_servers, [f"{topic_prefix}{t}" for t in watched]) as observer,
    ):
        return await Scenario(client, observer, out=out, exports_dir=exports_dir).play()


async def play_programme(
    bootstrap_servers: str,
    topic_prefix: str = "",
    *,
    orders: int = 45,
    seed: int = 2019,
    out: Any = sys.stdout,
    exports_dir: Path | None = None,
) -> Report:
    from tools.scenario.programme import ProgrammeRun
    from tools.scenario.seed import generate

    watched = [*(events(s) for s in SERVICES), REJECTIONS, *(deadletter(s) for s in SERVICES)]
    async with (
        ProgrammeClient(bootstrap_servers, topic_prefix=topic_prefix) as client,
        TopicObserver(bootstrap_servers, [f"{topic_prefix}{t}" for t in watched]) as observer,
    ):
        run = ProgrammeRun(client, observer, generate(orders, seed=seed), out=out, exports_dir=exports_dir)
        return await run.play()


def run_demo(
    *,
    story: bool = False,
    orders: int = 45,
    seed: int = 2019,
    keep_running: bool = False,
    report_path: Path | None = None,
) -> int:
    """Start the embedded stack, play the seeded programme (or the narrated story), report."""
    from tools.stack.monitor import MemoryMonitor

    embedded = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and not os.environ.get("DATABASE_URL")
    earlier = embedded and (DATA_DIR / "kafka").exists()
    if earlier:
        print(
            f"An earlier programme is kept in {DATA_DIR} (broker log directory and service databases): "
            "the demo clears it and plays a fresh programme.",
            flush=True,
        )
    print("Starting the embedded stack (PostgreSQL, Apache Kafka, four services)...", flush=True)
    stack = Stack(fresh=earlier)
    started = time.monotonic()
    try:
        stack.start()
        print(
            f"Stack ready in {time.monotonic() - started:.1f} s: broker {stack.bootstrap_servers}, "
            f"services {', '.join(stack.processes)}; service logs in {stack.data_dir / 'logs'}",
            flush=True,
        )
        exports = stack.data_dir / "exports"
        with MemoryMonitor(stack.pids()) as memory:
            if story:
                report = asyncio.run(play_demo(stack.bootstrap_servers, stack.topic_prefix, exports_dir=exports))
            else:
                report = asyncio.run(
                    play_programme(
                        stack.bootstrap_servers, stack.topic_prefix, orders=orders, seed=seed, exports_dir=exports
                    )
                )
        print_report(report)
        print(f"Peak memory of the whole stack (services, broker, PostgreSQL): {memory.peak_mib:.0f} MiB")
        document = report.as_dict() | {
            "scenario": "story" if story else f"seeded programme: {orders} orders, seed {seed}",
            "synthetic": "all data except the two named projects and their leads",
            "stack_peak_memory_mib": round(memory.peak_mib),
        }
        target = report_path or stack.data_dir / "demo-report.json"
        target.write_text(json.dumps(document, ensure_ascii=False, indent=2))
        print(f"Machine-readable report: {target}")
        followed = TIANMA if story else "500240-" + str(YEAR) + "-001"
        if keep_running:
            print(f"The stack keeps running (Ctrl-C stops it). Try: .venv/bin/expert-teams follow {followed}")
            while True:
                time.sleep(1)
        print(
            f"The programme's events and state are kept in {stack.data_dir}: `.venv/bin/expert-teams stack` "
            f"starts the stack again on them, and `.venv/bin/expert-teams follow {followed}` shows an order's history."
        )
        return 0 if report.ok else 1
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()
