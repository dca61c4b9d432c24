"""During the service period, without I/O: member changes (换人) of the 郭顺星团队 on the 天麻 project
of 石柱县 (500240), the approved amount of an award, the early end and the extension."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.matching.domain.awards import award, require_approved_amount
from services.matching.domain.model import Application, Eligibility, PublishedOrder
from services.matching.domain.profiles import ExpertProfile, Qualification
from services.matching.domain.projects import (
    ChangeStatus,
    MemberChange,
    Membership,
    Project,
    ProjectStatus,
    TeamChecks,
    decide_change,
    end_early,
    ended_by_funding,
    extend,
    request_change,
    require_pending,
)
from shared.clock import PROGRAMME_TZ
from shared.contract.events.matching import (
    DecideMemberChange,
    EndProject,
    ExtendProject,
    RequestMemberChange,
    TeamComposition,
)
from shared.contract.events.orders import OrderPublished, ServicePeriod
from shared.policy import YUAN, ProgrammePolicy
from shared.rules import RuleBroken
from tests.builders import SHIZHU, WUXI, tianma_demand

POLICY = ProgrammePolicy(public_notice_working_days=0)
ORDER_ID = "500240-2027-001"
START = date(2027, 4, 1)


def chongqing(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PROGRAMME_TZ).astimezone(UTC)


def person(expert_id: str, name: str, qualification: Qualification, local: str | None = None) -> ExpertProfile:
    return ExpertProfile(
        expert_id=expert_id,
        name=name,
        institution="重庆硒旺华宝生物科技有限公司",
        qualifications=frozenset({qualification}),
        specialties=frozenset({"中药材", "天麻种源繁育"}),
        local_county=local,
    )


GUO = person("EXP-guo", "郭顺星", Qualification.STATE_COUNCIL_ALLOWANCE)
M1 = person("EXP-m1", "成员甲", Qualification.POSTDOCTORAL_RESEARCHER)
M2 = person("EXP-m2", "成员乙", Qualification.YOUNG_TALENT)
L1 = person("EXP-l1", "保合村骨干", Qualification.LOCAL_BACKBONE, local=SHIZHU)
NEW = person("EXP-new", "成员丙", Qualification.POSTDOCTORAL_RESEARCHER)
L2 = person("EXP-l2", "洗新乡骨干", Qualification.LOCAL_BACKBONE, local=SHIZHU)
WUXI_LOCAL = person("EXP-wx", "红池坝骨干", Qualification.LOCAL_BACKBONE, local=WUXI)
EVERYONE = {e.expert_id: e for e in (GUO, M1, M2, L1, NEW, L2, WUXI_LOCAL)}


def tianma_project(**changes: Any) -> Project:
    values: dict[str, Any] = {
        "project_id": f"P-{ORDER_ID}",
        "order_id": ORDER_ID,
        "team_id": "TEAM-guo",
        "team_name": "郭顺星团队",
        "county_code": SHIZHU,
        "status": ProjectStatus.ACTIVE,
        "service_start": START,
        "service_months": 24,
        "original_months": 24,
        "memberships": (
            Membership("EXP-guo", "lead", START),
            Membership("EXP-m1", "member", START),
            Membership("EXP-m2", "member", START),
            Membership("EXP-l1", "local_talent", START),
        ),
    }
    return Project(**(values | changes))


def asked(**changes: Any) -> RequestMemberChange:
    values: dict[str, Any] = {
        "change_id": "CHG-500240-2027-001-1",
        "order_id": ORDER_ID,
        "kind": "replace",
        "leaving_expert_id": "EXP-m1",
        "joining_expert_id": "EXP-new",
        "effective_from": date(2027, 7, 1),
        "reason": "成员甲调往外省工作",
        "requested_by": "EXP-guo",
    }
    return RequestMemberChange(**(values | changes))


def requested(**changes: Any) -> MemberChange:
    change, _ = request_change(asked(**changes), tianma_project(), None, EVERYONE, chongqing(date(2027, 6, 1)))
    return change


def bureau(approve: bool = True) -> DecideMemberChange:
    return DecideMemberChange(
        change_id="CHG-500240-2027-001-1",
        order_id=ORDER_ID,
        approve=approve,
        reason="同意" if approve else "理由不充分",
        decided_by="市人力社保局",
    )


def checks(on_other_teams: frozenset[str] = frozenset(), suspended: frozenset[str] = frozenset()) -> TeamChecks:
    return TeamChecks(experts=EVERYONE, on_other_teams=on_other_teams, suspended=suspended)


def decided(change: MemberChange, **kw: Any) -> Any:
    approve, policy = kw.pop("approve", True), kw.pop("policy", POLICY)
    return decide_change(change, tianma_project(), bureau(approve), checks(**kw), policy, chongqing(date(2027, 6, 2)))


# ---- member changes ------------------------------------------------------------------------------


def test_a_requested_replacement_names_who_leaves_and_who_joins_in_the_leaving_persons_role() -> None:
    change, event = request_change(asked(), tianma_project(), None, EVERYONE, chongqing(date(2027, 6, 1)))

    assert change.status is ChangeStatus.PENDING
    assert event.leaving is not None and event.leaving.name == "成员甲"
    assert event.joining is not None and event.joining.name == "成员丙"
    assert event.joining_role == "member"
    assert (event.project_id, event.team_id) == (f"P-{ORDER_ID}", "TEAM-guo")


def test_replacing_the_local_talent_keeps_the_local_talent_role_by_default() -> None:
    change = requested(leaving_expert_id="EXP-l1", joining_expert_id="EXP-l2")

    assert change.joining_role == "local_talent"


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"requested_by": "EXP-m2"}, "not_team_lead"),
        ({"kind": "add"}, "change_incomplete"),
        ({"kind": "remove"}, "change_incomplete"),
        ({"leaving_expert_id": "EXP-guo"}, "lead_cannot_leave"),
        ({"leaving_expert_id": "EXP-l2"}, "not_on_team"),
        ({"joining_expert_id": "EXP-nobody"}, "unknown_expert"),
        ({"joining_expert_id": "EXP-m2"}, "duplicate_member"),
        ({"effective_from": date(2029, 4, 1)}, "not_in_service_period"),
        ({"effective_from": date(2027, 3, 31)}, "not_in_service_period"),
        ({"effective_from": date(2027, 5, 31)}, "effective_date_in_past"),
    ],
)
def test_a_request_breaking_a_rule_of_asking_is_refused_at_once(changes: dict[str, Any], rule: str) -> None:
    with pytest.raises(RuleBroken) as refused:
        request_change(asked(**changes), tianma_project(), None, EVERYONE, chongqing(date(2027, 6, 1)))
    assert refused.value.rule == rule


def test_no_change_for_an_order_without_a_project_nor_for_an_ended_one_nor_twice() -> None:
    now = chongqing(date(2027, 6, 1))
    for project, existing, rule in (
        (None, None, "unknown_project"),
        (tianma_project(status=ProjectStatus.UNDER_NOTICE), None, "project_not_active"),
        (tianma_project(status=ProjectStatus.ENDED, ended_on=date(2027, 5, 1)), None, "project_ended"),
        (tianma_project(), requested(), "change_exists"),
    ):
        with pytest.raises(RuleBroken) as refused:
            request_change(asked(), project, existing, EVERYONE, now)
        assert refused.value.rule == rule


def test_an_approved_replacement_gives_the_whole_team_from_its_date() -> None:
    decision = decided(requested())

    assert decision.change.status is ChangeStatus.APPROVED
    approved = decision.approved
    assert approved is not None and decision.refused is None
    assert approved.lead.name == "郭顺星"
    assert [m.name for m in approved.members] == ["成员乙", "成员丙"]
    assert [t.name for t in approved.local_talents] == ["保合村骨干"]
    assert approved.effective_from == date(2027, 7, 1)


def test_the_bureau_may_refuse_a_change() -> None:
    decision = decided(requested(), approve=False)

    assert decision.refused is not None and decision.refused.rule == "bureau_refused"
    assert decision.change.status is ChangeStatus.REFUSED


@pytest.mark.parametrize(
    ("changes", "kw", "rule"),
    [
        ({"kind": "remove", "leaving_expert_id": "EXP-l1", "joining_expert_id": None}, {}, "no_local_talent"),
        (
            {"kind": "remove", "joining_expert_id": None},
            {"policy": ProgrammePolicy(team_size_min=4)},
            "team_size_out_of_range",
        ),
        ({"joining_expert_id": "EXP-wx", "joining_role": "local_talent"}, {}, "local_talent_not_local"),
        ({}, {"on_other_teams": frozenset({"EXP-new"})}, "expert_on_active_team"),
        ({}, {"suspended": frozenset({"EXP-new"})}, "expert_suspended"),
        ({}, {"suspended": frozenset({"TEAM-guo"})}, "team_suspended"),
    ],
)
def test_an_approval_breaking_a_team_rule_refuses_the_change_with_that_rule(
    changes: dict[str, Any], kw: dict[str, Any], rule: str
) -> None:
    decision = decided(requested(**changes), **kw)

    assert decision.approved is None
    assert decision.refused is not None and decision.refused.rule == rule
    assert decision.change.rule == rule


def test_a_team_rule_is_checked_on_the_team_as_it_will_be_from_the_changes_date() -> None:
    """A second local talent joined in May; the first may leave in July."""
    project = tianma_project(
        memberships=(*tianma_project().memberships, Membership("EXP-l2", "local_talent", date(2027, 5, 1)))
    )
    change = requested(kind="remove", leaving_expert_id="EXP-l1", joining_expert_id=None)

    decision = decide_change(change, project, bureau(), checks(), POLICY, chongqing(date(2027, 6, 2)))

    assert decision.approved is not None
    assert [t.name for t in decision.approved.local_talents] == ["洗新乡骨干"]
    assert [m.expert_id for m in project.team_on(date(2027, 4, 30))] == ["EXP-guo", "EXP-m1", "EXP-m2", "EXP-l1"]


def test_a_change_is_decided_once() -> None:
    approved = decided(requested()).change

    with pytest.raises(RuleBroken) as refused:
        require_pending(approved, bureau())
    assert refused.value.rule == "change_already_decided"
    with pytest.raises(RuleBroken) as unknown:
        require_pending(None, bureau())
    assert unknown.value.rule == "unknown_change"


def test_a_change_of_a_project_ended_meanwhile_is_refused_as_project_ended() -> None:
    ended = tianma_project(status=ProjectStatus.ENDED, ended_on=date(2027, 6, 15))

    decision = decide_change(requested(), ended, bureau(), checks(), POLICY, chongqing(date(2027, 6, 2)))

    assert decision.refused is not None and decision.refused.rule == "project_ended"


# ---- the approved amount -------------------------------------------------------------------------


def tianma_application(asked_fen: int = 150_000 * YUAN) -> Application:
    return Application(
        application_id="APP-guo",
        order_id=ORDER_ID,
        team=TeamComposition(
            team_id="TEAM-guo",
            name="郭顺星团队",
            lead_expert_id="EXP-guo",
            member_expert_ids=("EXP-m1", "EXP-m2"),
            local_talent_expert_ids=("EXP-l1",),
        ),
        plan="建设天麻繁育示范园",
        site="洗新乡保合村天麻示范园",
        service_period=ServicePeriod(start=START, months=24),
        funding_asked_fen=asked_fen,
    )


def test_an_approved_amount_below_the_ask_is_carried_on_team_accepted() -> None:
    order = PublishedOrder.from_event(
        OrderPublished(
            order_id=ORDER_ID,
            demand=tianma_demand(),
            call="2027年第一批",
            published_by="市人力社保局",
            published_at=chongqing(date(2027, 2, 1)),
        )
    )
    eligibility = Eligibility(experts=EVERYONE, on_active_teams=set(), suspended=set(), pending_teams_for_order=set())

    decision = award(
        order,
        ORDER_ID,
        tianma_application(),
        (),
        eligibility,
        "市人力社保局",
        POLICY,
        chongqing(date(2027, 3, 1)),
        approved_fen=120_000 * YUAN,
    )

    assert decision.accepted is not None
    assert decision.accepted.approved_fen == 120_000 * YUAN
    assert decision.accepted.funding_asked_fen == 150_000 * YUAN
    assert decision.award.approved_fen == 120_000 * YUAN


@pytest.mark.parametrize("approved_yuan", [160_000, 40_000, 210_000])
def test_an_approved_amount_above_the_ask_or_outside_the_policy_is_refused(approved_yuan: int) -> None:
    with pytest.raises(RuleBroken) as refused:
        require_approved_amount(approved_yuan * YUAN, tianma_application(), POLICY)
    assert refused.value.rule == "approved_amount_out_of_range"


def test_no_approved_amount_means_the_ask_stands() -> None:
    require_approved_amount(None, tianma_application(), POLICY)
    require_approved_amount(150_000 * YUAN, tianma_application(), POLICY)


# ---- the end and the extension -------------------------------------------------------------------


def end(on: date) -> EndProject:
    return EndProject(
        order_id=ORDER_ID, effective_on=on, reason="村里天麻产业转由合作社经营", decided_by="市人力社保局"
    )


def test_a_project_ended_early_frees_everyone_on_its_team_that_day() -> None:
    project = tianma_project(
        memberships=(
            replace(tianma_project().memberships[0]),
            Membership("EXP-m1", "member", START, date(2027, 7, 1)),
            *tianma_project().memberships[2:],
            Membership("EXP-new", "member", date(2027, 7, 1)),
        )
    )

    ended, event = end_early(project, end(date(2027, 9, 1)), chongqing(date(2027, 8, 20)))

    assert ended.status is ProjectStatus.ENDED and ended.ended_on == date(2027, 9, 1)
    assert event.planned_end == date(2029, 4, 1)
    assert set(event.freed_expert_ids) == {"EXP-guo", "EXP-m2", "EXP-l1", "EXP-new"}


@pytest.mark.parametrize(
    ("on", "rule"),
    [
        (date(2027, 8, 19), "effective_date_in_past"),
        (date(2029, 4, 1), "not_in_service_period"),
    ],
)
def test_an_end_in_the_past_or_outside_the_service_period_is_refused(on: date, rule: str) -> None:
    with pytest.raises(RuleBroken) as refused:
        end_early(tianma_project(), end(on), chongqing(date(2027, 8, 20)))
    assert refused.value.rule == rule


def test_an_ended_project_is_not_ended_again_nor_extended() -> None:
    ended = tianma_project(status=ProjectStatus.ENDED, ended_on=date(2027, 9, 1))
    for act in (
        lambda: end_early(ended, end(date(2027, 9, 2)), chongqing(date(2027, 8, 20))),
        lambda: extend(ended, ExtendProject(order_id=ORDER_ID, months=30, reason="延期", decided_by="局"), POLICY),
    ):
        with pytest.raises(RuleBroken) as refused:
            act()
        assert refused.value.rule == "project_ended"


def test_funding_ending_a_project_keeps_the_earliest_end() -> None:
    ended = ended_by_funding(tianma_project(), date(2028, 7, 1))
    assert ended is not None and ended.ended_on == date(2028, 7, 1)
    assert ended_by_funding(ended, date(2028, 8, 1)) is None
    earlier = ended_by_funding(ended, date(2028, 6, 1))
    assert earlier is not None and earlier.ended_on == date(2028, 6, 1)


def test_an_extension_within_policy_lengthens_the_service_period() -> None:
    extended, event = extend(
        tianma_project(),
        ExtendProject(order_id=ORDER_ID, months=30, reason="示范园二期建设", decided_by="市人力社保局"),
        POLICY,
    )

    assert extended.planned_end == date(2029, 10, 1)
    assert (event.service_period.months, event.previous_months) == (30, 24)


@pytest.mark.parametrize(
    ("months", "current", "policy"),
    [
        (24, 24, POLICY),
        (20, 24, POLICY),
        (37, 24, POLICY),
        (30, 24, ProgrammePolicy(max_extension_months=3)),
    ],
)
def test_an_extension_beyond_policy_is_refused(months: int, current: int, policy: ProgrammePolicy) -> None:
    with pytest.raises(RuleBroken) as refused:
        extend(
            tianma_project(service_months=current),
            ExtendProject(order_id=ORDER_ID, months=months, reason="延期", decided_by="市人力社保局"),
            policy,
        )
    assert refused.value.rule == "extension_out_of_range"
