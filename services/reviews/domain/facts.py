"""What reviews knows from the other services: the published order (title, place, outcome
targets; from OrderPublished) and the project (team, people, service period; from
TeamAccepted). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.contract.events.matching import TeamAccepted
from shared.contract.events.orders import OrderPublished, OutcomeTarget, ServicePeriod

from .institutions import same_institution
from .team import Stint, on_team, stints_of


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
    """As accepted, or as the bureau extended it (ProjectExtended)."""
    township: str = ""
    village: str | None = None
    """The site (定点): the order's place as the team accepted it."""
    team: tuple[Stint, ...] = ()
    """Everyone's time on the team (team.py); empty: the people as accepted, all along."""
    ended_on: date | None = None
    """The project ended early (ProjectEndedEarly) or after a failed rectification (ProjectEnded)."""

    def people_on(self, day: date) -> frozenset[str]:
        """Expert ids of the team on that day (after approved member changes)."""
        if not self.team:
            return self.people
        return frozenset(s.expert_id for s in on_team(self.team, day))

    def lead_institution_on(self, day: date) -> str:
        leads = [s for s in on_team(self.team, day) if s.role == "lead"]
        return leads[0].institution if leads else self.institution

    def works_at_leads_institution(self, institution: str, day: date) -> bool:
        return same_institution(institution, self.lead_institution_on(day))

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
            township=event.place.township,
            village=event.place.village,
            team=stints_of(event.lead, event.members, event.local_talents, event.service_period.start),
        )
