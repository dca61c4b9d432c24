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
from .service_record import RecordedService

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


def panel_reason(
    rubric: ReviewRubric,
    panel: Sequence[Decimal],
    panel_score: Decimal,
    score: Decimal,
    service: str,
    policy: ProgrammePolicy,
) -> str:
    """'mean of 3 panel scores (92.50, 91.00, 90.00) = 91.17; service on site: …; 91.17 ≥ 90:
    excellent (优秀)'."""
    listed = ", ".join(str(s) for s in panel)
    how = aggregation_label(rubric, len(panel))
    return (
        f"{how} of {len(panel)} panel scores ({listed}) = {panel_score}; {service}; {threshold_reason(score, policy)}"
    )


def service_reason(
    rubric: ReviewRubric,
    recorded: RecordedService,
    shortfall: Decimal,
    panel_score: Decimal,
    score: Decimal,
    policy: ProgrammePolicy,
    reported_trained: int | None,
) -> str:
    """'service on site: 12 days recorded in service year 1 (2040-01-01 to 2040-12-31), 30 a year
    required: −12.00 (20 × 18/30), 92.50 − 12.00 = 80.50; 40 people trained recorded (the report
    states 12 local talents trained)'."""
    minimum = policy.min_service_days_per_year
    days = f"service on site: {recorded.days_on_site} days recorded in {recorded.year}, {minimum} a year required"
    if shortfall:
        missing = minimum - recorded.days_on_site
        points = _text(rubric.service_points)
        days += f": −{shortfall} ({points} × {missing}/{minimum}), {panel_score} − {shortfall} = {score}"
    else:
        days += ": no deduction"
    trained = f"{recorded.people_trained} people trained recorded"
    if reported_trained is not None:
        trained += f" (the report states {reported_trained} local talents trained)"
    return f"{days}; {trained}"


def rule_version(policy: ProgrammePolicy, rubric: ReviewRubric) -> str:
    """The rule sets a grade was given under: 'policy-2019.1+rubric-2019.1'."""
    return f"policy-{policy.version}+rubric-{rubric.version}"


def _threshold(value: float) -> Decimal:
    return Decimal(str(value))


def _text(value: float) -> str:
    return f"{Decimal(str(value)).normalize():f}"
