"""What a refused sender is told (`RuleBroken.answer`), without I/O: only what the sender may know.

Portal, reviewer and county systems are shared by many people, so the answer to a refusal names no
other person, institution, team, decider or grade; the operator's and auditor's `reason` still does.
The bureau (the programme's authority) is told the whole reason of the rules only it can trigger."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.funding.domain.model import decide_rectification, miss_deadline, submit_rectification_report
from services.matching.domain.awards import require_approved_amount
from services.matching.domain.model import Application, receive_application
from services.matching.domain.profiles import ExpertProfile, Qualification
from services.matching.domain.projects import Membership, decide_change, request_change, team_after
from services.orders.domain.model import Order
from services.reviews.domain.facts import Project as ReviewedProject
from services.reviews.domain.grading import graded
from services.reviews.domain.model import Review, accept_report, complete_if_ready, declare_conflict, record_score
from services.reviews.domain.rubric import ReviewRubric
from services.reviews.domain.service_record import check_activity
from shared.contract.events.funding import DecideRectification
from shared.contract.events.reviews import Reviewer
from shared.policy import YUAN, ProgrammePolicy
from shared.rules import RuleBroken
from tests.builders import SHIZHU, tianma_demand
from tests.reviews_builders import (
    GUO_INSTITUTION,
    activity,
    expert,
    opened_review,
    order_published,
    outcome_report,
    panel_score,
    reviewer,
    team_accepted,
)
from tests.unit import test_funding_rectification as rectification
from tests.unit import test_matching_rules as applying
from tests.unit import test_matching_service_period as changing


def refusal(call: Any, *args: Any) -> RuleBroken:
    with pytest.raises(RuleBroken) as caught:
        call(*args)
    return caught.value


def told_none_of(broken: RuleBroken, *others: str) -> None:
    """The reason (operator, auditor) names the others; the answer (the sender) none of them."""
    assert broken.answer != broken.reason
    assert [o for o in others if o in broken.reason] == list(others), broken.reason
    assert [o for o in others if o in broken.answer] == [], broken.answer


# ---- taking orders and member changes (the application portal) ------------------------------------

WANG = ExpertProfile(
    expert_id="EXP-wang",
    name="王芳",
    institution="重庆大学",
    qualifications=frozenset({Qualification.POSTDOCTORAL_RESEARCHER}),
    specialties=frozenset({"中药材", "天麻种源繁育"}),
    local_county=None,
)


def test_a_lead_without_a_qualification_is_told_by_expert_id_and_the_operator_by_name() -> None:
    submission = applying.submission(team=applying.team(lead_expert_id="EXP-wang"))
    eligibility = applying.free(experts={**applying.EVERYONE, "EXP-wang": WANG})

    broken = refusal(
        receive_application, submission, applying.tianma_order(), eligibility, applying.POLICY, applying.NOW
    )

    assert broken.rule == "lead_not_qualified"
    told_none_of(broken, "王芳")
    assert "EXP-wang" in broken.answer and "博士后" in broken.answer, "what the lead holds, of the sender's own lead"


def test_someone_other_than_the_lead_asking_for_a_change_is_not_told_whose_team_it_is() -> None:
    """The lead of the 钟应富团队 (巫溪县 茶叶) names the 天麻 order of 石柱县 by mistake."""
    request = changing.asked(requested_by="EXP-zhong")

    broken = refusal(request_change, request, changing.tianma_project(), None, changing.EVERYONE, june_first())

    assert broken.rule == "not_team_lead"
    told_none_of(broken, "郭顺星团队")
    assert "EXP-zhong" in broken.answer and changing.ORDER_ID in broken.answer


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"leaving_expert_id": "EXP-l2"}, "not_on_team"),
        ({"leaving_expert_id": "EXP-guo"}, "lead_cannot_leave"),
        ({"joining_expert_id": "EXP-m2"}, "duplicate_member"),
    ],
)
def test_a_lead_asking_for_an_impossible_change_is_told_about_the_team_without_its_name(
    changes: dict[str, Any], rule: str
) -> None:
    broken = refusal(
        request_change, changing.asked(**changes), changing.tianma_project(), None, changing.EVERYONE, june_first()
    )

    assert broken.rule == rule
    told_none_of(broken, "郭顺星团队")


def test_a_joining_expert_on_another_team_is_an_id_in_the_answer_and_a_name_in_the_bureaus_decision() -> None:
    change = changing.requested()  # 成员甲 (EXP-m1) leaves, 成员丙 (EXP-new) joins from 2027-07-01
    checks = changing.checks(on_other_teams=frozenset({"EXP-new"}))

    broken = refusal(team_after, change, changing.tianma_project(), checks, changing.POLICY)

    assert broken.rule == "expert_on_active_team"
    told_none_of(broken, "成员丙")
    assert "EXP-new" in broken.answer
    decision = decide_change(
        change, changing.tianma_project(), changing.bureau(), checks, changing.POLICY, june_first()
    )
    assert decision.refused is not None, "the bureau, who decided, reads the whole reason in MemberChangeRefused"
    assert decision.refused.reason.startswith("成员丙 (EXP-new) is on another active team")


@pytest.mark.parametrize("rule", ["not_on_team", "duplicate_member"])
def test_a_team_changed_since_the_request_is_not_named_in_the_answer(rule: str) -> None:
    """By July 成员甲 has left already (June 15) or 成员丙 has joined (June 20) by another change."""
    people = changing.tianma_project().memberships
    if rule == "not_on_team":
        people = tuple(replace(m, valid_to=date(2027, 6, 15)) if m.expert_id == "EXP-m1" else m for m in people)
    else:
        people = (*people, Membership("EXP-new", "member", date(2027, 6, 20)))

    broken = refusal(
        team_after,
        changing.requested(),
        changing.tianma_project(memberships=people),
        changing.checks(),
        changing.POLICY,
    )

    assert broken.rule == rule
    told_none_of(broken, "郭顺星团队")


def june_first() -> datetime:
    return changing.chongqing(date(2027, 6, 1))


# ---- the yearly review: reviewers and the portal -----------------------------------------------------

GUO = expert("郭顺星", "EXP-guo")
MEMBER = expert("成员甲", "EXP-member", institution="西南大学")
ACCEPTED = team_accepted(
    order_published("500240-2019-001", start=date(2019, 6, 1)),
    lead=GUO,
    members=(MEMBER,),
    local_talents=(expert("本地骨干", "EXP-local", institution="石柱县农业农村委员会"),),
)
NOW = datetime(2020, 1, 10, 2, 0, tzinfo=UTC)
RUBRIC = ReviewRubric()


def scored_by(by: Reviewer, review: Review | None = None) -> RuleBroken:
    cycle, open_review = opened_review(accepted=ACCEPTED)
    score = panel_score(cycle.cycle_id, ACCEPTED.order_id, by, 85)
    return refusal(record_score, review or open_review, cycle, score, RUBRIC, NOW)


def test_a_reviewer_on_the_team_is_not_told_the_teams_name_or_id() -> None:
    broken = scored_by(reviewer("成员甲", "西南大学", reviewer_id="EXP-member"))

    assert broken.rule == "reviewer_in_team"
    told_none_of(broken, "成员甲", "郭顺星团队", ACCEPTED.team_id)
    assert "EXP-member" in broken.answer and ACCEPTED.order_id in broken.answer


def test_a_reviewer_of_the_leads_institution_is_not_told_the_institution() -> None:
    broken = scored_by(reviewer("李明", GUO_INSTITUTION, reviewer_id="REV-li"))

    assert broken.rule == "reviewer_same_institution"
    told_none_of(broken, "李明", GUO_INSTITUTION)
    assert "郭顺星" not in broken.answer and "REV-li" in broken.answer


def test_a_reviewer_who_declared_a_conflict_or_scored_already_is_told_by_id() -> None:
    cycle, open_review = opened_review(accepted=ACCEPTED)
    wang = reviewer("王芳", "重庆市农业科学院", reviewer_id="REV-wang")
    conflicted = declare_conflict(open_review, cycle, wang.reviewer_id)
    zhao = reviewer("赵强", "西南大学", reviewer_id="REV-zhao")
    scored, _ = record_score(open_review, cycle, panel_score("2019", ACCEPTED.order_id, zhao, 80), RUBRIC, NOW)

    declared, twice = scored_by(wang, conflicted), scored_by(zhao, scored)

    assert (declared.rule, twice.rule) == ("reviewer_conflicted", "reviewer_already_scored")
    told_none_of(declared, "王芳")
    told_none_of(twice, "赵强")
    assert "REV-wang" in declared.answer and "REV-zhao" in twice.answer


def test_input_to_a_graded_review_is_refused_without_telling_the_grade_before_it_is_published() -> None:
    cycle, review = opened_review(accepted=ACCEPTED)
    review, _ = accept_report(review, cycle, outcome_report("2019", review.order_id), NOW)
    for _ in range(3):
        review, _ = record_score(review, cycle, panel_score("2019", review.order_id, reviewer(), 75), RUBRIC, NOW)
    ready = complete_if_ready(review, cycle, RUBRIC, ProgrammePolicy(), datetime(2020, 2, 1, 2, 0, tzinfo=UTC))
    assert ready is not None and ready.review.grading is not None
    grade = graded(ready.review.grading.grade)

    late_score = scored_by(reviewer("钱进", "西南大学"), ready.review)
    late_conflict = refusal(declare_conflict, ready.review, cycle, "REV-qian")

    for broken in (late_score, late_conflict):
        assert broken.rule == "review_completed"
        told_none_of(broken, grade)
        assert ready.review.review_id in broken.answer


def test_a_day_on_site_by_someone_not_on_the_team_is_refused_without_the_teams_name() -> None:
    project = ReviewedProject.from_event(ACCEPTED)
    day = date(2019, 9, 2)

    broken = refusal(check_activity, project, activity(ACCEPTED, day, expert_id="EXP-zhong"), date(2019, 10, 1))

    assert broken.rule == "not_on_team_that_day"
    told_none_of(broken, "郭顺星团队")
    assert "EXP-zhong" in broken.answer and ACCEPTED.project_id in broken.answer


# ---- rectification (the portal's report) --------------------------------------------------------------


def test_a_second_rectification_report_does_not_name_who_sent_the_first() -> None:
    grant, open_rectification, _ = rectification.failed_year()
    first = rectification.submitted(grant, open_rectification)  # by 郭顺星
    second = rectification.report().model_copy(update={"submitted_by": "谭家明"})

    broken = refusal(submit_rectification_report, grant, first, second, rectification.chongqing(rectification.DEADLINE))

    assert broken.rule == "rectification_already_submitted"
    told_none_of(broken, "郭顺星")


def test_a_rectification_report_after_the_decision_does_not_name_the_official_who_decided() -> None:
    grant, open_rectification, _ = rectification.failed_year()
    by_official = DecideRectification(
        order_id=rectification.ORDER, review_id="RV-2020", accepted=False, reason="示范园未恢复", decided_by="张伟"
    )
    decided = decide_rectification(grant, rectification.submitted(grant, open_rectification), by_official, NOW)

    broken = refusal(
        submit_rectification_report,
        decided.grant,
        decided.rectification,
        rectification.report(),
        rectification.chongqing(rectification.DEADLINE),
    )

    assert broken.rule == "rectification_already_decided"
    told_none_of(broken, "张伟")
    assert "rejected by the bureau" in broken.answer
    missed = miss_deadline(grant, open_rectification, rectification.chongqing(rectification.DEADLINE + timedelta(1)))
    assert missed is not None
    after_missing = refusal(
        submit_rectification_report,
        grant,
        missed[0],
        rectification.report(),
        rectification.chongqing(rectification.DEADLINE),
    )
    assert after_missing.answer == after_missing.reason, "a missed deadline names no one"


# ---- the bureau reads the whole reason ----------------------------------------------------------------


def test_the_bureau_is_told_the_whole_reason_of_a_rule_only_it_can_break() -> None:
    application = Application(
        application_id="APP-guo",
        order_id="500240-2019-001",
        team=applying.team(),
        plan="建设天麻繁育示范园",
        site="洗新乡保合村天麻示范园",
        service_period=applying.submission().service_period,
        funding_asked_fen=150_000 * YUAN,
    )
    above_the_ask = refusal(require_approved_amount, 180_000 * YUAN, application, ProgrammePolicy())
    order, _ = Order.submit(
        order_id="500240-2019-001",
        demand=tianma_demand(),
        submitted_by="石柱县人力社保局",
        sender_county=SHIZHU,
        policy=ProgrammePolicy(),
        now=NOW,
    )
    not_endorsed = refusal(
        lambda: order.publish(by="市人力社保局", call="2019年第一批", applications_close_on=None, now=NOW)
    )

    assert (above_the_ask.rule, not_endorsed.rule) == ("approved_amount_out_of_range", "not_endorsed")
    assert above_the_ask.answer == above_the_ask.reason and not_endorsed.answer == not_endorsed.reason
