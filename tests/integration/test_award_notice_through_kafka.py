"""The award's public notice (公示) on the real broker and PostgreSQL: AwardOrder announces the award,
nothing more happens until the programme's clock passes the notice's last day, then the timer makes
the team accepted, once; objections (异议) upheld, rejected and late; continued support (继续支持)
after ContinuedFundingEligible, and first among equals in the bureau's advice.

Matching runs here with the default policy (5 working days of notice), on a clock the tests set
(March 2027, Chongqing), its timers run by hand (`run_timers_once`). It has topics of its own (a
prefix of its own), so that the session's other matching service, which runs without the notice,
does not share its consumer group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
import pytest_asyncio

from shared.clock import PROGRAMME_TZ, FixedClock
from shared.contract.envelope import Envelope
from shared.contract.events.funding import ContinuedFundingEligible
from shared.contract.events.matching import (
    AwardOrder,
    DecideAwardObjection,
    LodgeAwardObjection,
    RecommendAssignment,
    TeamApplicationSubmitted,
    TeamComposition,
)
from shared.contract.events.orders import Demand, OrderCancelled, OrderPublished, ServicePeriod
from shared.messaging.kafka import ensure_topics
from shared.policy import ProgrammePolicy
from shared.runtime.service import ServiceRuntime
from shared.topics import REJECTIONS, all_topics, deadletter, events
from tests import matching_builders
from tests.builders import SHIZHU, WUXI, expert_registered, new_id, new_order_id, tea_demand, tianma_demand
from tests.conftest import Infrastructure, running_service
from tests.matching_builders import BUREAU, FUNDING, PORTAL, consumed_by_matching, rejection_of
from tests.signing import KEYRING, OPERATOR
from tools.client import Observed, ProgrammeClient, TopicObserver, about

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ORDERS = "/services/orders"
PUBLIC_NOTICE = ProgrammePolicy()
"""The programme's default: awards are publicly noticed for 5 working days."""
BUREAU_STAFF = "市人力社保局"


def chongqing(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A moment of the programme's day in Chongqing."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PROGRAMME_TZ).astimezone(UTC)


MONDAY = date(2027, 3, 1)
LAST_DAY = date(2027, 3, 8)
"""The last day of a notice published on Monday 1 March 2027: 2-5 March and Monday 8 March."""
THE_DAY_AFTER = date(2027, 3, 9)
SERVICE = ServicePeriod(start=date(2027, 4, 1), months=12)


@dataclass
class Notice:
    matching: ServiceRuntime
    clock: FixedClock
    client: ProgrammeClient
    seen: TopicObserver

    def at(self, day: date, hour: int = 10, minute: int = 0) -> None:
        self.clock.set(chongqing(day, hour, minute))

    async def fetchval(self, query: str, *args: Any) -> Any:
        assert self.matching.pool is not None
        return await self.matching.pool.fetchval(query, *args)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def notice(infrastructure: Infrastructure, run_id: str, database_factory: Any) -> AsyncIterator[Notice]:
    prefix = f"t{run_id}notice."
    await ensure_topics(infrastructure.provisioning, all_topics(partitions=3), prefix=prefix)
    clock = FixedClock(chongqing(MONDAY))
    watched = [f"{prefix}{t}" for t in (events("matching"), REJECTIONS, deadletter("matching"))]
    async with (
        running_service(
            "matching",
            infrastructure,
            prefix,
            database_factory,
            database="matching_notice",
            clock=clock,
            policy=PUBLIC_NOTICE,
            timers_enabled=False,
        ) as matching,
        ProgrammeClient(
            # the events say when they are sent by the wall clock: their freshness is judged against their arrival
            infrastructure.kafka,
            topic_prefix=prefix,
            keyring=KEYRING,
            enrol=True,
            operator=OPERATOR,
        ) as client,
        TopicObserver(infrastructure.kafka, watched) as seen,
    ):
        yield Notice(matching, clock, client, seen)


# ---- the partners' side ------------------------------------------------------------------------


async def published(n: Notice, demand: Demand | None = None, call: str = "2027年第一批") -> str:
    """An order the city published (as the orders service announces it)."""
    order_id = new_order_id(SHIZHU if demand is None else demand.place.county_code)
    await n.client.send(
        OrderPublished(
            order_id=order_id,
            demand=demand or tianma_demand(),
            call=call,
            published_by=BUREAU_STAFF,
            published_at=n.clock.now(),
        ),
        source=ORDERS,
    )
    await n.seen.wait_for(about(order_id, "CandidatesRecommended"))
    return order_id


async def team(
    n: Notice,
    lead_name: str,
    *,
    specialties: tuple[str, ...] = ("中药材", "天麻种源繁育"),
    county: str = SHIZHU,
) -> TeamComposition:
    """A 1+N+1 team whose people the registry announced; the lead with the title 研究员 (正高级)."""
    lead = expert_registered(lead_name, "state_council_allowance", specialties=specialties).model_copy(
        update={"title": "研究员", "title_grade": "senior"}
    )
    members = [
        expert_registered("成员甲", "postdoctoral_researcher", specialties=specialties).model_copy(
            update={"title": "助理研究员", "title_grade": "intermediate"}
        ),
        expert_registered("成员乙", "young_talent", specialties=specialties),
    ]
    local = expert_registered("本地骨干", "local_backbone", specialties=specialties, local_county=county)
    people = (lead, *members, local)
    await matching_builders.register(n.client, n.seen, *people)
    return TeamComposition(
        team_id=new_id("TEAM"),
        name=f"{lead_name}团队",
        lead_expert_id=lead.expert_id,
        member_expert_ids=tuple(m.expert_id for m in members),
        local_talent_expert_ids=(local.expert_id,),
    )


def application(order_id: str, composition: TeamComposition, **changes: Any) -> TeamApplicationSubmitted:
    """The 天麻 application of the builders, serving this test's period (from April 2027)."""
    return matching_builders.application(order_id, composition, **({"service_period": SERVICE} | changes))


async def applied(n: Notice, order_id: str, *teams: TeamComposition) -> list[TeamApplicationSubmitted]:
    applications = [application(order_id, t) for t in teams]
    for a in applications:
        await n.client.send(a, source=PORTAL)
    await n.seen.wait_for(about(order_id, "ApplicationReceived"), count=len(applications))
    return applications


async def awarded(n: Notice, order_id: str, chosen: TeamApplicationSubmitted, round: int = 1) -> Observed:
    """The bureau awards the order; its AwardAnnounced (the `round`-th of the order)."""
    await n.client.send(
        AwardOrder(order_id=order_id, application_id=chosen.application_id, awarded_by=BUREAU_STAFF), source=BUREAU
    )
    return (await n.seen.wait_for(about(order_id, "AwardAnnounced"), count=round))[-1]


async def objection(n: Notice, order_id: str, objector: TeamApplicationSubmitted) -> Envelope:
    return await n.client.send(
        LodgeAwardObjection(
            objection_id=new_id("OBJ"),
            order_id=order_id,
            application_id=objector.application_id,
            grounds="中标团队的本地人才并非保合村所在乡镇的技术骨干",
            lodged_by="钟应富",
        ),
        source=PORTAL,
    )


async def decided(n: Notice, order_id: str, objection_id: str, *, upheld: bool) -> Envelope:
    return await n.client.send(
        DecideAwardObjection(
            objection_id=objection_id,
            order_id=order_id,
            upheld=upheld,
            reason="经新专家组复核，异议" + ("成立" if upheld else "不成立"),
            decided_by=BUREAU_STAFF,
        ),
        source=BUREAU,
    )


def accepted_of(n: Notice, order_id: str) -> list[Observed]:
    return n.seen.matching(about(order_id, "TeamAccepted"))


# ---- the tests -----------------------------------------------------------------------------------


async def test_an_award_is_announced_and_the_team_accepted_once_the_day_after_its_notice_ends(notice: Notice) -> None:
    n = notice
    n.at(MONDAY)
    order_id = await published(n)
    guo, zhong = await team(n, "郭顺星"), await team(n, "钟应富")
    chosen, other = await applied(n, order_id, guo, zhong)

    announcement = await awarded(n, order_id, chosen)

    assert announcement.data["announced_on"] == str(MONDAY)
    assert announcement.data["notice_ends_on"] == str(LAST_DAY)
    assert (announcement.data["team_name"], announcement.data["lead_name"]) == ("郭顺星团队", "郭顺星")
    assert announcement.data["place"]["village"] == "保合村"
    (declined,) = await n.seen.wait_for(about(order_id, "ApplicationDeclined"))
    assert declined.data["application_id"] == other.application_id
    assert f"公示至 {LAST_DAY}" in declined.data["reason"]
    assert await n.fetchval("SELECT status FROM projects WHERE order_id = $1", order_id) == "under_notice"

    for moment in (chongqing(MONDAY, 18), chongqing(LAST_DAY, 23, 50)):
        n.clock.set(moment)
        await n.matching.run_timers_once()
    await n.seen.settle(0.5)
    assert accepted_of(n, order_id) == [], "nothing before the notice's last day is over"

    n.at(THE_DAY_AFTER, 0, 5)
    assert await n.matching.run_timers_once() >= 1
    (accepted,) = await n.seen.wait_for(about(order_id, "TeamAccepted"))
    assert await n.matching.run_timers_once() == 0, "a second run emits nothing"
    await n.seen.settle(0.5)
    assert len(accepted_of(n, order_id)) == 1

    assert datetime.fromisoformat(accepted.data["accepted_at"]) == chongqing(THE_DAY_AFTER, 0, 5)
    assert (accepted.data["lead"]["title"], accepted.data["lead"]["title_grade"]) == ("研究员", "senior")
    assert [m["title_grade"] for m in accepted.data["members"]] == ["intermediate", None]
    assert accepted.envelope is not None and announcement.envelope is not None
    assert accepted.envelope.causation_id == announcement.envelope.id, "caused by the notice"
    assert accepted.envelope.correlation_id == announcement.envelope.correlation_id, "in the award's story"
    assert await n.fetchval("SELECT status FROM projects WHERE order_id = $1", order_id) == "active"
    assert await n.fetchval("SELECT status FROM published_orders WHERE order_id = $1", order_id) == "awarded"


async def test_an_upheld_objection_revokes_the_award_and_the_order_is_awarded_anew(notice: Notice) -> None:
    n = notice
    n.at(MONDAY)
    order_id = await published(n)
    guo, zhong = await team(n, "郭顺星"), await team(n, "钟应富")
    first, second = await applied(n, order_id, guo, zhong)
    await awarded(n, order_id, first)

    n.at(date(2027, 3, 3))
    lodged = await objection(n, order_id, second)
    (recorded,) = await n.seen.wait_for(about(order_id, "AwardObjectionLodged"))
    assert (recorded.data["objection_id"], recorded.data["team_id"]) == (lodged.data["objection_id"], zhong.team_id)
    await decided(n, order_id, lodged.data["objection_id"], upheld=True)
    (revoked,) = await n.seen.wait_for(about(order_id, "AwardRevoked"))
    assert revoked.data["application_id"] == first.application_id
    assert revoked.data["objection_id"] == lodged.data["objection_id"]
    assert set(revoked.data["reopened_application_ids"]) == {first.application_id, second.application_id}
    again = await decided(n, order_id, lodged.data["objection_id"], upheld=False)
    assert (await rejection_of(n.seen, again.id))["reason_code"] == "objection_already_decided"

    n.at(THE_DAY_AFTER)
    await n.matching.run_timers_once()
    await n.seen.settle(0.5)
    assert accepted_of(n, order_id) == [], "a revoked award never takes effect"
    assert await n.fetchval("SELECT count(*) FROM projects WHERE order_id = $1", order_id) == 0

    second_notice = await awarded(n, order_id, second, round=2)
    assert second_notice.data["team_id"] == zhong.team_id
    assert second_notice.data["notice_ends_on"] == str(date(2027, 3, 16)), "a new notice of 5 working days"
    declined = await n.seen.wait_for(about(order_id, "ApplicationDeclined"), count=2)
    assert declined[-1].data["application_id"] == first.application_id

    n.at(date(2027, 3, 17))
    await n.matching.run_timers_once()
    (accepted,) = await n.seen.wait_for(about(order_id, "TeamAccepted"))
    assert accepted.data["team_id"] == zhong.team_id


async def test_an_objection_rejected_during_the_notice_lets_the_team_be_accepted_at_its_end(notice: Notice) -> None:
    n = notice
    n.at(MONDAY)
    order_id = await published(n)
    chosen, other = await applied(n, order_id, await team(n, "郭顺星"), await team(n, "钟应富"))
    await awarded(n, order_id, chosen)
    n.at(date(2027, 3, 5))
    lodged = await objection(n, order_id, other)
    await n.seen.wait_for(about(order_id, "AwardObjectionLodged"))

    await decided(n, order_id, lodged.data["objection_id"], upheld=False)

    (rejected,) = await n.seen.wait_for(about(order_id, "AwardObjectionRejected"))
    assert rejected.data["notice_ends_on"] == str(LAST_DAY)
    await n.seen.settle(0.5)
    assert accepted_of(n, order_id) == [], "the notice still runs"
    n.at(THE_DAY_AFTER)
    await n.matching.run_timers_once()
    (accepted,) = await n.seen.wait_for(about(order_id, "TeamAccepted"))
    assert accepted.data["application_id"] == chosen.application_id


async def test_a_pending_objection_holds_the_award_past_its_notice_until_the_bureau_rejects_it(notice: Notice) -> None:
    n = notice
    n.at(MONDAY)
    order_id = await published(n)
    chosen, other = await applied(n, order_id, await team(n, "郭顺星"), await team(n, "钟应富"))
    await awarded(n, order_id, chosen)
    n.at(LAST_DAY, 16)
    lodged = await objection(n, order_id, other)
    await n.seen.wait_for(about(order_id, "AwardObjectionLodged"))

    n.at(date(2027, 3, 10))
    await n.matching.run_timers_once()
    await n.seen.settle(0.5)
    assert accepted_of(n, order_id) == [], "an objection waits for the bureau"
    decision = await decided(n, order_id, lodged.data["objection_id"], upheld=False)

    (accepted,) = await n.seen.wait_for(about(order_id, "TeamAccepted"))
    assert accepted.envelope is not None and accepted.envelope.causation_id == decision.id, "at once, by the decision"
    assert await n.matching.run_timers_once() == 0
    await n.seen.settle(0.5)
    assert len(accepted_of(n, order_id)) == 1


async def test_a_late_objection_and_one_by_the_awarded_team_are_refused(notice: Notice) -> None:
    n = notice
    n.at(MONDAY)
    order_id = await published(n)
    chosen, other = await applied(n, order_id, await team(n, "郭顺星"), await team(n, "钟应富"))
    await awarded(n, order_id, chosen)

    by_the_winner = await objection(n, order_id, chosen)
    assert (await rejection_of(n.seen, by_the_winner.id))["reason_code"] == "not_an_applicant"
    n.at(THE_DAY_AFTER, 0, 10)  # the timer has not run yet: the notice is over all the same
    late = await objection(n, order_id, other)
    answer = await rejection_of(n.seen, late.id)
    assert answer["reason_code"] == "notice_period_over"
    assert str(LAST_DAY) in answer["reason"]
    letters = await n.seen.wait_for(
        lambda o: o.topic.endswith("matching.deadletter") and o.subject == order_id, count=2
    )
    assert {o.header("dlt.rule") for o in letters} == {"not_an_applicant", "notice_period_over"}

    await n.matching.run_timers_once()
    await n.seen.wait_for(about(order_id, "TeamAccepted"))


async def test_an_order_cancelled_during_the_notice_revokes_its_award_and_declines_the_awarded_team(
    notice: Notice,
) -> None:
    n = notice
    n.at(MONDAY)
    order_id = await published(n)
    chosen, other = await applied(n, order_id, await team(n, "郭顺星"), await team(n, "钟应富"))
    await awarded(n, order_id, chosen)
    lodged = await objection(n, order_id, other)
    await n.seen.wait_for(about(order_id, "AwardObjectionLodged"))

    await n.client.send(
        OrderCancelled(
            order_id=order_id,
            county_code=SHIZHU,
            cancelled_by=BUREAU_STAFF,
            reason="村委会另行安排",
            previous_state="published",
            cancelled_at=n.clock.now(),
        ),
        source=ORDERS,
    )

    (revoked,) = await n.seen.wait_for(about(order_id, "AwardRevoked"))
    assert (revoked.data["application_id"], revoked.data["objection_id"]) == (chosen.application_id, None)
    assert revoked.data["moot_objection_ids"] == [lodged.data["objection_id"]]
    declined = await n.seen.wait_for(about(order_id, "ApplicationDeclined"), count=2)
    assert declined[-1].data["application_id"] == chosen.application_id
    assert declined[-1].data["reason"] == "订单已取消：村委会另行安排"
    n.at(THE_DAY_AFTER)
    await n.matching.run_timers_once()
    await n.seen.settle(0.5)
    assert accepted_of(n, order_id) == []
    assert await n.fetchval("SELECT status FROM published_orders WHERE order_id = $1", order_id) == "cancelled"
    assert await n.fetchval("SELECT count(*) FROM projects WHERE order_id = $1", order_id) == 0


async def test_continued_support_is_recognised_after_continued_funding_eligible_and_refused_without_it(
    notice: Notice,
) -> None:
    n = notice
    n.at(MONDAY)
    order_id = await published(n)
    guo = await team(n, "郭顺星")
    earlier = f"P-{SHIZHU}-2026-{new_id('X')}"

    refused = await n.client.send(application(order_id, guo, continued_support_of=earlier), source=PORTAL)
    assert (await rejection_of(n.seen, refused.id))["reason_code"] == "not_eligible_for_continued_support"
    eligible = await n.client.send(
        ContinuedFundingEligible(
            team_id=guo.team_id,
            order_id=earlier.removeprefix("P-"),
            project_id=earlier,
            review_id="RV-2026-" + earlier,
            year=2026,
            eligible_at=n.clock.now(),
        ),
        source=FUNDING,
    )
    await consumed_by_matching(n.matching, eligible.id)
    continuing = application(order_id, guo, continued_support_of=earlier)
    await n.client.send(continuing, source=PORTAL)

    (received,) = await n.seen.wait_for(about(order_id, "ApplicationReceived"))
    assert received.data["continued_support_of"] == earlier
    announcement = await awarded(n, order_id, continuing)
    assert announcement.data["continued_support_of"] == earlier
    n.at(THE_DAY_AFTER)
    await n.matching.run_timers_once()
    (accepted,) = await n.seen.wait_for(about(order_id, "TeamAccepted"))
    assert accepted.data["continued_support_of"] == earlier


async def test_among_equal_teams_the_continued_support_application_is_recommended_and_assigned_first(
    notice: Notice,
) -> None:
    """Two tea teams of 巫溪县 alike in everything the score sees; one applies through its earlier
    project's excellent review."""
    n = notice
    n.at(MONDAY)
    call = f"2027年{new_id('第')}批"
    tea = ("茶叶", "茶叶加工")
    plain, continuing = [await team(n, name, specialties=tea, county=WUXI) for name in ("茶园甲", "茶园乙")]
    earlier = f"P-{WUXI}-2026-{new_id('X')}"
    eligible = await n.client.send(
        ContinuedFundingEligible(
            team_id=continuing.team_id,
            order_id=earlier.removeprefix("P-"),
            project_id=earlier,
            review_id="RV-2026-" + earlier,
            year=2026,
            eligible_at=n.clock.now(),
        ),
        source=FUNDING,
    )
    await consumed_by_matching(n.matching, eligible.id)
    order_id = await published(n, tea_demand(), call)
    await n.client.send(application(order_id, plain, site="红池坝镇茶园村"), source=PORTAL)
    await n.client.send(
        application(order_id, continuing, site="红池坝镇茶园村", continued_support_of=earlier), source=PORTAL
    )
    await n.seen.wait_for(about(order_id, "ApplicationReceived"), count=2)

    asked = await n.client.send(RecommendAssignment(call=call, requested_by=BUREAU_STAFF), source=BUREAU)
    (advice,) = await n.seen.all_parts(asked.id, "AssignmentRecommended", timeout_s=20)
    (pair,) = advice.data["pairs"]
    assert pair["team_id"] == continuing.team_id
    assert pair["reasons"][-1] == f"继续支持：{earlier} 年度考核优秀，可申请持续资助；同分时优先"

    next_order = await published(n, tea_demand(), call)  # the teams are known now: recommended
    (recommended,) = n.seen.matching(about(next_order, "CandidatesRecommended"))
    teams = recommended.data["teams"]
    ours = {c["candidate_id"]: c for c in teams if c["candidate_id"] in {plain.team_id, continuing.team_id}}
    assert ours[plain.team_id]["score"] == ours[continuing.team_id]["score"], "a true tie"
    ids = [c["candidate_id"] for c in teams]
    assert ids.index(continuing.team_id) < ids.index(plain.team_id)
    assert any("继续支持" in reason for reason in ours[continuing.team_id]["reasons"])
    assert not any("继续支持" in reason for reason in ours[plain.team_id]["reasons"])
