"""Events of the order lifecycle: what county systems and bureau staff send, what orders emits."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from .base import CountyCode, EventData, Fen, Name, OrderId, Tag, Text, Value

CallName = Annotated[
    str,
    Field(
        min_length=5,
        max_length=120,
        pattern=r"^20[0-9]{2}年",
        description="The call for teams, named after its year, e.g. 2027年第一批: the year's budget funds its grants",
    ),
]


def call_year(call: str) -> int | None:
    """The year a call belongs to (its budget year), from its name: 2027年第一批 -> 2027."""
    head = call[:5]
    return int(head[:4]) if len(head) == 5 and head[:4].isdigit() and head[4] == "年" else None


class Place(Value):
    """Where the service happens (定点)."""

    county_code: CountyCode
    county_name: Name
    township: Name
    village: Name | None = None
    deep_poverty_township: bool = Field(description="The township is one of the city's 深度贫困乡镇")


class OutcomeTarget(Value):
    """One indicator the village wants to reach (IATI style: baseline -> target, with a unit)."""

    indicator: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,59}$")]
    label: Name
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    baseline: float | None = None
    target: float


class ServicePeriod(Value):
    """The fixed service period (定服务期)."""

    start: date
    months: int = Field(ge=1, le=120)


def service_end(period: ServicePeriod) -> date:
    """The first day after the service period (start + months, same day of month or the month's last)."""
    months = period.start.month - 1 + period.months
    year, month = period.start.year + months // 12, months % 12 + 1
    return date(year, month, min(period.start.day, calendar.monthrange(year, month)[1]))


class Demand(Value):
    """What a village or township asks for: the content of an order."""

    place: Place
    industry: Tag = Field(description="Industry, e.g. 中药材, 茶叶, 畜牧, 乡村旅游")
    title: Name
    needs: tuple[Tag, ...] = Field(min_length=1, max_length=20, description="What is wanted, as tags")
    description: Text
    outcome_targets: tuple[OutcomeTarget, ...] = Field(min_length=1, max_length=20)
    service_period: ServicePeriod
    funding_asked_fen: Fen


# ---- sent in by county systems (on behalf of villages and townships) -------------------------


class DemandSubmitted(EventData):
    """A county system submits (or resubmits after a return) a village's or township's demand."""

    EVENT_TYPE = "DemandSubmitted"
    order_id: OrderId
    demand: Demand
    submitted_by: Name = Field(description="The county office that collected the demand")

    def subject(self) -> str:
        return self.order_id


class DemandEndorsed(EventData):
    """The county endorses a submitted demand, so the city may publish it."""

    EVENT_TYPE = "DemandEndorsed"
    order_id: OrderId
    endorsed_by: Name
    note: Text | None = None

    def subject(self) -> str:
        return self.order_id


class DemandReturned(EventData):
    """The county returns a submitted demand to the village, with the reason."""

    EVENT_TYPE = "DemandReturned"
    order_id: OrderId
    returned_by: Name
    reason: Text

    def subject(self) -> str:
        return self.order_id


class WithdrawDemand(EventData):
    """The county withdraws a demand that has not been published yet."""

    EVENT_TYPE = "WithdrawDemand"
    order_id: OrderId
    withdrawn_by: Name
    reason: Text

    def subject(self) -> str:
        return self.order_id


# ---- bureau staff decisions --------------------------------------------------------------------


class PublishOrder(EventData):
    """Bureau staff publish an endorsed order and solicit expert teams."""

    EVENT_TYPE = "PublishOrder"
    order_id: OrderId
    published_by: Name
    call: CallName
    applications_close_on: date | None = None

    def subject(self) -> str:
        return self.order_id


class CancelOrder(EventData):
    """Bureau staff cancel an order that has not been awarded."""

    EVENT_TYPE = "CancelOrder"
    order_id: OrderId
    cancelled_by: Name
    reason: Text

    def subject(self) -> str:
        return self.order_id


# ---- emitted by the orders service --------------------------------------------------------------


OrderState = Literal["submitted", "returned", "endorsed", "published", "awarded", "withdrawn", "cancelled"]


class OrderSubmitted(EventData):
    """An order exists (or was revised after a return) and awaits the county's decision."""

    EVENT_TYPE = "OrderSubmitted"
    order_id: OrderId
    demand: Demand
    submitted_by: Name
    revision: int = Field(ge=1, description="1 for the first submission, +1 for each resubmission")
    submitted_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class OrderEndorsed(EventData):
    EVENT_TYPE = "OrderEndorsed"
    order_id: OrderId
    county_code: CountyCode
    endorsed_by: Name
    note: Text | None = None
    endorsed_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class OrderReturned(EventData):
    EVENT_TYPE = "OrderReturned"
    order_id: OrderId
    county_code: CountyCode
    returned_by: Name
    reason: Text
    returned_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class OrderPublished(EventData):
    """The city has published the order: expert teams may apply for it (design-card event)."""

    EVENT_TYPE = "OrderPublished"
    order_id: OrderId
    demand: Demand
    call: Name
    published_by: Name
    applications_close_on: date | None = None
    published_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class OrderWithdrawn(EventData):
    EVENT_TYPE = "OrderWithdrawn"
    order_id: OrderId
    county_code: CountyCode
    withdrawn_by: Name
    reason: Text
    previous_state: OrderState
    withdrawn_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class OrderCancelled(EventData):
    EVENT_TYPE = "OrderCancelled"
    order_id: OrderId
    county_code: CountyCode
    cancelled_by: Name
    reason: Text
    previous_state: OrderState
    cancelled_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id


class OrderAwarded(EventData):
    """A team accepted the order as a project (the orders service's record of TeamAccepted)."""

    EVENT_TYPE = "OrderAwarded"
    order_id: OrderId
    county_code: CountyCode
    project_id: Name
    team_id: Name
    team_name: Name
    awarded_at: AwareDatetime

    def subject(self) -> str:
        return self.order_id
