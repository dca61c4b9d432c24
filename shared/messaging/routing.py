"""Which handler takes which event type on which topic. A route binds an event model class to a
handler whose data argument is that class (mypy checks the pair); `check_wiring` compares every
route with the contract's registry when the service starts, and a mismatch stops it."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared.contract.envelope import Envelope
from shared.contract.events.base import EventData
from shared.contract.registry import EventRegistry
from shared.db.types import Connection

from .context import MessageContext
from .unit import UnitOfWork

Handler = Callable[[MessageContext, Any], Awaitable[None]]
Prefetch = Callable[[UnitOfWork, Connection, Sequence[Envelope]], Awaitable[None]]

E = TypeVar("E", bound=EventData)


class WiringError(Exception):
    """A handler is bound to an event type the contract does not deliver where it is bound."""


@dataclass(frozen=True, slots=True)
class Route:
    model: type[EventData]
    handler: Handler


def on(model: type[E], handler: Callable[[MessageContext, E], Awaitable[None]]) -> Route:
    """`handler` takes the events of type `model` (its data argument must accept `model`)."""
    return Route(model, handler)


@dataclass(frozen=True, slots=True)
class Subscription:
    """The event types a service handles on one (logical) topic.

    On the service's own inbound topic (`strict=True`) a type without a handler is an
    error and is dead-lettered; on other services' event topics it is simply not ours."""

    topic: str
    routes: Sequence[Route]
    strict: bool = False
    prefetch: Prefetch | None = None
    """Reads (and locks) into the unit, in one statement, what the batch's events on this
    topic will need, so that handlers do not read them one round trip at a time."""
    handlers: Mapping[str, Handler] = field(init=False)
    """The routes by CloudEvents type, as the consumer looks them up."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "handlers", {route.model.EVENT_TYPE: route.handler for route in self.routes})


def check_wiring(service: str, subscriptions: Sequence[Subscription], registry: EventRegistry) -> None:
    """Every route names a type of the contract, on the topic the contract puts it on, once, with
    a handler whose data argument accepts it. Raises WiringError saying which route is wrong."""
    problems: list[str] = []
    topics = [s.topic for s in subscriptions]
    for topic in {t for t in topics if topics.count(t) > 1}:
        problems.append(f"{topic} is subscribed to more than once")
    for subscription in subscriptions:
        seen: set[str] = set()
        for route in subscription.routes:
            name, where = _name(route.handler), f"{service}: {_name(route.handler)} bound to {route.model.__name__}"
            try:
                spec = registry.for_model(route.model)
            except KeyError:
                problems.append(f"{where}, which is not an event type of the contract")
                continue
            if spec.topic != subscription.topic:
                problems.append(f"{where} on {subscription.topic}, but the contract puts {spec.type} on {spec.topic}")
            if spec.type in seen:
                problems.append(f"{service}: {spec.type} has more than one handler on {subscription.topic}")
            seen.add(spec.type)
            accepted = _data_types(route.handler)
            if accepted is not None and not issubclass(route.model, accepted):
                wanted = " | ".join(t.__name__ for t in accepted)
                problems.append(f"{where}, but {name} takes {wanted}")
    if problems:
        raise WiringError("the service's handlers do not match the contract:\n  " + "\n  ".join(problems))


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", repr(handler))


def _data_types(handler: Handler) -> tuple[type, ...] | None:
    """The classes the handler's data argument is annotated with (None if it cannot be told)."""
    try:
        parameters = list(inspect.signature(handler).parameters.values())
        hints = typing.get_type_hints(handler)
    except (TypeError, ValueError, NameError):
        return None
    if len(parameters) < 2 or parameters[1].name not in hints:
        return None
    hint = hints[parameters[1].name]
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    members = typing.get_args(hint) if union else (hint,)
    if not all(isinstance(member, type) for member in members):
        return None
    return tuple(members)
