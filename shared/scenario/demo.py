"""The README's demo: from villages' needs to orders taken by expert teams.

The scenario acts only as the partner systems and bureau staff would: it sends CloudEvents
and reads what the services emit (see cast.py for what is real and what is synthetic).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from shared.client import Observed, ProgrammeClient, TopicObserver
from shared.contract.envelope import Envelope
from shared.contract.events.base import EventData
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
from shared.policy import format_yuan
from shared.scenario import cast
from shared.scenario.places import BUREAU_SOURCE, BUREAU_STAFF, COUNTIES, county_source
from shared.stack.launcher import Stack
from shared.topics import REJECTIONS, SERVICES, deadletter, events

CALL = "2019年第一批"
REGISTRY_SOURCE = "/registry/talent"
PORTAL_SOURCE = "/portal/applications"

STATE_OF = {
    "OrderSubmitted": "submitted",
    "OrderEndorsed": "endorsed",
    "OrderReturned": "returned",
    "OrderPublished": "published",
    "OrderAwarded": "awarded",
    "OrderWithdrawn": "withdrawn",
    "OrderCancelled": "cancelled",
}
APPLICATION_STATE_OF = {
    "ApplicationReceived": "received",
    "ApplicationWithdrawn": "withdrawn",
    "ApplicationDeclined": "declined",
    "TeamAccepted": "accepted",
}


@dataclass
class Report:
    started: float = field(default_factory=time.monotonic)
    steps: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    orders: dict[str, str] = field(default_factory=dict)
    applications: dict[str, str] = field(default_factory=dict)
    projects: list[dict[str, Any]] = field(default_factory=list)
    experts_recorded: int = 0
    recommendations: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    events_seen: int = 0
    funding_asked_published_fen: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "wall_time_s": round(time.monotonic() - self.started, 2),
            "orders_by_state": dict(Counter(self.orders.values())),
            "orders": self.orders,
            "applications_by_state": dict(Counter(self.applications.values())),
            "projects": self.projects,
            "experts_recorded": self.experts_recorded,
            "orders_with_recommendations": self.recommendations,
            "rejections_by_reason": dict(self.rejections),
            "dead_letters_by_reason": dict(self.dead_letters),
            "events_seen": self.events_seen,
            "funding_asked_by_published_orders_fen": self.funding_asked_published_fen,
            "steps": self.steps,
            "failures": self.failures,
        }


class Scenario:
    def __init__(self, client: ProgrammeClient, observer: TopicObserver, out: Any = sys.stdout) -> None:
        self.client = client
        self.observer = observer
        self.out = out
        self.report = Report()
        self.sent: list[Envelope] = []

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def step(self, actor: str, action: str, data: EventData, source: str, expect: str) -> Observed | None:
        envelope = await self.client.send(data, source=source)
        self.sent.append(envelope)
        return await self.expect(actor, action, envelope, expect)

    async def expect(self, actor: str, action: str, envelope: Envelope, expect: str) -> Observed | None:
        def caused_by_it(o: Observed) -> bool:
            return o.envelope is not None and o.envelope.causation_id == envelope.id

        try:
            found = await self.observer.wait_for(caused_by_it, timeout_s=30)
        except TimeoutError:
            self.report.failures.append(f"{action}: no answer within 30 s")
            self.say(f"  ✗ {actor:14} {action} -> no answer")
            return None
        answer = next((o for o in found if o.type == expect.split("(")[0]), found[0])
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
        await self._partner_guarantees()
        await self.observer.settle(0.5)
        self._summarize()
        return self.report

    # ---- 1-2: orders ------------------------------------------------------------------------------

    async def _villages_raise_needs(self) -> None:
        self.say("\n1. Villages raise needs; their county systems submit them (基层乡村提出订单)")
        shizhu, wuxi, chengkou, youyang = (county_source(c) for c in ("500240", "500238", "500229", "500242"))
        await self.step(
            "石柱县 system",
            "submits 500240-2019-001 洗新乡保合村 天麻 (150,000 元, 24 months)",
            DemandSubmitted(order_id="500240-2019-001", demand=cast.tianma_demand(), submitted_by="石柱县人力社保局"),
            shizhu,
            "OrderSubmitted",
        )
        await self.step(
            "巫溪县 system",
            "submits 500238-2019-001 红池坝镇茶园村 茶叶 (200,000 元, 36 months)",
            DemandSubmitted(order_id="500238-2019-001", demand=cast.tea_demand(), submitted_by="巫溪县人力社保局"),
            wuxi,
            "OrderSubmitted",
        )
        await self.step(
            "城口县 system",
            "submits 500229-2019-001 鸡鸣乡 中蜂 asking 250,000 元",
            DemandSubmitted(
                order_id="500229-2019-001", demand=cast.bee_demand(250_000), submitted_by="城口县人力社保局"
            ),
            chengkou,
            "EventRejected(funding_out_of_range)",
        )
        await self.step(
            "城口县 system",
            "submits it again asking 180,000 元",
            DemandSubmitted(
                order_id="500229-2019-001", demand=cast.bee_demand(180_000), submitted_by="城口县人力社保局"
            ),
            chengkou,
            "OrderSubmitted",
        )
        await self.step(
            "酉阳县 system",
            "submits 500242-2019-001 车田乡 油茶 (100,000 元)",
            DemandSubmitted(order_id="500242-2019-001", demand=cast.oil_tea_demand(), submitted_by="酉阳县人力社保局"),
            youyang,
            "OrderSubmitted",
        )

    async def _counties_decide(self) -> None:
        self.say("\n2. Counties endorse or return their villages' demands (区县汇总)")
        shizhu, wuxi, chengkou = (county_source(c) for c in ("500240", "500238", "500229"))
        await self.step(
            "石柱县 system",
            "endorses 500240-2019-001",
            DemandEndorsed(order_id="500240-2019-001", endorsed_by="石柱县人力社保局"),
            shizhu,
            "OrderEndorsed",
        )
        await self.step(
            "巫溪县 system",
            "endorses 500238-2019-001",
            DemandEndorsed(order_id="500238-2019-001", endorsed_by="巫溪县人力社保局"),
            wuxi,
            "OrderEndorsed",
        )
        await self.step(
            "城口县 system",
            "returns 500229-2019-001: targets need baselines",
            DemandReturned(
                order_id="500229-2019-001", returned_by="城口县人力社保局", reason="产出目标缺少基线值，请补充"
            ),
            chengkou,
            "OrderReturned",
        )
        await self.step(
            "城口县 system",
            "resubmits 500229-2019-001 with baselines",
            DemandSubmitted(
                order_id="500229-2019-001",
                demand=cast.bee_demand(180_000, revised=True),
                submitted_by="城口县人力社保局",
            ),
            chengkou,
            "OrderSubmitted",
        )
        await self.step(
            "城口县 system",
            "endorses 500229-2019-001",
            DemandEndorsed(order_id="500229-2019-001", endorsed_by="城口县人力社保局"),
            chengkou,
            "OrderEndorsed",
        )
        await self.step(
            "石柱县 system",
            "tries to endorse 酉阳县's 500242-2019-001",
            DemandEndorsed(order_id="500242-2019-001", endorsed_by="石柱县人力社保局"),
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
            "publishes 500242-2019-001 before its county endorsed it",
            PublishOrder(order_id="500242-2019-001", published_by=BUREAU_STAFF, call=CALL),
            BUREAU_SOURCE,
            "EventRejected(not_endorsed)",
        )
        await self.step(
            "石柱县 system",
            "tries to publish 500240-2019-001 itself",
            PublishOrder(order_id="500240-2019-001", published_by="石柱县人力社保局", call=CALL),
            shizhu,
            "EventRejected(unauthorized_source)",
        )
        for order_id in ("500240-2019-001", "500238-2019-001", "500229-2019-001"):
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
            "withdraws 500242-2019-001: the village chose another plan",
            WithdrawDemand(order_id="500242-2019-001", withdrawn_by="酉阳县人力社保局", reason="村里调整了产业规划"),
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
            application_id=f"APP-2019-{number:03d}",
            order_id=order_id,
            team=team,
            plan=f"{team.name}为{order_id}编制项目规划、解决技术难题、培养本地人才",
            site=site,
            service_period=ServicePeriod(start=date(2019, 7, 1), months=months),
            funding_asked_fen=funding,
        )

    async def _teams_apply(self) -> None:
        self.say("\n5. Lead experts apply with 1+N+1 teams (专家组团接单)")
        applications = [
            (
                "郭顺星",
                self._application(1, "500240-2019-001", cast.GUO_TEAM, "洗新乡保合村天麻示范园"),
                "ApplicationReceived",
            ),
            ("何伟", self._application(2, "500240-2019-001", cast.HERB_TEAM, "洗新乡保合村"), "ApplicationReceived"),
            (
                "孙磊",
                self._application(3, "500240-2019-001", cast.NO_LOCAL_TEAM, "洗新乡保合村"),
                "EventRejected(no_local_talent)",
            ),
            (
                "钟应富",
                self._application(4, "500238-2019-001", cast.ZHONG_TEAM, "红池坝镇茶园村"),
                "ApplicationReceived",
            ),
            ("黄志强", self._application(5, "500229-2019-001", cast.BEE_TEAM, "鸡鸣乡祝乐村"), "ApplicationReceived"),
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
        if advice is None:
            return
        for pair in advice.data["pairs"]:
            self.say(
                f"        advice: {pair['order_id']} -> {pair['team_id']} (mismatch {pair['mismatch']:.3f}): "
                f"{'; '.join(pair['reasons'][:2])}"
            )
        for pair in advice.data["pairs"]:
            await self.step(
                "bureau",
                f"awards {pair['order_id']} to {pair['team_id']}",
                AwardOrder(order_id=pair["order_id"], application_id=pair["application_id"], awarded_by=BUREAU_STAFF),
                BUREAU_SOURCE,
                "TeamAccepted",
            )

    # ---- 7: guarantees ---------------------------------------------------------------------------

    async def _partner_guarantees(self) -> None:
        self.say("\n7. What partners can rely on")
        await self._redelivery_changes_nothing()
        await self._broken_message_is_dead_lettered()

    async def _redelivery_changes_nothing(self) -> None:
        """Send one PublishOrder twice with the same id: the second changes and emits nothing."""
        envelope = next(
            (
                e
                for e in self.sent
                if e.type == "PublishOrder" and e.subject == "500238-2019-001" and e.source == BUREAU_SOURCE
            ),
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
        await self.client.send_raw(self.client.topic("orders.inbound"), b"{this is not json", key=b"500240-2019-001")
        try:
            (letter,) = await self.observer.wait_for(lambda o: o.header("dlt.reason") == "not_json", timeout_s=30)
            self.say(
                f"  ✓ unknown sender sends a broken message\n        -> dead letter "
                f"{letter.topic}:{letter.partition}:{letter.offset} reason=not_json, original bytes kept"
            )
        except TimeoutError:
            self.report.failures.append("broken message: no dead letter")

    def _summarize(self) -> None:
        r = self.report
        for o in self.observer.seen:
            r.events_seen += 1
            if o.type in STATE_OF and o.subject:
                r.orders[o.subject] = STATE_OF[o.type]
                if o.type == "OrderPublished":
                    r.funding_asked_published_fen += int(o.data["demand"]["funding_asked_fen"])
            if o.type in APPLICATION_STATE_OF:
                r.applications[o.data["application_id"]] = APPLICATION_STATE_OF[o.type]
            if o.type == "TeamAccepted":
                d = o.data
                r.projects.append(
                    {
                        "project_id": d["project_id"],
                        "order_id": d["order_id"],
                        "team": d["team_name"],
                        "lead": d["lead"]["name"],
                        "people": 1 + len(d["members"]) + len(d["local_talents"]),
                        "site": d["site"],
                        "funding_asked_fen": d["funding_asked_fen"],
                    }
                )
            elif o.type == "ExpertProfileRecorded":
                r.experts_recorded += 1
            elif o.type == "CandidatesRecommended":
                r.recommendations += 1
            elif o.type == "EventRejected":
                r.rejections[str(o.data.get("reason_code"))] += 1
            elif o.header("dlt.reason"):
                r.dead_letters[o.header("dlt.rule") or o.header("dlt.reason") or "?"] += 1


def print_report(report: Report, out: Any = sys.stdout) -> None:
    d = report.as_dict()
    line = "=" * 78
    print(f"\n{line}\nReport\n{line}", file=out)
    print("Orders by state:", file=out)
    for state, n in sorted(d["orders_by_state"].items()):
        print(f"  {state:12} {n}", file=out)
    for order_id, state in sorted(d["orders"].items()):
        print(f"    {order_id}  {COUNTIES.get(order_id[:6], order_id[:6])}  {state}", file=out)
    print(
        f"Experts recorded: {d['experts_recorded']}   orders with recommendations: {d['orders_with_recommendations']}",
        file=out,
    )
    print(
        "Applications by state: " + ", ".join(f"{k} {v}" for k, v in sorted(d["applications_by_state"].items())),
        file=out,
    )
    print("Projects (定点、定人、定服务期):", file=out)
    for p in d["projects"]:
        print(
            f"  {p['project_id']}  {p['team']} led by {p['lead']}, {p['people']} people, at {p['site']}, "
            f"asking {format_yuan(p['funding_asked_fen'])}",
            file=out,
        )
    print(
        "Rejections answered to senders: "
        + ", ".join(f"{k} {v}" for k, v in sorted(d["rejections_by_reason"].items())),
        file=out,
    )
    print("Dead letters: " + ", ".join(f"{k} {v}" for k, v in sorted(d["dead_letters_by_reason"].items())), file=out)
    published = sum(1 for s in d["orders"].values() if s in ("published", "awarded"))
    print(
        f"Funding asked by the {published} published orders: {format_yuan(d['funding_asked_by_published_orders_fen'])}",
        file=out,
    )
    print(f"Messages on the topics: {d['events_seen']}   wall time: {d['wall_time_s']} s", file=out)
    print(
        "Result: " + ("all steps answered as expected" if report.ok else "FAILURES: " + "; ".join(report.failures)),
        file=out,
    )


async def play_demo(bootstrap_servers: str, topic_prefix: str = "") -> Report:
    watched = [events("orders"), events("matching"), REJECTIONS, *(deadletter(s) for s in SERVICES)]
    async with (
        ProgrammeClient(bootstrap_servers, topic_prefix=topic_prefix) as client,
        TopicObserver(bootstrap_servers, [f"{topic_prefix}{t}" for t in watched]) as observer,
    ):
        return await Scenario(client, observer).play()


def run_demo(*, keep_running: bool = False, report_path: Path | None = None) -> int:
    print("Starting the embedded stack (PostgreSQL, Kafka-compatible broker, services)...", flush=True)
    stack = Stack()
    started = time.monotonic()
    try:
        stack.start()
        print(
            f"Stack ready in {time.monotonic() - started:.1f} s: broker {stack.bootstrap_servers}, "
            f"services {', '.join(stack.processes)}; service logs in {stack.data_dir / 'logs'}",
            flush=True,
        )
        report = asyncio.run(play_demo(stack.bootstrap_servers, stack.topic_prefix))
        print_report(report)
        target = report_path or stack.data_dir / "demo-report.json"
        target.write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        print(f"Machine-readable report: {target}")
        if keep_running:
            print("The stack keeps running (Ctrl-C stops it). Try: expert-teams follow 500240-2019-001")
            while True:
                time.sleep(1)
        return 0 if report.ok else 1
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()
