"""The team a grant's incentives follow: the fixed people (定人) as accepted, then as each approved
member change (MemberChangeApproved) leaves them. Pure: no I/O.

A person who leaves keeps their place in `Grant.people` with the day they left (free from that
day), so the incentive decisions can say why they get none; one who joins is added with the day
they joined. A review's incentives go to the people on the team on the review's date
(`model.review_date`)."""

from __future__ import annotations

from dataclasses import replace

from services.funding.domain.model import Grant, Person
from shared.contract.events.funding import TeamRole
from shared.contract.events.matching import ExpertRef, MemberChangeApproved


def team_after(grant: Grant, change: MemberChangeApproved) -> Grant:
    """The grant's people after an approved change: the change names the whole team from
    `effective_from` (lead, members, local talents); whoever is not in it leaves that day, whoever
    was not on the team joins that day, a person who stays keeps their record (their role as the
    change states it). Applying the same change twice changes nothing."""
    day = change.effective_from
    now_on: dict[str, tuple[ExpertRef, TeamRole]] = {change.lead.expert_id: (change.lead, "lead")}
    now_on |= {m.expert_id: (m, "member") for m in change.members}
    now_on |= {m.expert_id: (m, "local_talent") for m in change.local_talents}
    people: list[Person] = []
    for person in grant.people:
        staying = now_on.pop(person.expert_id, None)
        if staying is None:
            on_team = person.left_on is None or person.left_on > day
            people.append(replace(person, left_on=day) if on_team else person)
        elif person.left_on is not None and person.left_on <= day:  # back on the team
            people.append(replace(Person.of(staying[0], staying[1]), joined_on=day))
        else:
            people.append(replace(person, role=staying[1]))
    people.extend(Person.of(ref, role, joined_on=day) for ref, role in now_on.values())
    return replace(grant, people=tuple(people), lead_expert_id=change.lead.expert_id)
