"""The end of a project before its service period is over (ProjectEndedEarly), and its extension
(ProjectExtended): the grant's money settled or spread anew. Pure: no I/O; integer fen only.

Early end, by the policy `early_end_unreleased_money`:
  forfeit (default)      every fen not yet released (withheld money too) is forfeited and goes back
                         to the budget year's envelope (ledger: committed/withheld -> forfeited ->
                         budget:<year>);
  release_served_share   the tranche of the service year in which the project ended is released pro
                         rata to the days of that year served by `ended_on` (its people are free from
                         that day, so the day itself is not served): share = tranche x served days //
                         days of the service year (floor, in fen); the rest is forfeited as above.
                         Only an open grant (not withheld after an unqualified review) gets a share;
                         an earlier year's tranche still waiting for its review is forfeited (the
                         review no longer comes).
  Either way the grant ends: no tranche is released after it (a later review is refused, `project_ended`).

Extension: the grant's total stays. The tranches not yet released are spread evenly over the
service years from the first unreleased tranche's year to the new last year (in fen, the last
takes what division leaves; percents likewise in whole percents of the grant), e.g. a one-year
150,000 元 grant (75,000 + 75,000, the first released) extended to 24 months: 75,000 + 37,500 (year 1)
+ 37,500 (year 2). The grant stays in its budget year's envelope (the call's year); the tranches'
service years, and so the years in which they fall due, follow the new period.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from services.funding.domain.model import Grant, GrantStatus, Release, release_id, service_years, tranche_schedule
from shared.contract.events.funding import FundingReleased, GrantRescheduled, GrantSettled, Tranche
from shared.contract.events.matching import ProjectEndedEarly, ProjectExtended
from shared.contract.events.orders import ServicePeriod, service_end
from shared.policy import ProgrammePolicy, format_yuan
from shared.rules import RuleBroken


@dataclass(frozen=True, slots=True)
class ServedYear:
    """The service year in which a day falls, and how much of it was served before that day."""

    number: int
    days_served: int
    days: int


def served_year(period: ServicePeriod, ended_on: date) -> ServedYear:
    """Service year n runs from start + 12(n-1) months to the day before start + 12n months (the last
    one ends with the period). A day before the start served nothing of year 1; a day after the end
    served all of the last year."""
    last = service_years(period)
    number = 1
    while number < last and service_end(ServicePeriod(start=period.start, months=12 * number)) <= ended_on:
        number += 1
    begins = period.start if number == 1 else service_end(ServicePeriod(start=period.start, months=12 * (number - 1)))
    ends = min(service_end(ServicePeriod(start=period.start, months=12 * number)), service_end(period))
    days = (ends - begins).days
    return ServedYear(number, min(max((ended_on - begins).days, 0), days), days)


def served_share(tranche_fen: int, year: ServedYear) -> int:
    """The part of a year's tranche the days served earn: floor(tranche x served / days), in fen."""
    if year.days <= 0:
        return 0
    return tranche_fen * year.days_served // year.days


@dataclass(frozen=True, slots=True)
class Settlement:
    grant: Grant
    settled: GrantSettled
    release: tuple[Release, FundingReleased] | None = None
    """The served share, released (release_served_share)."""
    unreleased_forfeited_fen: int = 0
    """Committed money forfeited (ledger committed -> forfeited)."""
    withheld_forfeited_fen: int = 0
    """Withheld money forfeited (ledger withheld -> forfeited)."""


def settle_early_end(grant: Grant, ended: ProjectEndedEarly, policy: ProgrammePolicy, now: datetime) -> Settlement:
    """Settle the money of a project the bureau ended early (module docstring); the grant ends."""
    if grant.status is GrantStatus.ENDED:
        raise RuleBroken("project_ended", f"project {grant.project_id} has already ended")
    rule = policy.early_end_unreleased_money
    released_before = grant.released_fen
    if grant.status is GrantStatus.HELD:  # never opened: the envelope never paid it
        settled_grant = replace(
            grant,
            status=GrantStatus.ENDED,
            ended_on=ended.ended_on,
            forfeited_fen=grant.amount_fen,
            returned_fen=grant.amount_fen,
        )
        why = f"项目提前终止（{ended.reason}）：资助未曾开立 (held for budget, never opened); nothing released"
        settled = _settled(settled_grant, ended, rule, (released_before, 0, grant.amount_fen), None, why, now)
        return Settlement(settled_grant, settled)
    withheld = grant.withheld_fen
    committed = grant.amount_fen - released_before - withheld - grant.forfeited_fen
    year, share, tranche = None, 0, None
    if grant.service_period is not None:
        year = served_year(grant.service_period, ended.ended_on)
        tranche = next((t for t in grant.tranches if t.service_year == year.number), None)
    shares = rule == "release_served_share" and grant.status is GrantStatus.OPEN
    if shares and year is not None and tranche is not None and tranche.number > grant.released_tranches:
        share = served_share(tranche.amount_fen, year)
    forfeited = committed - share + withheld
    settled_grant = replace(
        grant,
        status=GrantStatus.ENDED,
        ended_on=ended.ended_on,
        withheld_fen=0,
        served_share_fen=share,
        forfeited_fen=grant.forfeited_fen + forfeited,
        returned_fen=grant.returned_fen + forfeited,
    )
    release = None
    how = _how(rule, grant, year, share, tranche)
    if share and tranche is not None and year is not None:
        instructed = Release(
            release_id=release_id(grant.order_id, tranche.number),
            grant_id=grant.grant_id,
            order_id=grant.order_id,
            tranche=tranche.number,
            amount_fen=share,
            served_share=True,
        )
        released = FundingReleased(
            release_id=instructed.release_id,
            grant_id=grant.grant_id,
            project_id=grant.project_id,
            order_id=grant.order_id,
            tranche=tranche.number,
            amount_fen=share,
            payee=grant.payee,
            reason=f"项目提前终止：第{tranche.number}期资金按第{year.number}服务年度已服务天数结算 "
            f"({year.days_served}/{year.days} days of {format_yuan(tranche.amount_fen)})",
            released_at=now,
        )
        release = (instructed, released)
    why = f"项目提前终止（{ended.reason}，{ended.decided_by}）：{how}"
    settled = _settled(settled_grant, ended, rule, (released_before, share, forfeited), year, why, now)
    return Settlement(settled_grant, settled, release, committed - share, withheld)


def _how(rule: str, grant: Grant, year: ServedYear | None, share: int, tranche: Tranche | None) -> str:
    if rule == "forfeit":
        return "unreleased money forfeited, back to the budget (early_end_unreleased_money = forfeit)"
    if grant.status is GrantStatus.WITHHELD:
        return "withheld after an unqualified review: nothing released, all forfeited, back to the budget"
    if year is None:
        return "the service period is not known: nothing released, all forfeited, back to the budget"
    if tranche is None or not share:
        return (
            f"service year {year.number}: no share to release ({year.days_served}/{year.days} days), the rest forfeited"
        )
    return (
        f"service year {year.number}: {year.days_served}/{year.days} days served, {format_yuan(share)} of tranche "
        f"{tranche.number} released, the rest forfeited, back to the budget"
    )


def _settled(
    grant: Grant,
    ended: ProjectEndedEarly,
    rule: str,
    money: tuple[int, int, int],
    year: ServedYear | None,
    reason: str,
    now: datetime,
) -> GrantSettled:
    """`money`: released before the end, released now (the served share), forfeited (all of it back
    to the budget year's envelope)."""
    released_before, share, forfeited = money
    return GrantSettled(
        grant_id=grant.grant_id,
        project_id=grant.project_id,
        order_id=grant.order_id,
        team_id=grant.team_id,
        budget_year=grant.budget_year,
        ended_on=ended.ended_on,
        rule="forfeit" if rule == "forfeit" else "release_served_share",
        granted_fen=grant.amount_fen,
        released_before_fen=released_before,
        released_fen=share,
        forfeited_fen=forfeited,
        returned_to_budget_fen=forfeited,
        service_year=year.number if year else None,
        days_served=year.days_served if year else None,
        days_in_service_year=year.days if year else None,
        reason=reason,
        settled_at=now,
    )


# ---- extension ---------------------------------------------------------------------------------


def respread(tranches: tuple[Tranche, ...], released: int, amount_fen: int, years: int) -> tuple[Tranche, ...]:
    """The schedule after an extension to `years` service years: the first `released` tranches stay;
    the others' money is spread evenly over the service years from the first unreleased tranche's
    year to `years` (renumbered after the released ones). Nothing unreleased: the schedule stays."""
    kept, rest = tranches[:released], tranches[released:]
    if not rest:
        return tranches
    first_year = rest[0].service_year or 1
    count = max(years - first_year + 1, 1)
    money = sum(t.amount_fen for t in rest)
    percent = sum(t.percent for t in rest)
    amounts = [money // count] * (count - 1) + [money - money // count * (count - 1)]
    percents = [max(percent // count, 1)] * (count - 1)
    percents.append(max(percent - sum(percents), 1))
    spread = tuple(
        Tranche(
            number=released + i + 1,
            percent=p,
            amount_fen=a,
            condition="after_passing_review",
            service_year=first_year + i,
        )
        for i, (p, a) in enumerate(zip(percents, amounts, strict=True))
    )
    return kept + spread


@dataclass(frozen=True, slots=True)
class Rescheduled:
    grant: Grant
    rescheduled: GrantRescheduled | None
    """None: the period was already this long (the same extension again)."""


def extend(grant: Grant, extended: ProjectExtended, policy: ProgrammePolicy, now: datetime) -> Rescheduled:
    """The grant after an extension: same total, unreleased tranches spread over the new remaining
    service years (a held grant, never opened, gets the policy's schedule for the new length)."""
    if grant.status is GrantStatus.ENDED:
        raise RuleBroken("project_ended", f"project {grant.project_id} has ended; it cannot be extended")
    period = extended.service_period
    before = grant.service_period or ServicePeriod(start=period.start, months=extended.previous_months)
    if grant.service_period is not None and grant.service_period == period:
        return Rescheduled(grant, None)
    years = service_years(period)
    if grant.status is GrantStatus.HELD:
        tranches = tranche_schedule(grant.amount_fen, policy.tranche_percentages(years))
    else:
        tranches = respread(grant.tranches, grant.released_tranches, grant.amount_fen, years)
    grant = replace(grant, tranches=tranches, service_period=period)
    split = " + ".join(format_yuan(t.amount_fen) for t in tranches)
    rescheduled = GrantRescheduled(
        grant_id=grant.grant_id,
        project_id=grant.project_id,
        order_id=grant.order_id,
        team_id=grant.team_id,
        amount_fen=grant.amount_fen,
        budget_year=grant.budget_year,
        service_period=period,
        previous_months=before.months,
        tranches=tranches,
        reason=f"服务期延长至{period.months}个月（{extended.reason}，{extended.decided_by}）："
        f"{service_years(before)} -> {years} service years; {split}",
        rescheduled_at=now,
    )
    return Rescheduled(grant, rescheduled)
