"""The order aggregate and its lifecycle (DOMAIN.md, steps 1-3). Pure: no I/O.

submitted --endorse--> endorsed --publish--> published --(TeamAccepted)--> awarded
    |  ^                  |                      |
 return  resubmit      withdraw/cancel        cancel
    v  |                  v                      v
  returned ----------> withdrawn            cancelled
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from shared.clock import local_date
from shared.contract.events.orders import (
    Demand,
    OrderAwarded,
    OrderCancelled,
    OrderEndorsed,
    OrderPublished,
    OrderReturned,
    OrderSubmitted,
    OrderWithdrawn,
)
from shared.policy import ProgrammePolicy, format_yuan
from shared.rules import RuleBroken


class OrderStatus(StrEnum):
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ENDORSED = "endorsed"
    PUBLISHED = "published"
    AWARDED = "awarded"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"


TERMINAL = frozenset({OrderStatus.WITHDRAWN, OrderStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    demand: Demand
    submitted_by: str
    status: OrderStatus
    revision: int
    call: str | None = None

    @property
    def county_code(self) -> str:
        return self.demand.place.county_code

    # ---- county -------------------------------------------------------------------------------

    @classmethod
    def submit(
        cls,
        *,
        order_id: str,
        demand: Demand,
        submitted_by: str,
        sender_county: str | None,
        policy: ProgrammePolicy,
        now: datetime,
    ) -> tuple[Order, OrderSubmitted]:
        check_demand(order_id, demand, sender_county, policy)
        order = cls(order_id, demand, submitted_by, OrderStatus.SUBMITTED, revision=1)
        return order, order._submitted_event(now)

    def resubmit(
        self,
        *,
        demand: Demand,
        submitted_by: str,
        sender_county: str | None,
        policy: ProgrammePolicy,
        now: datetime,
    ) -> tuple[Order, OrderSubmitted]:
        """A returned demand, revised by the village, comes back to the county."""
        if self.status is not OrderStatus.RETURNED:
            raise RuleBroken(
                "order_exists",
                f"order {self.order_id} already exists ({self.status}); only a returned demand can be resubmitted",
            )
        self._require_county(sender_county)
        check_demand(self.order_id, demand, sender_county, policy)
        order = replace(
            self,
            demand=demand,
            submitted_by=submitted_by,
            status=OrderStatus.SUBMITTED,
            revision=self.revision + 1,
        )
        return order, order._submitted_event(now)

    def endorse(
        self, *, by: str, note: str | None, sender_county: str | None, now: datetime
    ) -> tuple[Order, OrderEndorsed]:
        self._require_county(sender_county)
        self._require_undecided("endorse")
        event = OrderEndorsed(
            order_id=self.order_id, county_code=self.county_code, endorsed_by=by, note=note, endorsed_at=now
        )
        return replace(self, status=OrderStatus.ENDORSED), event

    def return_to_village(
        self, *, by: str, reason: str, sender_county: str | None, now: datetime
    ) -> tuple[Order, OrderReturned]:
        self._require_county(sender_county)
        self._require_undecided("return")
        event = OrderReturned(
            order_id=self.order_id,
            county_code=self.county_code,
            returned_by=by,
            reason=reason,
            returned_at=now,
        )
        return replace(self, status=OrderStatus.RETURNED), event

    def withdraw(
        self, *, by: str, reason: str, sender_county: str | None, now: datetime
    ) -> tuple[Order, OrderWithdrawn]:
        self._require_county(sender_county)
        if self.status not in {OrderStatus.SUBMITTED, OrderStatus.RETURNED, OrderStatus.ENDORSED}:
            hint = " (ask the bureau to cancel it)" if self.status is OrderStatus.PUBLISHED else ""
            raise RuleBroken(
                "invalid_transition",
                f"order {self.order_id} is {self.status} and can no longer be withdrawn{hint}",
            )
        event = OrderWithdrawn(
            order_id=self.order_id,
            county_code=self.county_code,
            withdrawn_by=by,
            reason=reason,
            previous_state=self.status.value,
            withdrawn_at=now,
        )
        return replace(self, status=OrderStatus.WITHDRAWN), event

    # ---- bureau -------------------------------------------------------------------------------

    def publish(
        self, *, by: str, call: str, applications_close_on: date | None, now: datetime
    ) -> tuple[Order, OrderPublished]:
        if self.status is OrderStatus.SUBMITTED:
            raise RuleBroken("not_endorsed", f"order {self.order_id} has not been endorsed by its county yet")
        if self.status is OrderStatus.PUBLISHED:
            raise RuleBroken("already_published", f"order {self.order_id} was already published in {self.call}")
        if self.status is not OrderStatus.ENDORSED:
            raise RuleBroken("invalid_transition", f"order {self.order_id} is {self.status} and cannot be published")
        today = local_date(now)
        if applications_close_on is not None and applications_close_on < today:
            raise RuleBroken(
                "deadline_in_past", f"applications_close_on {applications_close_on} is before today ({today})"
            )
        event = OrderPublished(
            order_id=self.order_id,
            demand=self.demand,
            call=call,
            published_by=by,
            applications_close_on=applications_close_on,
            published_at=now,
        )
        return replace(self, status=OrderStatus.PUBLISHED, call=call), event

    def award(self, *, project_id: str, team_id: str, team_name: str, now: datetime) -> tuple[Order, OrderAwarded]:
        """A team accepted the order as a project (TeamAccepted from matching)."""
        if self.status is not OrderStatus.PUBLISHED:
            raise RuleBroken("invalid_transition", f"order {self.order_id} is {self.status} and cannot be awarded")
        event = OrderAwarded(
            order_id=self.order_id,
            county_code=self.county_code,
            project_id=project_id,
            team_id=team_id,
            team_name=team_name,
            awarded_at=now,
        )
        return replace(self, status=OrderStatus.AWARDED), event

    def cancel(self, *, by: str, reason: str, now: datetime) -> tuple[Order, OrderCancelled]:
        if self.status in TERMINAL or self.status is OrderStatus.AWARDED:
            raise RuleBroken("invalid_transition", f"order {self.order_id} is {self.status} and cannot be cancelled")
        event = OrderCancelled(
            order_id=self.order_id,
            county_code=self.county_code,
            cancelled_by=by,
            reason=reason,
            previous_state=self.status.value,
            cancelled_at=now,
        )
        return replace(self, status=OrderStatus.CANCELLED), event

    # ---- helpers ------------------------------------------------------------------------------

    def _submitted_event(self, now: datetime) -> OrderSubmitted:
        return OrderSubmitted(
            order_id=self.order_id,
            demand=self.demand,
            submitted_by=self.submitted_by,
            revision=self.revision,
            submitted_at=now,
        )

    def _require_county(self, sender_county: str | None) -> None:
        if sender_county != self.county_code:
            raise RuleBroken(
                "county_mismatch",
                f"order {self.order_id} belongs to county {self.county_code}; "
                f"{sender_county or 'this sender'} cannot act on it",
            )

    def _require_undecided(self, action: str) -> None:
        if self.status in {OrderStatus.ENDORSED, OrderStatus.RETURNED}:
            raise RuleBroken(
                "decision_already_taken",
                f"the county already {self.status.value} order {self.order_id}; it cannot {action} it now",
            )
        if self.status is not OrderStatus.SUBMITTED:
            raise RuleBroken("invalid_transition", f"order {self.order_id} is {self.status}; cannot {action} it")


def check_demand(order_id: str, demand: Demand, sender_county: str | None, policy: ProgrammePolicy) -> None:
    """The rules a demand must meet before it becomes an order."""
    county = demand.place.county_code
    if sender_county != county:
        raise RuleBroken(
            "county_mismatch",
            f"a demand of county {county} was sent by {sender_county or 'a non-county source'}",
        )
    if not order_id.startswith(f"{county}-"):
        raise RuleBroken("order_id_county_mismatch", f"order id {order_id} must start with the county code {county}-")
    low, high = policy.funding_min_fen, policy.funding_max_fen
    if not low <= demand.funding_asked_fen <= high:
        raise RuleBroken(
            "funding_out_of_range",
            f"funding asked {format_yuan(demand.funding_asked_fen)} is outside "
            f"{format_yuan(low)} to {format_yuan(high)} per team",
        )
    months = demand.service_period.months
    if not policy.service_period_min_months <= months <= policy.service_period_max_months:
        raise RuleBroken(
            "service_period_out_of_range",
            f"a service period of {months} months is outside "
            f"{policy.service_period_min_months} to {policy.service_period_max_months} months",
        )
    indicators = [t.indicator for t in demand.outcome_targets]
    if len(set(indicators)) != len(indicators):
        raise RuleBroken("duplicate_indicator", "each outcome indicator may be targeted only once")
