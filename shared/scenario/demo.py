"""The README's demo: villages' demands through county endorsement to published orders.

The scenario acts only as the partner systems and bureau staff would: it sends CloudEvents
and reads what the services emit. The two projects named in the source article are real;
every other place, number and name is synthetic.
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
from shared.contract.events.orders import (
    Demand,
    DemandEndorsed,
    DemandReturned,
    DemandSubmitted,
    OutcomeTarget,
    Place,
    PublishOrder,
    ServicePeriod,
    WithdrawDemand,
)
from shared.policy import YUAN, format_yuan
from shared.scenario.places import BUREAU_SOURCE, BUREAU_STAFF, COUNTIES, county_source
from shared.stack.launcher import Stack
from shared.topics import REJECTIONS, SERVICES, deadletter, events

CALL = "2019年第一批"

STATE_OF = {
    "OrderSubmitted": "submitted",
    "OrderEndorsed": "endorsed",
    "OrderReturned": "returned",
    "OrderPublished": "published",
    "OrderWithdrawn": "withdrawn",
    "OrderCancelled": "cancelled",
}


def tianma_demand() -> Demand:
    """石柱县洗新乡保合村 天麻 (gastrodia) breeding: the article's first example."""
    return Demand(
        place=Place(
            county_code="500240", county_name="石柱县", township="洗新乡", village="保合村", deep_poverty_township=False
        ),
        industry="中药材",
        title="保合村天麻种源繁育与林下种植示范",
        needs=("天麻种源繁育", "林下种植", "产业链培育"),
        description="建设天麻繁育示范园，培育本地技术骨干，带动农户增收。",
        outcome_targets=(
            OutcomeTarget(indicator="demonstration_area", label="示范园面积", unit="亩", baseline=0, target=50),
            OutcomeTarget(indicator="output_value", label="预计产值", unit="元", baseline=0, target=1_200_000),
            OutcomeTarget(indicator="jobs", label="带动就业", unit="人", baseline=0, target=20),
            OutcomeTarget(indicator="farmer_income", label="农户增收", unit="元", baseline=0, target=180_000),
        ),
        service_period=ServicePeriod(start=date(2019, 6, 1), months=24),
        funding_asked_fen=150_000 * YUAN,
    )


def tea_demand() -> Demand:
    """巫溪县红池坝镇茶园村 tea: the article's second example."""
    return Demand(
        place=Place(
            county_code="500238",
            county_name="巫溪县",
            township="红池坝镇",
            village="茶园村",
            deep_poverty_township=True,
        ),
        industry="茶叶",
        title="茶园村茶叶全产业链技术指导",
        needs=("茶叶生产", "茶叶加工", "产品策划", "工艺创新"),
        description="从生产、加工到产品策划、工艺创新的全产业链技术指导。",
        outcome_targets=(
            OutcomeTarget(indicator="spring_bud_price", label="春茶独芽鲜叶单价", unit="元/斤", baseline=60, target=75),
        ),
        service_period=ServicePeriod(start=date(2019, 6, 1), months=36),
        funding_asked_fen=200_000 * YUAN,
    )


def bee_demand(funding_yuan: int, *, revised: bool = False) -> Demand:
    """Synthetic: 城口县鸡鸣乡 Chinese honeybee keeping."""
    targets = [OutcomeTarget(indicator="hives", label="中蜂养殖规模", unit="箱", baseline=None, target=800)]
    if revised:
        targets = [
            OutcomeTarget(indicator="hives", label="中蜂养殖规模", unit="箱", baseline=300, target=800),
            OutcomeTarget(indicator="local_talents_trained", label="培养本地骨干", unit="人", baseline=0, target=10),
        ]
    return Demand(
        place=Place(
            county_code="500229", county_name="城口县", township="鸡鸣乡", village="祝乐村", deep_poverty_township=True
        ),
        industry="畜牧",
        title="鸡鸣乡中蜂标准化养殖（合成数据）",
        needs=("中蜂养殖", "蜂蜜品牌"),
        description="合成示例：中蜂标准化养殖与蜂蜜品牌培育。",
        outcome_targets=tuple(targets),
        service_period=ServicePeriod(start=date(2019, 7, 1), months=24),
        funding_asked_fen=funding_yuan * YUAN,
    )


def oil_tea_demand() -> Demand:
    """Synthetic: 酉阳县车田乡 oil-tea camellia."""
    return Demand(
        place=Place(
            county_code="500242", county_name="酉阳县", township="车田乡", village="清泉村", deep_poverty_township=True
        ),
        industry="林果",
        title="车田乡油茶低产林改造（合成数据）",
        needs=("油茶低产林改造", "油茶加工"),
        description="合成示例：油茶低产林改造与初加工。",
        outcome_targets=(OutcomeTarget(indicator="renovated_area", label="改造面积", unit="亩", target=300),),
        service_period=ServicePeriod(start=date(2019, 9, 1), months=24),
        funding_asked_fen=100_000 * YUAN,
    )


@dataclass
class Report:
    started: float = field(default_factory=time.monotonic)
    steps: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    orders: dict[str, str] = field(default_factory=dict)
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
            (answer,) = await self.observer.wait_for(caused_by_it, timeout_s=30)
        except TimeoutError:
            self.report.failures.append(f"{action}: no answer within 30 s")
            self.say(f"  ✗ {actor:14} {action} -> no answer")
            return None
        got = answer.type or "?"
        detail = ""
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
        s = self.say
        shizhu, wuxi, chengkou, youyang = (county_source(c) for c in ("500240", "500238", "500229", "500242"))
        s("\n1. Villages raise needs; their county systems submit them (订单)")
        await self.step(
            "石柱县 system",
            "submits 500240-2019-001 洗新乡保合村 天麻 (150,000 元, 24 months)",
            DemandSubmitted(order_id="500240-2019-001", demand=tianma_demand(), submitted_by="石柱县人力社保局"),
            shizhu,
            "OrderSubmitted",
        )
        await self.step(
            "巫溪县 system",
            "submits 500238-2019-001 红池坝镇茶园村 茶叶 (200,000 元, 36 months)",
            DemandSubmitted(order_id="500238-2019-001", demand=tea_demand(), submitted_by="巫溪县人力社保局"),
            wuxi,
            "OrderSubmitted",
        )
        await self.step(
            "城口县 system",
            "submits 500229-2019-001 鸡鸣乡 中蜂 asking 250,000 元",
            DemandSubmitted(order_id="500229-2019-001", demand=bee_demand(250_000), submitted_by="城口县人力社保局"),
            chengkou,
            "EventRejected(funding_out_of_range)",
        )
        await self.step(
            "城口县 system",
            "submits it again asking 180,000 元",
            DemandSubmitted(order_id="500229-2019-001", demand=bee_demand(180_000), submitted_by="城口县人力社保局"),
            chengkou,
            "OrderSubmitted",
        )
        await self.step(
            "酉阳县 system",
            "submits 500242-2019-001 车田乡 油茶 (100,000 元)",
            DemandSubmitted(order_id="500242-2019-001", demand=oil_tea_demand(), submitted_by="酉阳县人力社保局"),
            youyang,
            "OrderSubmitted",
        )

        s("\n2. Counties endorse or return their villages' demands")
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
                order_id="500229-2019-001", demand=bee_demand(180_000, revised=True), submitted_by="城口县人力社保局"
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

        s("\n3. The municipal bureau publishes endorsed orders (统一发布订单)")
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
        published = None
        for order_id in ("500240-2019-001", "500238-2019-001", "500229-2019-001"):
            answer = await self.step(
                "bureau",
                f"publishes {order_id} in {CALL}",
                PublishOrder(order_id=order_id, published_by=BUREAU_STAFF, call=CALL),
                BUREAU_SOURCE,
                "OrderPublished",
            )
            published = published or answer
        await self.step(
            "酉阳县 system",
            "withdraws 500242-2019-001: the village chose another plan",
            WithdrawDemand(order_id="500242-2019-001", withdrawn_by="酉阳县人力社保局", reason="村里调整了产业规划"),
            youyang,
            "OrderWithdrawn",
        )

        s("\n4. What partners can rely on")
        await self._redelivery_changes_nothing()
        await self._broken_message_is_dead_lettered()
        await self.observer.settle(0.5)
        self._summarize()
        return self.report

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
            elif o.type == "EventRejected":
                r.rejections[str(o.data.get("reason_code"))] += 1
            elif o.header("dlt.reason"):
                r.dead_letters[o.header("dlt.rule") or o.header("dlt.reason") or "?"] += 1


def print_report(report: Report, out: Any = sys.stdout) -> None:
    d = report.as_dict()
    print("\n" + "=" * 72, file=out)
    print("Report", file=out)
    print("=" * 72, file=out)
    print("Orders by state:", file=out)
    for state, n in sorted(d["orders_by_state"].items()):
        print(f"  {state:12} {n}", file=out)
    for order_id, state in sorted(d["orders"].items()):
        county = COUNTIES.get(order_id[:6], order_id[:6])
        print(f"    {order_id}  {county}  {state}", file=out)
    print("Rejections answered to senders:", file=out)
    for reason, n in sorted(d["rejections_by_reason"].items()):
        print(f"  {reason:24} {n}", file=out)
    print("Dead letters:", file=out)
    for reason, n in sorted(d["dead_letters_by_reason"].items()):
        print(f"  {reason:24} {n}", file=out)
    print(f"Messages on the topics: {d['events_seen']}   wall time: {d['wall_time_s']} s", file=out)
    published = d["orders_by_state"].get("published", 0)
    print(
        f"Funding asked by the {published} published orders: {format_yuan(d['funding_asked_by_published_orders_fen'])}",
        file=out,
    )
    print(
        "Result: " + ("all steps answered as expected" if report.ok else "FAILURES: " + "; ".join(report.failures)),
        file=out,
    )


async def play_demo(bootstrap_servers: str, topic_prefix: str = "") -> Report:
    watched = [events("orders"), REJECTIONS, *(deadletter(s) for s in SERVICES)]
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
