"""Rectification that ends (限期整改), without I/O: the team's report by the deadline, the bureau's
decision (accepted: the withheld year's tranche is released again; rejected: the project ends and
forfeits what was withheld), a missed deadline, the refusals, and the books after each."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from services.funding.domain import ledger
from services.funding.domain.model import (
    Grant,
    GrantStatus,
    Rectification,
    RectificationStatus,
    consequences_of,
    decide_rectification,
    miss_deadline,
    rectification_of,
    submit_rectification_report,
)
from shared.contract.events.funding import DecideRectification, RectificationReportSubmitted
from shared.rules import RuleBroken
from tests.unit.test_funding_rules import NOW, POLICY, opened_grant, review

ORDER = "500240-2019-001"  # 石柱县洗新乡保合村 天麻
DEADLINE = date(2019, 9, 29)  # NOW (2019-07-01 Chongqing) + 90 days


class Books:
    """The ledger as the handlers post it, and the invariants adapters/invariants.py checks."""

    def __init__(self) -> None:
        self.balances: Counter[str] = Counter()

    def post(self, entry: ledger.Entry) -> None:
        for account, amount in entry.lines:
            self.balances[account] += amount

    def of(self, grant_id: str) -> dict[str, int]:
        return {
            account.split(":")[0]: amount
            for account, amount in self.balances.items()
            if account.endswith(f":{grant_id}") and amount
        }

    def assert_consistent(self, grant: Grant) -> None:
        mine = self.of(grant.grant_id)
        assert all(amount >= 0 for amount in mine.values()), mine
        assert sum(mine.values()) == grant.amount_fen, "every fen of the grant is accounted for"
        assert mine.get("withheld", 0) == grant.withheld_fen
        assert mine.get("forfeited", 0) == grant.forfeited_fen
        assert mine.get("released", 0) + mine.get("paid", 0) == grant.released_fen
        if grant.status is GrantStatus.ENDED:
            assert mine.get("committed", 0) == 0 and mine.get("withheld", 0) == 0
        else:
            assert "forfeited" not in mine


def failed_year(months: int = 24) -> tuple[Grant, Rectification, Books]:
    """A two-year 天麻 project: qualified in 2019 (tranche 2 released), unqualified in 2020
    (tranches 3 withheld, with nothing left committed), a rectification required."""
    books = Books()
    opened = opened_grant(150_000, months=months)
    grant = opened.grant
    books.post(ledger.commit(2019, grant.grant_id, grant.amount_fen))
    books.post(ledger.release(grant.grant_id, opened.release.release_id, opened.release.amount_fen))
    if months > 12:
        first = consequences_of(review("qualified", "RV-2019"), grant, POLICY, NOW)
        assert first.release is not None
        books.post(ledger.release(grant.grant_id, first.release[0].release_id, first.release[0].amount_fen))
        grant = first.grant
    failed = consequences_of(review("unqualified", "RV-2020"), grant, POLICY, NOW)
    assert failed.withheld is not None and failed.rectification is not None
    books.post(ledger.withhold(grant.grant_id, "RV-2020", failed.withheld.amount_fen))
    books.assert_consistent(failed.grant)
    return failed.grant, rectification_of(failed.rectification, 2020), books


def report(review_id: str = "RV-2020", order_id: str = ORDER) -> RectificationReportSubmitted:
    return RectificationReportSubmitted(
        order_id=order_id,
        review_id=review_id,
        summary="补种天麻示范园30亩，完成3期技术培训，建立种源档案",
        submitted_by="郭顺星",
    )


def decision(accepted: bool, review_id: str = "RV-2020") -> DecideRectification:
    return DecideRectification(
        order_id=ORDER,
        review_id=review_id,
        accepted=accepted,
        reason="整改到位" if accepted else "示范园未恢复，整改不到位",
        decided_by="市人力社保局",
    )


def chongqing(day: date, hour: int = 12) -> datetime:
    """A moment on a Chongqing calendar day (UTC+8)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


def submitted(grant: Grant, rectification: Rectification) -> Rectification:
    rectification, _ = submit_rectification_report(grant, rectification, report(), chongqing(DEADLINE))
    return rectification


def test_an_accepted_rectification_releases_the_failed_years_tranche_and_keeps_later_years_for_their_reviews() -> None:
    grant, rectification, books = failed_year(months=36)  # 40 % now, 20 % after each of three years
    assert [t.amount_fen for t in grant.tranches] == [6_000_000, 3_000_000, 3_000_000, 3_000_000]
    assert (grant.released_tranches, grant.withheld_fen) == (2, 6_000_000)

    decided = decide_rectification(grant, submitted(grant, rectification), decision(True), NOW)

    assert decided.decided.EVENT_TYPE == "RectificationAccepted"
    assert decided.restored_fen == 6_000_000 and decided.ended is None
    assert decided.release is not None
    release, released = decided.release
    assert (release.tranche, release.amount_fen) == (3, 3_000_000)
    assert released.reason == "2020年度整改通过：第3期资金"
    assert decided.grant.status is GrantStatus.OPEN
    assert (decided.grant.released_tranches, decided.grant.withheld_fen) == (3, 0)
    assert decided.grant.next_tranche is not None and decided.grant.next_tranche.number == 4
    assert decided.rectification.status is RectificationStatus.ACCEPTED

    books.post(ledger.restore(grant.grant_id, "RV-2020", decided.restored_fen))
    books.post(ledger.release(grant.grant_id, release.release_id, release.amount_fen))
    assert books.of(grant.grant_id) == {"committed": 3_000_000, "released": 12_000_000}
    books.assert_consistent(decided.grant)

    last_year = consequences_of(review("qualified", "RV-2021"), decided.grant, POLICY, NOW)
    assert last_year.release is not None and last_year.release[0].tranche == 4
    assert last_year.grant.status is GrantStatus.COMPLETE


def test_an_accepted_rectification_of_a_one_year_project_completes_its_grant() -> None:
    grant, rectification, books = failed_year(months=12)
    decided = decide_rectification(grant, submitted(grant, rectification), decision(True), NOW)
    assert decided.release is not None and decided.release[0].amount_fen == 7_500_000
    assert decided.grant.status is GrantStatus.COMPLETE
    books.post(ledger.restore(grant.grant_id, "RV-2020", decided.restored_fen))
    books.post(ledger.release(grant.grant_id, decided.release[0].release_id, decided.release[0].amount_fen))
    assert books.of(grant.grant_id) == {"released": 15_000_000}
    books.assert_consistent(decided.grant)


def test_a_rejected_rectification_ends_the_project_and_forfeits_what_was_withheld() -> None:
    grant, rectification, books = failed_year()
    decided = decide_rectification(grant, submitted(grant, rectification), decision(False), NOW)
    assert decided.decided.EVENT_TYPE == "RectificationRejected"
    assert decided.release is None and decided.restored_fen == 0
    assert decided.ended is not None
    assert decided.ended.forfeited_fen == 4_500_000
    assert decided.ended.reason == "rectification rejected: 示范园未恢复，整改不到位"
    assert (decided.ended.order_id, decided.ended.team_id) == (ORDER, "TEAM-guo")
    assert decided.grant.status is GrantStatus.ENDED
    assert (decided.grant.withheld_fen, decided.grant.forfeited_fen) == (0, 4_500_000)
    assert decided.rectification.status is RectificationStatus.REJECTED

    books.post(ledger.forfeit(grant.grant_id, "RV-2020", decided.ended.forfeited_fen))
    assert books.of(grant.grant_id) == {"released": 10_500_000, "forfeited": 4_500_000}
    books.assert_consistent(decided.grant)
    with pytest.raises(RuleBroken) as refused:
        consequences_of(review("qualified", "RV-2021"), decided.grant, POLICY, NOW)
    assert refused.value.rule == "project_ended"


def test_no_report_by_the_deadline_ends_the_project_the_day_after_once() -> None:
    grant, rectification, books = failed_year()
    assert miss_deadline(grant, rectification, chongqing(DEADLINE, hour=23)) is None, "the deadline day counts"
    missed = miss_deadline(grant, rectification, chongqing(DEADLINE + timedelta(days=1), hour=0))
    assert missed is not None
    closed, ended_grant, ended = missed
    assert ended is not None
    assert ended.reason == f"no rectification report by {DEADLINE}"
    assert ended.forfeited_fen == 4_500_000
    assert closed.status is RectificationStatus.MISSED
    assert ended_grant.status is GrantStatus.ENDED
    books.post(ledger.forfeit(grant.grant_id, "RV-2020", ended.forfeited_fen))
    books.assert_consistent(ended_grant)
    assert miss_deadline(ended_grant, closed, chongqing(DEADLINE + timedelta(days=2))) is None, "once"


def test_a_submitted_report_is_not_a_missed_deadline() -> None:
    grant, rectification, _ = failed_year()
    assert miss_deadline(grant, submitted(grant, rectification), chongqing(DEADLINE + timedelta(days=30))) is None


def test_a_report_is_recorded_up_to_the_chongqing_deadline_day() -> None:
    grant, rectification, _ = failed_year()
    # 23:30 on the deadline day in Chongqing is still 15:30 UTC of that day; 00:30 the next day is too late
    on_time, recorded = submit_rectification_report(grant, rectification, report(), chongqing(DEADLINE, hour=23))
    assert on_time.status is RectificationStatus.SUBMITTED
    assert (recorded.deadline, recorded.submitted_by, recorded.project_id) == (DEADLINE, "郭顺星", "P-500240-2019-001")
    with pytest.raises(RuleBroken) as refused:
        submit_rectification_report(
            grant, rectification, report(), chongqing(DEADLINE + timedelta(days=1), hour=0) + timedelta(minutes=30)
        )
    assert refused.value.rule == "rectification_deadline_passed"


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        ("no rectification", "no_open_rectification"),
        ("another order's rectification", "no_open_rectification"),
        ("submitted twice", "rectification_already_submitted"),
        ("after the decision", "rectification_already_decided"),
        ("after a missed deadline", "rectification_already_decided"),
    ],
)
def test_a_report_is_refused(case: str, rule: str) -> None:
    grant, rectification, _ = failed_year()
    sent, current = report(), rectification
    if case == "another order's rectification":
        sent = report(order_id="500238-2019-002")
    elif case == "submitted twice":
        current = submitted(grant, rectification)
    elif case == "after the decision":
        current = decide_rectification(grant, submitted(grant, rectification), decision(True), NOW).rectification
    elif case == "after a missed deadline":
        missed = miss_deadline(grant, rectification, chongqing(DEADLINE + timedelta(days=1)))
        assert missed is not None
        current = missed[0]
    with pytest.raises(RuleBroken) as refused:
        submit_rectification_report(grant, None if case == "no rectification" else current, sent, chongqing(DEADLINE))
    assert refused.value.rule == rule


def test_the_bureau_decides_only_a_submitted_report_and_only_once() -> None:
    grant, rectification, _ = failed_year()
    with pytest.raises(RuleBroken) as before_report:
        decide_rectification(grant, rectification, decision(True), NOW)
    assert before_report.value.rule == "no_rectification_report"
    with pytest.raises(RuleBroken) as unknown:
        decide_rectification(grant, None, decision(True), NOW)
    assert unknown.value.rule == "no_open_rectification"

    once = decide_rectification(grant, submitted(grant, rectification), decision(True), NOW)
    for second in (True, False):
        with pytest.raises(RuleBroken) as twice:
            decide_rectification(once.grant, once.rectification, decision(second), NOW)
        assert twice.value.rule == "rectification_already_decided"


def test_restore_and_forfeit_move_withheld_money_and_balance() -> None:
    assert ledger.restore("G-1", "RV-1", 4_500_000).lines == (
        ("withheld:G-1", -4_500_000),
        ("committed:G-1", 4_500_000),
    )
    assert ledger.forfeit("G-1", "RV-1", 4_500_000).lines == (
        ("withheld:G-1", -4_500_000),
        ("forfeited:G-1", 4_500_000),
    )
    with pytest.raises(ValueError, match="positive"):
        ledger.forfeit("G-1", "RV-1", 0)
