"""During the service period, on the real broker and PostgreSQL: member changes (换人) of the 郭顺星团队
on the 天麻 project of 石柱县, the approved amount of an award, projects ended early (by the bureau,
or by funding after a failed rectification) and extended; the people freed then serve elsewhere
(the 钟应富团队's tea project of 巫溪县).

Matching runs without the award's public notice (TeamAccepted right after AwardOrder), on a clock the
tests set (from May 2027, Chongqing), with topics and a database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
import pytest_asyncio

from shared.clock import PROGRAMME_TZ, FixedClock, local_date
from shared.contract.envelope import Envelope
from shared.contract.events.funding import ProjectEnded
from shared.contract.events.matching import (
    AwardOrder,
    DecideMemberChange,
    EndProject,
    ExtendProject,
    RequestMemberChange,
    TeamApplicationSubmitted,
    TeamComposition,
)
from shared.contract.events.orders import Demand, OrderPublished, ServicePeriod
from shared.messaging.kafka import ensure_topics
from shared.policy import YUAN, ProgrammePolicy
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
BUREAU_STAFF = "市人力社保局"
SETUP_DAY = date(2027, 5, 10)
SERVICE = ServicePeriod(start=date(2027, 6, 1), months=24)
"""June 2027 to May 2029."""


def chongqing(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PROGRAMME_TZ).astimezone(UTC)


@dataclass
class Programme:
    matching: ServiceRuntime
    clock: FixedClock
    client: ProgrammeClient
    seen: TopicObserver

    def at(self, day: date) -> None:
        self.clock.set(chongqing(day))

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        assert self.matching.pool is not None
        return list(await self.matching.pool.fetch(query, *args))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def programme(infrastructure: Infrastructure, run_id: str, database_factory: Any) -> AsyncIterator[Programme]:
    prefix = f"t{run_id}period."
    await ensure_topics(infrastructure.provisioning, all_topics(partitions=3), prefix=prefix)
    clock = FixedClock(chongqing(SETUP_DAY))
    watched = [f"{prefix}{t}" for t in (events("matching"), REJECTIONS, deadletter("matching"))]
    async with (
        running_service(
            "matching",
            infrastructure,
            prefix,
            database_factory,
            database="matching_period",
            clock=clock,
            policy=ProgrammePolicy(public_notice_working_days=0),
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
        yield Programme(matching, clock, client, seen)


# ---- the partners' side ------------------------------------------------------------------------


async def published(p: Programme, demand: Demand | None = None) -> str:
    order_id = new_order_id(SHIZHU if demand is None else demand.place.county_code)
    await p.client.send(
        OrderPublished(
            order_id=order_id,
            demand=demand or tianma_demand(),
            call="2027年第一批",
            published_by=BUREAU_STAFF,
            published_at=p.clock.now(),
        ),
        source=ORDERS,
    )
    await p.seen.wait_for(about(order_id, "CandidatesRecommended"))
    return order_id


async def registered(p: Programme, name: str, qualification: str, county: str | None = None) -> str:
    expert = expert_registered(name, qualification, local_county=county)
    await matching_builders.register(p.client, p.seen, expert)
    return str(expert.expert_id)


async def team(p: Programme, lead_name: str, county: str = SHIZHU, *, members: tuple[str, ...] = ()) -> TeamComposition:
    """A 1+N+1 team: the lead, two new members (or `members`), one local talent of `county`."""
    lead = await registered(p, lead_name, "state_council_allowance")
    if not members:
        members = (
            await registered(p, "成员甲", "postdoctoral_researcher"),
            await registered(p, "成员乙", "young_talent"),
        )
    local = await registered(p, "本地骨干", "local_backbone", county)
    return TeamComposition(
        team_id=new_id("TEAM"),
        name=f"{lead_name}团队",
        lead_expert_id=lead,
        member_expert_ids=members,
        local_talent_expert_ids=(local,),
    )


def application(order_id: str, composition: TeamComposition, **changes: Any) -> TeamApplicationSubmitted:
    return matching_builders.application(order_id, composition, **({"service_period": SERVICE} | changes))


async def accepted(p: Programme, composition: TeamComposition, demand: Demand | None = None, **award: Any) -> Observed:
    """The team applied for a new order and took it as a project: its TeamAccepted."""
    order_id = await published(p, demand)
    applied = application(order_id, composition)
    await p.client.send(applied, source=PORTAL)
    await p.seen.wait_for(about(order_id, "ApplicationReceived"))
    await p.client.send(
        AwardOrder(order_id=order_id, application_id=applied.application_id, awarded_by=BUREAU_STAFF, **award),
        source=BUREAU,
    )
    (taken,) = await p.seen.wait_for(about(order_id, "TeamAccepted"))
    return taken


async def change_requested(p: Programme, order_id: str, lead: str, **change: Any) -> str:
    change_id = new_id("CHG")
    await p.client.send(
        RequestMemberChange(
            change_id=change_id,
            order_id=order_id,
            effective_from=date(2027, 7, 1),
            reason="成员调整",
            requested_by=lead,
            **({"kind": "replace"} | change),
        ),
        source=PORTAL,
    )
    await p.seen.wait_for(lambda o: o.type == "MemberChangeRequested" and o.data["change_id"] == change_id)
    return change_id


async def bureau_decided(p: Programme, order_id: str, change_id: str, approve: bool = True) -> Observed:
    await p.client.send(
        DecideMemberChange(
            change_id=change_id, order_id=order_id, approve=approve, reason="经审核", decided_by=BUREAU_STAFF
        ),
        source=BUREAU,
    )
    (answer,) = await p.seen.wait_for(
        lambda o: o.type in {"MemberChangeApproved", "MemberChangeRefused"} and o.data["change_id"] == change_id
    )
    return answer


async def team_on(p: Programme, project_id: str, day: date) -> set[str]:
    rows = await p.fetch(
        "SELECT expert_id FROM project_members WHERE project_id = $1 AND valid_from <= $2 AND $2 < valid_to",
        project_id,
        day,
    )
    return {r["expert_id"] for r in rows}


async def received_elsewhere(p: Programme, expert_id: str) -> Observed:
    """The 钟应富团队, with `expert_id` as a member, applies for a tea order of 巫溪县: received."""
    order_id, _ = await applied_elsewhere(p, expert_id)
    (received,) = await p.seen.wait_for(about(order_id, "ApplicationReceived"))
    return received


async def applied_elsewhere(p: Programme, expert_id: str) -> tuple[str, Envelope]:
    """The 钟应富团队, with `expert_id` as a member, applies for a tea order of 巫溪县 from today."""
    zhong = await team(p, "钟应富", WUXI, members=(expert_id, await registered(p, "成员丁", "young_talent")))
    order_id = await published(p, tea_demand())
    sent = await p.client.send(
        application(order_id, zhong, site="红池坝镇茶园村", service_period=from_today(p)), source=PORTAL
    )
    return order_id, sent


def from_today(p: Programme) -> ServicePeriod:
    """A year's service starting on the clock's Chongqing date."""
    return ServicePeriod(start=local_date(p.clock.now()), months=12)


# ---- the tests -----------------------------------------------------------------------------------


async def test_a_replacement_approved_puts_the_new_member_on_the_team_from_its_date_and_frees_the_leaving_one(
    programme: Programme,
) -> None:
    p = programme
    p.at(SETUP_DAY)
    guo = await team(p, "郭顺星")
    taken = await accepted(p, guo)
    order_id, project_id = taken.data["order_id"], taken.data["project_id"]
    leaving, joining = guo.member_expert_ids[0], await registered(p, "成员丙", "postdoctoral_researcher")

    change_id = await change_requested(
        p, order_id, guo.lead_expert_id, leaving_expert_id=leaving, joining_expert_id=joining
    )
    answer = await bureau_decided(p, order_id, change_id)

    assert answer.type == "MemberChangeApproved"
    assert answer.data["effective_from"] == "2027-07-01"
    assert [m["expert_id"] for m in answer.data["members"]] == [guo.member_expert_ids[1], joining]
    assert answer.data["lead"]["name"] == "郭顺星"
    assert await team_on(p, project_id, date(2027, 6, 30)) == {
        guo.lead_expert_id,
        *guo.member_expert_ids,
        *guo.local_talent_expert_ids,
    }
    assert await team_on(p, project_id, date(2027, 7, 1)) == {
        guo.lead_expert_id,
        guo.member_expert_ids[1],
        joining,
        *guo.local_talent_expert_ids,
    }

    p.at(date(2027, 6, 20))
    busy = await received_or_refused(p, leaving)
    assert busy == "expert_on_active_team", "still on the team until the change's date"
    p.at(date(2027, 7, 1))
    received = await received_elsewhere(p, leaving)
    assert received.data["team_name"] == "钟应富团队"


async def received_or_refused(p: Programme, expert_id: str) -> str:
    _, sent = await applied_elsewhere(p, expert_id)
    return str((await rejection_of(p.seen, sent.id))["reason_code"])


async def test_a_change_that_would_leave_no_local_talent_is_refused_with_its_rule(programme: Programme) -> None:
    p = programme
    p.at(SETUP_DAY)
    guo = await team(p, "郭顺星")
    taken = await accepted(p, guo)
    order_id = taken.data["order_id"]

    change_id = await change_requested(
        p, order_id, guo.lead_expert_id, kind="remove", leaving_expert_id=guo.local_talent_expert_ids[0]
    )
    answer = await bureau_decided(p, order_id, change_id)

    assert answer.type == "MemberChangeRefused"
    assert answer.data["rule"] == "no_local_talent"
    assert await team_on(p, taken.data["project_id"], date(2027, 7, 1)) == {
        guo.lead_expert_id,
        *guo.member_expert_ids,
        *guo.local_talent_expert_ids,
    }
    by_a_member = await p.client.send(
        RequestMemberChange(
            change_id=new_id("CHG"),
            order_id=order_id,
            kind="remove",
            leaving_expert_id=guo.member_expert_ids[0],
            effective_from=date(2027, 7, 1),
            reason="成员调整",
            requested_by=guo.member_expert_ids[1],
        ),
        source=PORTAL,
    )
    assert (await rejection_of(p.seen, by_a_member.id))["reason_code"] == "not_team_lead"


async def test_a_joining_expert_on_another_active_team_is_refused(programme: Programme) -> None:
    p = programme
    p.at(SETUP_DAY)
    guo, zhong = await team(p, "郭顺星"), await team(p, "钟应富", WUXI)
    guo_project = await accepted(p, guo)
    await accepted(p, zhong, tea_demand())
    order_id = guo_project.data["order_id"]

    change_id = await change_requested(
        p, order_id, guo.lead_expert_id, kind="add", joining_expert_id=zhong.member_expert_ids[0]
    )
    answer = await bureau_decided(p, order_id, change_id)

    assert (answer.type, answer.data["rule"]) == ("MemberChangeRefused", "expert_on_active_team")
    again = await p.client.send(
        DecideMemberChange(
            change_id=change_id, order_id=order_id, approve=True, reason="复议", decided_by=BUREAU_STAFF
        ),
        source=BUREAU,
    )
    assert (await rejection_of(p.seen, again.id))["reason_code"] == "change_already_decided"


async def test_an_approved_amount_below_the_ask_is_carried_on_team_accepted_and_one_above_it_refused(
    programme: Programme,
) -> None:
    p = programme
    p.at(SETUP_DAY)
    taken = await accepted(p, await team(p, "郭顺星"), approved_fen=120_000 * YUAN)

    assert (taken.data["funding_asked_fen"], taken.data["approved_fen"]) == (150_000 * YUAN, 120_000 * YUAN)

    order_id = await published(p)
    applied = application(order_id, await team(p, "钟应富"))
    await p.client.send(applied, source=PORTAL)
    await p.seen.wait_for(about(order_id, "ApplicationReceived"))
    above: Envelope = await p.client.send(
        AwardOrder(
            order_id=order_id,
            application_id=applied.application_id,
            awarded_by=BUREAU_STAFF,
            approved_fen=160_000 * YUAN,
        ),
        source=BUREAU,
    )
    assert (await rejection_of(p.seen, above.id))["reason_code"] == "approved_amount_out_of_range"
    status = await p.fetch("SELECT status FROM published_orders WHERE order_id = $1", order_id)
    assert status[0]["status"] == "open"


async def test_a_project_ended_early_frees_its_people_and_one_of_them_is_received_elsewhere(
    programme: Programme,
) -> None:
    p = programme
    p.at(SETUP_DAY)
    guo = await team(p, "郭顺星")
    taken = await accepted(p, guo)
    order_id = taken.data["order_id"]
    p.at(date(2027, 9, 1))
    await p.client.send(
        EndProject(order_id=order_id, effective_on=date(2027, 9, 1), reason="合作社接手经营", decided_by=BUREAU_STAFF),
        source=BUREAU,
    )

    (ended,) = await p.seen.wait_for(about(order_id, "ProjectEndedEarly"))
    assert (ended.data["ended_on"], ended.data["planned_end"]) == ("2027-09-01", "2029-06-01")
    assert set(ended.data["freed_expert_ids"]) == {
        guo.lead_expert_id,
        *guo.member_expert_ids,
        *guo.local_talent_expert_ids,
    }
    received = await received_elsewhere(p, guo.member_expert_ids[0])
    assert received.data["team_name"] == "钟应富团队"
    later = await p.client.send(
        RequestMemberChange(
            change_id=new_id("CHG"),
            order_id=order_id,
            kind="remove",
            leaving_expert_id=guo.member_expert_ids[1],
            effective_from=date(2027, 10, 1),
            reason="成员调整",
            requested_by=guo.lead_expert_id,
        ),
        source=PORTAL,
    )
    assert (await rejection_of(p.seen, later.id))["reason_code"] == "project_ended"


async def test_a_project_funding_ended_after_a_failed_rectification_frees_its_people(programme: Programme) -> None:
    p = programme
    p.at(SETUP_DAY)
    guo = await team(p, "郭顺星")
    taken = await accepted(p, guo)
    p.at(date(2028, 9, 1))
    ended = await p.client.send(
        ProjectEnded(
            order_id=taken.data["order_id"],
            project_id=taken.data["project_id"],
            team_id=guo.team_id,
            review_id=f"RV-2028-{taken.data['project_id']}",
            reason="整改未通过",
            forfeited_fen=60_000 * YUAN,
            ended_at=chongqing(date(2028, 9, 1)),
        ),
        source=FUNDING,
    )
    await consumed_by_matching(p.matching, ended.id)

    received = await received_elsewhere(p, guo.member_expert_ids[0])
    assert received.data["team_name"] == "钟应富团队"


async def test_an_extension_within_policy_is_made_and_one_beyond_it_refused(programme: Programme) -> None:
    p = programme
    p.at(SETUP_DAY)
    taken = await accepted(p, await team(p, "郭顺星"))
    order_id = taken.data["order_id"]

    await p.client.send(
        ExtendProject(order_id=order_id, months=30, reason="示范园二期建设", decided_by=BUREAU_STAFF), source=BUREAU
    )
    (extended,) = await p.seen.wait_for(about(order_id, "ProjectExtended"))
    assert extended.data["service_period"] == {"start": "2027-06-01", "months": 30}
    assert extended.data["previous_months"] == 24
    rows = await p.fetch("SELECT service_end FROM projects WHERE order_id = $1", order_id)
    assert rows[0]["service_end"] == date(2029, 12, 1)

    beyond = await p.client.send(
        ExtendProject(order_id=order_id, months=37, reason="再延期", decided_by=BUREAU_STAFF), source=BUREAU
    )
    answer = await rejection_of(p.seen, beyond.id)
    assert answer["reason_code"] == "extension_out_of_range"
