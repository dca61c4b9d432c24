"""Events of the funding service that other services act on. (The funding service itself is
built later; matching already honours suspensions.)"""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, Field

from .base import EventData, Name, OrderId, Text
from .matching import ExpertId, TeamId


class TeamSuspended(EventData):
    """After an unqualified yearly review the team and its lead may not apply for a period
    (暂停1年申报资格)."""

    EVENT_TYPE = "TeamSuspended"
    team_id: TeamId
    lead_expert_id: ExpertId
    order_id: OrderId
    review_id: Name
    suspended_from: date
    suspended_until: date = Field(description="First day on which the team may apply again")
    reason: Text
    suspended_at: AwareDatetime

    def subject(self) -> str:
        return self.team_id


class SuspensionLifted(EventData):
    """The suspension ended on its date: the team and its lead may apply again."""

    EVENT_TYPE = "SuspensionLifted"
    team_id: TeamId
    lead_expert_id: ExpertId
    review_id: Name
    lifted_on: date
    lifted_at: AwareDatetime

    def subject(self) -> str:
        return self.team_id
