"""Optimal batch assignment of teams to orders (advice to the bureau), against greedy and brute force."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from services.matching.domain.assignment import (
    AssignmentPlan,
    CandidatePair,
    candidate_pairs,
    candidates_from_recommendations,
    greedy_assignment,
    optimal_assignment,
)
from services.matching.domain.profiles import ExpertProfile, OrderProfile, Qualification, TeamProfile
from services.matching.domain.scoring import MatchingWeights, mismatch, score_team

SHIZHU = "500240"
WUXI = "500238"
CHENGKOU = "500229"
WEIGHTS = MatchingWeights()


def order(order_id: str, county: str = WUXI, industry: str = "茶叶", *needs: str) -> OrderProfile:
    return OrderProfile(order_id=order_id, county_code=county, industry=industry, needs=frozenset(needs))


def person(expert_id: str, specialties: set[str], *titles: Qualification, local: str | None = None) -> ExpertProfile:
    return ExpertProfile(
        expert_id=expert_id,
        name=f"专家{expert_id}",
        institution="市农业科学院",
        qualifications=frozenset(titles),
        specialties=frozenset(specialties),
        local_county=local,
    )


def team(team_id: str, specialties: set[str], local: str = WUXI) -> TeamProfile:
    return TeamProfile(
        team_id=team_id,
        name=f"{team_id} 团队",
        lead=person(f"{team_id}-L", specialties, Qualification.STATE_COUNCIL_ALLOWANCE),
        members=(person(f"{team_id}-M", specialties, Qualification.YOUNG_TALENT),),
        local_talents=(person(f"{team_id}-P", set(), Qualification.LOCAL_BACKBONE, local=local),),
    )


def assert_feasible(plan: AssignmentPlan, candidates: list[CandidatePair], weights: MatchingWeights) -> None:
    """Each order and team at most once, only along candidate pairs within max_mismatch."""
    allowed = {(c.order_id, c.team_id): c.mismatch for c in candidates}
    orders = [p.order_id for p in plan.pairs]
    teams = [p.team_id for p in plan.pairs]
    assert len(orders) == len(set(orders))
    assert len(teams) == len(set(teams))
    for pair in plan.pairs:
        assert (pair.order_id, pair.team_id) in allowed
        assert pair.mismatch <= weights.max_mismatch
    assert not set(orders) & set(plan.unassigned_orders)
    assert not set(teams) & set(plan.unassigned_teams)


# -- the classic trap ---------------------------------------------------------------------

WUXI_TEA = order("500238-2019-001", WUXI, "茶叶", "茶叶加工")
CHENGKOU_TEA = order("500229-2019-002", CHENGKOU, "茶叶", "茶树栽培")
TEAM_A = team("T-A", {"茶叶", "茶叶加工", "茶树栽培"})
TEAM_B = team("T-B", {"茶叶"})
TRAP = [
    CandidatePair(WUXI_TEA.order_id, TEAM_A.team_id, 0.1),
    CandidatePair(WUXI_TEA.order_id, TEAM_B.team_id, 0.3),
    CandidatePair(CHENGKOU_TEA.order_id, TEAM_A.team_id, 0.3),
    CandidatePair(CHENGKOU_TEA.order_id, TEAM_B.team_id, 0.7),
]


def test_greedy_falls_into_the_two_by_two_trap_and_the_optimum_does_not() -> None:
    orders, teams = [WUXI_TEA, CHENGKOU_TEA], [TEAM_A, TEAM_B]

    greedy = greedy_assignment(orders, teams, TRAP, WEIGHTS)
    optimal = optimal_assignment(orders, teams, TRAP, WEIGHTS)

    assert [(p.order_id, p.team_id) for p in greedy.pairs] == [
        (WUXI_TEA.order_id, "T-A"),
        (CHENGKOU_TEA.order_id, "T-B"),
    ]
    assert greedy.total_mismatch == pytest.approx(0.8)
    assert [(p.order_id, p.team_id) for p in optimal.pairs] == [
        (WUXI_TEA.order_id, "T-B"),
        (CHENGKOU_TEA.order_id, "T-A"),
    ]
    assert optimal.total_mismatch == pytest.approx(0.6)
    assert optimal.objective < greedy.objective


def test_each_advised_pair_is_explained_by_score_team() -> None:
    plan = optimal_assignment([WUXI_TEA, CHENGKOU_TEA], [TEAM_A, TEAM_B], TRAP, WEIGHTS)

    orders = {WUXI_TEA.order_id: WUXI_TEA, CHENGKOU_TEA.order_id: CHENGKOU_TEA}
    teams = {"T-A": TEAM_A, "T-B": TEAM_B}
    for pair in plan.pairs:
        assert pair.reasons == score_team(orders[pair.order_id], teams[pair.team_id], WEIGHTS).reasons
    wuxi_pair = next(p for p in plan.pairs if p.order_id == WUXI_TEA.order_id)
    assert "本地人才：巫溪县 (500238)，专家T-B-P" in wuxi_pair.reasons


def test_pairs_above_max_mismatch_leave_the_order_unassigned() -> None:
    only_poor_fit = [CandidatePair(WUXI_TEA.order_id, TEAM_B.team_id, 0.9)]

    strict = optimal_assignment([WUXI_TEA], [TEAM_B], only_poor_fit, MatchingWeights(max_mismatch=0.8))
    lenient = optimal_assignment([WUXI_TEA], [TEAM_B], only_poor_fit, MatchingWeights(max_mismatch=0.95))

    assert strict.pairs == ()
    assert strict.unassigned_orders == (WUXI_TEA.order_id,)
    assert strict.unassigned_teams == (TEAM_B.team_id,)
    assert strict.objective == pytest.approx(0.8)
    assert [(p.order_id, p.team_id) for p in lenient.pairs] == [(WUXI_TEA.order_id, TEAM_B.team_id)]
    assert greedy_assignment([WUXI_TEA], [TEAM_B], only_poor_fit, MatchingWeights(max_mismatch=0.8)).pairs == ()


def test_an_order_without_any_candidate_stays_unassigned_and_no_other_pair_is_invented() -> None:
    shizhu_tianma = order("500240-2019-003", SHIZHU, "中药材", "天麻种源繁育")
    candidates = [CandidatePair(WUXI_TEA.order_id, TEAM_A.team_id, 0.2)]

    plan = optimal_assignment([WUXI_TEA, shizhu_tianma], [TEAM_A, TEAM_B], candidates, WEIGHTS)

    assert [(p.order_id, p.team_id) for p in plan.pairs] == [(WUXI_TEA.order_id, TEAM_A.team_id)]
    assert plan.unassigned_orders == (shizhu_tianma.order_id,)
    assert plan.unassigned_teams == (TEAM_B.team_id,)


def test_a_perfect_fit_with_zero_mismatch_is_assigned() -> None:
    plan = optimal_assignment([WUXI_TEA], [TEAM_A], [CandidatePair(WUXI_TEA.order_id, TEAM_A.team_id, 0.0)], WEIGHTS)

    assert [(p.order_id, p.team_id, p.mismatch) for p in plan.pairs] == [(WUXI_TEA.order_id, TEAM_A.team_id, 0.0)]


def test_a_pair_listed_twice_keeps_its_lowest_mismatch() -> None:
    twice = [CandidatePair(WUXI_TEA.order_id, TEAM_A.team_id, m) for m in (0.6, 0.2)]

    plan = optimal_assignment([WUXI_TEA], [TEAM_A], twice, WEIGHTS)

    assert plan.total_mismatch == pytest.approx(0.2)


def test_candidates_naming_unknown_orders_or_teams_or_bad_costs_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        optimal_assignment([WUXI_TEA], [TEAM_A], [CandidatePair("nope", TEAM_A.team_id, 0.1)], WEIGHTS)
    with pytest.raises(ValueError, match="mismatch"):
        optimal_assignment([WUXI_TEA], [TEAM_A], [CandidatePair(WUXI_TEA.order_id, "T-A", math.nan)], WEIGHTS)


def test_candidate_pairs_from_applications_carry_the_mismatch_of_scoring() -> None:
    pairs = candidate_pairs(
        [WUXI_TEA], [TEAM_A, TEAM_B], [(WUXI_TEA.order_id, "T-A"), (WUXI_TEA.order_id, "T-B")], WEIGHTS
    )

    assert [p.mismatch for p in pairs] == [mismatch(WUXI_TEA, TEAM_A, WEIGHTS), mismatch(WUXI_TEA, TEAM_B, WEIGHTS)]
    assert pairs[0].mismatch < pairs[1].mismatch


def test_candidates_from_recommendations_keep_the_candidate_pool_best_teams_per_order() -> None:
    teams = [
        team(f"T{i}", {"茶叶", *(["茶叶加工"] if i % 2 else [])}, local=WUXI if i < 3 else SHIZHU) for i in range(8)
    ]

    pairs = candidates_from_recommendations([WUXI_TEA], teams, MatchingWeights(candidate_pool=3))

    assert [p.team_id for p in pairs] == ["T1", "T3", "T5"]  # full coverage and local, then full coverage
    assert all(p.mismatch == pytest.approx(mismatch(WUXI_TEA, teams[int(p.team_id[1:])], WEIGHTS)) for p in pairs)


# -- optimality on random instances -------------------------------------------------------


def random_instance(
    rng: random.Random, n_orders: int, n_teams: int, density: float
) -> tuple[list[OrderProfile], list[TeamProfile], list[CandidatePair]]:
    orders = [order(f"O{i}", rng.choice((WUXI, SHIZHU, CHENGKOU))) for i in range(n_orders)]
    teams = [team(f"T{j}", {"茶叶"}) for j in range(n_teams)]
    candidates = [
        CandidatePair(o.order_id, t.team_id, round(rng.uniform(0.0, 1.0), 3))
        for o in orders
        for t in teams
        if rng.random() < density
    ]
    return orders, teams, candidates


def brute_force_objective(
    orders: list[OrderProfile], teams: list[TeamProfile], candidates: list[CandidatePair], weights: MatchingWeights
) -> float:
    """Minimum objective over every one-to-one assignment (tiny instances only): each order
    either takes an allowed team or stays unassigned at max_mismatch."""
    cost = {(c.order_id, c.team_id): c.mismatch for c in candidates if c.mismatch <= weights.max_mismatch}
    choices_per_order = [[None, *(t.team_id for t in teams if (o.order_id, t.team_id) in cost)] for o in orders]
    totals = [
        sum(weights.max_mismatch if t is None else cost[(o.order_id, t)] for o, t in zip(orders, choice, strict=True))
        for choice in itertools.product(*choices_per_order)
        if len([t for t in choice if t is not None]) == len({t for t in choice if t is not None})
    ]
    return min(totals)


def test_the_optimum_equals_brute_force_on_small_random_instances() -> None:
    rng = random.Random(2019)
    for _ in range(150):
        orders, teams, candidates = random_instance(rng, rng.randint(1, 4), rng.randint(1, 4), density=0.6)

        plan = optimal_assignment(orders, teams, candidates, WEIGHTS)

        assert_feasible(plan, candidates, WEIGHTS)
        assert plan.objective == pytest.approx(brute_force_objective(orders, teams, candidates, WEIGHTS), abs=1e-9)


def test_the_optimum_is_never_worse_than_greedy_on_random_instances() -> None:
    rng = random.Random(45)
    strictly_better = 0
    for _ in range(40):
        orders, teams, candidates = random_instance(rng, rng.randint(5, 60), rng.randint(5, 60), density=0.15)

        optimal = optimal_assignment(orders, teams, candidates, WEIGHTS)
        greedy = greedy_assignment(orders, teams, candidates, WEIGHTS)

        assert_feasible(optimal, candidates, WEIGHTS)
        assert_feasible(greedy, candidates, WEIGHTS)
        assert optimal.objective <= greedy.objective + 1e-9
        assert len(optimal.pairs) + len(optimal.unassigned_orders) == len(orders)
        assert len(optimal.pairs) + len(optimal.unassigned_teams) == len(teams)
        strictly_better += optimal.objective < greedy.objective - 1e-9
    assert strictly_better > 0


def test_with_no_candidates_everything_stays_unassigned() -> None:
    plan = optimal_assignment([WUXI_TEA], [TEAM_A], [], WEIGHTS)

    assert (plan.pairs, plan.unassigned_orders, plan.unassigned_teams) == ((), (WUXI_TEA.order_id,), (TEAM_A.team_id,))
    assert optimal_assignment([], [], [], WEIGHTS).objective == 0.0
