"""From a score to a grade (优秀 / 合格 / 不合格) by the policy's thresholds, and the words
that let anyone re-derive it. Pure: no I/O.

    score ≥ excellent_min_score (90)  -> excellent
    score ≥ qualified_min_score (60)  -> qualified
    otherwise                         -> unqualified

Both thresholds are inclusive: 90.00 is excellent, 89.99 qualified, 60.00 qualified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from shared.contract.events.reviews import Grade
from shared.policy import ProgrammePolicy

from .rubric import ReviewRubric, aggregation_label

GRADE_LABELS: Mapping[Grade, str] = {"excellent": "优秀", "qualified": "合格", "unqualified": "不合格"}


def grade_for(score: Decimal, policy: ProgrammePolicy) -> Grade:
    if score >= _threshold(policy.excellent_min_score):
        return "excellent"
    if score >= _threshold(policy.qualified_min_score):
        return "qualified"
    return "unqualified"


def graded(grade: Grade) -> str:
    """'excellent (优秀)'."""
    return f"{grade} ({GRADE_LABELS[grade]})"


def threshold_reason(score: Decimal, policy: ProgrammePolicy) -> str:
    """'60 ≤ 75.50 < 90: qualified (合格)': where the score falls between the thresholds."""
    excellent, qualified = _text(policy.excellent_min_score), _text(policy.qualified_min_score)
    grade = grade_for(score, policy)
    if grade == "excellent":
        return f"{score} ≥ {excellent}: {graded(grade)}"
    if grade == "qualified":
        return f"{qualified} ≤ {score} < {excellent}: {graded(grade)}"
    return f"{score} < {qualified}: {graded(grade)}"


def panel_reason(rubric: ReviewRubric, panel: Sequence[Decimal], score: Decimal, policy: ProgrammePolicy) -> str:
    """'mean of 3 panel scores (92.50, 91.00, 90.00) = 91.17; 91.17 ≥ 90: excellent (优秀)'."""
    listed = ", ".join(str(s) for s in panel)
    how = aggregation_label(rubric, len(panel))
    return f"{how} of {len(panel)} panel scores ({listed}) = {score}; {threshold_reason(score, policy)}"


def rule_version(policy: ProgrammePolicy, rubric: ReviewRubric) -> str:
    """The rule sets a grade was given under: 'policy-2019.1+rubric-2019.1'."""
    return f"policy-{policy.version}+rubric-{rubric.version}"


def _threshold(value: float) -> Decimal:
    return Decimal(str(value))


def _text(value: float) -> str:
    return f"{Decimal(str(value)).normalize():f}"
