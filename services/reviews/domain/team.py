"""Who is on a project's team on a given day (定人, with the bureau's approved member changes).
Pure: no I/O.

The team accepted with the order serves from the service period's start. Each approved member
change (MemberChangeApproved) gives the whole team as it stands from `effective_from`: whoever is
on it from that day gets a stint from that day, everyone else's stint ends the day before (their
`valid_to` is `effective_from`, the first day off the team). A stint that starts on or after a
later-approved change's `effective_from` is replaced by it: the last approved change decides the
team from its date on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from shared.contract.events.matching import ExpertRef

Role = Literal["lead", "member", "local_talent"]


@dataclass(frozen=True, slots=True)
class Stint:
    """One person's time on the team: from `valid_from` up to (not including) `valid_to`."""

    expert_id: str
    name: str
    institution: str
    role: Role
    valid_from: date
    valid_to: date | None = None

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


def stints_of(
    lead: ExpertRef, members: Sequence[ExpertRef], local_talents: Sequence[ExpertRef], valid_from: date
) -> tuple[Stint, ...]:
    """The team as it stands from `valid_from`."""
    roles: list[tuple[ExpertRef, Role]] = [
        (lead, "lead"),
        *((m, "member") for m in members),
        *((t, "local_talent") for t in local_talents),
    ]
    return tuple(Stint(p.expert_id, p.name, p.institution, role, valid_from) for p, role in roles)


def team_changed(stints: Sequence[Stint], new_team: Sequence[Stint], effective_from: date) -> tuple[Stint, ...]:
    """The stints after an approved change: the old team up to `effective_from`, `new_team` from it.
    Someone who stays in the same role keeps one unbroken stint."""
    staying = {(s.expert_id, s.role) for s in new_team}
    result: list[Stint] = []
    continuing: set[tuple[str, Role]] = set()
    for stint in (s for s in stints if s.valid_from < effective_from):
        key = (stint.expert_id, stint.role)
        if not stint.covers(effective_from):
            result.append(stint)
        elif key in staying:
            result.append(replace(stint, valid_to=None))
            continuing.add(key)
        else:
            result.append(replace(stint, valid_to=effective_from))
    result.extend(
        replace(s, valid_from=effective_from, valid_to=None)
        for s in new_team
        if (s.expert_id, s.role) not in continuing
    )
    return tuple(sorted(result, key=lambda s: (s.valid_from, s.expert_id)))


def on_team(stints: Sequence[Stint], day: date) -> tuple[Stint, ...]:
    """Who is on the team that day."""
    return tuple(s for s in stints if s.covers(day))


def serving(stints: Sequence[Stint], expert_id: str, day: date) -> bool:
    return any(s.expert_id == expert_id for s in on_team(stints, day))
