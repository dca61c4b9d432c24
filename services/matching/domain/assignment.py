"""Optimal batch assignment of teams to the orders of a call: advice to the bureau, which still awards.

Each order gets at most one team and each team at most one order, only along candidate pairs
(e.g. the team applied for that order) whose mismatch is at most `max_mismatch`. Leaving an
order unassigned costs `max_mismatch`, so the optimum minimises

    objective = Σ mismatch of the assigned pairs + max_mismatch × orders left unassigned,

i.e. an order is given a team whenever that does not force a worse total elsewhere. The solver
is exact: a minimum-weight full bipartite matching (LAPJVsp, scipy) on the sparse graph of the
candidate pairs plus one "leave unassigned" dummy per order. `greedy_assignment` is the naive
baseline for the benchmark and is not optimal.

Continued support (继续支持) wins ties: among assignments of equal objective, the optimum takes the
one with the most pairs whose team applies through an earlier project with an excellent review
(each such edge is made cheaper by PREFERENCE_BUDGET / orders, so that all of them together are
worth less than PREFERENCE_BUDGET: a better total fit is never traded for continued support), and
the pair's reasons say so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]
from scipy.sparse.csgraph import min_weight_full_bipartite_matching  # type: ignore[import-untyped]

from services.matching.domain.profiles import OrderProfile, TeamProfile
from services.matching.domain.recommend import recommend_teams
from services.matching.domain.scoring import MatchingWeights, continued_support_reason, mismatch, score_team

NONZERO_SHIFT = 1.0
"""Added to every edge: the solver reads zero weights as missing edges. Every order is matched
exactly once (to a team or its dummy), so the shift adds the same constant to every solution."""
PREFERENCE_BUDGET = 1e-9
"""What all the continued-support tie-breaks of one assignment are worth together, in total
mismatch: far below any difference of fit (mismatches are published with 6 decimals)."""


@dataclass(frozen=True, slots=True)
class CandidatePair:
    """An allowed (order, team) pair and the cost of assigning it (see scoring.mismatch)."""

    order_id: str
    team_id: str
    mismatch: float
    continues: str | None = None
    """The earlier project whose continued support (继续支持) the team applies for: wins ties."""


@dataclass(frozen=True, slots=True)
class AssignedPair:
    """One piece of advice: give the order to the team, because of the reasons (in Chinese)."""

    order_id: str
    team_id: str
    mismatch: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AssignmentPlan:
    """Advised pairs in the orders' input order, and what stays unassigned."""

    pairs: tuple[AssignedPair, ...]
    total_mismatch: float
    """Σ mismatch of the assigned pairs."""
    unassigned_orders: tuple[str, ...]
    unassigned_teams: tuple[str, ...]
    unassigned_cost: float
    """Cost of each order left unassigned (max_mismatch of the weights used)."""

    @property
    def objective(self) -> float:
        """What the optimal assignment minimises: total mismatch plus the cost of the unassigned orders."""
        return self.total_mismatch + self.unassigned_cost * len(self.unassigned_orders)


@dataclass(frozen=True, slots=True)
class _Edges:
    """Admissible candidate pairs as positions in the orders and teams sequences."""

    order: list[int]
    team: list[int]
    cost: list[float]
    continues: list[str | None]


def candidate_pairs(
    orders: Sequence[OrderProfile],
    teams: Sequence[TeamProfile],
    allowed: Iterable[tuple[str, str]],
    weights: MatchingWeights,
    continued_support: Mapping[tuple[str, str], str] | None = None,
) -> list[CandidatePair]:
    """The allowed (order_id, team_id) pairs, e.g. applications, with their mismatch;
    `continued_support` gives the earlier project of the pairs that apply for continued support."""
    order_by_id = {order.order_id: order for order in orders}
    team_by_id = {team.team_id: team for team in teams}
    continues = continued_support or {}
    return [
        CandidatePair(
            order_id,
            team_id,
            mismatch(order_by_id[order_id], team_by_id[team_id], weights),
            continues.get((order_id, team_id)),
        )
        for order_id, team_id in allowed
    ]


def candidates_from_recommendations(
    orders: Sequence[OrderProfile],
    teams: Sequence[TeamProfile],
    weights: MatchingWeights,
    continued_support: Mapping[str, str] | None = None,
) -> list[CandidatePair]:
    """Candidates when no team applied yet: each order's `candidate_pool` best-ranked teams
    (`continued_support`: team id -> the project it may continue, as in recommend_teams)."""
    continues = continued_support or {}
    ranked = recommend_teams(orders, teams, weights, k=weights.candidate_pool, continued_support=continues)
    return [
        CandidatePair(order.order_id, rec.candidate_id, 1.0 - rec.score, continues.get(rec.candidate_id))
        for order, recs in zip(orders, ranked, strict=True)
        for rec in recs
    ]


def _admissible_edges(
    orders: Sequence[OrderProfile],
    teams: Sequence[TeamProfile],
    candidates: Iterable[CandidatePair],
    weights: MatchingWeights,
) -> _Edges:
    """Candidate pairs within max_mismatch, by position; a pair listed twice keeps its lowest mismatch
    (and continues a project if any of its listings does)."""
    order_position = {order.order_id: i for i, order in enumerate(orders)}
    team_position = {team.team_id: j for j, team in enumerate(teams)}
    if len(order_position) != len(orders) or len(team_position) != len(teams):
        raise ValueError("order and team ids must be unique")
    lowest: dict[tuple[int, int], float] = {}
    continues: dict[tuple[int, int], str] = {}
    for pair in candidates:
        if pair.order_id not in order_position or pair.team_id not in team_position:
            raise ValueError(f"candidate ({pair.order_id}, {pair.team_id}) names an unknown order or team")
        if not (math.isfinite(pair.mismatch) and pair.mismatch >= 0):
            raise ValueError(f"candidate ({pair.order_id}, {pair.team_id}) has mismatch {pair.mismatch}")
        key = (order_position[pair.order_id], team_position[pair.team_id])
        lowest[key] = min(pair.mismatch, lowest.get(key, math.inf))
        if pair.continues is not None:
            continues.setdefault(key, pair.continues)
    kept = sorted((key, cost) for key, cost in lowest.items() if cost <= weights.max_mismatch)
    return _Edges(
        order=[i for (i, _), _ in kept],
        team=[j for (_, j), _ in kept],
        cost=[c for _, c in kept],
        continues=[continues.get(key) for key, _ in kept],
    )


def _plan(
    orders: Sequence[OrderProfile],
    teams: Sequence[TeamProfile],
    chosen: dict[int, tuple[int, float]],
    weights: MatchingWeights,
    edges: _Edges,
) -> AssignmentPlan:
    """The plan for chosen {order position: (team position, mismatch)}, explained by score_team
    (and continued support, for a pair that continues a project)."""
    continues = {(i, j): c for i, j, c in zip(edges.order, edges.team, edges.continues, strict=True) if c}

    def reasons(i: int, j: int) -> tuple[str, ...]:
        fit = score_team(orders[i], teams[j], weights).reasons
        project = continues.get((i, j))
        return fit if project is None else (*fit, continued_support_reason(project))

    pairs = tuple(
        AssignedPair(order_id=orders[i].order_id, team_id=teams[j].team_id, mismatch=cost, reasons=reasons(i, j))
        for i, (j, cost) in sorted(chosen.items())
    )
    taken_teams = {j for j, _ in chosen.values()}
    return AssignmentPlan(
        pairs=pairs,
        total_mismatch=math.fsum(pair.mismatch for pair in pairs),
        unassigned_orders=tuple(order.order_id for i, order in enumerate(orders) if i not in chosen),
        unassigned_teams=tuple(team.team_id for j, team in enumerate(teams) if j not in taken_teams),
        unassigned_cost=weights.max_mismatch,
    )


def optimal_assignment(
    orders: Sequence[OrderProfile],
    teams: Sequence[TeamProfile],
    candidates: Iterable[CandidatePair],
    weights: MatchingWeights,
) -> AssignmentPlan:
    """The exact minimum of the objective (module docstring) over all one-to-one assignments."""
    edges = _admissible_edges(orders, teams, candidates, weights)
    if not edges.order:
        return _plan(orders, teams, {}, weights, edges)
    n, m = len(orders), len(teams)
    dummies = np.arange(n)
    rows = np.concatenate((np.asarray(edges.order, dtype=np.int64), dummies))
    columns = np.concatenate((np.asarray(edges.team, dtype=np.int64), m + dummies))
    costs = np.concatenate((np.asarray(edges.cost, dtype=np.float64), np.full(n, weights.max_mismatch)))
    preferred = np.concatenate((np.array([c is not None for c in edges.continues], dtype=np.float64), np.zeros(n)))
    weight = costs + NONZERO_SHIFT - preferred * (PREFERENCE_BUDGET / n)
    graph = sparse.csr_array((weight, (rows, columns)), shape=(n, m + n))
    order_rows, team_columns = min_weight_full_bipartite_matching(graph)
    cost_of = {(i, j): c for i, j, c in zip(edges.order, edges.team, edges.cost, strict=True)}
    chosen = {
        i: (j, cost_of[(i, j)])
        for i, j in zip(np.asarray(order_rows).tolist(), np.asarray(team_columns).tolist(), strict=True)
        if j < m
    }
    return _plan(orders, teams, chosen, weights, edges)


def greedy_assignment(
    orders: Sequence[OrderProfile],
    teams: Sequence[TeamProfile],
    candidates: Iterable[CandidatePair],
    weights: MatchingWeights,
) -> AssignmentPlan:
    """Baseline for the benchmark only, NOT optimal: repeatedly take the globally cheapest pair whose
    order and team are both still free. It can take a cheap pair that forces a much worse one later."""
    edges = _admissible_edges(orders, teams, candidates, weights)
    chosen: dict[int, tuple[int, float]] = {}
    taken_teams: set[int] = set()
    ranked = sorted(
        zip(edges.cost, (c is None for c in edges.continues), edges.order, edges.team, strict=True),
    )
    for cost, _, i, j in ranked:
        if i not in chosen and j not in taken_teams:
            chosen[i] = (j, cost)
            taken_teams.add(j)
    return _plan(orders, teams, chosen, weights, edges)
