"""The assessment method: the rubric reviewers score against, one reviewer's weighted score,
and how the panel's scores are aggregated. Pure: no I/O.

    weighted score = Σ weight × (score − scale_min) / (scale_max − scale_min) × 100
    review score   = max(0, panel score − service_points × max(0, minimum − days on site) / minimum)

The weighted score is always on a 0–100 scale, whatever the rubric's scale, so that the
policy's grade thresholds (90 / 60) keep their meaning. The service criterion is not scored by
reviewers: the recorded days on site of the review's service year (service_record.py) against
the policy's `min_service_days_per_year` decide it, and only a team below the minimum loses
points by it, in proportion to the days missing. Arithmetic is decimal (the numbers
as written in the event), rounded half-up to 2 decimals at each step: a grade re-derived
from the published panel scores is bit-for-bit the grade given.

The rubric is configuration (`REVIEWS_<NAME>` environment variables, JSON for `criteria`, read
once at start by services/reviews/settings.py) and
carries a version, recorded in every grade's `rule_version`. The aggregation and what happens
to an incomplete panel at closing change grades too, so they are part of the rubric and of
its version.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contract.events.reviews import CriterionScore
from shared.rules import RuleBroken

CENT = Decimal("0.01")
HUNDRED = Decimal(100)

Aggregation = Literal["mean", "median", "trimmed_mean"]
IncompletePanel = Literal["grade_present_scores", "unqualified"]


class Criterion(BaseModel):
    """One thing reviewers score, with its share of the weighted score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,59}$")]
    label: Annotated[str, Field(min_length=1, max_length=60)]
    weight: Annotated[float, Field(gt=0, le=1)]


DEFAULT_CRITERIA: tuple[Criterion, ...] = (
    Criterion(name="outcomes_achieved", label="成果目标完成情况 (outcomes achieved vs targets)", weight=0.35),
    Criterion(name="plan_and_management", label="项目规划与管理 (plan and management)", weight=0.15),
    Criterion(name="local_talent_trained", label="传帮带：本地人才培养 (local talent trained)", weight=0.20),
    Criterion(name="brand_and_industry_chain", label="品牌与产业链 (brand and industry chain)", weight=0.15),
    Criterion(name="research_transferred", label="科研成果转化 (research results transferred)", weight=0.15),
)


class ReviewRubric(BaseModel):
    """Criteria, weights and scale of the yearly assessment, and how a panel is aggregated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Annotated[str, Field(min_length=1, max_length=40)] = "2027.1"
    """Named version of the rubric; change it whenever anything below changes."""
    criteria: tuple[Criterion, ...] = DEFAULT_CRITERIA
    """What is scored: outcomes vs targets weigh most, the seed's 传帮带 next (DOMAIN.md, step 4)."""
    scale_min: float = 0.0
    scale_max: float = 100.0
    aggregation: Aggregation = "mean"
    """mean | median | trimmed_mean (去掉一个最高分和一个最低分, with at least 3 scores)."""
    incomplete_panel: IncompletePanel = "grade_present_scores"
    """At closing, a review with a report but fewer panel scores than the policy's minimum is
    graded on the scores present (grade_present_scores), or unqualified (unqualified). With no
    score at all it is unqualified either way."""
    service_points: Annotated[float, Field(ge=0, le=100)] = 20.0
    """The service criterion (驻点服务), read from the records, not scored by the panel: the points
    of the 0–100 score that need the policy's minimum days on site in the review's service year.
    Below the minimum they are lost in proportion to the days missing (service_shortfall)."""

    @model_validator(mode="after")
    def _consistent(self) -> ReviewRubric:
        names = [c.name for c in self.criteria]
        if not names:
            raise ValueError("a rubric needs at least one criterion")
        if len(set(names)) != len(names):
            raise ValueError("each criterion may appear only once in the rubric")
        total = sum((_decimal(c.weight) for c in self.criteria), Decimal(0))
        if total != 1:
            raise ValueError(f"criterion weights must add up to 1, not {total}")
        if not self.scale_min < self.scale_max:
            raise ValueError("the scale must satisfy scale_min < scale_max")
        return self

    def weight_of(self, criterion: str) -> float | None:
        return next((c.weight for c in self.criteria if c.name == criterion), None)


def weighted_score(rubric: ReviewRubric, scores: Sequence[CriterionScore]) -> Decimal:
    """One reviewer's scores as one number on 0–100; refuses a sheet that does not fit the rubric."""
    given = [s.criterion for s in scores]
    unknown = sorted({c for c in given if rubric.weight_of(c) is None})
    if unknown:
        raise RuleBroken("unknown_criterion", f"not a criterion of rubric {rubric.version}: {', '.join(unknown)}")
    repeated = sorted({c for c in given if given.count(c) > 1})
    if repeated:
        raise RuleBroken("duplicate_criterion", f"each criterion may be scored once: {', '.join(repeated)}")
    missing = [c.name for c in rubric.criteria if c.name not in given]
    if missing:
        raise RuleBroken("criterion_missing", f"every criterion must be scored; missing: {', '.join(missing)}")
    low, high = _decimal(rubric.scale_min), _decimal(rubric.scale_max)
    outside = [f"{s.criterion}={s.score:g}" for s in scores if not low <= _decimal(s.score) <= high]
    if outside:
        raise RuleBroken("score_out_of_scale", f"scores must lie in {low:f}..{high:f}; outside: {', '.join(outside)}")
    total = sum((_decimal(rubric.weight_of(s.criterion) or 0) * (_decimal(s.score) - low) for s in scores), Decimal(0))
    return _cents(total / (high - low) * HUNDRED)


def aggregate(rubric: ReviewRubric, panel: Sequence[Decimal]) -> Decimal:
    """The panel's weighted scores as the review's one score (0–100, 2 decimals)."""
    if not panel:
        raise ValueError("cannot aggregate an empty panel")
    ordered = sorted(panel)
    if rubric.aggregation == "median":
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return _cents(ordered[middle])
        return _cents((ordered[middle - 1] + ordered[middle]) / 2)
    if rubric.aggregation == "trimmed_mean" and len(ordered) >= 3:
        ordered = ordered[1:-1]
    return _cents(sum(ordered, Decimal(0)) / len(ordered))


def service_shortfall(rubric: ReviewRubric, days_on_site: int, min_days: int) -> Decimal:
    """Points the recorded service loses: service_points × (minimum − days) / minimum below the
    minimum, nothing at or above it (20 points, 30 days a year: 0 days −20.00, 12 days −12.00,
    30 or more −0)."""
    if min_days <= 0 or days_on_site >= min_days:
        return Decimal(0).quantize(CENT)
    return _cents(_decimal(rubric.service_points) * (min_days - days_on_site) / min_days)


def with_service(panel_score: Decimal, shortfall: Decimal) -> Decimal:
    """The review's score: the panel's less the service shortfall, never below 0."""
    return max(Decimal(0).quantize(CENT), _cents(panel_score - shortfall))


def aggregation_label(rubric: ReviewRubric, panel_size: int) -> str:
    """How the score was aggregated, in words for the grade's reason."""
    if rubric.aggregation == "median":
        return "median"
    if rubric.aggregation == "trimmed_mean" and panel_size >= 3:
        return "mean without the highest and the lowest (去掉一个最高分和一个最低分)"
    return "mean"


def as_score(value: Decimal) -> float:
    """A decimal score as the float the contract carries (exact at 2 decimals)."""
    return float(value)


def _decimal(number: float | int) -> Decimal:
    """The number as written (0.35, not 0.34999999999999997776...)."""
    return Decimal(str(number))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
