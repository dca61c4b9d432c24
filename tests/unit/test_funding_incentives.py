"""Incentives as policy and continued support within the envelope, without I/O: who of 郭顺星's
石柱县 天麻 team gets which incentive and why not, once per person per service period; held
continued-support grants (继续支持) opened first when the bureau raises the envelope."""

from __future__ import annotations

from datetime import date

import pytest

from services.funding.domain.model import (
    Grant,
    GrantStatus,
    Person,
    consequences_of,
    decide_envelope,
    new_grant,
    open_held,
    opening_order,
)
from shared.contract.events.funding import GrantHeld, IncentiveDecision, IncentivesDecided
from shared.contract.events.orders import ServicePeriod
from shared.policy import YUAN, ProgrammePolicy
from tests.unit.test_funding_rules import NOW, POLICY, accepted, opened_grant, review

EARLY = "early_title_evaluation"
PRIORITY = "talent_programme_priority"


def decision(decided: IncentivesDecided | None, name: str, kind: str) -> IncentiveDecision:
    assert decided is not None
    (found,) = [d for d in decided.decisions if d.expert_name == name and d.kind == kind]
    return found


def test_the_grant_keeps_each_persons_role_and_title_grade_from_the_acceptance() -> None:
    grant = new_grant(accepted(), POLICY)
    assert grant.people == (
        Person("EXP-guo", "郭顺星", "lead", "senior", "研究员"),
        Person("EXP-m1", "成员甲", "member", "deputy_senior", "副研究员"),
        Person("EXP-m2", "成员乙", "member", None, None),
        Person("EXP-l1", "本地骨干丙", "local_talent", "intermediate", "农艺师"),
    )


def test_an_expert_at_the_top_title_grade_is_not_evaluated_early_for_a_title_that_does_not_exist() -> None:
    outcome = consequences_of(review("excellent"), opened_grant().grant, POLICY, NOW)
    guo = decision(outcome.incentives_decided, "郭顺星", EARLY)
    assert (guo.granted, guo.role, guo.title_grade, guo.incentive_id) == (False, "lead", "senior", None)
    assert guo.reason == "正高级：已是最高职称"
    assert "EXP-guo" not in {i.expert_id for i in outcome.incentives}


def test_an_expert_whose_title_grade_is_unknown_is_not_eligible_and_the_decision_says_so() -> None:
    outcome = consequences_of(review("qualified"), opened_grant().grant, POLICY, NOW)
    unknown = decision(outcome.incentives_decided, "成员乙", EARLY)
    assert not unknown.granted and unknown.title_grade is None
    assert unknown.reason.startswith("职称级别未知")
    assert not [i for i in outcome.incentives if i.expert_name == "成员乙"]


def test_experts_below_the_top_grade_are_evaluated_a_year_early_after_a_passing_review() -> None:
    outcome = consequences_of(review("qualified"), opened_grant().grant, POLICY, NOW)
    early = {i.expert_name: i for i in outcome.incentives if i.kind == EARLY}
    assert set(early) == {"成员甲", "本地骨干丙"}
    assert early["成员甲"].reason == "2019年度考核合格，成员甲（团队成员，副高级）基层服务：可提前1年评定上一级职称"
    granted = decision(outcome.incentives_decided, "成员甲", EARLY)
    assert granted.granted and granted.incentive_id == early["成员甲"].incentive_id
    assert granted.reason == early["成员甲"].reason


def test_only_local_talent_gets_talent_programme_priority_by_default() -> None:
    outcome = consequences_of(review("excellent"), opened_grant().grant, POLICY, NOW)
    (priority,) = [i for i in outcome.incentives if i.kind == PRIORITY]
    assert (priority.expert_id, priority.expert_name) == ("EXP-l1", "本地骨干丙")
    for name, role in (("郭顺星", "领衔专家"), ("成员甲", "团队成员"), ("成员乙", "团队成员")):
        refused = decision(outcome.incentives_decided, name, PRIORITY)
        assert not refused.granted
        assert refused.reason == f"{role}：not in talent_priority_roles（仅当地人才）"


def test_the_policy_decides_which_grades_are_evaluated_early_and_which_roles_get_priority() -> None:
    policy = ProgrammePolicy(early_title_evaluation_grades=("intermediate",), talent_priority_roles=("lead", "member"))
    outcome = consequences_of(review("qualified"), opened_grant().grant, policy, NOW)
    assert {(i.expert_name, i.kind) for i in outcome.incentives} == {
        ("本地骨干丙", EARLY),
        ("郭顺星", PRIORITY),
        ("成员甲", PRIORITY),
        ("成员乙", PRIORITY),
    }
    assert decision(outcome.incentives_decided, "成员甲", EARLY).reason == (
        "副高级：不在 early_title_evaluation_grades 之内"
    )
    assert decision(outcome.incentives_decided, "本地骨干丙", PRIORITY).reason == (
        "当地人才：not in talent_priority_roles（仅领衔专家、团队成员）"
    )


def test_every_person_and_kind_is_decided_once_per_review_with_a_reason() -> None:
    outcome = consequences_of(review("excellent"), opened_grant().grant, POLICY, NOW)
    decided = outcome.incentives_decided
    assert decided is not None
    assert (decided.order_id, decided.project_id, decided.team_id) == (
        "500240-2019-001",
        "P-500240-2019-001",
        "TEAM-guo",
    )
    assert (decided.review_id, decided.year, decided.grade) == ("RV-2019-500240-2019-001", 2019, "excellent")
    assert decided.subject() == "500240-2019-001", "keyed by the order, in order with its money"
    assert sorted((d.expert_id, d.kind) for d in decided.decisions) == sorted(
        (expert, kind) for expert in ("EXP-guo", "EXP-m1", "EXP-m2", "EXP-l1") for kind in (EARLY, PRIORITY)
    )
    assert all(d.reason for d in decided.decisions)
    assert decided.granted == len(outcome.incentives) == sum(d.granted for d in decided.decisions) == 3
    assert {d.incentive_id for d in decided.decisions if d.granted} == {i.incentive_id for i in outcome.incentives}


def test_a_three_year_project_grants_each_incentive_once_at_its_first_passing_review() -> None:
    grant = opened_grant(150_000, months=36).grant
    granted, reasons = [], []
    for year, grade in ((2019, "qualified"), (2020, "excellent"), (2021, "qualified")):
        outcome = consequences_of(review(grade, f"RV-{year}").model_copy(update={"year": year}), grant, POLICY, NOW)
        assert outcome.release is not None, "the money still follows each year"
        assert outcome.incentives_decided is not None
        granted.append({(i.expert_id, i.kind) for i in outcome.incentives})
        reasons.append(decision(outcome.incentives_decided, "本地骨干丙", PRIORITY).reason)
        grant = outcome.grant
    assert granted == [{("EXP-m1", EARLY), ("EXP-l1", EARLY), ("EXP-l1", PRIORITY)}, set(), set()]
    assert reasons[1:] == ["本服务期已获得（项目 P-500240-2019-001）"] * 2
    assert grant.incentives_granted == {("EXP-m1", EARLY), ("EXP-l1", EARLY), ("EXP-l1", PRIORITY)}


def test_incentive_ids_are_one_per_person_kind_and_project_whichever_review_grants_them() -> None:
    first = consequences_of(review("qualified", "RV-2019"), opened_grant(150_000, months=24).grant, POLICY, NOW)
    assert {i.incentive_id for i in first.incentives} == {
        "I-500240-2019-001-EXP-m1-title",
        "I-500240-2019-001-EXP-l1-title",
        "I-500240-2019-001-EXP-l1-talent",
    }
    assert {i.review_id for i in first.incentives} == {"RV-2019"}


def test_a_project_failed_in_its_first_year_grants_its_incentives_at_its_first_passing_review() -> None:
    grant = opened_grant(150_000, months=24).grant
    failed = consequences_of(review("unqualified", "RV-2019"), grant, POLICY, NOW)
    assert failed.incentives == ()
    assert failed.incentives_decided is not None and failed.incentives_decided.grade == "unqualified"
    assert not any(d.granted for d in failed.incentives_decided.decisions)
    passed = consequences_of(
        review("qualified", "RV-2020").model_copy(update={"year": 2020}), failed.grant, POLICY, NOW
    )
    assert {(i.expert_id, i.kind, i.review_id) for i in passed.incentives} == {
        ("EXP-m1", EARLY, "RV-2020"),
        ("EXP-l1", EARLY, "RV-2020"),
        ("EXP-l1", PRIORITY, "RV-2020"),
    }


# ---- continued support (继续支持) within the envelope --------------------------------------------


def held(order: str, funding_yuan: int, continued_support_of: str | None = None) -> Grant:
    """A held 2019 grant of a one-year 天麻 project of 石柱县."""
    accepted_order = accepted(funding_yuan).model_copy(
        update={
            "order_id": order,
            "project_id": f"P-{order}",
            "continued_support_of": continued_support_of,
            "service_period": ServicePeriod(start=date(2019, 7, 1), months=12),
        }
    )
    return new_grant(accepted_order, POLICY)


def test_a_continued_support_grant_records_the_project_it_continues_and_is_held_like_any_other() -> None:
    grant = held("500240-2019-002", 150_000, continued_support_of="P-500240-2019-001")
    assert (grant.continued_support_of, grant.budget_year) == ("P-500240-2019-001", 2019)
    answer = decide_envelope(grant, envelope_fen=1_000_000 * YUAN, committed_fen=900_000 * YUAN, now=NOW)
    assert isinstance(answer, GrantHeld), "no extra money: the same envelope as every grant of its year"
    assert answer.continued_support_of == "P-500240-2019-001"
    assert "100,000.00 元 left" in answer.reason


def test_held_continued_support_grants_open_first_when_the_envelope_is_raised() -> None:
    first_held = held("500240-2019-011", 150_000)
    continued = held("500240-2019-012", 150_000, continued_support_of="P-500240-2019-001")
    small = held("500240-2019-013", 50_000)
    assert [g.order_id for g in opening_order([first_held, continued, small])] == [
        "500240-2019-012",
        "500240-2019-011",
        "500240-2019-013",
    ]
    opened = open_held(
        [first_held, continued, small], envelope_fen=1_000_000 * YUAN, committed_fen=800_000 * YUAN, now=NOW
    )
    assert [o.grant.order_id for o in opened] == ["500240-2019-012", "500240-2019-013"], (
        "200,000 元 left: the continued-support grant first, then the first held grant does not fit, the small one does"
    )
    assert [o.opened.continued_support_of for o in opened] == ["P-500240-2019-001", None]
    assert all(o.grant.status is GrantStatus.OPEN for o in opened)
    assert [o.released.amount_fen for o in opened] == [7_500_000, 2_500_000]


def test_a_continued_support_grant_that_does_not_fit_leaves_the_room_to_the_others_in_their_order() -> None:
    big = held("500240-2019-021", 200_000, continued_support_of="P-500240-2019-001")
    first = held("500240-2019-022", 60_000)
    second = held("500240-2019-023", 60_000)
    opened = open_held([first, big, second], envelope_fen=1_000_000 * YUAN, committed_fen=880_000 * YUAN, now=NOW)
    assert [o.grant.order_id for o in opened] == ["500240-2019-022", "500240-2019-023"]


@pytest.mark.parametrize("continued_support_of", [None, "P-500240-2019-001"])
def test_continued_support_changes_no_money_rule(continued_support_of: str | None) -> None:
    grant = held("500240-2019-031", 150_000, continued_support_of)
    assert [t.amount_fen for t in grant.tranches] == [7_500_000, 7_500_000]
    assert grant.amount_fen == 150_000 * YUAN
