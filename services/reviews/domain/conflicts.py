"""Who may not score a project (回避): checked before a panel score is recorded. Pure: no I/O.

In this order, the first that applies is the rejection's rule:
- `reviewer_in_team`: the reviewer is one of the team's people on the day of scoring, after
  approved member changes (reviewer ids and expert ids share the talent registry's namespace, so
  ids are compared);
- `reviewer_same_institution`: the reviewer works at the institution of the lead expert on the
  team that day (names compared without whitespace and case);
- `reviewer_conflicted`: the reviewer declared a conflict with this review;
- `reviewer_already_scored`: each reviewer scores a review once.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import date

from shared.contract.events.reviews import Reviewer
from shared.rules import RuleBroken

from .facts import Project


def check_reviewer_may_score(
    project: Project, reviewer: Reviewer, declared: Set[str], scored: Set[str], today: date
) -> None:
    """The team is the one on the team `today` (review time), after approved member changes.

    The reason names the reviewer, the team and the institution for the operator; the answer, which
    the reviewer's system reads, names only the reviewer's id and the order the score is for."""
    who = f"reviewer {reviewer.name} ({reviewer.reviewer_id})"
    you = f"reviewer {reviewer.reviewer_id}"
    order_id = project.order_id
    if reviewer.reviewer_id in project.people_on(today):
        raise RuleBroken(
            "reviewer_in_team",
            f"{who} is a member of team {project.team_name} ({project.team_id})",
            answer=f"{you} is on the team of the project under review (order {order_id}) and may not score it",
        )
    if project.works_at_leads_institution(reviewer.institution, today):
        raise RuleBroken(
            "reviewer_same_institution",
            f"{who} works at {reviewer.institution}, the institution of the team's lead expert",
            answer=f"{you} works at the institution of the lead expert of the project under review (order "
            f"{order_id}) and may not score it",
        )
    if reviewer.reviewer_id in declared:
        raise RuleBroken(
            "reviewer_conflicted",
            f"{who} declared a conflict of interest with order {order_id}",
            answer=f"{you} declared a conflict of interest with order {order_id}",
        )
    if reviewer.reviewer_id in scored:
        raise RuleBroken(
            "reviewer_already_scored",
            f"{who} already scored order {order_id} in this cycle",
            answer=f"{you} already scored order {order_id} in this cycle",
        )
