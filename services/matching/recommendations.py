"""Advice for the bureau, computed from matching's state: candidates for a newly published
order, and the optimal assignment of a call's open orders to the teams that applied."""

from __future__ import annotations

from datetime import datetime

from services.matching.adapters.repository import MatchingRepository
from services.matching.domain.assignment import candidate_pairs, optimal_assignment
from services.matching.domain.model import PublishedOrder
from services.matching.domain.recommend import recommend_experts, recommend_teams
from services.matching.domain.scoring import MatchingWeights
from shared.contract.events.matching import (
    AssignmentPair,
    AssignmentRecommended,
    Candidate,
    CandidatesRecommended,
    RecommendAssignment,
)
from shared.rules import RuleBroken

SOLVER = "exact minimum-weight bipartite matching (scipy min_weight_full_bipartite_matching)"


async def recommend_candidates(
    repo: MatchingRepository, order: PublishedOrder, weights: MatchingWeights, now: datetime
) -> CandidatesRecommended:
    profile = order.profile()
    experts = await repo.candidate_experts(profile, weights.expert_shortlist)
    teams = await repo.available_teams(profile, weights.team_shortlist)
    eligible = await repo.continued_support(t.team_id for t in teams)
    (expert_recs,) = recommend_experts([profile], experts, weights)
    (team_recs,) = recommend_teams(
        [profile], teams, weights, continued_support={team: projects[0] for team, projects in eligible.items()}
    )
    expert_names = {e.expert_id: e.name for e in experts}
    team_names = {t.team_id: t.name for t in teams}
    return CandidatesRecommended(
        order_id=order.order_id,
        county_code=order.county_code,
        industry=order.industry,
        experts=tuple(
            Candidate(
                candidate_id=r.candidate_id,
                name=expert_names[r.candidate_id],
                score=round(r.score, 6),
                reasons=r.reasons,
            )
            for r in expert_recs
        ),
        teams=tuple(
            Candidate(
                candidate_id=r.candidate_id, name=team_names[r.candidate_id], score=round(r.score, 6), reasons=r.reasons
            )
            for r in team_recs
        ),
        recommended_at=now,
    )


PAIRS_PER_PART = 500
UNASSIGNED_PER_PART = 5_000


async def recommend_assignment(
    repo: MatchingRepository, request: RecommendAssignment, weights: MatchingWeights, now: datetime
) -> list[AssignmentRecommended]:
    """The call's optimal assignment, in as many parts as keep each message small (see the event)."""
    orders = await repo.open_orders_of_call(request.call)
    if not orders:
        raise RuleBroken("nothing_to_assign", f"call {request.call} has no open orders")
    applications = await repo.applications_for_orders([o.order_id for o in orders], pending_only=True)
    team_of_application = await repo.team_profiles(applications)
    teams = {team.team_id: team for team in team_of_application.values()}
    application_of = {
        (a.order_id, a.team.team_id): a.application_id for a in applications if a.application_id in team_of_application
    }
    continued_support = {
        (a.order_id, a.team.team_id): a.continued_support_of
        for a in applications
        if a.continued_support_of is not None and a.application_id in team_of_application
    }
    profiles = [o.profile() for o in orders]
    candidates = candidate_pairs(profiles, list(teams.values()), application_of, weights, continued_support)
    plan = optimal_assignment(profiles, list(teams.values()), candidates, weights)
    pairs = [
        AssignmentPair(
            order_id=p.order_id,
            team_id=p.team_id,
            application_id=application_of[(p.order_id, p.team_id)],
            mismatch=round(p.mismatch, 6),
            reasons=p.reasons,
        )
        for p in plan.pairs
    ]
    unassigned = list(plan.unassigned_orders)
    parts = max(1, -(-len(pairs) // PAIRS_PER_PART), -(-len(unassigned) // UNASSIGNED_PER_PART))
    return [
        AssignmentRecommended(
            call=request.call,
            part=part + 1,
            parts=parts,
            pairs=tuple(pairs[part * PAIRS_PER_PART : (part + 1) * PAIRS_PER_PART]),
            total_mismatch=round(plan.total_mismatch, 6),
            unassigned_orders=tuple(unassigned[part * UNASSIGNED_PER_PART : (part + 1) * UNASSIGNED_PER_PART]),
            unassigned_cost=plan.unassigned_cost,
            objective=round(plan.objective, 6),
            solver=SOLVER,
            requested_by=request.requested_by,
            recommended_at=now,
        )
        for part in range(parts)
    ]
