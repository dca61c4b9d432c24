"""Kafka topics of the programme, with their partition counts.

Naming: `<service>.inbound` carries what partner systems and bureau staff send to a service;
`<service>.events` carries what the service emits; `<service>.deadletter` holds what the
service could not process (original bytes + origin + reason in headers); `rejections`
answers senders whose events were refused; `partners` is the key registry (compacted: the
latest public key of each source, shared.contract.partners). Every topic is created explicitly before any
client starts (the embedded broker would otherwise auto-create with 4 partitions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SERVICES: Final = ("orders", "matching", "funding", "reviews")

REJECTIONS: Final = "rejections"
PARTNERS: Final = "partners"
COMPACTED: Final = (("cleanup.policy", "compact"),)


def inbound(service: str) -> str:
    return f"{service}.inbound"


def is_inbound(name: str) -> bool:
    """Whether a topic (with or without prefix) is a `<service>.inbound` topic: its events are signed."""
    return name.endswith(".inbound")


def events(service: str) -> str:
    return f"{service}.events"


def deadletter(service: str) -> str:
    return f"{service}.deadletter"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    purpose: str
    configs: tuple[tuple[str, str], ...] = ()
    """Topic configs of this topic that differ from every topic's (shared.messaging.topic_admin)."""


def all_topics(
    partitions: int = 6, deadletter_partitions: int = 3, services: tuple[str, ...] = SERVICES
) -> list[TopicSpec]:
    specs = [
        TopicSpec(REJECTIONS, partitions, "answers to senders whose events were refused"),
        TopicSpec(PARTNERS, 1, "the key registry: each source's signing key (compacted)", COMPACTED),
    ]
    for service in dict.fromkeys(services):
        specs += [
            TopicSpec(inbound(service), partitions, f"partner and bureau input of {service}"),
            TopicSpec(events(service), partitions, f"events emitted by {service}"),
            TopicSpec(deadletter(service), deadletter_partitions, f"what {service} could not process"),
        ]
    return specs


def with_prefix(prefix: str, name: str) -> str:
    return f"{prefix}{name}"
