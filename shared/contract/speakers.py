"""What is said bound to who says it: a signed source may only speak as itself.

A reviewer's system (`/reviewers/<id>`) scores and declares conflicts only as reviewer `<id>`;
a county system (`/counties/<code>`, or a system under it) acts only on its own county's
demands and orders. Each binding reads, from an event's validated data, the party the event
speaks for; a source the binding covers must be that party. Sources a binding does not cover
(the bureau declaring a conflict for a reviewer) are judged by the source policy alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from .authorization import county_of
from .events.base import EventData
from .events.orders import DemandEndorsed, DemandReturned, DemandSubmitted, WithdrawDemand
from .events.reviews import PanelScoreSubmitted, ReviewerConflictDeclared

_REVIEWER_SOURCE: Final = re.compile(r"^/reviewers/([^/]+)$")


@dataclass(frozen=True, slots=True)
class Binding:
    party: str
    """Who the source speaks as, in words: 'reviewer', 'county'."""
    covers: Callable[[str], bool]
    """Whether a source is bound at all (a reviewer's system, a county's)."""
    of_source: Callable[[str], str | None]
    """The party a source may speak for (None: none)."""
    of_data: Callable[[EventData], str]
    """The party the event speaks for."""


def reviewer_source(reviewer_id: str) -> str:
    """The source of a reviewer's own system, the only one that may score as that reviewer."""
    return f"/reviewers/{reviewer_id}"


def _reviewer_of(source: str) -> str | None:
    match = _REVIEWER_SOURCE.match(source)
    return match.group(1) if match else None


def _order_county(order_id: str) -> str:
    """Order ids are '<county code>-<local id>' (the contract's OrderId)."""
    return order_id.split("-", 1)[0]


def _is_county_system(source: str) -> bool:
    return source.startswith("/counties/")


def _is_reviewer(source: str) -> bool:
    return source.startswith("/reviewers/")


def _scoring_reviewer(data: EventData) -> str:
    assert isinstance(data, PanelScoreSubmitted)
    return data.reviewer.reviewer_id


def _declaring_reviewer(data: EventData) -> str:
    assert isinstance(data, ReviewerConflictDeclared)
    return data.reviewer_id


def _demand_county(data: EventData) -> str:
    assert isinstance(data, DemandSubmitted)
    return data.demand.place.county_code


def _order_of(data: EventData) -> str:
    assert isinstance(data, DemandEndorsed | DemandReturned | WithdrawDemand)
    return _order_county(data.order_id)


_REVIEWER = ("reviewer", _is_reviewer, _reviewer_of)
_COUNTY = ("county", _is_county_system, county_of)

BINDINGS: Final[Mapping[str, Binding]] = {
    PanelScoreSubmitted.EVENT_TYPE: Binding(*_REVIEWER, _scoring_reviewer),
    ReviewerConflictDeclared.EVENT_TYPE: Binding(*_REVIEWER, _declaring_reviewer),
    DemandSubmitted.EVENT_TYPE: Binding(*_COUNTY, _demand_county),
    DemandEndorsed.EVENT_TYPE: Binding(*_COUNTY, _order_of),
    DemandReturned.EVENT_TYPE: Binding(*_COUNTY, _order_of),
    WithdrawDemand.EVENT_TYPE: Binding(*_COUNTY, _order_of),
}
"""Event type -> how to read the party it speaks for."""


def speaker_refusal(source: str, data: EventData) -> str | None:
    """Why `source` may not say this (None: it speaks for itself, or no binding covers it)."""
    binding = BINDINGS.get(data.EVENT_TYPE)
    if binding is None or not binding.covers(source):
        return None
    spoken_for = binding.of_data(data)
    allowed = binding.of_source(source)
    if allowed == spoken_for:
        return None
    return f"source {source} may only speak as its own {binding.party}, not as {binding.party} {spoken_for}"
