"""The rules of taking an order (接单), without I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.matching.domain.awards import award
from services.matching.domain.model import (
    Application,
    ApplicationStatus,
    Eligibility,
    OrderStatus,
    PublishedOrder,
    close_order,
    receive_application,
    withdraw,
)
from services.matching.domain.profiles import ExpertProfile, Qualification
from shared.contract.events.matching import TeamApplicationSubmitted, TeamComposition
from shared.contract.events.orders import OrderPublished, ServicePeriod
from shared.policy import YUAN, ProgrammePolicy
from shared.rules import RuleBroken
from tests.builders import tianma_demand

NOW = datetime(2019, 6, 10, 2, 0, tzinfo=UTC)
POLICY = ProgrammePolicy()
NO_PUBLIC_NOTICE = ProgrammePolicy(public_notice_working_days=0)
"""The awards of these tests take effect at once (the notice: test_matching_award_notice.py)."""


def expert(expert_id: str, name: str, *quals: Qualification, local: str | None = None) -> ExpertProfile:
    return ExpertProfile(
        expert_id=expert_id,
        name=name,
        institution="重庆硒旺华宝生物科技有限公司",
        qualifications=frozenset(quals),
        specialties=frozenset({"中药材", "天麻种源繁育"}),
        local_county=local,
    )


GUO = expert("EXP-guo", "郭顺星", Qualification.STATE_COUNCIL_ALLOWANCE)
MEMBER_A = expert("EXP-m1", "成员甲", Qualification.POSTDOCTORAL_RESEARCHER)
MEMBER_B = expert("EXP-m2", "成员乙", Qualification.YOUNG_TALENT)
LOCAL = expert("EXP-l1", "本地骨干丙", Qualification.LOCAL_BACKBONE, local="500240")
ELSEWHERE = expert("EXP-l2", "巫溪骨干丁", Qualification.LOCAL_BACKBONE, local="500238")
EVERYONE = {e.expert_id: e for e in (GUO, MEMBER_A, MEMBER_B, LOCAL, ELSEWHERE)}


def tianma_order(**changes: object) -> PublishedOrder:
    published = OrderPublished(
        order_id="500240-2019-001",
        demand=tianma_demand(),
        call="2019年第一批",
        published_by="市人力社保局",
        published_at=NOW,
    )
    order = PublishedOrder.from_event(published)
    return replace(order, **changes)  # type: ignore[arg-type]


def team(**changes: object) -> TeamComposition:
    values: dict[str, object] = {
        "team_id": "TEAM-guo",
        "name": "郭顺星团队",
        "lead_expert_id": "EXP-guo",
        "member_expert_ids": ("EXP-m1", "EXP-m2"),
        "local_talent_expert_ids": ("EXP-l1",),
    }
    return TeamComposition(**(values | changes))


def submission(application_id: str = "APP-1", **changes: object) -> TeamApplicationSubmitted:
    values: dict[str, object] = {
        "application_id": application_id,
        "order_id": "500240-2019-001",
        "team": team(),
        "plan": "建设天麻繁育示范园",
        "site": "洗新乡保合村天麻示范园",
        "service_period": ServicePeriod(start=date(2019, 7, 1), months=24),
        "funding_asked_fen": 150_000 * YUAN,
    }
    return TeamApplicationSubmitted(**(values | changes))


def free(**changes: object) -> Eligibility:
    values: dict[str, object] = {
        "experts": EVERYONE,
        "on_active_teams": set(),
        "suspended": set(),
        "pending_teams_for_order": set(),
    }
    return Eligibility(**(values | changes))  # type: ignore[arg-type]


def refused(**kwargs: object) -> str:
    with pytest.raises(RuleBroken) as caught:
        receive_application(
            kwargs.pop("data", submission()),  # type: ignore[arg-type]
            kwargs.pop("order", tianma_order()),  # type: ignore[arg-type]
            kwargs.pop("eligibility", free()),  # type: ignore[arg-type]
            kwargs.pop("policy", POLICY),  # type: ignore[arg-type]
            NOW,
        )
    return caught.value.rule


def test_a_1_plus_n_plus_1_team_with_a_qualified_lead_and_local_talent_is_received() -> None:
    application, receipt = receive_application(submission(), tianma_order(), free(), POLICY, NOW)
    assert application.status is ApplicationStatus.PENDING
    assert receipt.team_size == 4
    assert receipt.lead.name == "郭顺星"
    assert receipt.lead.qualifications == ("state_council_allowance",)


def test_a_lead_without_a_national_or_municipal_qualification_is_refused() -> None:
    data = submission(team=team(lead_expert_id="EXP-m1", member_expert_ids=("EXP-guo", "EXP-m2")))
    assert refused(data=data) == "lead_not_qualified"


def test_a_team_without_local_talent_of_the_orders_county_is_refused() -> None:
    assert (
        refused(
            data=submission(
                team=team(local_talent_expert_ids=()),
            )
        )
        == "no_local_talent"
    )
    assert refused(data=submission(team=team(local_talent_expert_ids=("EXP-l2",)))) == "local_talent_not_local"


def test_the_minimum_of_local_talents_is_policy() -> None:
    assert refused(policy=ProgrammePolicy(min_local_talents=2, team_size_min=3)) == "no_local_talent"


def test_team_size_outside_policy_is_refused() -> None:
    small = submission(team=team(member_expert_ids=()))
    assert refused(data=small) == "team_size_out_of_range"
    assert refused(policy=ProgrammePolicy(team_size_max=3)) == "team_size_out_of_range"


def test_an_expert_already_on_an_active_team_cannot_join_another() -> None:
    assert refused(eligibility=free(on_active_teams={"EXP-m2"})) == "expert_on_active_team"


def test_a_person_listed_twice_is_refused() -> None:
    assert refused(data=submission(team=team(member_expert_ids=("EXP-m1", "EXP-m1")))) == "duplicate_member"


def test_experts_unknown_to_the_registry_are_refused() -> None:
    assert refused(data=submission(team=team(member_expert_ids=("EXP-m1", "EXP-nobody")))) == "unknown_expert"


def test_a_suspended_team_or_lead_cannot_apply() -> None:
    assert refused(eligibility=free(suspended={"TEAM-guo"})) == "team_suspended"
    assert refused(eligibility=free(suspended={"EXP-guo"})) == "lead_suspended"


def test_only_published_open_orders_take_applications() -> None:
    assert refused(order=None) == "order_not_open"
    assert refused(order=tianma_order(status=OrderStatus.CANCELLED)) == "order_not_open"
    assert refused(order=tianma_order(status=OrderStatus.AWARDED)) == "order_already_awarded"


def test_the_same_team_cannot_apply_twice_for_one_order() -> None:
    assert refused(eligibility=free(pending_teams_for_order={"TEAM-guo"})) == "team_already_applied"


def test_a_service_period_cannot_start_before_today() -> None:
    started = submission(service_period=ServicePeriod(start=date(2019, 6, 9), months=24))
    assert refused(data=started) == "service_start_in_past"


def test_period_and_funding_must_be_within_policy() -> None:
    long = submission(service_period=ServicePeriod(start=date(2019, 7, 1), months=48))
    assert refused(data=long) == "service_period_out_of_range"
    assert refused(data=submission(funding_asked_fen=250_000 * YUAN)) == "funding_out_of_range"


def pending(application_id: str, team_id: str) -> Application:
    application, _ = receive_application(
        submission(application_id, team=team(team_id=team_id)), tianma_order(), free(), POLICY, NOW
    )
    return application


def test_awarding_fixes_site_people_and_period_and_declines_the_other_applications() -> None:
    chosen, other = pending("APP-1", "TEAM-guo"), pending("APP-2", "TEAM-other")
    decision = award(
        tianma_order(), "500240-2019-001", chosen, (chosen, other), free(), "市人力社保局", NO_PUBLIC_NOTICE, NOW
    )
    accepted = decision.accepted
    assert accepted is not None
    assert decision.announced is None, "no public notice: no award list"
    assert accepted.team_id == "TEAM-guo"
    assert accepted.site == "洗新乡保合村天麻示范园"
    assert accepted.place.village == "保合村"
    assert accepted.service_period == ServicePeriod(start=date(2019, 7, 1), months=24)
    assert [m.name for m in accepted.members] == ["成员甲", "成员乙"]
    assert [m.local_county_code for m in accepted.local_talents] == ["500240"]
    assert decision.order.status is OrderStatus.AWARDED
    assert decision.awarded.status is ApplicationStatus.ACCEPTED
    ((declined, event),) = decision.declined
    assert declined.application_id == "APP-2"
    assert declined.status is ApplicationStatus.DECLINED
    assert "郭顺星团队" in event.reason


def test_a_withdrawn_application_cannot_be_awarded() -> None:
    withdrawn, _ = withdraw(pending("APP-1", "TEAM-guo"), "另有安排", NOW)
    with pytest.raises(RuleBroken) as caught:
        award(tianma_order(), "500240-2019-001", withdrawn, (), free(), "市人力社保局", NO_PUBLIC_NOTICE, NOW)
    assert caught.value.rule == "application_withdrawn"


def test_an_awarded_order_cannot_be_awarded_again() -> None:
    with pytest.raises(RuleBroken, match="order_already_awarded"):
        award(
            tianma_order(status=OrderStatus.AWARDED),
            "500240-2019-001",
            pending("APP-1", "T-1"),
            (),
            free(),
            "市人力社保局",
            NO_PUBLIC_NOTICE,
            NOW,
        )


def test_an_expert_who_joined_an_active_team_meanwhile_blocks_the_award() -> None:
    with pytest.raises(RuleBroken, match="expert_on_active_team"):
        award(
            tianma_order(),
            "500240-2019-001",
            pending("APP-1", "TEAM-guo"),
            (),
            free(on_active_teams={"EXP-l1"}),
            "市人力社保局",
            NO_PUBLIC_NOTICE,
            NOW,
        )


def test_a_decided_application_cannot_be_withdrawn() -> None:
    decision = award(
        tianma_order(),
        "500240-2019-001",
        pending("APP-1", "TEAM-guo"),
        (),
        free(),
        "市人力社保局",
        NO_PUBLIC_NOTICE,
        NOW,
    )
    with pytest.raises(RuleBroken, match="application_already_decided"):
        withdraw(decision.awarded, "改变主意", NOW)


def test_cancelling_an_order_declines_its_pending_applications() -> None:
    order, declined = close_order(tianma_order(), (pending("APP-1", "T-1"), pending("APP-2", "T-2")), "订单已取消", NOW)
    assert order.status is OrderStatus.CANCELLED
    assert [a.status for a, _ in declined] == [ApplicationStatus.DECLINED, ApplicationStatus.DECLINED]
