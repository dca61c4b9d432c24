"""Kafka topics of the programme, with their partition counts.

Naming:
- `<service>.inbound.<principal>`: what one partner system (a Kafka principal, e.g.
  `counties.500240`) sends to a service. Only that principal may write it (a LITERAL ACL), so the
  topic an event arrives on says which principal wrote it, and the service takes an event only
  when that principal is the one registered for the event's signing key. Created when the
  operator onboards the partner (`expert-teams partners add`); every service reads all of its own
  (`<service>.inbound.` prefix, a pattern subscription). The broker stamps each record's arrival
  (LogAppendTime): the moment freshness and key validity are judged by.
- `answers.<principal>`: the answers to that principal's refused events (EventRejected), readable
  by that principal only.
- `<service>.events`: what the service emits; `<service>.deadletter`: what it could not process
  (original bytes + origin + reason in headers); `rejections`: every answer in full, for the
  operator and auditors only; `partners`: the key registry's history (kept forever, never
  compacted; shared.contract.partners).

Every topic is created explicitly before any client starts (the embedded broker would otherwise
auto-create with 4 partitions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

SERVICES: Final = ("orders", "matching", "funding", "reviews")

REJECTIONS: Final = "rejections"
PARTNERS: Final = "partners"
ANSWERS: Final = "answers"
LOG_APPEND_TIME: Final = (("message.timestamp.type", "LogAppendTime"),)
"""The broker stamps each record with its arrival: what a partner's producer says does not count."""
HISTORY: Final = (("cleanup.policy", "delete"), *LOG_APPEND_TIME)
"""Kept forever (with the programme's retention of -1) and never compacted."""
PARTNER_TOPIC_PARTITIONS: Final = 3
"""Partitions of one partner's inbound topic: one partner's own events in order per subject, and
room for a service's replicas to share a busy partner's topic."""

_INBOUND: Final = re.compile(r"^(?P<service>" + "|".join(SERVICES) + r")\.inbound\.(?P<principal>[a-z]+\..+)$")


def inbound(service: str) -> str:
    """The logical name of a service's partner input (the contract's topic of its inbound types);
    on the brokers it is one topic per partner: `partner_inbound`."""
    return f"{service}.inbound"


def partner_inbound(service: str, principal: str) -> str:
    """The topic through which `principal` (and only it) sends to `service`."""
    return f"{service}.inbound.{principal}"


def answers(principal: str) -> str:
    """The topic `principal` (and only it, besides the operator) reads its answers from."""
    return f"{ANSWERS}.{principal}"


def split_inbound(topic: str, prefix: str = "") -> tuple[str, str] | None:
    """(service, principal) of a partner's inbound topic (None: not one)."""
    if not topic.startswith(prefix):
        return None
    match = _INBOUND.match(topic[len(prefix) :])
    return (match["service"], match["principal"]) if match else None


def is_inbound(name: str, prefix: str = "") -> bool:
    """Whether a topic is a partner's inbound topic: its events are signed by their sources."""
    return split_inbound(name, prefix) is not None


def inbound_pattern(service: str, prefix: str = "") -> str:
    """A regular expression of every partner inbound topic of `service` (no braces: FastStream
    reads braces as its own parameters)."""
    return re.escape(f"{prefix}{service}.inbound.") + r"[a-z]+\..+"


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
    """The programme's own topics (the partners' are `partner_topics`)."""
    specs = [
        TopicSpec(REJECTIONS, partitions, "every answer to a refused event, in full (operator and auditors)"),
        TopicSpec(PARTNERS, 1, "the key registry's history: every key change, signed by the operator", HISTORY),
    ]
    for service in dict.fromkeys(services):
        specs += [
            TopicSpec(events(service), partitions, f"events emitted by {service}"),
            TopicSpec(deadletter(service), deadletter_partitions, f"what {service} could not process"),
        ]
    return specs


def partner_topics(
    principal: str, services: tuple[str, ...], partitions: int = PARTNER_TOPIC_PARTITIONS
) -> list[TopicSpec]:
    """A partner's own topics: one inbound topic per service it sends to, and its answers."""
    specs = [
        TopicSpec(partner_inbound(service, principal), partitions, f"{principal}'s input of {service}", LOG_APPEND_TIME)
        for service in dict.fromkeys(services)
    ]
    specs.append(TopicSpec(answers(principal), 1, f"answers to {principal}'s refused events"))
    return specs


def with_prefix(prefix: str, name: str) -> str:
    return f"{prefix}{name}"
