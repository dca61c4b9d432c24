"""公示 and 异议 on the real broker and PostgreSQL, and the public page in Debian's headless Chromium.

The reviews service runs as it does in production, served over HTTP by uvicorn, on a fixed clock.
Three projects of the 2061 cycle (石柱县 twice, 巫溪县 once) are graded, the cycle closes and the
results go on public notice; 石柱's unqualified team objects and the bureau upholds it (a new panel
re-reviews), 巫溪's objection is rejected, an objection after the notice is refused, and only when
the notice is over do the results take effect (ReviewCompleted). The page shows each stage and
filters by county. 2061 is a year no other test's projects serve in (membership is by period)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
import pytest_asyncio
import uvicorn

from services.reviews.service import DEFINITION
from shared.clock import FixedClock
from shared.contract.events.matching import TeamAccepted
from shared.contract.events.reviews import (
    CloseReviewCycle,
    DecideObjection,
    LodgeObjection,
    OpenReviewCycle,
    Reviewer,
)
from shared.runtime.service import ServiceRuntime
from shared.topics import REJECTIONS, deadletter, events
from tests.builders import new_id
from tests.conftest import Infrastructure, kafka_settings, service_settings
from tests.reviews_builders import (
    expert,
    order_published,
    outcome_report,
    panel_score,
    record_service,
    reviewer,
    send_score,
    team_accepted,
)
from tests.waiting import eventually
from tools.browser import ensure_chromium, rendered_dom
from tools.client import ProgrammeClient, TopicObserver, about
from tools.stack.embedded import free_port

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ORDERS, MATCHING, BUREAU, PORTAL = (
    "/services/orders",
    "/services/matching",
    "/bureau/hrss",
    "/portal/teams",
)
YEAR = 2061
SCORED = datetime(YEAR + 1, 1, 10, 2, 0, tzinfo=UTC)
CLOSED = datetime(YEAR + 1, 1, 19, 2, 0, tzinfo=UTC)  # Thursday 19 January 2062
NOTICE_ENDS = date(YEAR + 1, 1, 26)  # five working days: 20, 23, 24, 25, 26 January
AFTER_NOTICE = datetime(YEAR + 1, 1, 27, 1, 0, tzinfo=UTC)


@dataclass
class Served:
    runtime: ServiceRuntime
    clock: FixedClock
    client: ProgrammeClient
    seen: TopicObserver
    url: str

    async def fetchval(self, query: str, *args: Any) -> Any:
        assert self.runtime.pool is not None
        return await self.runtime.pool.fetchval(query, *args)

    async def page(self, **query: str) -> dict[str, dict[str, str]]:
        """The rows of the public page as Chromium rendered it, by order id."""
        params = "&".join(f"{k}={v}" for k, v in query.items())
        dom = await asyncio.to_thread(rendered_dom, f"{self.url}/public/results?{params}")
        return ResultRows.of(dom)


class ResultRows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self._row: dict[str, str] | None = None
        self._cell: str | None = None
        self.notice_ends_on: str | None = None

    @classmethod
    def of(cls, dom: str) -> dict[str, dict[str, str]]:
        parser = cls()
        parser.feed(dom)
        assert parser.notice_ends_on == str(NOTICE_ENDS), "the page states the notice period"
        return parser.rows

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id") == "notice":
            self.notice_ends_on = found.get("data-notice-ends-on")
        if tag == "tr" and found.get("data-order"):
            self._row = {"county": found.get("data-county") or ""}
            self.rows[found["data-order"] or ""] = self._row
        if tag == "td" and self._row is not None:
            self._cell = found.get("class") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell:
            self._row[self._cell] = self._row.get(self._cell, "") + data.strip()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(
    infrastructure: Infrastructure,
    topics_ready: str,
    database_factory: Any,
    client: ProgrammeClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Served]:
    await asyncio.to_thread(ensure_chromium)  # installs Debian's chromium when missing; fails loudly otherwise
    clock = FixedClock(datetime(YEAR, 11, 20, 2, 0, tzinfo=UTC))
    with pytest.MonkeyPatch.context() as env:  # the public exports go to the test's folder, not the repo
        env.setenv("REVIEWS_EXPORT_DIR", str(tmp_path_factory.mktemp("public-exports")))
        runtime = ServiceRuntime(
            DEFINITION,
            service_settings(await database_factory("reviews_public"), timers_enabled=False),
            kafka_settings(infrastructure, topics_ready),
            clock=clock,
        )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(runtime.asgi_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await eventually(started, "the reviews service serves HTTP", timeout_s=120)
    watched = [f"{topics_ready}{t}" for t in (events("reviews"), REJECTIONS, deadletter("reviews"))]
    try:
        async with TopicObserver(infrastructure.kafka, watched) as seen:
            yield Served(runtime, clock, client, seen, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await serving


async def project(s: Served, county: str, order: str, team: str, lead: str) -> TeamAccepted:
    published = order_published(f"{county}-{order}", start=date(YEAR, 1, 1))
    if county == "500238":
        wuxi = published.demand.place.model_copy(
            update={"county_code": "500238", "county_name": "巫溪县", "township": "红池坝镇", "village": "茶园村"}
        )
        published = published.model_copy(update={"demand": published.demand.model_copy(update={"place": wuxi})})
    accepted = team_accepted(published, lead=expert(lead, institution="重庆市农业科学院"), team_name=team)
    sent = [await s.client.send(published, source=ORDERS), await s.client.send(accepted, source=MATCHING)]

    async def consumed() -> bool:
        count = await s.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::text[])", [e.id for e in sent])
        return bool(count == len(sent))

    await eventually(consumed, f"project {published.order_id} recorded")
    await record_service(s.client, accepted, 30)  # the policy's minimum: the panel's score is the review's
    await s.seen.wait_for(about(accepted.order_id, "ServiceActivityRecorded"), count=30)
    return accepted


async def rejection_of(s: Served, event_id: str) -> str:
    (answer,) = await s.seen.wait_for(lambda o: o.type == "EventRejected" and o.data["rejected_event_id"] == event_id)
    return str(answer.data["reason_code"])


def panel(*names: str) -> list[Reviewer]:
    return [reviewer(name, institution="西南大学", reviewer_id=new_id("R")) for name in names]


async def test_results_take_effect_after_the_public_notice_and_objections_are_upheld_or_rejected(
    served: Served,
) -> None:
    s = served
    shizhu_low = await project(s, "500240", "2061-001", "郭顺星团队", "郭顺星")
    shizhu_top = await project(s, "500240", "2061-002", "马铃薯团队", "陈示例")
    wuxi = await project(s, "500238", "2061-003", "钟应富团队", "钟应富")
    cycle = new_id("C")
    s.clock.set(datetime(YEAR, 12, 1, 2, 0, tzinfo=UTC))
    await s.client.send(
        OpenReviewCycle(cycle_id=cycle, year=YEAR, submission_deadline=date(YEAR, 12, 31), opened_by="市人力社保局"),
        source=BUREAU,
    )
    await s.seen.wait_for(about(cycle, "ReviewCycleOpened"))
    for accepted in (shizhu_low, shizhu_top, wuxi):
        await s.client.send(outcome_report(cycle, accepted.order_id), source=PORTAL)
    await s.seen.wait_for(lambda o: o.type == "OutcomeReportAccepted" and o.data["cycle_id"] == cycle, count=3)
    first_panel = panel("王评审", "李评审", "张评审")
    s.clock.set(SCORED)
    for accepted, points in ((shizhu_low, 55), (shizhu_top, 93), (wuxi, 75)):
        for by in first_panel:
            await send_score(s.client, panel_score(cycle, accepted.order_id, by, points))
    graded = await s.seen.wait_for(lambda o: o.type == "ReviewGraded" and o.data["cycle_id"] == cycle, count=3)
    assert sorted(g.data["grade"] for g in graded) == ["excellent", "qualified", "unqualified"]

    s.clock.set(CLOSED)
    await s.client.send(CloseReviewCycle(cycle_id=cycle, closed_by="市人力社保局"), source=BUREAU)
    (published,) = await s.seen.wait_for(about(cycle, "ReviewResultsPublished"))
    assert published.data["notice_ends_on"] == str(NOTICE_ENDS)
    rows = await s.page(cycle=cycle)
    assert {order: row["standing"] for order, row in rows.items()} == {
        shizhu_low.order_id: "公示中",
        shizhu_top.order_id: "公示中",
        wuxi.order_id: "公示中",
    }
    assert (rows[shizhu_low.order_id]["grade"], rows[shizhu_low.order_id]["score"]) == ("不合格", "55.00")
    only_wuxi = await s.page(cycle=cycle, county="500238")
    assert list(only_wuxi) == [wuxi.order_id], "filtered by county"

    def objection(accepted: TeamAccepted) -> LodgeObjection:
        return LodgeObjection(
            objection_id=new_id("OBJ"),
            cycle_id=cycle,
            order_id=accepted.order_id,
            grounds="示范园面积经实地测量为52亩，请求复核",
            lodged_by=accepted.lead.name,
        )

    low_objection, wuxi_objection = objection(shizhu_low), objection(wuxi)
    for lodged in (low_objection, wuxi_objection):
        await s.client.send(lodged, source=PORTAL)
    await s.seen.wait_for(lambda o: o.type == "ObjectionLodged" and o.data["cycle_id"] == cycle, count=2)
    for lodged, upheld in ((low_objection, True), (wuxi_objection, False)):
        decision = DecideObjection(
            objection_id=lodged.objection_id,
            cycle_id=cycle,
            order_id=lodged.order_id,
            upheld=upheld,
            reason="经核实，测量数据有误" if upheld else "报告数据与核查一致",
            decided_by="市人力社保局",
        )
        await s.client.send(decision, source=BUREAU)
    (upheld_event,) = await s.seen.wait_for(about(shizhu_low.order_id, "ObjectionUpheld"))
    assert sorted(upheld_event.data["earlier_reviewer_ids"]) == sorted(r.reviewer_id for r in first_panel)
    await s.seen.wait_for(about(wuxi.order_id, "ObjectionRejected"))
    rows = await s.page(cycle=cycle)
    assert rows[shizhu_low.order_id]["standing"] == "异议成立，复核中（原评定不生效）"
    assert rows[shizhu_low.order_id]["grade"] == "—"
    assert rows[wuxi.order_id]["standing"] == "公示中（异议不成立）"
    assert s.seen.matching(lambda o: o.type == "ReviewCompleted" and o.data["cycle_id"] == cycle) == []

    s.clock.set(AFTER_NOTICE)
    late = await s.client.send(objection(shizhu_top), source=PORTAL)
    assert await rejection_of(s, late.id) == "notice_period_over"
    assert await s.runtime.run_timers_once() >= 2
    in_effect = await s.seen.wait_for(lambda o: o.type == "ReviewCompleted" and o.data["cycle_id"] == cycle, count=2)
    assert {(e.subject, e.data["grade"], e.data["notice_ended_on"]) for e in in_effect} == {
        (shizhu_top.order_id, "excellent", str(NOTICE_ENDS)),
        (wuxi.order_id, "qualified", str(NOTICE_ENDS)),
    }
    assert await s.runtime.run_timers_once() == 0, "in effect once"

    same = await send_score(s.client, panel_score(cycle, shizhu_low.order_id, first_panel[0], 80))
    assert await rejection_of(s, same.id) == "reviewer_in_earlier_panel"
    for by in panel("赵复核", "钱复核", "孙复核"):
        await send_score(s.client, panel_score(cycle, shizhu_low.order_id, by, 68))
    (regraded,) = await s.seen.wait_for(about(shizhu_low.order_id, "ReviewCompleted"))
    assert (regraded.data["grade"], regraded.data["round"], regraded.data["objection_id"]) == (
        "qualified",
        2,
        low_objection.objection_id,
    )
    rows = await s.page(cycle=cycle, county="500240")
    assert {order: (row["grade"], row["standing"]) for order, row in rows.items()} == {
        shizhu_low.order_id: ("合格", "已生效（经复核）"),
        shizhu_top.order_id: ("优秀", "已生效"),
    }
    history = await s.fetchval(
        "SELECT string_agg(event_type, ',' ORDER BY seq) FROM review_history WHERE review_id = $1",
        f"RV-{cycle}-{shizhu_low.order_id}",
    )
    assert history.endswith(
        "ReviewGraded,ObjectionLodged,ObjectionUpheld,PanelScoreRecorded,PanelScoreRecorded,"
        "PanelScoreRecorded,ReviewGraded,ReviewCompleted"
    )
