"""Top-K recommendations of experts (or teams) for many orders at once, fast and explained.

The ranking never scores every (order, expert) pair. Orders and candidates become sparse rows
over one feature vocabulary (the orders' wanted tags, then the orders' counties); an order's
tag features weigh 2 and its county feature 1, so one sparse product, chunk of orders by
chunk, yields `2·shared tags + is local` for exactly the candidates that share a tag with the
order or are local talent of its county. Only those entries get the qualification, local and
load terms, vectorised with the same arithmetic as scoring.py; numpy's argpartition picks the
best K per order, and only the K winners are put into words by `score_expert`/`score_team`,
whose scores are the ranking's scores exactly (checked for every winner).

Candidates sharing no tag with the order and not local to its county are never recommended.
Among teams of equal score, a team eligible for continued support (继续支持, given with the
project it continues) comes first, and its reasons say so; remaining ties are broken by the
candidate's position in the input, as in `rank_experts_naive`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Generic, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]

from services.matching.domain.profiles import ExpertProfile, OrderProfile, TeamProfile
from services.matching.domain.scoring import (
    Fit,
    MatchingWeights,
    continued_support_reason,
    expert_score,
    level_value,
    score_expert,
    score_team,
    team_load,
    team_local_counties,
    team_specialties,
)

Candidate = TypeVar("Candidate", ExpertProfile, TeamProfile)
SparseMatrix: TypeAlias = Any
"""A scipy.sparse.csr_array (scipy ships no type information)."""

DEFAULT_CHUNK_ORDERS = 1024
"""Orders per sparse product: bounds memory to about chunk × candidates-per-order entries."""
TAG_FEATURE = 2
"""Weight of an order's tag feature: the product counts shared tags twice..."""
COUNTY_FEATURE = 1
"""...and the county once, so `product // 2` is the shared tags and `product % 2` whether local."""
PRESENT = 1
"""A candidate's feature value: it has the tag, or it has local talent of the county."""
SCORE_AGREEMENT = 1e-9
"""Largest tolerated difference between the vectorised score and the explained one (they are equal in practice)."""


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One recommended expert or team for an order, with its score and the reasons in Chinese."""

    candidate_id: str
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """Feature columns: each tag an order wants, then each county an order is in."""

    columns: dict[str, int]
    county_columns: dict[str, int]

    @classmethod
    def of(cls, orders: Sequence[OrderProfile]) -> _Vocabulary:
        tags = sorted({tag for order in orders for tag in order.wanted})
        counties = sorted({order.county_code for order in orders})
        return cls(
            columns={tag: i for i, tag in enumerate(tags)},
            county_columns={county: len(tags) + i for i, county in enumerate(counties)},
        )

    @property
    def size(self) -> int:
        return len(self.columns) + len(self.county_columns)


@dataclass(frozen=True, slots=True)
class _CandidateArrays(Generic[Candidate]):
    """Candidates as the arrays the vectorised ranking needs, aligned with `items`."""

    items: Sequence[Candidate]
    features_t: SparseMatrix
    """Sparse features × candidates (CSR), 1 for each known tag and each county of local talent."""
    level: npt.NDArray[np.float64]
    load: npt.NDArray[np.float64]
    explain: Callable[[OrderProfile, Candidate, MatchingWeights], Fit]
    identify: Callable[[Candidate], str]
    continues: Sequence[str | None]
    """For each candidate, the earlier project whose continued support it applies for (继续支持), or None."""
    first_among_equals: npt.NDArray[np.int8]
    """1 for a candidate that continues a project: it wins ties in score."""


def _csr(columns_per_row: Sequence[list[int]], values_per_row: Sequence[list[int]], n_columns: int) -> SparseMatrix:
    """A CSR matrix from the columns and the values of each row."""
    lengths = np.fromiter(map(len, columns_per_row), dtype=np.int64, count=len(columns_per_row))
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    nnz = int(indptr[-1])
    indices = np.fromiter(chain.from_iterable(columns_per_row), dtype=np.int32, count=nnz)
    data = np.fromiter(chain.from_iterable(values_per_row), dtype=np.int32, count=nnz)
    return sparse.csr_array((data, indices, indptr), shape=(len(columns_per_row), n_columns))


def _order_matrix(orders: Sequence[OrderProfile], vocabulary: _Vocabulary) -> SparseMatrix:
    """Orders × features: TAG_FEATURE for each wanted tag, COUNTY_FEATURE for the order's county."""
    columns = [
        [*(vocabulary.columns[tag] for tag in order.wanted), vocabulary.county_columns[order.county_code]]
        for order in orders
    ]
    values = [[TAG_FEATURE] * (len(row) - 1) + [COUNTY_FEATURE] for row in columns]
    return _csr(columns, values, vocabulary.size)


def _candidate_features(
    tag_sets: Sequence[frozenset[str]], county_sets: Sequence[frozenset[str]], vocabulary: _Vocabulary
) -> SparseMatrix:
    """Features × candidates: PRESENT for each tag an order wants and each county an order is in."""
    tag_column, county_column = vocabulary.columns.get, vocabulary.county_columns.get
    columns = [
        [c for c in chain(map(tag_column, tags), map(county_column, counties)) if c is not None]
        for tags, counties in zip(tag_sets, county_sets, strict=True)
    ]
    values = [[PRESENT] * len(row) for row in columns]
    return sparse.csr_array(_csr(columns, values, vocabulary.size).T)


def _expert_arrays(experts: Sequence[ExpertProfile], vocabulary: _Vocabulary) -> _CandidateArrays[ExpertProfile]:
    return _CandidateArrays(
        items=experts,
        features_t=_candidate_features(
            [e.specialties for e in experts],
            [frozenset() if e.local_county is None else frozenset({e.local_county}) for e in experts],
            vocabulary,
        ),
        level=np.array([level_value(e.level) for e in experts], dtype=np.float64),
        load=np.array([float(e.active_teams) for e in experts], dtype=np.float64),
        explain=score_expert,
        identify=lambda expert: expert.expert_id,
        continues=[None] * len(experts),
        first_among_equals=np.zeros(len(experts), dtype=np.int8),
    )


def _team_arrays(
    teams: Sequence[TeamProfile], vocabulary: _Vocabulary, continued_support: Mapping[str, str]
) -> _CandidateArrays[TeamProfile]:
    loads = [team_load(team) for team in teams]
    continues = [continued_support.get(team.team_id) for team in teams]
    return _CandidateArrays(
        items=teams,
        features_t=_candidate_features(
            [team_specialties(t) for t in teams], [team_local_counties(t) for t in teams], vocabulary
        ),
        level=np.array([level_value(t.lead.level) for t in teams], dtype=np.float64),
        load=np.array([busy / size for busy, size in loads], dtype=np.float64),
        explain=score_team,
        identify=lambda team: team.team_id,
        continues=continues,
        first_among_equals=np.array([project is not None for project in continues], dtype=np.int8),
    )


def _scores(
    shared: npt.NDArray[np.int32],
    wanted: npt.NDArray[np.int64],
    qualification_term: npt.NDArray[np.float64],
    load_term: npt.NDArray[np.float64],
    weights: MatchingWeights,
) -> npt.NDArray[np.float64]:
    """scoring.combine over arrays: the same operations in the same order, hence the same floats.

    `shared` is the sparse product (2·shared tags + is local); the qualification and load terms
    are the per-candidate products weight × level and weight × load, gathered per entry."""
    shared_tags, is_local = np.divmod(shared, TAG_FEATURE)
    raw = shared_tags / wanted
    raw *= weights.specialty_weight
    raw += qualification_term
    raw += np.where(is_local == COUNTY_FEATURE, weights.local_weight, 0.0)
    raw -= load_term
    raw /= weights.positive_total
    return np.maximum(raw, 0.0, out=raw)


def _top_k_in_row(
    scores: npt.NDArray[np.float64],
    columns: npt.NDArray[np.int32],
    first_among_equals: npt.NDArray[np.int8],
    k: int,
) -> npt.NDArray[np.intp]:
    """Positions of the best k entries: highest score first; among equal scores, the entries
    whose candidate is first among equals (continued support), then the lower column."""
    if len(scores) > k:
        kth_best = scores[np.argpartition(-scores, k - 1)[:k]].min()
        contenders = np.flatnonzero(scores >= kth_best)
    else:
        contenders = np.arange(len(scores))
    candidates = columns[contenders]
    ranked = contenders[np.lexsort((candidates, -first_among_equals[candidates], -scores[contenders]))]
    return ranked[:k]


def _k(k: int | None, weights: MatchingWeights) -> int:
    if k is None:
        return weights.top_k
    if k < 1:
        raise ValueError("k must be at least 1")
    return k


def _explained(
    order: OrderProfile,
    column: int,
    ranked_score: float,
    arrays: _CandidateArrays[Candidate],
    w: MatchingWeights,
) -> Recommendation:
    candidate: Candidate = arrays.items[column]
    fit: Fit = arrays.explain(order, candidate, w)
    if abs(fit.score - ranked_score) > SCORE_AGREEMENT:
        raise RuntimeError(f"vectorised score {ranked_score} disagrees with the explained score {fit.score}")
    project = arrays.continues[column]
    reasons = fit.reasons if project is None else (*fit.reasons, continued_support_reason(project))
    return Recommendation(candidate_id=arrays.identify(candidate), score=fit.score, reasons=reasons)


def _recommend(
    orders: Sequence[OrderProfile],
    vocabulary: _Vocabulary,
    arrays: _CandidateArrays[Candidate],
    weights: MatchingWeights,
    k: int,
    chunk_orders: int,
) -> list[list[Recommendation]]:
    order_matrix = sparse.csr_array(_order_matrix(orders, vocabulary))
    wanted = np.array([len(order.wanted) for order in orders], dtype=np.int64)
    qualification_term = weights.qualification_weight * arrays.level
    load_term = weights.load_penalty * arrays.load
    result: list[list[Recommendation]] = []
    for start in range(0, len(orders), chunk_orders):
        stop = min(start + chunk_orders, len(orders))
        product = sparse.csr_array(order_matrix[start:stop] @ arrays.features_t)
        indptr = np.asarray(product.indptr, dtype=np.int64)
        columns = np.asarray(product.indices, dtype=np.int32)
        scores = _scores(
            np.asarray(product.data, dtype=np.int32),
            np.repeat(wanted[start:stop], np.diff(indptr)),
            qualification_term[columns],
            load_term[columns],
            weights,
        )
        bounds = indptr.tolist()
        for offset, order in enumerate(orders[start:stop]):
            first, last = bounds[offset], bounds[offset + 1]
            best = first + _top_k_in_row(scores[first:last], columns[first:last], arrays.first_among_equals, k)
            result.append(
                [
                    _explained(order, column, score, arrays, weights)
                    for column, score in zip(columns[best].tolist(), scores[best].tolist(), strict=True)
                ]
            )
    return result


def recommend_experts(
    orders: Sequence[OrderProfile],
    experts: Sequence[ExpertProfile],
    weights: MatchingWeights,
    k: int | None = None,
    *,
    chunk_orders: int = DEFAULT_CHUNK_ORDERS,
) -> list[list[Recommendation]]:
    """For each order, the best `k` (default `weights.top_k`) experts with their reasons, best first."""
    if not orders:
        return []
    if not experts:
        return [[] for _ in orders]
    vocabulary = _Vocabulary.of(orders)
    return _recommend(orders, vocabulary, _expert_arrays(experts, vocabulary), weights, _k(k, weights), chunk_orders)


def recommend_teams(
    orders: Sequence[OrderProfile],
    teams: Sequence[TeamProfile],
    weights: MatchingWeights,
    k: int | None = None,
    *,
    chunk_orders: int = DEFAULT_CHUNK_ORDERS,
    continued_support: Mapping[str, str] | None = None,
) -> list[list[Recommendation]]:
    """For each order, the best `k` (default `weights.top_k`) teams with their reasons, best first.
    `continued_support`: team id -> the earlier project through which the team may apply for
    continued support (继续支持); such a team comes first among teams of equal score."""
    if not orders:
        return []
    if not teams:
        return [[] for _ in orders]
    vocabulary = _Vocabulary.of(orders)
    arrays = _team_arrays(teams, vocabulary, continued_support or {})
    return _recommend(orders, vocabulary, arrays, weights, _k(k, weights), chunk_orders)


def rank_experts_naive(
    orders: Sequence[OrderProfile],
    experts: Sequence[ExpertProfile],
    weights: MatchingWeights,
    k: int | None = None,
) -> list[list[Recommendation]]:
    """Baseline for the benchmark and the tests only: score every (order, expert) pair with the
    scalar rule, keep those sharing a tag or local, sort, and explain the best `k`."""
    k = _k(k, weights)
    result: list[list[Recommendation]] = []
    for order in orders:
        wanted = order.wanted
        scored = [(-expert_score(order, expert, weights), index) for index, expert in enumerate(experts)]
        eligible = [
            (negative, index)
            for negative, index in scored
            if wanted & experts[index].specialties or experts[index].local_county == order.county_code
        ]
        eligible.sort()
        best = [(experts[index], score_expert(order, experts[index], weights)) for _, index in eligible[:k]]
        result.append([Recommendation(expert.expert_id, fit.score, fit.reasons) for expert, fit in best])
    return result
