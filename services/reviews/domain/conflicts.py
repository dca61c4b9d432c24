"""Who may not score a project (回避): checked before a panel score is recorded. Pure: no I/O.

In this order, the first that applies is the rejection's rule:
- `reviewer_in_team`: the reviewer is one of the team's people (reviewer ids and expert ids
  share the talent registry's namespace, so ids are compared);
- `reviewer_same_institution`: the reviewer works at the lead expert's institution (names
  compared without whitespace and case);
- `reviewer_conflicted`: the reviewer declared a conflict with this review;
- `reviewer_already_scored`: each reviewer scores a review once.
"""

from __future__ import annotations

from collections.abc import Set

from shared.contract.events.reviews import Reviewer
from shared.rules import RuleBroken

from .facts import Project


def check_reviewer_may_score(project: Project, reviewer: Reviewer, declared: Set[str], scored: Set[str]) -> None:
    who = f"reviewer {reviewer.name} ({reviewer.reviewer_id})"
    if reviewer.reviewer_id in project.people:
        raise RuleBroken("reviewer_in_team", f"{who} is a member of team {project.team_name} ({project.team_id})")
    if same_institution(reviewer.institution, project.institution):
        raise RuleBroken(
            "reviewer_same_institution",
            f"{who} works at {reviewer.institution}, the institution of lead expert {project.lead_name}",
        )
    if reviewer.reviewer_id in declared:
        raise RuleBroken("reviewer_conflicted", f"{who} declared a conflict of interest with order {project.order_id}")
    if reviewer.reviewer_id in scored:
        raise RuleBroken("reviewer_already_scored", f"{who} already scored order {project.order_id} in this cycle")


def same_institution(a: str, b: str) -> bool:
    return _normalised(a) == _normalised(b)


def _normalised(institution: str) -> str:
    return "".join(institution.split()).casefold()
