"""Matching on the real broker and PostgreSQL: from OrderPublished to TeamAccepted and the order
marked awarded; competing teams; one active team per expert; suspensions; redelivery; bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.contract.events.funding import SuspensionLifted, TeamSuspended
from shared.contract.events.matching import (
    AwardOrder,
    RecommendAssignment,
    TeamComposition,
    WithdrawApplication,
)
from tests.builders import SHIZHU, expert_registered, new_id
from tests.matching_builders import (
    BUREAU,
    FUNDING,
    PORTAL,
    REGISTRY,
    application,
    consumed_by_matching,
    new_team,
    publish_tianma_order,
    register,
    rejection_of,
)
from tools.client import ProgrammeClient, TopicObserver, about

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_published_order_is_taken_by_a_team_and_marked_awarded(
    orders_service: Any, matching_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    team = await new_team(client, observer)
    order_id = await publish_tianma_order(client, observer)
    (recommended,) = observer.matching(about(order_id, "CandidatesRecommended"))
    names = [c["name"] for c in recommended.data["experts"]]
    assert "郭顺星" in names, "the registered 天麻 expert is recommended"
    assert all(c["reasons"] for c in recommended.data["experts"]), "every recommendation says why"

    applied = application(order_id, team)
    await client.send(applied, source=PORTAL)
    (received,) = await observer.wait_for(about(order_id, "ApplicationReceived"))
    assert received.data["team_size"] == 4
    await client.send(
        AwardOrder(order_id=order_id, application_id=applied.application_id, awarded_by="市人力社保局"), source=BUREAU
    )
    (accepted,) = await observer.wait_for(about(order_id, "TeamAccepted"))
    (awarded,) = await observer.wait_for(about(order_id, "OrderAwarded"))

    data = accepted.data
    assert data["team_id"] == team.team_id
    assert data["lead"]["name"] == "郭顺星"
    assert data["place"]["village"] == "保合村"
    assert data["site"] == "洗新乡保合村天麻示范园"
    assert data["service_period"] == applied.service_period.model_dump(mode="json")
    assert [m["local_county_code"] for m in data["local_talents"]] == [SHIZHU]
    assert awarded.data["project_id"] == data["project_id"]
    status = await orders_service.pool.fetchval("SELECT status FROM orders WHERE order_id = $1", order_id)
    assert status == "awarded"
    members = await matching_service.pool.fetchval(
        "SELECT count(*) FROM project_members WHERE project_id = $1", data["project_id"]
    )
    assert members == 4


async def test_two_teams_apply_for_one_order_and_the_other_is_declined_with_a_reason(
    matching_service: Any, orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    first, second = await new_team(client, observer, "钟应富"), await new_team(client, observer)
    order_id = await publish_tianma_order(client, observer)
    a, b = application(order_id, first), application(order_id, second)
    await client.send(a, source=PORTAL)
    await client.send(b, source=PORTAL)
    await observer.wait_for(about(order_id, "ApplicationReceived"), count=2)
    await client.send(
        AwardOrder(order_id=order_id, application_id=b.application_id, awarded_by="市人力社保局"), source=BUREAU
    )
    (declined,) = await observer.wait_for(about(order_id, "ApplicationDeclined"))
    assert declined.data["application_id"] == a.application_id
    assert second.name in declined.data["reason"]
    statuses = dict(
        await matching_service.pool.fetch(
            "SELECT application_id, status FROM applications WHERE order_id = $1", order_id
        )
    )
    assert statuses == {a.application_id: "declined", b.application_id: "accepted"}


async def test_an_expert_on_an_active_team_cannot_join_a_second_team(
    matching_service: Any, orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    team = await new_team(client, observer)
    first_order, second_order = (
        await publish_tianma_order(client, observer),
        await publish_tianma_order(client, observer),
    )
    applied = application(first_order, team)
    await client.send(applied, source=PORTAL)
    await observer.wait_for(about(first_order, "ApplicationReceived"))
    await client.send(
        AwardOrder(order_id=first_order, application_id=applied.application_id, awarded_by="市人力社保局"),
        source=BUREAU,
    )
    await observer.wait_for(about(first_order, "TeamAccepted"))
    other_lead = expert_registered("另一位专家", "chongqing_talent_scientist")
    await register(client, observer, other_lead)
    overlapping = TeamComposition(
        team_id=new_id("TEAM"),
        name="另一团队",
        lead_expert_id=other_lead.expert_id,
        member_expert_ids=(team.member_expert_ids[0], team.member_expert_ids[1]),
        local_talent_expert_ids=team.local_talent_expert_ids,
    )
    second = await client.send(application(second_order, overlapping), source=PORTAL)
    answer = await rejection_of(observer, second.id)
    assert answer["reason_code"] == "expert_on_active_team"
    assert team.member_expert_ids[0] in answer["reason"]


async def test_a_suspended_team_is_refused_until_the_suspension_is_lifted(
    matching_service: Any, orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    team = await new_team(client, observer)
    order_id = await publish_tianma_order(client, observer)
    today = datetime.now(UTC).date()
    suspended = await client.send(
        TeamSuspended(
            team_id=team.team_id,
            lead_expert_id=team.lead_expert_id,
            order_id=order_id,
            review_id="R-2019-01",
            suspended_from=today - timedelta(days=1),
            suspended_until=today + timedelta(days=365),
            reason="年度考核不合格",
            suspended_at=datetime.now(UTC),
        ),
        source=FUNDING,
    )
    await consumed_by_matching(matching_service, suspended.id)
    refused = await client.send(application(order_id, team), source=PORTAL)
    assert (await rejection_of(observer, refused.id))["reason_code"] == "team_suspended"

    lifted = await client.send(
        SuspensionLifted(
            team_id=team.team_id,
            lead_expert_id=team.lead_expert_id,
            review_id="R-2019-01",
            lifted_on=today,
            lifted_at=datetime.now(UTC),
        ),
        source=FUNDING,
    )
    await consumed_by_matching(matching_service, lifted.id)
    accepted = await client.send(application(order_id, team), source=PORTAL)
    (received,) = await observer.wait_for(
        lambda o: o.type == "ApplicationReceived" and o.envelope is not None and o.envelope.causation_id == accepted.id
    )
    assert received.data["team_id"] == team.team_id


async def test_a_withdrawn_application_cannot_be_awarded_and_a_redelivered_award_changes_nothing(
    matching_service: Any, orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    first, second = await new_team(client, observer), await new_team(client, observer)
    order_id = await publish_tianma_order(client, observer)
    withdrawn, kept = application(order_id, first), application(order_id, second)
    await client.send(withdrawn, source=PORTAL)
    await client.send(kept, source=PORTAL)
    await observer.wait_for(about(order_id, "ApplicationReceived"), count=2)
    await client.send(
        WithdrawApplication(application_id=withdrawn.application_id, order_id=order_id, reason="团队另有安排"),
        source=PORTAL,
    )
    await observer.wait_for(about(order_id, "ApplicationWithdrawn"))
    refused = await client.send(
        AwardOrder(order_id=order_id, application_id=withdrawn.application_id, awarded_by="市人力社保局"), source=BUREAU
    )
    assert (await rejection_of(observer, refused.id))["reason_code"] == "application_withdrawn"

    award = await client.send(
        AwardOrder(order_id=order_id, application_id=kept.application_id, awarded_by="市人力社保局"), source=BUREAU
    )
    await observer.wait_for(about(order_id, "TeamAccepted"))
    await client.send_envelope(award)  # redelivered
    await client.send(
        WithdrawApplication(application_id=kept.application_id, order_id=order_id, reason="marker"), source=PORTAL
    )
    await observer.wait_for(lambda o: o.type == "EventRejected" and o.subject == order_id, count=2)
    await observer.wait_for(about(order_id, "OrderAwarded"))
    await observer.settle(0.3)
    assert len(observer.matching(about(order_id, "TeamAccepted"))) == 1
    assert len(observer.matching(about(order_id, "OrderAwarded"))) == 1
    projects = await matching_service.pool.fetchval("SELECT count(*) FROM projects WHERE order_id = $1", order_id)
    assert projects == 1


async def test_bad_input_to_matching_is_dead_lettered_and_answered(
    matching_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    order_id = await publish_tianma_order(client, observer)
    team = TeamComposition(team_id=new_id("TEAM"), name="冒名团队", lead_expert_id="EXP-x1")
    forged = await client.send(application(order_id, team), source="/bureau/hrss")  # entitled to matching, not to apply
    assert (await rejection_of(observer, forged.id))["reason_code"] == "unauthorized_source"
    unknown = await client.send(application(order_id, team), source=PORTAL)
    assert (await rejection_of(observer, unknown.id))["reason_code"] == "unknown_expert"
    letters = await observer.wait_for(
        lambda o: o.topic.endswith("matching.deadletter") and o.subject == order_id, count=2
    )
    assert {o.header("dlt.reason") for o in letters} == {"unauthorized_source", "business_rule"}


async def test_the_bureau_gets_the_optimal_assignment_of_a_call(
    matching_service: Any, orders_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    await assign_a_call_of_two_orders(client, observer)


async def test_a_large_assignment_comes_in_parts_that_each_fit_in_a_kafka_message(
    matching_service: Any,
    orders_service: Any,
    client: ProgrammeClient,
    observer: TopicObserver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.matching import recommendations

    monkeypatch.setattr(recommendations, "PAIRS_PER_PART", 1)  # 2 pairs: 2 parts

    await assign_a_call_of_two_orders(client, observer, parts=2)


async def assign_a_call_of_two_orders(client: ProgrammeClient, observer: TopicObserver, parts: int = 1) -> None:
    call = f"2019年{new_id('第')}批"  # a call of its own, so the assignment sees only its orders
    orders = [await publish_tianma_order(client, observer, call) for _ in range(2)]
    teams = [await new_team(client, observer, "郭顺星"), await new_team(client, observer, "钟应富")]
    for order_id in orders:
        for team in teams:
            await client.send(application(order_id, team), source=PORTAL)
    await observer.wait_for(lambda o: o.type == "ApplicationReceived" and o.subject in orders, count=4)
    asked = await client.send(RecommendAssignment(call=call, requested_by="市人力社保局"), source=BUREAU)
    advice = await observer.all_parts(asked.id, "AssignmentRecommended", timeout_s=20)
    assert [(a.data["part"], a.data["parts"], len(a.data["pairs"])) for a in advice] == (
        [(1, 1, 2)] if parts == 1 else [(1, 2, 1), (2, 2, 1)]
    )
    assert {a.key for a in advice} == {call.encode()}, "all parts on the call's partition, in order"
    assert len({(a.data["total_mismatch"], a.data["objective"]) for a in advice}) == 1, "totals of the whole call"
    pairs = [p for a in advice for p in a.data["pairs"]]
    assert sorted(p["order_id"] for p in pairs) == sorted(orders)
    assert len({p["team_id"] for p in pairs}) == 2, "each team at most one order"
    assert all(a.data["unassigned_orders"] == [] for a in advice)
    assert all(p["reasons"] for p in pairs)
    assert all("exact" in a.data["solver"] for a in advice)


async def test_an_expert_registered_again_is_recorded_as_an_update_with_the_new_qualifications(
    matching_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    first = expert_registered("刘大会", "young_talent")
    await client.send(first, source=REGISTRY)
    (recorded,) = await observer.wait_for(about(first.expert_id, "ExpertProfileRecorded"))
    again = expert_registered("刘大会", "state_council_allowance", expert_id=first.expert_id)
    await client.send(again, source=REGISTRY)
    *_, updated = await observer.wait_for(about(first.expert_id, "ExpertProfileRecorded"), count=2)

    assert (recorded.data["new"], recorded.data["can_lead"]) == (True, False)
    assert (updated.data["new"], updated.data["can_lead"]) == (False, True)
    assert updated.data["expert"]["name"] == "刘大会"
