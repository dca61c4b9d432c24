"""What reviews knows from the other services: the published order (title, place, outcome
targets; from OrderPublished) and the project (team, people, service period; from
TeamAccepted). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contract.events.matching import TeamAccepted
from shared.contract.events.orders import OrderPublished, OutcomeTarget, ServicePeriod


@dataclass(frozen=True, slots=True)
class OrderFacts:
    order_id: str
    title: str
    county_code: str
    county_name: str
    targets: tuple[OutcomeTarget, ...]

    @classmethod
    def from_event(cls, event: OrderPublished) -> OrderFacts:
        place = event.demand.place
        return cls(
            order_id=event.order_id,
            title=event.demand.title,
            county_code=place.county_code,
            county_name=place.county_name,
            targets=event.demand.outcome_targets,
        )


@dataclass(frozen=True, slots=True)
class Project:
    """An order taken by a team (定点、定人、定服务期)."""

    project_id: str
    order_id: str
    team_id: str
    team_name: str
    lead_expert_id: str
    lead_name: str
    institution: str
    """The lead expert's institution: the team's institution as published."""
    people: frozenset[str]
    """Expert ids of everyone on the team: lead, members and local talent."""
    service_period: ServicePeriod

    @classmethod
    def from_event(cls, event: TeamAccepted) -> Project:
        everyone = (event.lead, *event.members, *event.local_talents)
        return cls(
            project_id=event.project_id,
            order_id=event.order_id,
            team_id=event.team_id,
            team_name=event.team_name,
            lead_expert_id=event.lead.expert_id,
            lead_name=event.lead.name,
            institution=event.lead.institution,
            people=frozenset(person.expert_id for person in everyone),
            service_period=event.service_period,
        )
