"""An outcome report's indicators against the order's targets (IATI style). Pure: no I/O.

The team reports against the targets the city published with the order; it cannot add,
drop or restate them:
- every target is reported exactly once (`indicator_missing`, `duplicate_indicator`);
- nothing else is reported (`unknown_indicator`);
- unit and target equal the order's, and so does the baseline when the report gives one
  (`indicator_mismatch`).
The accepted results carry the order's label, unit, baseline and target with the team's actual.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.contract.events.orders import OutcomeTarget
from shared.contract.events.reviews import IndicatorResult
from shared.rules import RuleBroken


def check_indicators(
    order_id: str, targets: Sequence[OutcomeTarget], reported: Sequence[IndicatorResult]
) -> tuple[IndicatorResult, ...]:
    """The indicator results to keep, in the order's target order; refuses what does not fit."""
    names = [r.indicator for r in reported]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RuleBroken("duplicate_indicator", f"each indicator may be reported once: {', '.join(repeated)}")
    by_name = {t.indicator: t for t in targets}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise RuleBroken(
            "unknown_indicator",
            f"not an outcome target of order {order_id}: {', '.join(unknown)} (targets: {', '.join(by_name)})",
        )
    missing = [t.indicator for t in targets if t.indicator not in names]
    if missing:
        raise RuleBroken(
            "indicator_missing",
            f"every outcome target of order {order_id} must be reported: missing {', '.join(missing)}",
        )
    results = {r.indicator: r for r in reported}
    differences = [d for t in targets for d in _differences(t, results[t.indicator])]
    if differences:
        raise RuleBroken("indicator_mismatch", f"report the order's targets as published: {'; '.join(differences)}")
    return tuple(_result(t, results[t.indicator]) for t in targets)


def _differences(target: OutcomeTarget, reported: IndicatorResult) -> list[str]:
    found = []
    if reported.unit != target.unit:
        found.append(f"{target.indicator} unit {reported.unit!r} is not {target.unit!r}")
    if reported.target != target.target:
        found.append(f"{target.indicator} target {reported.target:g} is not {target.target:g}")
    if reported.baseline is not None and reported.baseline != target.baseline:
        published = "none" if target.baseline is None else f"{target.baseline:g}"
        found.append(f"{target.indicator} baseline {reported.baseline:g} is not {published}")
    return found


def _result(target: OutcomeTarget, reported: IndicatorResult) -> IndicatorResult:
    return IndicatorResult(
        indicator=target.indicator,
        label=target.label,
        unit=target.unit,
        baseline=target.baseline,
        target=target.target,
        actual=reported.actual,
    )
