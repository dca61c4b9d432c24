"""Grants, tranches, the envelope, payments and each review grade's consequence, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.funding.domain import ledger
from services.funding.domain.model import (
    GrantStatus,
    Opened,
    ReleaseStatus,
    confirm_payment,
    consequences_of,
    decide_envelope,
    new_grant,
    payment_failed,
    tranche_schedule,
)
from shared.contract.events.funding import GrantHeld, PaymentEscalated, PaymentRetryRequested
from shared.contract.events.matching import ExpertRef, TeamAccepted, TitleGrade
from shared.contract.events.orders import ServicePeriod
from shared.contract.events.reviews import ReviewCompleted
from shared.policy import YUAN, ProgrammePolicy
from shared.rules import RuleBroken
from tests.builders import tianma_demand

NOW = datetime(2019, 7, 1, 2, 0, tzinfo=UTC)
POLICY = ProgrammePolicy()


def accepted(funding_yuan: int = 150_000, months: int = 12) -> TeamAccepted:
    """郭顺星's 天麻 team: the lead at the top title grade (正高级), a 副高级 member, a member whose
    grade the registry did not give, and a 中级 local talent."""

    def ref(expert_id: str, name: str, title: str | None = None, grade: TitleGrade | None = None) -> ExpertRef:
        return ExpertRef(
            expert_id=expert_id,
            name=name,
            institution="重庆硒旺华宝生物科技有限公司",
            title=title,
            title_grade=grade,
        )

    return TeamAccepted(
        project_id="P-500240-2019-001",
        order_id="500240-2019-001",
        application_id="APP-1",
        team_id="TEAM-guo",
        team_name="郭顺星团队",
        lead=ref("EXP-guo", "郭顺星", "研究员", "senior"),
        members=(ref("EXP-m1", "成员甲", "副研究员", "deputy_senior"), ref("EXP-m2", "成员乙")),
        local_talents=(ref("EXP-l1", "本地骨干丙", "农艺师", "intermediate"),),
        place=tianma_demand().place,
        site="洗新乡保合村天麻示范园",
        industry="中药材",
        service_period=ServicePeriod(start=date(2019, 7, 1), months=months),
        funding_asked_fen=funding_yuan * YUAN,
        call="2019年第一批",
        awarded_by="市人力社保局",
        accepted_at=NOW,
    )


def opened_grant(funding_yuan: int = 150_000, months: int = 12) -> Opened:
    decision = decide_envelope(new_grant(accepted(funding_yuan, months), POLICY), 7_000_000 * YUAN, 0, NOW)
    assert isinstance(decision, Opened)
    return decision


def review(grade: str, review_id: str = "RV-2019-500240-2019-001") -> ReviewCompleted:
    return ReviewCompleted(
        review_id=review_id,
        cycle_id="2019",
        year=2019,
        order_id="500240-2019-001",
        project_id="P-500240-2019-001",
        team_id="TEAM-guo",
        team_name="郭顺星团队",
        lead_expert_id="EXP-guo",
        lead_name="郭顺星",
        institution="重庆硒旺华宝生物科技有限公司",
        grade=grade,
        score={"excellent": 93.5, "qualified": 75.0, "unqualified": 41.0}[grade],
        panel_scores=(90.0, 95.0, 95.5),
        indicator_results=(),
        reason="panel mean",
        rule_version="2019.1/rubric-1",
        completed_at=NOW,
    )


@pytest.mark.parametrize(
    ("amount", "percentages", "expected"),
    [
        (15_000_000, (50, 50), [7_500_000, 7_500_000]),
        (5_000_001, (50, 50), [2_500_000, 2_500_001]),
        (20_000_000, (40, 30, 30), [8_000_000, 6_000_000, 6_000_000]),
        (10_000_001, (33, 33, 34), [3_300_000, 3_300_000, 3_400_001]),
    ],
)
def test_tranches_split_a_grant_in_whole_fen_and_add_up_exactly(
    amount: int, percentages: tuple[int, ...], expected: list[int]
) -> None:
    tranches = tranche_schedule(amount, percentages)
    assert [t.amount_fen for t in tranches] == expected
    assert sum(t.amount_fen for t in tranches) == amount
    assert tranches[0].condition == "on_acceptance"
    assert {t.condition for t in tranches[1:]} <= {"after_passing_review"}


def test_a_grant_within_the_envelope_opens_and_releases_the_first_half() -> None:
    opened = opened_grant()
    assert opened.grant.status is GrantStatus.OPEN
    assert opened.opened.amount_fen == 15_000_000
    assert opened.released.amount_fen == 7_500_000
    assert opened.released.tranche == 1
    assert opened.released.release_id == "R-500240-2019-001-1"
    assert opened.released.payee.lead_name == "郭顺星"
    assert opened.grant.budget_year == 2019


def test_a_three_year_project_gets_two_fifths_on_acceptance_and_a_fifth_after_each_passing_year() -> None:
    opened = opened_grant(150_000, months=36)
    assert [(t.amount_fen, t.service_year) for t in opened.grant.tranches] == [
        (6_000_000, None),
        (3_000_000, 1),
        (3_000_000, 2),
        (3_000_000, 3),
    ]
    assert opened.released.amount_fen == 6_000_000
    grant, paid = opened.grant, [opened.released.amount_fen]
    for year, grade in ((2019, "qualified"), (2020, "excellent"), (2021, "qualified")):
        done = consequences_of(review(grade, f"RV-{year}"), grant, POLICY, NOW)
        assert done.release is not None, year
        grant, paid = done.grant, [*paid, done.release[1].amount_fen]
    assert paid == [6_000_000, 3_000_000, 3_000_000, 3_000_000]
    assert grant.status is GrantStatus.COMPLETE and grant.released_fen == 15_000_000


def test_a_multi_year_project_graded_unqualified_in_its_second_year_loses_what_is_left() -> None:
    grant = opened_grant(150_000, months=24).grant  # 40 % now, 30 % after each year
    first_year = consequences_of(review("qualified", "RV-2019"), grant, POLICY, NOW)
    assert first_year.release is not None and first_year.release[1].amount_fen == 4_500_000
    second_year = consequences_of(review("unqualified", "RV-2020"), first_year.grant, POLICY, NOW)
    assert second_year.withheld is not None and second_year.withheld.amount_fen == 4_500_000
    assert second_year.grant.released_fen + second_year.grant.withheld_fen == 15_000_000


def test_a_grant_that_would_exceed_the_envelope_is_held_with_the_reason() -> None:
    grant = new_grant(accepted(), POLICY)
    held = decide_envelope(grant, envelope_fen=1_000_000 * YUAN, committed_fen=900_000 * YUAN, now=NOW)
    assert isinstance(held, GrantHeld)
    assert "100,000.00 元 left" in held.reason
    assert "150,000.00 元" in held.reason


def test_funding_outside_the_programme_range_is_refused() -> None:
    with pytest.raises(RuleBroken, match="funding_out_of_range"):
        new_grant(accepted(funding_yuan=250_000), POLICY)


def test_an_excellent_review_releases_the_next_tranche_grants_incentives_and_continued_funding() -> None:
    outcome = consequences_of(review("excellent"), opened_grant().grant, POLICY, NOW)
    assert outcome.release is not None
    release, released = outcome.release
    assert (release.tranche, release.amount_fen) == (2, 7_500_000)
    assert outcome.grant.status is GrantStatus.COMPLETE
    assert outcome.continued_funding is not None
    assert {(i.expert_name, i.kind) for i in outcome.incentives} == {
        ("成员甲", "early_title_evaluation"),  # 副高级
        ("本地骨干丙", "early_title_evaluation"),  # 中级
        ("本地骨干丙", "talent_programme_priority"),  # local talent
    }, "郭顺星 is 正高级, 成员乙's grade is unknown, only local talent gets priority (policy defaults)"
    assert outcome.incentives_decided is not None and outcome.incentives_decided.granted == 3
    assert len(outcome.incentives_decided.decisions) == 4 * 2, "every person, every kind"
    assert outcome.suspension is None and outcome.withheld is None
    assert "优秀" in released.reason


def test_a_qualified_review_releases_and_grants_incentives_without_continued_funding() -> None:
    outcome = consequences_of(review("qualified"), opened_grant().grant, POLICY, NOW)
    assert outcome.release is not None
    assert outcome.continued_funding is None
    assert {i.grade for i in outcome.incentives} == {"qualified"}


def test_a_passing_review_of_a_fully_released_grant_grants_no_incentive_a_second_time() -> None:
    complete = consequences_of(review("qualified", "RV-1"), opened_grant().grant, POLICY, NOW).grant
    later = consequences_of(review("qualified", "RV-2"), complete, POLICY, NOW)
    assert later.release is None
    assert later.incentives == ()
    assert later.incentives_decided is not None
    already = [d for d in later.incentives_decided.decisions if d.reason.startswith("本服务期已获得")]
    assert {(d.expert_name, d.kind) for d in already} == {
        ("成员甲", "early_title_evaluation"),
        ("本地骨干丙", "early_title_evaluation"),
        ("本地骨干丙", "talent_programme_priority"),
    }


def test_an_unqualified_review_withholds_sets_a_deadline_and_suspends_for_a_year() -> None:
    outcome = consequences_of(review("unqualified"), opened_grant().grant, POLICY, NOW)
    assert outcome.withheld is not None and outcome.withheld.amount_fen == 7_500_000
    assert outcome.grant.status is GrantStatus.WITHHELD
    assert outcome.grant.remaining_fen == 0
    assert outcome.rectification is not None and outcome.rectification.deadline == date(2019, 9, 29)
    assert outcome.suspension is not None
    assert (outcome.suspension.suspended_from, outcome.suspension.suspended_until) == (
        date(2019, 7, 1),
        date(2020, 6, 30),
    )
    assert outcome.suspension.lead_expert_id == "EXP-guo"
    assert outcome.incentives == () and outcome.release is None
    assert outcome.incentives_decided is not None and outcome.incentives_decided.granted == 0
    assert {d.reason for d in outcome.incentives_decided.decisions} == {"2019年度考核不合格：不授予激励"}


def test_the_rectification_deadline_and_suspension_are_policy() -> None:
    policy = ProgrammePolicy(rectification_days=30, suspension_days=180)
    outcome = consequences_of(review("unqualified"), opened_grant().grant, policy, NOW)
    assert outcome.rectification is not None and outcome.rectification.deadline == date(2019, 7, 31)
    assert outcome.suspension is not None and outcome.suspension.suspended_until == date(2019, 12, 28)


def test_a_held_grant_has_no_review_consequence() -> None:
    held = new_grant(accepted(), POLICY)
    with pytest.raises(RuleBroken, match="grant_held"):
        consequences_of(review("qualified"), held, POLICY, NOW)


def test_a_confirmed_payment_closes_the_release_once() -> None:
    release = opened_grant().release
    paid, event = confirm_payment(release, 7_500_000, "TREAS-2019-0001", date(2019, 7, 3))
    assert paid.status is ReleaseStatus.PAID and event.payment_reference == "TREAS-2019-0001"
    with pytest.raises(RuleBroken, match="already_paid"):
        confirm_payment(paid, 7_500_000, "TREAS-2019-0002", date(2019, 7, 4))


def test_a_confirmation_of_a_different_amount_is_refused() -> None:
    with pytest.raises(RuleBroken, match="amount_mismatch"):
        confirm_payment(opened_grant().release, 7_500_001, "TREAS-X", date(2019, 7, 3))


def test_failed_payments_are_retried_then_escalated_per_policy() -> None:
    release = opened_grant().release
    release, first = payment_failed(release, "账户冻结", True, POLICY, NOW)
    assert isinstance(first, PaymentRetryRequested) and first.attempt == 2
    release, second = payment_failed(release, "账户冻结", True, POLICY, NOW)
    assert isinstance(second, PaymentRetryRequested) and second.attempt == 3
    release, third = payment_failed(release, "账户冻结", True, POLICY, NOW)
    assert isinstance(third, PaymentEscalated) and third.attempts == 3
    assert release.status is ReleaseStatus.ESCALATED


def test_a_payment_that_cannot_be_retried_is_escalated_at_once() -> None:
    _, answer = payment_failed(opened_grant().release, "收款单位不存在", False, POLICY, NOW)
    assert isinstance(answer, PaymentEscalated) and answer.attempts == 1


def test_ledger_entries_always_balance_and_move_positive_amounts() -> None:
    entry = ledger.commit(2019, "G-1", 15_000_000)
    assert entry.lines == (("budget:2019", -15_000_000), ("committed:G-1", 15_000_000))
    assert ledger.appropriate(2019, -5, "lower").lines == (("budget:2019", -5), ("appropriation:2019", 5))
    with pytest.raises(ValueError, match="positive"):
        ledger.release("G-1", "R-1", 0)
    with pytest.raises(ValueError, match="unbalanced"):
        ledger.Entry("bad", "", (("a", 1), ("b", -2)))


def test_a_grant_is_booked_to_its_calls_budget_year_whatever_day_it_was_accepted_or_its_service_starts() -> None:
    december = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a 2027 call awarded in December 2026
    awarded_early = accepted().model_copy(
        update={
            "call": "2027年第一批",
            "accepted_at": december,
            "service_period": ServicePeriod(start=date(2026, 12, 15), months=24),
        }
    )
    assert new_grant(awarded_early, POLICY).budget_year == 2027
    starts_next_year = awarded_early.model_copy(
        update={"service_period": ServicePeriod(start=date(2028, 3, 1), months=12)}
    )
    assert new_grant(starts_next_year, POLICY).budget_year == 2027


def test_a_call_that_names_no_year_cannot_be_booked_to_a_budget() -> None:
    with pytest.raises(RuleBroken) as refused:
        new_grant(accepted().model_copy(update={"call": "第一批"}), POLICY)
    assert refused.value.rule == "call_without_year"
