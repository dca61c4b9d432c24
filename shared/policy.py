"""Programme policy: the numbers DOMAIN.md marks as policy, as configuration.

Every number here has the default DOMAIN.md gives. A service reads its overrides from
`POLICY_<NAME>` environment variables (e.g. `POLICY_FUNDING_MIN_FEN=6000000`) once, at start
(`shared.settings.load_policy`), and hands the policy to its handlers; this module reads no
environment. Money is integer fen.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

YUAN = 100
"""Fen per yuan."""


class ProgrammePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "2019.1"
    """Named version of this rule set; recorded with decisions so they can be re-derived."""
    funding_min_fen: int = 50_000 * YUAN
    funding_max_fen: int = 200_000 * YUAN
    service_period_min_months: int = 12
    service_period_max_months: int = 36
    team_size_min: int = 3
    team_size_max: int = 15
    min_local_talents: int = 1
    excellent_min_score: float = 90.0
    qualified_min_score: float = 60.0
    tranche_percentages: tuple[int, ...] = (50, 50)
    rectification_days: int = 90
    suspension_days: int = 365
    review_min_panel_size: int = 3
    """A review is graded once at least this many panel scores are in (mean of the panel)."""
    missing_report_grade: Literal["excellent", "qualified", "unqualified"] = "unqualified"
    """The grade of a project whose team sent no outcome report by the cycle's deadline."""
    payment_max_attempts: int = 3
    """Treasury attempts of one release before it is escalated to bureau staff."""
    annual_envelope_fen: int = 7_000_000 * YUAN
    """Default yearly budget envelope (bureau staff set the real one with SetBudgetEnvelope)."""

    @model_validator(mode="after")
    def _consistent(self) -> ProgrammePolicy:
        if not 0 < self.funding_min_fen <= self.funding_max_fen:
            raise ValueError("funding range must satisfy 0 < min <= max")
        if not 0 < self.service_period_min_months <= self.service_period_max_months:
            raise ValueError("service period range must satisfy 0 < min <= max")
        if not 0 < self.team_size_min <= self.team_size_max:
            raise ValueError("team size range must satisfy 0 < min <= max")
        if sum(self.tranche_percentages) != 100 or any(p <= 0 for p in self.tranche_percentages):
            raise ValueError("tranche percentages must be positive and add up to 100")
        if not self.qualified_min_score <= self.excellent_min_score:
            raise ValueError("the excellent threshold cannot be below the qualified threshold")
        return self


def format_yuan(fen: int) -> str:
    """12345678 fen -> '123,456.78 元' (for logs and reports; never parse this back)."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), YUAN)
    return f"{sign}{yuan:,}.{cents:02d} 元"
