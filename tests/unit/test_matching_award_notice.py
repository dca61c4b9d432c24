"""The award's public notice (公示), objections to it (异议), continued support (继续支持) and the
experts' titles, without I/O: a 天麻 order of 石柱县 awarded in March 2027."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.matching.domain.assignment import CandidatePair, candidate_pairs, optimal_assignment
from services.matching.domain.awards import (
    Award,
    AwardDecision,
    AwardStatus,
    Objection,
    ObjectionStatus,
    award,
    lodge_objection,
    reject,
    require_undecided,
    take_effect,
    takes_effect,
    uphold,
    void_for_cancellation,
)
from services.matching.domain.model import (
    Application,
    ApplicationStatus,
    Eligibility,
    OrderStatus,
    PublishedOrder,
    receive_application,
    withdraw,
)
from services.matching.domain.profiles import ExpertProfile, OrderProfile, Qualification, TeamProfile
from services.matching.domain.recommend import recommend_teams
from services.matching.domain.scoring import MatchingWeights, score_team
from shared.clock import PROGRAMME_TZ
from shared.contract.events.matching import (
    DecideAwardObjection,
    LodgeAwardObjection,
    TeamApplicationSubmitted,
    TeamComposition,
)
from shared.contract.events.orders import OrderPublished, ServicePeriod
from shared.policy import YUAN, ProgrammePolicy
from shared.rules import RuleBroken
from tests.builders import SHIZHU, WUXI, tianma_demand

POLICY = ProgrammePolicy()
"""The default: 5 working days of public notice."""
NO_PUBLIC_NOTICE = ProgrammePolicy(public_notice_working_days=0)
ORDER_ID = "500240-2027-001"


def chongqing(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PROGRAMME_TZ).astimezone(UTC)


MONDAY = date(2027, 3, 1)
AWARDED_AT = chongqing(MONDAY)
LAST_DAY = date(2027, 3, 8)
"""Five working days after Monday 1 March 2027: Tuesday 2 to Friday 5, and Monday 8 March."""


def person(expert_id: str, name: str, *quals: Qualification, local: str | None = None, **more: object) -> ExpertProfile:
    return ExpertProfile(
        expert_id=expert_id,
        name=name,
        institution="重庆硒旺华宝生物科技有限公司",
        qualifications=frozenset(quals),
        specialties=frozenset({"中药材", "天麻种源繁育"}),
        local_county=local,
        **more,  # type: ignore[arg-type]
    )


GUO = person("EXP-guo", "郭顺星", Qualification.STATE_COUNCIL_ALLOWANCE, title="研究员", title_grade="senior")
ZHONG = person("EXP-zhong", "钟应富", Qualification.CHONGQING_TALENT_SCIENTIST)
MEMBERS = [
    person("EXP-m1", "成员甲", Qualification.POSTDOCTORAL_RESEARCHER, title="助理研究员", title_grade="intermediate"),
    person("EXP-m2", "成员乙", Qualification.YOUNG_TALENT),
    person("EXP-m3", "成员丙", Qualification.POSTDOCTORAL_RESEARCHER),
    person("EXP-m4", "成员丁", Qualification.YOUNG_TALENT),
]
LOCALS = [
    person(
        "EXP-l1", "保合村骨干", Qualification.LOCAL_BACKBONE, local=SHIZHU, title="农艺师", title_grade="intermediate"
    ),
    person("EXP-l2", "洗新乡骨干", Qualification.LOCAL_BACKBONE, local=SHIZHU),
]
EVERYONE = {e.expert_id: e for e in (GUO, ZHONG, *MEMBERS, *LOCALS)}


def tianma_order() -> PublishedOrder:
    return PublishedOrder.from_event(
        OrderPublished(
            order_id=ORDER_ID,
            demand=tianma_demand(),
            call="2027年第一批",
            published_by="市人力社保局",
            published_at=chongqing(date(2027, 2, 1)),
        )
    )


GUO_TEAM = TeamComposition(
    team_id="TEAM-guo",
    name="郭顺星团队",
    lead_expert_id="EXP-guo",
    member_expert_ids=("EXP-m1", "EXP-m2"),
    local_talent_expert_ids=("EXP-l1",),
)
ZHONG_TEAM = TeamComposition(
    team_id="TEAM-zhong",
    name="钟应富团队",
    lead_expert_id="EXP-zhong",
    member_expert_ids=("EXP-m3", "EXP-m4"),
    local_talent_expert_ids=("EXP-l2",),
)


def free(**changes: object) -> Eligibility:
    values: dict[str, object] = {
        "experts": EVERYONE,
        "on_active_teams": set(),
        "suspended": set(),
        "pending_teams_for_order": set(),
    }
    return Eligibility(**(values | changes))  # type: ignore[arg-type]


def submission(application_id: str, team: TeamComposition, **changes: object) -> TeamApplicationSubmitted:
    values: dict[str, object] = {
        "application_id": application_id,
        "order_id": ORDER_ID,
        "team": team,
        "plan": "建设天麻繁育示范园，培训本地骨干",
        "site": "洗新乡保合村天麻示范园",
        "service_period": ServicePeriod(start=date(2027, 4, 1), months=24),
        "funding_asked_fen": 150_000 * YUAN,
    }
    return TeamApplicationSubmitted(**(values | changes))


def applied(application_id: str, team: TeamComposition, **changes: object) -> Application:
    application, _ = receive_application(
        submission(application_id, team, **changes),
        tianma_order(),
        free(continued_support={"P-500240-2026-007"}),
        POLICY,
        chongqing(date(2027, 2, 15)),
    )
    return application


GUO_APP = applied("APP-guo", GUO_TEAM)
ZHONG_APP = applied("APP-zhong", ZHONG_TEAM)


def awarded_to_guo(policy: ProgrammePolicy = POLICY, at: datetime = AWARDED_AT) -> AwardDecision:
    return award(tianma_order(), ORDER_ID, GUO_APP, (GUO_APP, ZHONG_APP), free(), "市人力社保局", policy, at)


def objection_request(objection_id: str = "OBJ-1", application_id: str = "APP-zhong") -> LodgeAwardObjection:
    return LodgeAwardObjection(
        objection_id=objection_id,
        order_id=ORDER_ID,
        application_id=application_id,
        grounds="郭顺星团队成员甲同时申报了另一订单，人员不固定",
        lodged_by="钟应富",
    )


def lodged(
    decision: AwardDecision, at: datetime = AWARDED_AT + timedelta(days=2), **request: str
) -> tuple[Objection, Award]:
    (declined_zhong, _), *_ = decision.declined
    objection, _ = lodge_objection(objection_request(**request), decision.award, declined_zhong, None, (), at)
    return objection, decision.award


def decision_on(objection_id: str = "OBJ-1", *, upheld: bool) -> DecideAwardObjection:
    return DecideAwardObjection(
        objection_id=objection_id,
        order_id=ORDER_ID,
        upheld=upheld,
        reason="经新专家组复核" + ("，异议成立" if upheld else "，异议不成立"),
        decided_by="市人力社保局",
    )


def refused(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(RuleBroken) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value.rule


# ---- the notice ----------------------------------------------------------------------------------


def test_an_award_is_publicly_noticed_for_five_chongqing_working_days_and_the_other_applicant_is_declined() -> None:
    decision = awarded_to_guo()

    announced = decision.announced
    assert announced is not None and decision.accepted is None, "no TeamAccepted before the notice ends"
    assert (announced.announced_on, announced.notice_ends_on) == (MONDAY, LAST_DAY)
    assert (announced.team_name, announced.lead_name) == ("郭顺星团队", "郭顺星")
    assert announced.lead_institution == "重庆硒旺华宝生物科技有限公司"
    assert announced.place.village == "保合村" and announced.site == "洗新乡保合村天麻示范园"
    assert announced.project_id == "P-500240-2027-001" and announced.title == "保合村天麻种源繁育"
    assert "members" not in announced.model_dump(), "the public list shows the lead, not every person"
    assert decision.order.status is OrderStatus.UNDER_NOTICE
    assert decision.awarded.status is ApplicationStatus.AWARDED
    assert decision.award.status is AwardStatus.UNDER_NOTICE
    ((zhong, declined),) = decision.declined
    assert zhong.status is ApplicationStatus.DECLINED
    assert "公示至 2027-03-08" in declined.reason


def test_a_notice_over_the_national_day_holiday_counts_only_working_days() -> None:
    wednesday = chongqing(date(2027, 9, 29))
    decision = awarded_to_guo(at=wednesday)

    assert decision.announced is not None
    # 30 September, then 国庆 1-3 October (Friday to Sunday), then 4 to 7 October
    assert decision.announced.notice_ends_on == date(2027, 10, 7)


def test_without_a_public_notice_the_team_is_accepted_at_once() -> None:
    decision = awarded_to_guo(NO_PUBLIC_NOTICE)

    assert decision.announced is None
    assert decision.accepted is not None and decision.accepted.team_id == "TEAM-guo"
    assert decision.order.status is OrderStatus.AWARDED
    assert decision.award.status is AwardStatus.ACCEPTED
    assert "订单已由 郭顺星团队 承接" in decision.declined[0][1].reason


def test_the_award_takes_effect_the_day_after_the_notice_ends_unless_an_objection_is_pending() -> None:
    noticed = awarded_to_guo().award

    assert not takes_effect(noticed, 0, LAST_DAY), "the last day still belongs to the notice"
    assert takes_effect(noticed, 0, LAST_DAY + timedelta(days=1))
    assert not takes_effect(noticed, 1, LAST_DAY + timedelta(days=10)), "a pending objection holds it"
    assert not takes_effect(replace(noticed, status=AwardStatus.ACCEPTED), 0, LAST_DAY + timedelta(days=1))


def test_taking_effect_emits_team_accepted_with_the_experts_titles_and_binds_the_order() -> None:
    decision = awarded_to_guo()
    the_day_after = chongqing(LAST_DAY + timedelta(days=1), 0, 5)

    effect = take_effect(decision.award, decision.order, decision.awarded, EVERYONE, the_day_after)

    accepted = effect.event
    assert accepted.accepted_at == the_day_after
    assert (accepted.lead.title, accepted.lead.title_grade) == ("研究员", "senior")
    assert [m.title_grade for m in accepted.members] == ["intermediate", None]
    assert [(t.title, t.title_grade) for t in accepted.local_talents] == [("农艺师", "intermediate")]
    assert (effect.order.status, effect.accepted.status, effect.award.status) == (
        OrderStatus.AWARDED,
        ApplicationStatus.ACCEPTED,
        AwardStatus.ACCEPTED,
    )
    with pytest.raises(ValueError, match="is accepted"):
        take_effect(effect.award, effect.order, effect.accepted, EVERYONE, the_day_after)


def test_a_second_award_or_a_new_application_while_the_award_is_under_notice_is_refused() -> None:
    decision = awarded_to_guo()
    under_notice = decision.order

    assert (
        refused(award, under_notice, ORDER_ID, ZHONG_APP, (), free(), "市人力社保局", POLICY, AWARDED_AT)
        == "award_under_notice"
    )
    late = submission("APP-late", ZHONG_TEAM)
    assert refused(receive_application, late, under_notice, free(), POLICY, AWARDED_AT) == "award_under_notice"


def test_an_application_whose_award_is_under_notice_cannot_be_withdrawn() -> None:
    assert refused(withdraw, awarded_to_guo().awarded, "另有安排", AWARDED_AT) == "application_already_decided"


# ---- objections ----------------------------------------------------------------------------------


def test_a_declined_applicant_may_object_until_the_end_of_the_notices_last_day_in_chongqing() -> None:
    decision = awarded_to_guo()
    (declined_zhong, _), *_ = decision.declined
    late_evening = chongqing(LAST_DAY, 23, 30)  # 15:30 UTC: still the last day in Chongqing
    just_after = chongqing(LAST_DAY + timedelta(days=1), 0, 10)  # 16:10 UTC on the 8th, the 9th in Chongqing

    objection, event = lodge_objection(objection_request(), decision.award, declined_zhong, None, (), late_evening)

    assert objection.status is ObjectionStatus.PENDING
    assert (event.team_id, event.awarded_application_id, event.notice_ends_on) == ("TEAM-zhong", "APP-guo", LAST_DAY)
    assert (
        refused(lodge_objection, objection_request(), decision.award, declined_zhong, None, (), just_after)
        == "notice_period_over"
    )


def test_only_an_applicant_the_award_declined_may_object() -> None:
    decision = awarded_to_guo()
    at = AWARDED_AT + timedelta(days=1)
    other_order = replace(ZHONG_APP, order_id="500238-2027-003", status=ApplicationStatus.DECLINED)
    withdrawn = replace(ZHONG_APP, status=ApplicationStatus.WITHDRAWN)

    for objector in (decision.awarded, other_order, withdrawn, None):
        assert (
            refused(lodge_objection, objection_request(), decision.award, objector, None, (), at) == "not_an_applicant"
        )


def test_one_objection_per_id_and_per_applicant() -> None:
    decision = awarded_to_guo()
    objection, the_award = lodged(decision)
    declined_zhong = decision.declined[0][0]
    at = AWARDED_AT + timedelta(days=3)

    assert (
        refused(lodge_objection, objection_request(), the_award, declined_zhong, objection, (objection,), at)
        == "objection_exists"
    )
    again = objection_request("OBJ-2")
    assert refused(lodge_objection, again, the_award, declined_zhong, None, (objection,), at) == "objection_exists"


def test_there_is_nothing_to_object_to_without_an_award_under_notice() -> None:
    declined_zhong = replace(ZHONG_APP, status=ApplicationStatus.DECLINED)
    at = AWARDED_AT + timedelta(days=1)
    no_notice = awarded_to_guo(NO_PUBLIC_NOTICE).award
    revoked = replace(awarded_to_guo().award, status=AwardStatus.REVOKED)

    for the_award in (None, no_notice, revoked):
        assert (
            refused(lodge_objection, objection_request(), the_award, declined_zhong, None, (), at)
            == "award_not_under_notice"
        )


def test_an_upheld_objection_revokes_the_award_reopens_the_order_and_moots_the_other_objections() -> None:
    decision = awarded_to_guo()
    objection, the_award = lodged(decision)
    other = replace(objection, objection_id="OBJ-2", application_id="APP-third")
    applications = (decision.awarded, *(a for a, _ in decision.declined))
    decided_at = AWARDED_AT + timedelta(days=4)

    revocation = uphold(
        objection, the_award, decision.order, applications, (objection, other), decision_on(upheld=True), decided_at
    )

    assert revocation.award.status is AwardStatus.REVOKED
    assert (revocation.order.status, revocation.order.awarded_application_id) == (OrderStatus.OPEN, None)
    assert {a.application_id: a.status for a in revocation.applications} == {
        "APP-guo": ApplicationStatus.PENDING,
        "APP-zhong": ApplicationStatus.PENDING,
    }
    assert [(o.objection_id, o.status) for o in revocation.objections] == [
        ("OBJ-1", ObjectionStatus.UPHELD),
        ("OBJ-2", ObjectionStatus.MOOT),
    ]
    event = revocation.event
    assert (event.application_id, event.team_id, event.objection_id) == ("APP-guo", "TEAM-guo", "OBJ-1")
    assert set(event.reopened_application_ids) == {"APP-guo", "APP-zhong"}
    assert event.moot_objection_ids == ("OBJ-2",)


def test_after_a_revocation_the_order_is_awarded_anew_with_a_new_notice() -> None:
    decision = awarded_to_guo()
    objection, the_award = lodged(decision)
    applications = (decision.awarded, *(a for a, _ in decision.declined))
    revocation = uphold(
        objection, the_award, decision.order, applications, (objection,), decision_on(upheld=True), AWARDED_AT
    )
    zhong, guo = (next(a for a in revocation.applications if a.application_id == i) for i in ("APP-zhong", "APP-guo"))
    a_week_later = chongqing(date(2027, 3, 10))

    again = award(
        revocation.order, ORDER_ID, zhong, (zhong, guo), free(), "市人力社保局", POLICY, a_week_later, previous_awards=1
    )

    assert again.announced is not None and again.announced.team_id == "TEAM-zhong"
    assert again.announced.notice_ends_on == date(2027, 3, 17)
    assert (again.award.round, again.award.award_id) == (2, "500240-2027-001#2")
    assert [a.application_id for a, _ in again.declined] == ["APP-guo"], "the revoked team is declined this time"


def test_a_rejected_objection_lets_the_award_take_effect_at_the_notices_end_or_at_once_if_it_ended() -> None:
    decision = awarded_to_guo()
    objection, the_award = lodged(decision)
    other = replace(objection, objection_id="OBJ-2", application_id="APP-third")

    during = reject(objection, the_award, (objection,), decision_on(upheld=False), chongqing(LAST_DAY))
    after = reject(objection, the_award, (objection,), decision_on(upheld=False), chongqing(date(2027, 3, 12)))
    another_pending = reject(
        objection, the_award, (objection, other), decision_on(upheld=False), chongqing(date(2027, 3, 12))
    )

    assert during.objection.status is ObjectionStatus.REJECTED
    assert during.event.notice_ends_on == LAST_DAY
    assert (during.takes_effect, after.takes_effect, another_pending.takes_effect) == (False, True, False)


def test_an_objection_is_decided_once_and_only_for_its_order() -> None:
    decision = awarded_to_guo()
    objection, _ = lodged(decision)

    assert require_undecided(objection, decision_on(upheld=True)) == objection
    assert refused(require_undecided, None, decision_on(upheld=True)) == "unknown_objection"
    elsewhere = replace(objection, order_id="500238-2027-003")
    assert refused(require_undecided, elsewhere, decision_on(upheld=True)) == "unknown_objection"
    for status in (ObjectionStatus.UPHELD, ObjectionStatus.REJECTED, ObjectionStatus.MOOT):
        decided = replace(objection, status=status)
        assert refused(require_undecided, decided, decision_on(upheld=False)) == "objection_already_decided"


def test_cancelling_the_order_during_the_notice_voids_the_award_and_declines_the_awarded_team() -> None:
    decision = awarded_to_guo()
    objection, the_award = lodged(decision)

    revocation, declined = void_for_cancellation(
        the_award,
        decision.order,
        decision.awarded,
        (objection,),
        "订单已取消：村委会另行安排",
        "市人力社保局",
        AWARDED_AT,
    )

    assert revocation.order.status is OrderStatus.CANCELLED
    assert revocation.event.objection_id is None and revocation.event.reopened_application_ids == ()
    assert revocation.event.moot_objection_ids == ("OBJ-1",)
    assert (declined.application_id, declined.reason) == ("APP-guo", "订单已取消：村委会另行安排")


# ---- continued support (继续支持) ----------------------------------------------------------------


def test_continued_support_is_accepted_only_through_a_project_the_team_is_eligible_through() -> None:
    continuing = submission("APP-cont", GUO_TEAM, continued_support_of="P-500240-2026-007")
    received_on = chongqing(date(2027, 2, 15))

    application, receipt = receive_application(
        continuing, tianma_order(), free(continued_support={"P-500240-2026-007"}), POLICY, received_on
    )

    assert application.continued_support_of == receipt.continued_support_of == "P-500240-2026-007"
    assert (
        refused(receive_application, continuing, tianma_order(), free(), POLICY, received_on)
        == "not_eligible_for_continued_support"
    )
    other_project = free(continued_support={"P-500238-2026-002"})
    assert (
        refused(receive_application, continuing, tianma_order(), other_project, POLICY, received_on)
        == "not_eligible_for_continued_support"
    )
    _, plain = receive_application(submission("APP-plain", GUO_TEAM), tianma_order(), free(), POLICY, received_on)
    assert plain.continued_support_of is None


def test_the_award_list_and_team_accepted_carry_the_continued_support() -> None:
    continuing = applied("APP-cont", GUO_TEAM, continued_support_of="P-500240-2026-007")

    decision = award(tianma_order(), ORDER_ID, continuing, (continuing,), free(), "市人力社保局", POLICY, AWARDED_AT)
    effect = take_effect(decision.award, decision.order, decision.awarded, EVERYONE, chongqing(date(2027, 3, 9)))

    assert decision.announced is not None
    assert decision.announced.continued_support_of == effect.event.continued_support_of == "P-500240-2026-007"


TIANMA = OrderProfile(order_id=ORDER_ID, county_code=SHIZHU, industry="中药材", needs=frozenset({"天麻种源繁育"}))
WEIGHTS = MatchingWeights()


def twin_team(team_id: str, local_county: str = SHIZHU) -> TeamProfile:
    """Teams alike in everything the score sees: equal scores for the 天麻 order."""
    return TeamProfile(
        team_id=team_id,
        name=f"{team_id}团队",
        lead=person(f"{team_id}-lead", "领衔", Qualification.STATE_COUNCIL_ALLOWANCE),
        members=(person(f"{team_id}-m", "成员", Qualification.YOUNG_TALENT),),
        local_talents=(person(f"{team_id}-l", "骨干", Qualification.LOCAL_BACKBONE, local=local_county),),
    )


def test_among_teams_of_equal_score_the_continued_support_team_is_recommended_first_and_says_why() -> None:
    teams = [twin_team("T-first"), twin_team("T-second"), twin_team("T-continuing")]
    assert len({score_team(TIANMA, t, WEIGHTS).score for t in teams}) == 1, "a true tie"

    (ranked,) = recommend_teams([TIANMA], teams, WEIGHTS, continued_support={"T-continuing": "P-500240-2026-007"})
    (plain,) = recommend_teams([TIANMA], teams, WEIGHTS)

    assert [r.candidate_id for r in ranked] == ["T-continuing", "T-first", "T-second"]
    assert [r.candidate_id for r in plain] == ["T-first", "T-second", "T-continuing"]
    assert ranked[0].reasons[-1] == "继续支持：P-500240-2026-007 年度考核优秀，可申请持续资助；同分时优先"
    assert not any("继续支持" in reason for r in ranked[1:] for reason in r.reasons)


def test_continued_support_never_outranks_a_better_score() -> None:
    better, continuing = twin_team("T-better"), twin_team("T-continuing", local_county=WUXI)  # not local: lower

    (ranked,) = recommend_teams([TIANMA], [continuing, better], WEIGHTS, continued_support={"T-continuing": "P-x"})

    assert [r.candidate_id for r in ranked] == ["T-better", "T-continuing"]
    assert ranked[0].score > ranked[1].score


def test_the_optimal_assignment_gives_a_tied_order_to_the_continued_support_application() -> None:
    teams = [twin_team("T-first"), twin_team("T-continuing")]
    allowed = [(ORDER_ID, "T-first"), (ORDER_ID, "T-continuing")]

    pairs = candidate_pairs([TIANMA], teams, allowed, WEIGHTS, {(ORDER_ID, "T-continuing"): "P-500240-2026-007"})
    plan = optimal_assignment([TIANMA], teams, pairs, WEIGHTS)
    plain = optimal_assignment([TIANMA], teams, candidate_pairs([TIANMA], teams, allowed, WEIGHTS), WEIGHTS)

    ((chosen,),) = (plan.pairs,)
    assert chosen.team_id == "T-continuing"
    assert chosen.reasons[-1].startswith("继续支持：P-500240-2026-007")
    assert plan.total_mismatch == plain.total_mismatch, "the tie-break costs no fit"
    assert plain.pairs[0].team_id == "T-first"
    better = [CandidatePair(ORDER_ID, "T-first", 0.1), CandidatePair(ORDER_ID, "T-continuing", 0.1000001, "P-x")]
    assert optimal_assignment([TIANMA], teams, better, WEIGHTS).pairs[0].team_id == "T-first"


def test_the_end_award_notices_timer_runs_as_often_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.matching.handlers import END_AWARD_NOTICES, timers
    from services.matching.settings import load_config

    monkeypatch.setenv("MATCHING_NOTICE_CHECK_EVERY_S", "60")
    monkeypatch.setenv("MATCHING_TOP_K", "5")

    config = load_config()

    assert (config.notice_check_every_s, config.weights.top_k) == (60.0, 5)
    ((timer,),) = (timers(config),)
    assert (timer.name, timer.every_s) == (END_AWARD_NOTICES, 60.0) == ("end-award-notices", 60.0)
