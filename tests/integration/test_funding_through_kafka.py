"""Funding on the real broker and PostgreSQL: grants, releases, the treasury, each review grade's
consequence, incentives as policy (who got what and why not, once per project), continued-support
grants opened first, rectification accepted, rejected or missed, suspensions honoured by matching
and lifted on their date, redelivery, the ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.funding.adapters.invariants import ledger_violations
from shared.clock import FixedClock, local_date
from shared.contract.events.funding import (
    DecideRectification,
    PaymentConfirmed,
    PaymentFailed,
    RectificationReportSubmitted,
    SetBudgetEnvelope,
)
from shared.contract.events.matching import AwardOrder, ExpertRef, TeamAccepted, TitleGrade
from shared.contract.events.orders import ServicePeriod
from shared.contract.events.reviews import ReviewCompleted
from shared.policy import YUAN
from tests.builders import new_id, new_order_id, tianma_demand
from tests.matching_builders import (
    BUREAU,
    PORTAL,
    application,
    new_team,
    publish_tianma_order,
    rejection_of,
)
from tests.waiting import eventually
from tools.client import ProgrammeClient, TopicObserver, about

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

MATCHING = "/services/matching"
REVIEWS = "/services/reviews"
TREASURY = "/treasury/cq-finance"


def team_accepted(
    *,
    funding_yuan: int = 150_000,
    accepted_at: datetime | None = None,
    months: int = 12,
    continued_support_of: str | None = None,
) -> TeamAccepted:
    """A team's acceptance in that year's call (that year's budget) of a project from July (one year
    unless said): 郭顺星 (正高级), a 副高级 member, a member of unknown grade, a 中级 local talent."""
    order_id = new_order_id()
    accepted_at = accepted_at or datetime.now(UTC)

    def ref(name: str, grade: TitleGrade | None = None) -> ExpertRef:
        return ExpertRef(
            expert_id=new_id("EXP"), name=name, institution="重庆硒旺华宝生物科技有限公司", title_grade=grade
        )

    return TeamAccepted(
        project_id=f"P-{order_id}",
        order_id=order_id,
        application_id=new_id("APP"),
        team_id=new_id("TEAM"),
        team_name="郭顺星团队",
        lead=ref("郭顺星", "senior"),
        members=(ref("成员甲", "deputy_senior"), ref("成员乙")),
        local_talents=(ref("本地骨干丙", "intermediate"),),
        place=tianma_demand().place,
        site="洗新乡保合村天麻示范园",
        industry="中药材",
        service_period=ServicePeriod(start=date(accepted_at.year, 7, 1), months=months),
        funding_asked_fen=funding_yuan * YUAN,
        call=f"{accepted_at.year}年第一批",
        awarded_by="市人力社保局",
        accepted_at=accepted_at,
        continued_support_of=continued_support_of,
    )


def completed(accepted: TeamAccepted, grade: str, review_id: str | None = None) -> ReviewCompleted:
    return ReviewCompleted(
        review_id=review_id or new_id("RV"),
        cycle_id="2019",
        year=2019,
        order_id=accepted.order_id,
        project_id=accepted.project_id,
        team_id=accepted.team_id,
        team_name=accepted.team_name,
        lead_expert_id=accepted.lead.expert_id,
        lead_name=accepted.lead.name,
        institution=accepted.lead.institution,
        grade=grade,
        score={"excellent": 94.0, "qualified": 72.5, "unqualified": 40.0}[grade],
        panel_scores=(90.0, 95.0, 97.0),
        indicator_results=(),
        reason="panel mean of 3 scores",
        rule_version="2019.1/rubric-1",
        completed_at=datetime.now(UTC),
    )


async def open_grant(client: ProgrammeClient, observer: TopicObserver, **kwargs: Any) -> TeamAccepted:
    accepted = team_accepted(**kwargs)
    await client.send(accepted, source=MATCHING)
    await observer.wait_for(about(accepted.order_id, "FundingReleased"))
    return accepted


async def balances(funding: Any, grant_id: str) -> dict[str, int]:
    rows = await funding.pool.fetch(
        "SELECT kind, balance_fen FROM account_balances WHERE owner = $1 AND balance_fen <> 0", grant_id
    )
    return {r["kind"]: int(r["balance_fen"]) for r in rows}


async def test_acceptance_opens_a_grant_releases_half_and_the_treasury_confirms(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted = await open_grant(client, observer)
    (opened,) = observer.matching(about(accepted.order_id, "GrantOpened"))
    (released,) = observer.matching(about(accepted.order_id, "FundingReleased"))
    assert opened.data["amount_fen"] == 15_000_000
    assert [t["amount_fen"] for t in opened.data["tranches"]] == [7_500_000, 7_500_000]
    assert released.data["tranche"] == 1
    assert released.data["amount_fen"] == 7_500_000
    assert released.data["payee"]["lead_name"] == "郭顺星"

    await client.send(
        PaymentConfirmed(
            release_id=released.data["release_id"],
            amount_fen=7_500_000,
            payment_reference="CQ-TREAS-0001",
            paid_on=date(2019, 7, 3),
        ),
        source=TREASURY,
    )
    (paid,) = await observer.wait_for(about(accepted.order_id, "ReleasePaid"))
    assert paid.data["payment_reference"] == "CQ-TREAS-0001"
    grant_id = opened.data["grant_id"]
    assert await balances(funding_service, grant_id) == {"committed": 7_500_000, "paid": 7_500_000}
    status = await funding_service.pool.fetchval(
        "SELECT status FROM releases WHERE release_id = $1", released.data["release_id"]
    )
    assert status == "paid"


@pytest.mark.parametrize("grade", ["excellent", "qualified", "unqualified"])
async def test_each_grade_has_its_consequence(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver, grade: str
) -> None:
    accepted = await open_grant(client, observer)
    review = completed(accepted, grade)
    await client.send(review, source=REVIEWS)
    # IncentivesDecided always; IncentiveGranted for 成员甲 (副高级: title) and 本地骨干丙 (中级, local
    # talent: title and priority); ContinuedFundingEligible when excellent
    expected = {"excellent": 5, "qualified": 4, "unqualified": 4}[grade]
    caused = await observer.wait_for(
        lambda o: o.topic.endswith("funding.events") and o.data.get("review_id") == review.review_id, count=expected
    )
    types = sorted(o.type or "" for o in caused)
    grant_id = f"G-{accepted.order_id}"
    assert len(caused) == expected
    (decided,) = [o for o in caused if o.type == "IncentivesDecided"]
    assert decided.subject == accepted.order_id
    assert len(decided.data["decisions"]) == 8
    if grade == "unqualified":
        assert types == ["FundingWithheld", "IncentivesDecided", "RectificationRequired", "TeamSuspended"]
        assert decided.data["granted"] == 0
        (withheld,) = [o for o in caused if o.type == "FundingWithheld"]
        assert withheld.data["amount_fen"] == 7_500_000
        (suspended,) = [o for o in caused if o.type == "TeamSuspended"]
        assert suspended.data["team_id"] == accepted.team_id
        assert suspended.data["lead_expert_id"] == accepted.lead.expert_id
        assert await balances(funding_service, grant_id) == {"released": 7_500_000, "withheld": 7_500_000}
    else:
        await observer.wait_for(about(accepted.order_id, "FundingReleased"), count=2)
        incentives = [
            o for o in observer.seen if o.type == "IncentiveGranted" and o.data["review_id"] == review.review_id
        ]
        member, local = accepted.members[0].expert_id, accepted.local_talents[0].expert_id
        assert sorted((o.subject, o.data["kind"]) for o in incentives) == sorted(
            [
                (member, "early_title_evaluation"),
                (local, "early_title_evaluation"),
                (local, "talent_programme_priority"),
            ]
        )
        assert decided.data["granted"] == 3
        eligible = observer.matching(about(accepted.order_id, "ContinuedFundingEligible"))
        assert len(eligible) == (1 if grade == "excellent" else 0)
        assert await balances(funding_service, grant_id) == {"released": 15_000_000}
        recorded = await funding_service.pool.fetchval(
            "SELECT count(*) FROM incentives WHERE review_id = $1", review.review_id
        )
        assert recorded == 3
    assert await ledger_violations(funding_service.pool) == []


def decided_for(review: ReviewCompleted) -> Any:
    return lambda o: o.type == "IncentivesDecided" and o.data["review_id"] == review.review_id


def granted_for(accepted: TeamAccepted) -> Any:
    return lambda o: o.type == "IncentiveGranted" and o.data["order_id"] == accepted.order_id


async def test_incentives_are_decided_for_everyone_and_granted_once_in_a_two_year_project(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted = await open_grant(client, observer, months=24)
    order, member, local = accepted.order_id, accepted.members[0].expert_id, accepted.local_talents[0].expert_id
    first = completed(accepted, "qualified")
    await client.send(first, source=REVIEWS)
    (decided,) = await observer.wait_for(decided_for(first))
    granted = await observer.wait_for(granted_for(accepted), count=3)
    assert decided.subject == order and decided.data["granted"] == 3
    assert sorted(o.data["incentive_id"] for o in granted) == sorted(
        [f"I-{order}-{member}-title", f"I-{order}-{local}-title", f"I-{order}-{local}-talent"]
    )
    assert {o.subject for o in granted} == {member, local}, "IncentiveGranted stays keyed by the expert"
    why = {(d["expert_name"], d["kind"]): (d["granted"], d["reason"]) for d in decided.data["decisions"]}
    assert why[("郭顺星", "early_title_evaluation")] == (False, "正高级：已是最高职称")
    assert why[("成员乙", "early_title_evaluation")][0] is False
    assert why[("成员乙", "early_title_evaluation")][1].startswith("职称级别未知")
    assert why[("郭顺星", "talent_programme_priority")] == (
        False,
        "领衔专家：not in talent_priority_roles（仅当地人才）",
    )
    assert why[("本地骨干丙", "talent_programme_priority")] == (
        True,
        "2019年度考核合格，本地骨干丙（当地人才，中级）基层服务：优先纳入人才选拔培养项目",
    )

    second = completed(accepted, "excellent").model_copy(update={"year": 2020, "cycle_id": "2020"})
    await client.send(second, source=REVIEWS)
    (again,) = await observer.wait_for(decided_for(second))
    await observer.wait_for(about(order, "FundingReleased"), count=3)  # 40 % + 30 % + 30 %
    await observer.settle(0.3)
    assert again.data["granted"] == 0
    already = [d for d in again.data["decisions"] if d["reason"] == f"本服务期已获得（项目 {accepted.project_id}）"]
    assert sorted((d["expert_id"], d["kind"]) for d in already) == sorted(
        [(member, "early_title_evaluation"), (local, "early_title_evaluation"), (local, "talent_programme_priority")]
    )
    assert len(observer.matching(granted_for(accepted))) == 3, "nothing new in the second year"
    rows = await funding_service.pool.fetch("SELECT review_id FROM incentives WHERE order_id = $1", order)
    assert [r["review_id"] for r in rows] == [first.review_id] * 3
    assert await ledger_violations(funding_service.pool) == []


async def test_a_grant_stored_before_the_incentive_policy_reads_as_unknown_grades_and_its_old_incentives_count(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted = await open_grant(client, observer)
    local = accepted.local_talents[0]
    # the shapes written before migration 0004: people without titles, incentive ids per review
    await funding_service.pool.execute(
        "UPDATE grants SET people = (SELECT jsonb_agg(p - 'title_grade' - 'title') "
        "FROM jsonb_array_elements(people) p) WHERE order_id = $1",
        accepted.order_id,
    )
    await funding_service.pool.execute(
        "INSERT INTO incentives (incentive_id, expert_id, expert_name, kind, project_id, order_id, review_id, grade, "
        "reason, granted_at) VALUES ($1, $2, $3, 'talent_programme_priority', $4, $5, 'RV-before', 'qualified', "
        "'旧规则', now())",
        f"I-RV-before-{local.expert_id}-talent_programme_priority",
        local.expert_id,
        local.name,
        accepted.project_id,
        accepted.order_id,
    )
    review = completed(accepted, "qualified")
    await client.send(review, source=REVIEWS)
    (decided,) = await observer.wait_for(decided_for(review))
    await observer.settle(0.3)
    assert decided.data["granted"] == 0
    assert not observer.matching(granted_for(accepted))
    early = [d for d in decided.data["decisions"] if d["kind"] == "early_title_evaluation"]
    assert {d["title_grade"] for d in early} == {None}
    assert all(d["reason"].startswith("职称级别未知") for d in early)
    (priority,) = [
        d
        for d in decided.data["decisions"]
        if d["expert_id"] == local.expert_id and d["kind"] == "talent_programme_priority"
    ]
    assert priority["reason"] == f"本服务期已获得（项目 {accepted.project_id}）"


async def failed_review(client: ProgrammeClient, observer: TopicObserver) -> tuple[TeamAccepted, ReviewCompleted]:
    """A one-year 天麻 project graded unqualified: 7,500 元 released, 7,500 元 withheld, rectification required."""
    accepted = await open_grant(client, observer)
    review = completed(accepted, "unqualified")
    await client.send(review, source=REVIEWS)
    await observer.wait_for(about(accepted.order_id, "RectificationRequired"))
    return accepted, review


def rectification_report(review: ReviewCompleted) -> RectificationReportSubmitted:
    return RectificationReportSubmitted(
        order_id=review.order_id,
        review_id=review.review_id,
        summary="补种天麻示范园30亩，完成3期技术培训，建立种源档案",
        submitted_by=review.lead_name,
    )


def decision(review: ReviewCompleted, accepted: bool) -> DecideRectification:
    return DecideRectification(
        order_id=review.order_id,
        review_id=review.review_id,
        accepted=accepted,
        reason="整改到位" if accepted else "示范园未恢复，整改不到位",
        decided_by="市人力社保局",
    )


async def grant_row(funding: Any, order_id: str) -> dict[str, Any]:
    row = await funding.pool.fetchrow(
        "SELECT g.status, g.released_tranches, g.withheld_fen, g.forfeited_fen, r.status AS rectification "
        "FROM grants g JOIN rectifications r USING (order_id) WHERE g.order_id = $1",
        order_id,
    )
    return dict(row)


async def test_an_accepted_rectification_releases_the_withheld_tranche(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted, review = await failed_review(client, observer)
    early = await client.send(decision(review, True), source=BUREAU)
    assert (await rejection_of(observer, early.id, "funding"))["reason_code"] == "no_rectification_report"

    await client.send(rectification_report(review), source=PORTAL)
    (recorded,) = await observer.wait_for(about(accepted.order_id, "RectificationReportRecorded"))
    assert recorded.data["submitted_by"] == "郭顺星"
    again = await client.send(rectification_report(review), source=PORTAL)
    assert (await rejection_of(observer, again.id, "funding"))["reason_code"] == "rectification_already_submitted"

    await client.send(decision(review, True), source=BUREAU)
    (decided,) = await observer.wait_for(about(accepted.order_id, "RectificationAccepted"))
    assert decided.data["restored_fen"] == 7_500_000
    released = await observer.wait_for(about(accepted.order_id, "FundingReleased"), count=2)
    assert [(r.data["tranche"], r.data["amount_fen"]) for r in released] == [(1, 7_500_000), (2, 7_500_000)]
    assert released[1].data["reason"] == "2019年度整改通过：第2期资金"
    twice = await client.send(decision(review, False), source=BUREAU)
    assert (await rejection_of(observer, twice.id, "funding"))["reason_code"] == "rectification_already_decided"
    await observer.settle(0.3)
    assert not observer.matching(about(accepted.order_id, "ProjectEnded"))
    assert await grant_row(funding_service, accepted.order_id) == {
        "status": "complete",
        "released_tranches": 2,
        "withheld_fen": 0,
        "forfeited_fen": 0,
        "rectification": "accepted",
    }
    assert await balances(funding_service, f"G-{accepted.order_id}") == {"released": 15_000_000}
    lifted = await funding_service.pool.fetchval(
        "SELECT lifted_at FROM suspensions WHERE review_id = $1", review.review_id
    )
    assert lifted is None, "the suspension stays (暂停1年申报资格)"
    assert await ledger_violations(funding_service.pool) == []


async def test_a_rejected_rectification_ends_the_project_and_forfeits_the_withheld_money(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted, review = await failed_review(client, observer)
    unknown = await client.send(
        rectification_report(review).model_copy(update={"review_id": new_id("RV")}), source=PORTAL
    )
    assert (await rejection_of(observer, unknown.id, "funding"))["reason_code"] == "no_open_rectification"
    await client.send(rectification_report(review), source=PORTAL)
    await observer.wait_for(about(accepted.order_id, "RectificationReportRecorded"))
    await client.send(decision(review, False), source=BUREAU)
    (rejected,) = await observer.wait_for(about(accepted.order_id, "RectificationRejected"))
    (ended,) = await observer.wait_for(about(accepted.order_id, "ProjectEnded"))
    assert rejected.data["reason"] == "示范园未恢复，整改不到位"
    assert ended.data["forfeited_fen"] == 7_500_000
    assert ended.data["reason"] == "rectification rejected: 示范园未恢复，整改不到位"
    assert (ended.data["project_id"], ended.data["team_id"]) == (accepted.project_id, accepted.team_id)
    assert await grant_row(funding_service, accepted.order_id) == {
        "status": "ended",
        "released_tranches": 1,
        "withheld_fen": 0,
        "forfeited_fen": 7_500_000,
        "rectification": "rejected",
    }
    grant_id = f"G-{accepted.order_id}"
    assert await balances(funding_service, grant_id) == {"released": 7_500_000, "forfeited": 7_500_000}
    later = await client.send(
        completed(accepted, "qualified").model_copy(update={"year": 2020, "cycle_id": "2020"}), source=REVIEWS
    )
    assert (await rejection_of(observer, later.id, "funding"))["reason_code"] == "project_ended"
    assert await ledger_violations(funding_service.pool) == []


async def test_no_rectification_report_by_the_deadline_ends_the_project_once(
    funding_service: Any, funding_clock: FixedClock, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted, review = await failed_review(client, observer)
    (required,) = observer.matching(about(accepted.order_id, "RectificationRequired"))
    started = funding_clock.now()
    try:
        funding_clock.set(started + timedelta(days=90))  # the deadline day: still open
        await funding_service.run_timers_once()
        assert await grant_row(funding_service, accepted.order_id) == {
            "status": "withheld",
            "released_tranches": 1,
            "withheld_fen": 7_500_000,
            "forfeited_fen": 0,
            "rectification": "open",
        }
        funding_clock.set(started + timedelta(days=91))
        late = await client.send(rectification_report(review), source=PORTAL)
        assert (await rejection_of(observer, late.id, "funding"))["reason_code"] == "rectification_deadline_passed"
        assert await funding_service.run_timers_once() >= 1, "this project (and any other left unreported) ends"
        (ended,) = await observer.wait_for(about(accepted.order_id, "ProjectEnded"))
        assert ended.data["reason"] == f"no rectification report by {required.data['deadline']}"
        assert ended.data["forfeited_fen"] == 7_500_000
        assert required.envelope is not None and ended.envelope is not None
        assert ended.envelope.causation_id == required.envelope.id
        assert await funding_service.run_timers_once() == 0, "ended once"
        assert await grant_row(funding_service, accepted.order_id) == {
            "status": "ended",
            "released_tranches": 1,
            "withheld_fen": 0,
            "forfeited_fen": 7_500_000,
            "rectification": "missed",
        }
        assert await balances(funding_service, f"G-{accepted.order_id}") == {
            "released": 7_500_000,
            "forfeited": 7_500_000,
        }
        assert await ledger_violations(funding_service.pool) == []
    finally:
        funding_clock.set(started)


async def test_the_same_acceptance_or_review_delivered_twice_moves_money_once(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted = team_accepted()
    first = await client.send(accepted, source=MATCHING)
    await observer.wait_for(about(accepted.order_id, "FundingReleased"))
    await client.send_envelope(first)  # redelivery: same id
    replayed = await client.send(accepted, source=MATCHING)  # a replay with a new id
    assert (await rejection_of(observer, replayed.id, "funding"))["reason_code"] == "grant_exists"

    review = completed(accepted, "qualified")
    sent = await client.send(review, source=REVIEWS)
    await observer.wait_for(about(accepted.order_id, "FundingReleased"), count=2)
    await client.send_envelope(sent)
    again = await client.send(review, source=REVIEWS)
    assert (await rejection_of(observer, again.id, "funding"))["reason_code"] == "review_already_applied"
    await observer.settle(0.3)
    assert len(observer.matching(about(accepted.order_id, "GrantOpened"))) == 1
    assert len(observer.matching(about(accepted.order_id, "FundingReleased"))) == 2
    assert await balances(funding_service, f"G-{accepted.order_id}") == {"released": 15_000_000}
    assert await ledger_violations(funding_service.pool) == []


async def test_a_failed_payment_is_retried_then_escalated_and_a_late_confirmation_still_closes_it(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted = await open_grant(client, observer)
    release_id = f"R-{accepted.order_id}-1"
    for _ in range(3):
        await client.send(PaymentFailed(release_id=release_id, reason="收款账户被冻结"), source=TREASURY)
    (escalated,) = await observer.wait_for(about(accepted.order_id, "PaymentEscalated"))
    retries = observer.matching(about(accepted.order_id, "PaymentRetryRequested"))
    assert [r.data["attempt"] for r in retries] == [2, 3]
    assert escalated.data["attempts"] == 3
    await client.send(
        PaymentConfirmed(
            release_id=release_id, amount_fen=7_500_000, payment_reference="CQ-TREAS-LATE", paid_on=date(2019, 8, 1)
        ),
        source=TREASURY,
    )
    await observer.wait_for(about(accepted.order_id, "ReleasePaid"))
    row = await funding_service.pool.fetchrow(
        "SELECT status, attempts, last_failure FROM releases WHERE release_id = $1", release_id
    )
    assert dict(row) == {"status": "paid", "attempts": 3, "last_failure": "收款账户被冻结"}


async def test_a_grant_over_the_envelope_is_held_until_the_bureau_raises_it(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    year = 2031
    at = datetime(year, 3, 1, tzinfo=UTC)
    await client.send(SetBudgetEnvelope(year=year, amount_fen=100_000 * YUAN, set_by="市人力社保局"), source=BUREAU)
    await observer.wait_for(about(f"budget-{year}", "BudgetEnvelopeSet"))  # another topic than TeamAccepted
    accepted = team_accepted(accepted_at=at)
    await client.send(accepted, source=MATCHING)
    (held,) = await observer.wait_for(about(accepted.order_id, "GrantHeld"))
    assert "needs 150,000.00 元" in held.data["reason"]
    assert not observer.matching(about(accepted.order_id, "FundingReleased"))
    await client.send(SetBudgetEnvelope(year=year, amount_fen=400_000 * YUAN, set_by="市人力社保局"), source=BUREAU)
    (released,) = await observer.wait_for(about(accepted.order_id, "FundingReleased"))
    assert released.data["amount_fen"] == 7_500_000
    lowered = await client.send(
        SetBudgetEnvelope(year=year, amount_fen=100_000 * YUAN, set_by="市人力社保局"), source=BUREAU
    )
    assert (await rejection_of(observer, lowered.id, "funding"))["reason_code"] == "envelope_below_committed"
    envelope = await funding_service.pool.fetchval("SELECT envelope_fen FROM budget_years WHERE year = $1", year)
    assert envelope == 400_000 * YUAN
    assert await ledger_violations(funding_service.pool) == []


async def test_held_continued_support_grants_are_opened_first_when_the_bureau_raises_the_envelope(
    funding_service: Any, funding_clock: FixedClock, client: ProgrammeClient, observer: TopicObserver
) -> None:
    year = 2032
    at = datetime(year, 3, 1, tzinfo=UTC)
    await client.send(SetBudgetEnvelope(year=year, amount_fen=100_000 * YUAN, set_by="市人力社保局"), source=BUREAU)
    await observer.wait_for(about(f"budget-{year}", "BudgetEnvelopeSet"))
    earlier = team_accepted(accepted_at=at)
    await client.send(earlier, source=MATCHING)
    (held_first,) = await observer.wait_for(about(earlier.order_id, "GrantHeld"))
    assert held_first.data["continued_support_of"] is None
    continued = team_accepted(accepted_at=at, continued_support_of=f"P-{new_order_id()}")  # 郭顺星's excellent 天麻
    started = funding_clock.now()
    try:
        funding_clock.advance(timedelta(minutes=1))  # held a minute after the other one
        await client.send(continued, source=MATCHING)
        (held,) = await observer.wait_for(about(continued.order_id, "GrantHeld"))
    finally:
        funding_clock.set(started)
    assert held.data["continued_support_of"] == continued.continued_support_of
    assert held.data["budget_year"] == year, "the same envelope as every grant of its call's year"

    await client.send(SetBudgetEnvelope(year=year, amount_fen=250_000 * YUAN, set_by="市人力社保局"), source=BUREAU)
    (opened,) = await observer.wait_for(about(continued.order_id, "GrantOpened"))
    (released,) = await observer.wait_for(about(continued.order_id, "FundingReleased"))
    await observer.settle(0.3)
    assert opened.data["continued_support_of"] == continued.continued_support_of
    assert released.data["amount_fen"] == 7_500_000
    assert not observer.matching(about(earlier.order_id, "GrantOpened")), (
        "held earlier, but after the continued-support grant only 100,000.00 元 is left of 250,000.00 元"
    )
    rows = await funding_service.pool.fetch(
        "SELECT order_id, status, continued_support_of FROM grants WHERE budget_year = $1", year
    )
    assert {r["order_id"]: (r["status"], r["continued_support_of"]) for r in rows} == {
        earlier.order_id: ("held", None),
        continued.order_id: ("open", continued.continued_support_of),
    }
    committed = await funding_service.pool.fetchval("SELECT committed_fen FROM budget_years WHERE year = $1", year)
    assert committed == 150_000 * YUAN

    await client.send(SetBudgetEnvelope(year=year, amount_fen=300_000 * YUAN, set_by="市人力社保局"), source=BUREAU)
    (later,) = await observer.wait_for(about(earlier.order_id, "GrantOpened"))
    assert later.data["continued_support_of"] is None
    assert await ledger_violations(funding_service.pool) == []


async def test_an_unqualified_team_is_refused_by_matching_until_its_suspension_lifts_on_its_date(
    orders_service: Any,
    matching_service: Any,
    funding_service: Any,
    funding_clock: FixedClock,
    matching_clock: FixedClock,
    client: ProgrammeClient,
    observer: TopicObserver,
) -> None:
    today = local_date(matching_clock.now())
    team = await new_team(client, observer)
    order_id = await publish_tianma_order(client, observer)
    applied = application(order_id, team, service_period=ServicePeriod(start=today, months=12))
    await client.send(applied, source=PORTAL)
    await observer.wait_for(about(order_id, "ApplicationReceived"))
    await client.send(
        AwardOrder(order_id=order_id, application_id=applied.application_id, awarded_by="市人力社保局"), source=BUREAU
    )
    (accepted_event,) = await observer.wait_for(about(order_id, "TeamAccepted"))
    await observer.wait_for(about(order_id, "FundingReleased"))
    accepted = TeamAccepted.model_validate(accepted_event.data)

    await client.send(completed(accepted, "unqualified"), source=REVIEWS)
    (suspension,) = await observer.wait_for(about(team.team_id, "TeamSuspended"))
    next_order = await publish_tianma_order(client, observer)
    refused = await client.send(application(next_order, team), source=PORTAL)
    assert (await rejection_of(observer, refused.id))["reason_code"] == "team_suspended"

    started = (funding_clock.now(), matching_clock.now())
    try:
        funding_clock.advance(timedelta(days=364))
        await funding_service.run_timers_once()  # ends the projects whose rectification deadline passed unreported
        assert await funding_service.run_timers_once() == 0, "not yet due"
        lifted_at = await funding_service.pool.fetchval(
            "SELECT lifted_at FROM suspensions WHERE team_id = $1", team.team_id
        )
        assert lifted_at is None, "not yet due"
        funding_clock.advance(timedelta(days=1))
        assert await funding_service.run_timers_once() >= 1, "due today (with any other team suspended the same day)"
        (lifted,) = await observer.wait_for(about(team.team_id, "SuspensionLifted"))
        assert lifted.data["lifted_on"] == suspension.data["suspended_until"]
        assert suspension.envelope is not None
        assert lifted.envelope is not None and lifted.envelope.causation_id == suspension.envelope.id
        assert await funding_service.run_timers_once() == 0, "lifted once"
        await eventually(  # matching applies SuspensionLifted from funding.events
            lambda: matching_service.pool.fetchval(
                "SELECT count(*) FROM suspensions WHERE suspended_id = $1 AND lifted_at IS NOT NULL", team.team_id
            ),
            "matching lifted the team's suspension",
        )
        matching_clock.advance(timedelta(days=367))  # the 12-month project is over: its people are free
        later = local_date(matching_clock.now())
        retry = await client.send(
            application(next_order, team, service_period=ServicePeriod(start=later, months=12)), source=PORTAL
        )
        (answer,) = await observer.wait_for(lambda o: o.envelope is not None and o.envelope.causation_id == retry.id)
        assert answer.type == "ApplicationReceived", answer.data
    finally:
        funding_clock.set(started[0])
        matching_clock.set(started[1])
