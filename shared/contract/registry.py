"""The catalogue of event types: type name -> data model, schema version, topic, senders."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from shared import topics

from .events.base import EventData
from .events.orders import (
    CancelOrder,
    DemandEndorsed,
    DemandReturned,
    DemandSubmitted,
    OrderCancelled,
    OrderEndorsed,
    OrderPublished,
    OrderReturned,
    OrderSubmitted,
    OrderWithdrawn,
    PublishOrder,
    WithdrawDemand,
)
from .events.system import EventRejected

SCHEMA_URN_PREFIX = "urn:cq-expert-teams:schema:"

# Who may send what, by CloudEvents `source`. These are the defaults; the deployment may
# override them per type with AUTHORIZED_SOURCES (see shared.contract.authorization).
COUNTY_SYSTEMS = ("/counties/*",)
BUREAU_STAFF = ("/bureau/*",)


def service_source(service: str) -> str:
    return f"/services/{service}"


@dataclass(frozen=True, slots=True)
class EventSpec:
    model: type[EventData]
    topic: str
    senders: tuple[str, ...]
    summary: str

    @property
    def type(self) -> str:
        return self.model.EVENT_TYPE

    @property
    def version(self) -> int:
        return self.model.VERSION

    @property
    def dataschema(self) -> str:
        return schema_urn(self.type, self.version)


def schema_urn(event_type: str, version: int) -> str:
    return f"{SCHEMA_URN_PREFIX}{event_type}:v{version}"


class EventRegistry:
    def __init__(self, specs: Iterable[EventSpec]) -> None:
        self._by_type: dict[str, EventSpec] = {}
        for spec in specs:
            if spec.type in self._by_type:
                raise ValueError(f"event type {spec.type} registered twice")
            self._by_type[spec.type] = spec

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(sorted(self._by_type.values(), key=lambda s: (s.topic, s.type)))

    def get(self, event_type: str) -> EventSpec | None:
        return self._by_type.get(event_type)

    def __getitem__(self, event_type: str) -> EventSpec:
        return self._by_type[event_type]

    def for_model(self, model: type[EventData]) -> EventSpec:
        return self._by_type[model.EVENT_TYPE]

    def on_topic(self, topic: str) -> list[EventSpec]:
        return [spec for spec in self if spec.topic == topic]


def _orders_emits(model: type[EventData], summary: str) -> EventSpec:
    return EventSpec(model, topics.events("orders"), (service_source("orders"),), summary)


REGISTRY = EventRegistry(
    [
        EventSpec(DemandSubmitted, topics.inbound("orders"), COUNTY_SYSTEMS, "a county submits a demand"),
        EventSpec(DemandEndorsed, topics.inbound("orders"), COUNTY_SYSTEMS, "a county endorses a demand"),
        EventSpec(DemandReturned, topics.inbound("orders"), COUNTY_SYSTEMS, "a county returns a demand"),
        EventSpec(WithdrawDemand, topics.inbound("orders"), COUNTY_SYSTEMS, "a county withdraws a demand"),
        EventSpec(PublishOrder, topics.inbound("orders"), BUREAU_STAFF, "the bureau publishes an order"),
        EventSpec(CancelOrder, topics.inbound("orders"), BUREAU_STAFF, "the bureau cancels an order"),
        _orders_emits(OrderSubmitted, "an order was submitted or resubmitted"),
        _orders_emits(OrderEndorsed, "the county endorsed an order"),
        _orders_emits(OrderReturned, "the county returned an order"),
        _orders_emits(OrderPublished, "the city published an order; teams may apply"),
        _orders_emits(OrderWithdrawn, "the county withdrew an order"),
        _orders_emits(OrderCancelled, "the bureau cancelled an order"),
        EventSpec(
            EventRejected,
            topics.REJECTIONS,
            tuple(service_source(s) for s in topics.SERVICES),
            "a service refused an event; the reason, for its sender",
        ),
    ]
)
