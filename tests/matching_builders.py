"""Helpers of the matching and funding tests on the real broker: a published 天麻 order in 石柱县,
registered experts, a 1+N+1 team, its application, the answer to a sender."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.contract.events.matching import ExpertRegistered, TeamApplicationSubmitted, TeamComposition
from shared.contract.events.orders import DemandEndorsed, DemandSubmitted, PublishOrder, ServicePeriod
from shared.policy import YUAN
from tests.builders import SHIZHU, expert_registered, new_id, new_order_id, tianma_demand
from tests.waiting import eventually
from tools.client import Observed, ProgrammeClient, TopicObserver, about

REGISTRY = "/registry/talent"
PORTAL = "/portal/applications"
BUREAU = "/bureau/hrss"
FUNDING = "/services/funding"


async def publish_tianma_order(client: ProgrammeClient, observer: TopicObserver, call: str = "2019年第一批") -> str:
    order_id = new_order_id()
    county = f"/counties/{SHIZHU}"
    await client.send(DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县"), source=county)
    await client.send(DemandEndorsed(order_id=order_id, endorsed_by="石柱县"), source=county)
    await observer.wait_for(about(order_id, "OrderEndorsed"))  # the bureau publishes what it saw endorsed
    await client.send(PublishOrder(order_id=order_id, published_by="市人力社保局", call=call), source=BUREAU)
    await observer.wait_for(about(order_id, "CandidatesRecommended"))
    return order_id


async def register(client: ProgrammeClient, observer: TopicObserver, *experts: ExpertRegistered) -> None:
    for expert in experts:
        await client.send(expert, source=REGISTRY)
    ids = {e.expert_id for e in experts}
    await observer.wait_for(lambda o: o.type == "ExpertProfileRecorded" and o.subject in ids, count=len(ids))


async def new_team(client: ProgrammeClient, observer: TopicObserver, lead_name: str = "郭顺星") -> TeamComposition:
    lead = expert_registered(lead_name, "state_council_allowance")
    members = [expert_registered("成员甲", "postdoctoral_researcher"), expert_registered("成员乙", "young_talent")]
    local = expert_registered("本地骨干", "local_backbone", local_county=SHIZHU)
    await register(client, observer, lead, *members, local)
    return TeamComposition(
        team_id=new_id("TEAM"),
        name=f"{lead_name}团队",
        lead_expert_id=lead.expert_id,
        member_expert_ids=tuple(m.expert_id for m in members),
        local_talent_expert_ids=(local.expert_id,),
    )


def application(order_id: str, team: TeamComposition, **changes: Any) -> TeamApplicationSubmitted:
    values: dict[str, Any] = {
        "application_id": new_id("APP"),
        "order_id": order_id,
        "team": team,
        "plan": "建设天麻繁育示范园，培训本地骨干",
        "site": "洗新乡保合村天麻示范园",
        "service_period": ServicePeriod(start=datetime.now(UTC).date() + timedelta(days=30), months=24),
        "funding_asked_fen": 150_000 * YUAN,
    }
    return TeamApplicationSubmitted(**(values | changes))


async def rejection_of(observer: TopicObserver, event_id: str, service: str | None = None) -> dict[str, Any]:
    """The answer to a sender; with `service`, that service's (an event several services consume may be
    refused by more than one of them)."""

    def answers(o: Observed) -> bool:
        return (
            o.type == "EventRejected"
            and o.data["rejected_event_id"] == event_id
            and (service is None or o.data["service"] == service)
        )

    (answer,) = await observer.wait_for(answers)
    return answer.data


async def consumed_by_matching(matching_service: Any, event_id: str) -> None:
    """Wait until matching has applied the event (it emits nothing for facts from other services)."""
    await eventually(
        lambda: matching_service.pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event_id),
        f"matching consumed {event_id}",
    )
