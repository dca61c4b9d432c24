"""The rubric (configuration), one reviewer's weighted score, and the panel's aggregation, without I/O."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.reviews.domain.rubric import Criterion, ReviewRubric, aggregate, weighted_score
from services.reviews.settings import load_config
from shared.contract.events.reviews import CriterionScore
from shared.rules import RuleBroken
from tests.reviews_builders import CRITERIA, sheet

RUBRIC = ReviewRubric()


def refused(scores: tuple[CriterionScore, ...], rubric: ReviewRubric = RUBRIC) -> str:
    with pytest.raises(RuleBroken) as caught:
        weighted_score(rubric, scores)
    return caught.value.rule


def panel(*scores: str) -> list[Decimal]:
    return [Decimal(s) for s in scores]


def test_the_default_rubric_scores_outcomes_plan_local_talent_brand_and_research_with_weights_adding_up_to_one() -> (
    None
):
    assert tuple(c.name for c in RUBRIC.criteria) == CRITERIA
    assert sum(Decimal(str(c.weight)) for c in RUBRIC.criteria) == 1
    assert RUBRIC.weight_of("outcomes_achieved") == 0.35
    assert (RUBRIC.scale_min, RUBRIC.scale_max) == (0, 100)
    assert RUBRIC.aggregation == "mean"
    assert RUBRIC.version


def test_the_rubric_is_configuration_read_as_json_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    criteria = [
        {"name": "outcomes_achieved", "label": "成果目标完成情况", "weight": 0.6},
        {"name": "local_talent_trained", "label": "传帮带", "weight": 0.4},
    ]
    monkeypatch.setenv("REVIEWS_CRITERIA", json.dumps(criteria, ensure_ascii=False))
    monkeypatch.setenv("REVIEWS_VERSION", "2020.1")
    monkeypatch.setenv("REVIEWS_AGGREGATION", "trimmed_mean")
    assert ReviewRubric().version == "2027.1", "the rubric itself reads no environment"
    rubric = load_config().rubric
    assert [c.name for c in rubric.criteria] == ["outcomes_achieved", "local_talent_trained"]
    assert rubric.version == "2020.1"
    assert rubric.aggregation == "trimmed_mean"
    scores = (
        CriterionScore(criterion="outcomes_achieved", score=90),
        CriterionScore(criterion="local_talent_trained", score=70),
    )
    assert weighted_score(rubric, scores) == Decimal("82.00")


def test_weights_that_do_not_add_up_to_one_are_refused() -> None:
    with pytest.raises(ValidationError, match="add up to 1"):
        ReviewRubric(criteria=(Criterion(name="outcomes_achieved", label="成果", weight=0.9),))


def test_a_criterion_listed_twice_or_an_empty_scale_is_refused() -> None:
    twice = Criterion(name="outcomes_achieved", label="成果", weight=0.5)
    with pytest.raises(ValidationError, match="only once"):
        ReviewRubric(criteria=(twice, twice))
    with pytest.raises(ValidationError, match="scale_min < scale_max"):
        ReviewRubric(scale_min=100, scale_max=100)
    with pytest.raises(ValidationError):
        Criterion(name="outcomes_achieved", label="成果", weight=0)


def test_a_reviewers_weighted_score_is_the_weighted_sum_of_the_criteria() -> None:
    scores = sheet(
        outcomes_achieved=95,
        plan_and_management=80,
        local_talent_trained=90,
        brand_and_industry_chain=70,
        research_transferred=60,
    )
    # 0.35·95 + 0.15·80 + 0.20·90 + 0.15·70 + 0.15·60 = 33.25 + 12 + 18 + 10.5 + 9
    assert weighted_score(RUBRIC, scores) == Decimal("82.75")
    assert weighted_score(RUBRIC, sheet(90)) == Decimal("90.00"), "uniform scores weigh to themselves, exactly"


def test_a_rubric_on_another_scale_still_gives_a_weighted_score_out_of_100() -> None:
    rubric = ReviewRubric(scale_min=0, scale_max=10)
    assert weighted_score(rubric, sheet(9)) == Decimal("90.00")
    assert weighted_score(rubric, sheet(5.5)) == Decimal("55.00")


def test_a_score_sheet_that_does_not_fit_the_rubric_is_refused_with_its_rule() -> None:
    assert refused((*sheet(80), CriterionScore(criterion="popularity", score=99))) == "unknown_criterion"
    assert refused((*sheet(80), CriterionScore(criterion="outcomes_achieved", score=99))) == "duplicate_criterion"
    assert refused(sheet(80)[1:]) == "criterion_missing"
    assert refused(sheet(100.5)) == "score_out_of_scale"
    assert refused(sheet(11), ReviewRubric(scale_min=0, scale_max=10)) == "score_out_of_scale"


def test_the_panel_score_is_the_mean_rounded_half_up_to_two_decimals_by_default() -> None:
    assert aggregate(RUBRIC, panel("80.00", "80.00", "81.00")) == Decimal("80.33")
    assert aggregate(RUBRIC, panel("80.00", "80.00", "80.01", "80.01")) == Decimal("80.01"), "80.005 rounds up"


def test_the_panel_may_be_aggregated_by_median_or_without_the_highest_and_lowest_score() -> None:
    median = ReviewRubric(aggregation="median")
    assert aggregate(median, panel("95.00", "60.00", "70.00")) == Decimal("70.00")
    assert aggregate(median, panel("95.00", "60.00", "70.00", "80.00")) == Decimal("75.00")
    trimmed = ReviewRubric(aggregation="trimmed_mean")
    assert aggregate(trimmed, panel("99.00", "80.00", "82.00", "30.00")) == Decimal("81.00")
    assert aggregate(trimmed, panel("90.00", "80.00")) == Decimal("85.00"), "fewer than 3: the plain mean"
