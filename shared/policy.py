"""Programme policy: the numbers DOMAIN.md marks as policy, as configuration.

Every number here has the default DOMAIN.md gives. A service reads its overrides from
`POLICY_<NAME>` environment variables (e.g. `POLICY_FUNDING_MIN_FEN=6000000`) once, at start
(`shared.settings.load_policy`), and hands the policy to its handlers; this module reads no
environment. Money is integer fen.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from shared.contract.events.matching import TitleGrade
from shared.working_days import WorkingCalendar

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
    first_tranche_percent_one_year: int = 50
    """The share of a one-year project's grant released on acceptance (DOMAIN.md); the rest after
    its year's passing review."""
    first_tranche_percent_multi_year: int = 40
    """The share of a longer project's grant released on acceptance; the rest is spread evenly over
    its service years, each part released after that year's passing review."""
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
    public_notice_working_days: int = 5
    """公示: award lists and review results are publicly noticed for this many working days
    (Chongqing calendar, shared/working_days.py) before they take effect; 0 = no notice."""
    extra_days_off: tuple[date, ...] = ()
    """Bridging days off the State Council announced (调休放假) beyond the statutory holidays."""
    extra_working_days: tuple[date, ...] = ()
    """Weekend days the State Council turned into working days (调休上班)."""
    early_title_evaluation_grades: tuple[TitleGrade, ...] = ("deputy_senior", "intermediate", "junior")
    """Title grades whose holders may be evaluated for the next title a year early (提前1年评定上一级
    职称): everyone below the top grade (正高级 has no higher title); an unknown grade is not eligible."""
    talent_priority_roles: tuple[Literal["lead", "member", "local_talent"], ...] = ("local_talent",)
    """Who gets priority in talent selection and training (优先纳入人才选拔培养项目): by default the
    local talent the team trains (传帮带), the people the programme means to grow."""

    min_service_days_per_year: int = 30
    """Days a team is on site per service year at least (DOMAIN.md: typical of comparable rural
    expert-service programmes); the review's rubric and the mid-term check count recorded days."""
    mid_term_check_month: int = 7
    """The month (of the service year) in which the bureau's mid-term check falls by default: half
    of the minimum days are expected by then."""
    max_extension_months: int = 12
    """How much longer than planned the bureau may extend a project (still within
    service_period_max_months in all)."""
    early_end_unreleased_money: Literal["forfeit", "release_served_share"] = "forfeit"
    """What an early end does with money not yet released: `forfeit` (back to the budget), or
    `release_served_share` (the share of the current service year already served is released)."""

    event_max_age_days: int = 14
    """How long after it was signed (its `time`) a partner's event may reach the brokers. Not a
    DOMAIN.md number but the contract's: county systems queue their events while their link is
    down and send the queue when it is back; the longest such gap we plan for is the Spring
    Festival (8 to 9 days off in a row) plus a working week to restore a county's link. Beyond it an
    event is refused as `stale` and must be sent again with a new time. It also bounds what a
    replaced (not revoked) key can still sign: events dated before its replacement, arriving within
    this window."""
    event_max_ahead_s: int = 300
    """How far a partner's event's `time` may be ahead of its arrival (the brokers' clock): five
    minutes, the clock skew Kerberos tolerates between hosts that keep time. Beyond it an event is
    refused as `from_the_future`."""

    def tranche_percentages(self, service_years: int) -> tuple[int, ...]:
        """The grant's split: on acceptance, then one part per service year (whole percents; the
        last year takes what division leaves), e.g. 1 year (50, 50), 2 years (40, 30, 30),
        3 years (40, 20, 20, 20)."""
        years = max(1, service_years)
        first = self.first_tranche_percent_one_year if years == 1 else self.first_tranche_percent_multi_year
        each = (100 - first) // years
        return (first, *([each] * (years - 1)), 100 - first - each * (years - 1))

    def working_calendar(self) -> WorkingCalendar:
        return WorkingCalendar.of(self.extra_days_off, self.extra_working_days)

    def notice_ends_on(self, published_on: date) -> date:
        """The last day of a public notice published on `published_on`."""
        return self.working_calendar().add_working_days(published_on, self.public_notice_working_days)

    @model_validator(mode="after")
    def _consistent(self) -> ProgrammePolicy:
        if not 0 < self.funding_min_fen <= self.funding_max_fen:
            raise ValueError("funding range must satisfy 0 < min <= max")
        if not 0 < self.service_period_min_months <= self.service_period_max_months:
            raise ValueError("service period range must satisfy 0 < min <= max")
        if not 0 < self.team_size_min <= self.team_size_max:
            raise ValueError("team size range must satisfy 0 < min <= max")
        for first in (self.first_tranche_percent_one_year, self.first_tranche_percent_multi_year):
            if not 0 < first < 100:
                raise ValueError("the first tranche must be more than 0 % and less than 100 % of a grant")
        if self.public_notice_working_days < 0:
            raise ValueError("the public notice cannot last a negative number of working days")
        if not 1 <= self.mid_term_check_month <= 12:
            raise ValueError("the mid-term check month must be 1 to 12")
        if self.min_service_days_per_year < 0 or self.max_extension_months < 0:
            raise ValueError("service days and extension months cannot be negative")
        if self.event_max_age_days < 1 or self.event_max_ahead_s < 0:
            raise ValueError("events must be allowed at least a day to arrive, and no negative clock skew")
        if not self.qualified_min_score <= self.excellent_min_score:
            raise ValueError("the excellent threshold cannot be below the qualified threshold")
        return self


def format_yuan(fen: int) -> str:
    """12345678 fen -> '123,456.78 元' (for logs and reports; never parse this back)."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), YUAN)
    return f"{sign}{yuan:,}.{cents:02d} 元"
