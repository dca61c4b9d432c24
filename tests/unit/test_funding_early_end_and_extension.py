"""The money the bureau decided, an early end, an extension and the people who really serve, without
I/O: 郭顺星's 石柱县 (500240) 天麻 grant at the approved amount, settled when the project ends early
(forfeit or the served share), spread anew when it is extended; incentives for the team as it stands.
Integer fen throughout."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.funding.domain import ledger
from services.funding.domain.early_end import extend, respread, served_share, served_year, settle_early_end
from services.funding.domain.model import (
    Grant,
    GrantStatus,
    Opened,
    Person,
    consequences_of,
    decide_envelope,
    new_grant,
)
from services.funding.domain.team import team_after
from shared.contract.events.funding import GrantHeld
from shared.contract.events.matching import ExpertRef, MemberChangeApproved, ProjectEndedEarly, ProjectExtended
from shared.contract.events.orders import ServicePeriod
from shared.policy import YUAN, ProgrammePolicy
from shared.rules import RuleBroken
from tests.unit.test_funding_rules import NOW, POLICY, accepted, review

SERVED_SHARE = ProgrammePolicy(early_end_unreleased_money="release_served_share")


def approved(asked_yuan: int, approved_yuan: int | None, months: int = 12) -> Opened:
    acceptance = accepted(asked_yuan, months).model_copy(
        update={"approved_fen": None if approved_yuan is None else approved_yuan * YUAN}
    )
    decision = decide_envelope(new_grant(acceptance, POLICY), 7_000_000 * YUAN, 0, NOW)
    assert isinstance(decision, Opened)
    return decision


def ended_early(on: date, grant: Grant) -> ProjectEndedEarly:
    return ProjectEndedEarly(
        order_id=grant.order_id,
        project_id=grant.project_id,
        team_id=grant.team_id,
        ended_on=on,
        planned_end=date(2021, 7, 1),
        reason="天麻示范园所在地块被征用，需求不再存在",
        decided_by="市人力社保局",
        freed_expert_ids=tuple(p.expert_id for p in grant.people),
    )


def extended(grant: Grant, months: int, previous: int) -> ProjectExtended:
    return ProjectExtended(
        order_id=grant.order_id,
        project_id=grant.project_id,
        team_id=grant.team_id,
        service_period=ServicePeriod(start=date(2019, 7, 1), months=months),
        previous_months=previous,
        reason="延长服务期，完成天麻种源繁育基地建设",
        decided_by="市人力社保局",
    )


# ---- the approved amount ----------------------------------------------------------------------------


def test_the_grant_is_the_approved_amount_and_its_opening_states_both_the_ask_and_the_approval() -> None:
    opened = approved(150_000, 120_000)
    assert opened.grant.amount_fen == 12_000_000
    assert opened.grant.asked == 15_000_000
    assert (opened.opened.amount_fen, opened.opened.asked_fen) == (12_000_000, 15_000_000)
    assert [t.amount_fen for t in opened.opened.tranches] == [6_000_000, 6_000_000]
    assert opened.released.amount_fen == 6_000_000


def test_without_an_approved_amount_the_ask_stands() -> None:
    opened = approved(150_000, None)
    assert (opened.grant.amount_fen, opened.opened.asked_fen) == (15_000_000, 15_000_000)


def test_the_envelope_is_checked_against_the_approved_amount_not_the_ask() -> None:
    grant = new_grant(accepted(150_000).model_copy(update={"approved_fen": 120_000 * YUAN}), POLICY)
    assert isinstance(decide_envelope(grant, 130_000 * YUAN, 0, NOW), Opened)
    held = decide_envelope(grant, 100_000 * YUAN, 0, NOW)
    assert isinstance(held, GrantHeld)
    assert held.amount_fen == 12_000_000 and held.asked_fen == 15_000_000
    assert "asked 150,000.00 元, approved 120,000.00 元" in held.reason


@pytest.mark.parametrize(
    ("approved_yuan", "rule"), [(160_000, "approved_above_asked"), (40_000, "funding_out_of_range")]
)
def test_an_approved_amount_above_the_ask_or_outside_the_range_is_refused(approved_yuan: int, rule: str) -> None:
    with pytest.raises(RuleBroken) as refused:
        new_grant(accepted(150_000).model_copy(update={"approved_fen": approved_yuan * YUAN}), POLICY)
    assert refused.value.rule == rule


# ---- the days served ----------------------------------------------------------------------------------


def test_the_service_year_of_an_early_end_and_the_days_served_by_then() -> None:
    period = ServicePeriod(start=date(2019, 7, 1), months=24)
    first = served_year(period, date(2019, 11, 1))
    assert (first.number, first.days_served, first.days) == (1, 123, 366)  # 2020 is a leap year
    second = served_year(period, date(2020, 11, 1))
    assert (second.number, second.days_served, second.days) == (2, 123, 365)
    before = served_year(period, date(2019, 6, 1))
    assert (before.number, before.days_served) == (1, 0)
    after = served_year(period, date(2021, 9, 1))
    assert (after.number, after.days_served, after.days) == (2, 365, 365)


def test_a_short_last_service_year_counts_only_its_own_days() -> None:
    year = served_year(ServicePeriod(start=date(2019, 7, 1), months=18), date(2020, 8, 1))
    assert (year.number, year.days_served, year.days) == (2, 31, 184)  # 2020-07-01 to 2021-01-01


def test_the_served_share_is_floored_to_the_fen() -> None:
    year = served_year(ServicePeriod(start=date(2019, 7, 1), months=24), date(2019, 11, 1))
    assert served_share(4_500_000, year) == 4_500_000 * 123 // 366 == 1_512_295
    assert isinstance(served_share(4_500_000, year), int)


# ---- an early end -------------------------------------------------------------------------------------


def test_an_early_end_forfeits_the_unreleased_money_back_to_the_budget_by_default() -> None:
    grant = approved(150_000, None, months=24).grant  # 60,000 released; 45,000 + 45,000 to come
    settlement = settle_early_end(grant, ended_early(date(2019, 11, 1), grant), POLICY, NOW)
    settled = settlement.settled
    assert settlement.grant.status is GrantStatus.ENDED
    assert settlement.release is None
    assert (settled.rule, settled.released_before_fen, settled.released_fen) == ("forfeit", 6_000_000, 0)
    assert settled.forfeited_fen == settled.returned_to_budget_fen == 9_000_000
    assert settlement.unreleased_forfeited_fen == 9_000_000
    assert (settlement.grant.forfeited_fen, settlement.grant.returned_fen) == (9_000_000, 9_000_000)
    assert "天麻示范园所在地块被征用" in settled.reason
    assert settlement.grant.remaining_fen == 0


def test_with_release_served_share_the_current_years_share_is_released_and_the_rest_forfeited() -> None:
    grant = approved(150_000, None, months=24).grant
    settlement = settle_early_end(grant, ended_early(date(2019, 11, 1), grant), SERVED_SHARE, NOW)
    settled = settlement.settled
    assert settlement.release is not None
    release, released = settlement.release
    assert (release.tranche, release.amount_fen, release.served_share) == (2, 1_512_295, True)
    assert released.amount_fen == 1_512_295 and "123/366" in released.reason
    assert (settled.service_year, settled.days_served, settled.days_in_service_year) == (1, 123, 366)
    assert settled.released_fen == 1_512_295
    assert settled.forfeited_fen == 9_000_000 - 1_512_295 == 7_487_705
    assert settled.released_before_fen + settled.released_fen + settled.forfeited_fen == settled.granted_fen
    assert settlement.grant.released_fen == 6_000_000 + 1_512_295
    assert settlement.grant.released_tranches == 1, "a share is not a whole tranche"


def test_an_earlier_years_tranche_still_waiting_for_its_review_is_forfeited_at_an_early_end() -> None:
    grant = approved(150_000, None, months=24).grant  # year 1's review never came
    settlement = settle_early_end(grant, ended_early(date(2020, 11, 1), grant), SERVED_SHARE, NOW)
    assert settlement.release is not None
    assert settlement.release[0].tranche == 3
    assert settlement.settled.released_fen == 4_500_000 * 123 // 365
    assert settlement.settled.forfeited_fen == 9_000_000 - 4_500_000 * 123 // 365


def test_withheld_money_is_forfeited_at_an_early_end_and_no_share_is_released() -> None:
    grant = consequences_of(review("unqualified"), approved(150_000, None).grant, POLICY, NOW).grant
    assert grant.withheld_fen == 7_500_000
    settlement = settle_early_end(grant, ended_early(date(2020, 3, 1), grant), SERVED_SHARE, NOW)
    assert settlement.release is None
    assert (settlement.withheld_forfeited_fen, settlement.unreleased_forfeited_fen) == (7_500_000, 0)
    assert settlement.grant.withheld_fen == 0
    assert settlement.settled.forfeited_fen == 7_500_000


def test_an_ended_project_releases_nothing_later_and_cannot_end_twice() -> None:
    grant = approved(150_000, None).grant
    ended = settle_early_end(grant, ended_early(date(2019, 11, 1), grant), POLICY, NOW).grant
    with pytest.raises(RuleBroken) as later:
        consequences_of(review("excellent"), ended, POLICY, NOW)
    assert later.value.rule == "project_ended"
    with pytest.raises(RuleBroken) as twice:
        settle_early_end(ended, ended_early(date(2019, 12, 1), ended), POLICY, NOW)
    assert twice.value.rule == "project_ended"


def test_a_held_grant_ended_early_never_opens_and_gives_its_whole_amount_back() -> None:
    grant = new_grant(accepted(150_000), POLICY)
    settlement = settle_early_end(grant, ended_early(date(2019, 11, 1), grant), POLICY, NOW)
    assert settlement.release is None
    assert (settlement.settled.released_before_fen, settlement.settled.forfeited_fen) == (0, 15_000_000)
    assert settlement.grant.status is GrantStatus.ENDED


def test_the_ledger_entries_of_an_early_end_balance() -> None:
    forfeited = ledger.forfeit_at_end("G-1", "committed", 9_000_000, "需求不再存在")
    back = ledger.give_back(2019, "G-1", 9_000_000)
    assert forfeited.lines == (("committed:G-1", -9_000_000), ("forfeited:G-1", 9_000_000))
    assert back.lines == (("forfeited:G-1", -9_000_000), ("budget:2019", 9_000_000))
    assert back.kind == "give_back"


# ---- an extension -------------------------------------------------------------------------------------


def test_an_extension_spreads_the_unreleased_tranches_over_the_new_service_years() -> None:
    grant = approved(150_000, None).grant  # 75,000 released, 75,000 after year 1
    outcome = extend(grant, extended(grant, 24, 12), POLICY, NOW)
    assert outcome.rescheduled is not None
    tranches = outcome.grant.tranches
    assert [(t.number, t.amount_fen, t.percent, t.service_year) for t in tranches] == [
        (1, 7_500_000, 50, None),
        (2, 3_750_000, 25, 1),
        (3, 3_750_000, 25, 2),
    ]
    assert sum(t.amount_fen for t in tranches) == grant.amount_fen, "the total stays the same"
    assert outcome.grant.service_period == ServicePeriod(start=date(2019, 7, 1), months=24)
    assert outcome.rescheduled.previous_months == 12
    assert outcome.rescheduled.tranches == tranches
    assert again_is_nothing(outcome.grant)


def again_is_nothing(grant: Grant) -> bool:
    return extend(grant, extended(grant, 24, 12), POLICY, NOW).rescheduled is None


def test_the_last_re_spread_tranche_takes_the_fen_that_division_leaves() -> None:
    tranches = approved(150_000, None, months=24).grant.tranches  # 6,000,000 + 4,500,000 + 4,500,000
    odd = (tranches[0], tranches[1].model_copy(update={"amount_fen": 4_500_001}), tranches[2])
    spread = respread(odd, 1, 15_000_001, 3)
    assert [t.amount_fen for t in spread] == [6_000_000, 3_000_000, 3_000_000, 3_000_001]
    assert [t.service_year for t in spread] == [None, 1, 2, 3]
    assert sum(t.percent for t in spread) == 100


def test_an_extension_within_the_same_number_of_service_years_keeps_the_split() -> None:
    grant = approved(150_000, None, months=18).grant
    outcome = extend(grant, extended(grant, 24, 18), POLICY, NOW)
    assert outcome.grant.tranches == grant.tranches
    assert outcome.rescheduled is not None and outcome.rescheduled.service_period.months == 24


# ---- the people who really serve --------------------------------------------------------------------


def ref(expert_id: str, name: str, grade: str | None = None) -> ExpertRef:
    return ExpertRef(expert_id=expert_id, name=name, institution="重庆硒旺华宝生物科技有限公司", title_grade=grade)


def changed(grant: Grant, on: date) -> MemberChangeApproved:
    """成员甲 (副高级) leaves, 成员丁 (中级) joins."""
    return MemberChangeApproved(
        change_id="CHG-500240-2019-001-1",
        order_id=grant.order_id,
        project_id=grant.project_id,
        team_id=grant.team_id,
        kind="replace",
        leaving=ref("EXP-m1", "成员甲", "deputy_senior"),
        joining=ref("EXP-m4", "成员丁", "intermediate"),
        effective_from=on,
        lead=ref("EXP-guo", "郭顺星", "senior"),
        members=(ref("EXP-m4", "成员丁", "intermediate"), ref("EXP-m2", "成员乙")),
        local_talents=(ref("EXP-l1", "本地骨干丙", "intermediate"),),
        decided_by="市人力社保局",
        reason="成员甲调往外地工作",
    )


def test_an_approved_change_records_who_left_and_who_joined_and_applies_once() -> None:
    grant = approved(150_000, None).grant
    after = team_after(grant, changed(grant, date(2019, 11, 1)))
    people = {p.expert_id: p for p in after.people}
    assert people["EXP-m1"].left_on == date(2019, 11, 1)
    assert people["EXP-m4"] == Person("EXP-m4", "成员丁", "member", "intermediate", None, date(2019, 11, 1))
    assert people["EXP-guo"].left_on is None
    assert team_after(after, changed(after, date(2019, 11, 1))) == after
    assert not people["EXP-m1"].on_team(date(2019, 11, 1)) and people["EXP-m1"].on_team(date(2019, 10, 31))


def test_incentives_skip_a_member_who_left_and_include_one_who_joined() -> None:
    grant = approved(150_000, None).grant
    grant = team_after(grant, changed(grant, date(2020, 5, 1)))
    passing = review("qualified").model_copy(update={"completed_at": datetime(2020, 7, 20, 2, tzinfo=UTC)})
    outcome = consequences_of(passing, grant, POLICY, NOW)
    granted = sorted((i.expert_id, i.kind) for i in outcome.incentives)
    assert granted == [
        ("EXP-l1", "early_title_evaluation"),
        ("EXP-l1", "talent_programme_priority"),
        ("EXP-m4", "early_title_evaluation"),
    ]
    assert outcome.incentives_decided is not None
    left = [d for d in outcome.incentives_decided.decisions if d.expert_id == "EXP-m1"]
    assert {d.reason for d in left} == {"2020-05-01已离开团队：left the team on 2020-05-01"}
    assert not any(d.granted for d in left)


def test_someone_who_joins_after_the_review_date_gets_nothing_from_that_review() -> None:
    grant = approved(150_000, None).grant
    grant = team_after(grant, changed(grant, date(2020, 8, 1)))
    passing = review("qualified").model_copy(update={"completed_at": datetime(2020, 7, 20, 2, tzinfo=UTC)})
    outcome = consequences_of(passing, grant, POLICY, NOW)
    assert "EXP-m4" not in {i.expert_id for i in outcome.incentives}
    assert "EXP-m1" in {i.expert_id for i in outcome.incentives}, "成员甲 was still on the team that day"


def test_a_member_who_left_and_came_back_is_on_the_team_again() -> None:
    grant = approved(150_000, None).grant
    grant = team_after(grant, changed(grant, date(2020, 1, 1)))
    back = changed(grant, date(2020, 3, 1)).model_copy(
        update={"members": (ref("EXP-m1", "成员甲", "deputy_senior"), ref("EXP-m2", "成员乙"), ref("EXP-m4", "成员丁"))}
    )
    grant = team_after(grant, back)
    (person,) = [p for p in grant.people if p.expert_id == "EXP-m1"]
    assert (person.joined_on, person.left_on) == (date(2020, 3, 1), None)
    assert replace(person, joined_on=None).on_team(date(2020, 2, 1))
