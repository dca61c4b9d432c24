"""Who may not score a project (回避), and what a panel may not do, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.reviews.domain.model import Review, accept_report, complete_if_ready, declare_conflict, record_score
from services.reviews.domain.rubric import ReviewRubric
from shared.contract.events.reviews import Reviewer
from shared.policy import ProgrammePolicy
from shared.rules import RuleBroken
from tests.reviews_builders import (
    expert,
    opened_review,
    order_published,
    outcome_report,
    panel_score,
    reviewer,
    team_accepted,
)

NOW = datetime(2020, 1, 10, 2, 0, tzinfo=UTC)
RUBRIC = ReviewRubric()
GUO = expert("郭顺星", "EXP-guo")
MEMBER = expert("成员甲", "EXP-member", institution="西南大学")
LOCAL = expert("本地骨干", "EXP-local", institution="石柱县农业农村委员会")
ACCEPTED = team_accepted(
    order_published("500240-2019-001", start=datetime(2019, 6, 1).date()),
    lead=GUO,
    members=(MEMBER,),
    local_talents=(LOCAL,),
)


def review() -> Review:
    return opened_review(accepted=ACCEPTED)[1]


def refused_score(by: Reviewer, on: Review | None = None) -> str:
    cycle, _ = opened_review(accepted=ACCEPTED)
    with pytest.raises(RuleBroken) as caught:
        record_score(on or review(), cycle, panel_score(cycle.cycle_id, "500240-2019-001", by, 85), RUBRIC, NOW)
    return caught.value.rule


@pytest.mark.parametrize("expert_id", ["EXP-guo", "EXP-member", "EXP-local"])
def test_a_reviewer_who_is_on_the_team_cannot_score_it(expert_id: str) -> None:
    assert refused_score(reviewer("同名评审", "重庆大学", reviewer_id=expert_id)) == "reviewer_in_team"


@pytest.mark.parametrize("institution", ["重庆硒旺华宝生物科技有限公司", " 重庆硒旺华宝 生物科技有限公司 "])
def test_a_reviewer_of_the_lead_experts_institution_cannot_score_it(institution: str) -> None:
    assert refused_score(reviewer("同单位评审", institution)) == "reviewer_same_institution"


def test_a_reviewer_who_declared_a_conflict_cannot_score_it() -> None:
    cycle, open_review = opened_review(accepted=ACCEPTED)
    conflicted = reviewer("李评审", "重庆市农业科学院")
    declared = declare_conflict(open_review, cycle, conflicted.reviewer_id)
    assert refused_score(conflicted, declared) == "reviewer_conflicted"
    other = panel_score(cycle.cycle_id, declared.order_id, reviewer("另一位评审", "重庆市农业科学院"), 85)
    assert record_score(declared, cycle, other, RUBRIC, NOW)[1].panel_size == 1, "the conflict is the declarer's only"


def test_an_independent_reviewer_is_recorded_with_the_weighted_score_and_panel_size() -> None:
    cycle, open_review = opened_review(accepted=ACCEPTED)
    independent = reviewer("钟评审", "西南大学")  # a member's institution is not the lead's
    scored, recorded = record_score(
        open_review, cycle, panel_score(cycle.cycle_id, open_review.order_id, independent, 88), RUBRIC, NOW
    )
    assert (recorded.reviewer_id, recorded.weighted_score, recorded.panel_size) == (independent.reviewer_id, 88.0, 1)
    assert recorded.review_id == f"RV-2019-{open_review.order_id}"
    assert scored.scorers == {independent.reviewer_id}


def test_a_reviewer_scores_a_review_only_once() -> None:
    cycle, open_review = opened_review(accepted=ACCEPTED)
    once = reviewer()
    scored, _ = record_score(open_review, cycle, panel_score("2019", open_review.order_id, once, 80), RUBRIC, NOW)
    assert refused_score(once, scored) == "reviewer_already_scored"


def test_a_score_after_the_review_is_completed_is_refused() -> None:
    cycle, completed = opened_review(accepted=ACCEPTED)
    completed, _ = accept_report(completed, cycle, outcome_report("2019", completed.order_id), NOW)
    for _ in range(3):
        completed, _ = record_score(
            completed, cycle, panel_score("2019", completed.order_id, reviewer(), 75), RUBRIC, NOW
        )
    after_the_deadline = datetime(2020, 2, 1, 2, 0, tzinfo=UTC)
    ready = complete_if_ready(completed, cycle, RUBRIC, ProgrammePolicy(), after_the_deadline)
    assert ready is not None
    completed = ready.review
    assert refused_score(reviewer(), completed) == "review_completed"


def test_a_conflict_cannot_be_declared_after_scoring() -> None:
    cycle, open_review = opened_review(accepted=ACCEPTED)
    late = reviewer()
    scored, _ = record_score(open_review, cycle, panel_score("2019", open_review.order_id, late, 80), RUBRIC, NOW)
    with pytest.raises(RuleBroken) as caught:
        declare_conflict(scored, cycle, late.reviewer_id)
    assert caught.value.rule == "conflict_after_scoring"
