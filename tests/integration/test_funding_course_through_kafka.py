"""Funding on the real broker and PostgreSQL, issue 20: 郭顺星's 石柱县 (500240) 天麻 grant at the amount
the bureau approved below the ask; a project ended early forfeits its unreleased money back to the
envelope (or, by policy, releases the served share) and releases nothing later; an extension spreads
the remaining tranches anew; incentives follow the people on the team after approved member changes.
The ledger's invariants hold after each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from services.funding.adapters.invariants import ledger_violations
from shared.clock import FixedClock, local_date
from shared.contract.events.funding import PaymentConfirmed
from shared.contract.events.matching import ExpertRef, MemberChangeApproved, ProjectEndedEarly, ProjectExtended
from shared.contract.events.orders import ServicePeriod, service_end
from shared.messaging.kafka import ensure_topics
from shared.policy import YUAN, ProgrammePolicy
from shared.runtime.service import ServiceRuntime
from shared.topics import REJECTIONS, all_topics, deadletter, events
from tests.conftest import Infrastructure, running_service
from tests.integration.test_funding_through_kafka import (
    MATCHING,
    REVIEWS,
    TREASURY,
    balances,
    completed,
    open_grant,
    team_accepted,
)
from tests.matching_builders import rejection_of
from tests.signing import KEYRING, OPERATOR
from tools.client import ProgrammeClient, TopicObserver, about

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def ended_early(accepted: Any, on: date) -> ProjectEndedEarly:
    return ProjectEndedEarly(
        order_id=accepted.order_id,
        project_id=accepted.project_id,
        team_id=accepted.team_id,
        ended_on=on,
        planned_end=service_end(accepted.service_period),
        reason="天麻示范园所在地块被征用，需求不再存在",
        decided_by="市人力社保局",
        freed_expert_ids=(accepted.lead.expert_id,),
    )


async def committed(funding: Any, year: int) -> int:
    return int(await funding.pool.fetchval("SELECT committed_fen FROM budget_years WHERE year = $1", year))


async def grant_state(funding: Any, order_id: str) -> dict[str, Any]:
    row = await funding.pool.fetchrow(
        "SELECT status, amount_fen, asked_fen, released_tranches, withheld_fen, forfeited_fen, returned_fen, "
        "served_share_fen, ended_on FROM grants WHERE order_id = $1",
        order_id,
    )
    return dict(row)


async def test_a_grant_opens_at_the_amount_the_bureau_approved_below_the_ask(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted = team_accepted(funding_yuan=150_000).model_copy(update={"approved_fen": 120_000 * YUAN})
    await client.send(accepted, source=MATCHING)
    (released,) = await observer.wait_for(about(accepted.order_id, "FundingReleased"))
    (opened,) = observer.matching(about(accepted.order_id, "GrantOpened"))
    assert (opened.data["asked_fen"], opened.data["amount_fen"]) == (15_000_000, 12_000_000)
    assert [t["amount_fen"] for t in opened.data["tranches"]] == [6_000_000, 6_000_000]
    assert released.data["amount_fen"] == 6_000_000
    state = await grant_state(funding_service, accepted.order_id)
    assert (state["asked_fen"], state["amount_fen"]) == (15_000_000, 12_000_000)
    assert await balances(funding_service, opened.data["grant_id"]) == {"committed": 6_000_000, "released": 6_000_000}
    assert await ledger_violations(funding_service.pool) == []


async def test_a_project_ended_early_forfeits_its_unreleased_money_to_the_envelope_and_releases_nothing_later(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted = await open_grant(client, observer, months=24)  # 60,000 released; 45,000 + 45,000 to come
    year = accepted.service_period.start.year
    before = await committed(funding_service, year)
    on = accepted.service_period.start + timedelta(days=123)
    await client.send(ended_early(accepted, on), source=MATCHING)
    (settled,) = await observer.wait_for(about(accepted.order_id, "GrantSettled"))
    assert settled.data["rule"] == "forfeit"
    assert (settled.data["released_before_fen"], settled.data["released_fen"]) == (6_000_000, 0)
    assert settled.data["forfeited_fen"] == settled.data["returned_to_budget_fen"] == 9_000_000
    assert "天麻示范园所在地块被征用" in settled.data["reason"]
    assert await committed(funding_service, year) == before - 9_000_000, "back to the year's envelope"
    state = await grant_state(funding_service, accepted.order_id)
    assert (state["status"], state["forfeited_fen"], state["returned_fen"], state["ended_on"]) == (
        "ended",
        9_000_000,
        9_000_000,
        on,
    )
    assert await balances(funding_service, f"G-{accepted.order_id}") == {"released": 6_000_000}

    later = await client.send(completed(accepted, "excellent"), source=REVIEWS)
    assert (await rejection_of(observer, later.id, "funding"))["reason_code"] == "project_ended"
    again = await client.send(ended_early(accepted, on), source=MATCHING)
    assert (await rejection_of(observer, again.id, "funding"))["reason_code"] == "project_ended"
    await observer.settle(0.3)
    assert len(observer.matching(about(accepted.order_id, "FundingReleased"))) == 1
    assert await ledger_violations(funding_service.pool) == []


async def test_an_extension_spreads_the_remaining_tranches_over_the_new_service_years(
    funding_service: Any, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted = await open_grant(client, observer)  # one year: 75,000 released, 75,000 after its review
    await client.send(
        ProjectExtended(
            order_id=accepted.order_id,
            project_id=accepted.project_id,
            team_id=accepted.team_id,
            service_period=ServicePeriod(start=accepted.service_period.start, months=24),
            previous_months=12,
            reason="延长服务期，完成天麻种源繁育基地建设",
            decided_by="市人力社保局",
        ),
        source=MATCHING,
    )
    (rescheduled,) = await observer.wait_for(about(accepted.order_id, "GrantRescheduled"))
    assert [(t["amount_fen"], t["service_year"]) for t in rescheduled.data["tranches"]] == [
        (7_500_000, None),
        (3_750_000, 1),
        (3_750_000, 2),
    ]
    assert rescheduled.data["amount_fen"] == 15_000_000 and rescheduled.data["previous_months"] == 12

    await client.send(completed(accepted, "qualified"), source=REVIEWS)
    released = await observer.wait_for(about(accepted.order_id, "FundingReleased"), count=2)
    assert released[-1].data["amount_fen"] == 3_750_000
    assert (await grant_state(funding_service, accepted.order_id))["status"] == "open", "year 2 is still to come"
    second = completed(accepted, "qualified").model_copy(update={"year": 2020, "cycle_id": "2020"})
    await client.send(second, source=REVIEWS)
    released = await observer.wait_for(about(accepted.order_id, "FundingReleased"), count=3)
    assert sum(o.data["amount_fen"] for o in released) == 15_000_000
    assert (await grant_state(funding_service, accepted.order_id))["status"] == "complete"
    assert await ledger_violations(funding_service.pool) == []


async def test_incentives_skip_a_member_who_left_and_include_one_who_joined_on_the_review_date(
    funding_service: Any, funding_clock: FixedClock, client: ProgrammeClient, observer: TopicObserver
) -> None:
    accepted = await open_grant(client, observer)
    leaving = accepted.members[0]  # 成员甲, 副高级: eligible for the early title evaluation
    joining = ExpertRef(
        expert_id=f"{leaving.expert_id}-new", name="成员丁", institution="重庆市农业科学院", title_grade="intermediate"
    )
    left_on = local_date(funding_clock.now()) - timedelta(days=10)
    await client.send(
        MemberChangeApproved(
            change_id=f"CHG-{accepted.order_id}-1",
            order_id=accepted.order_id,
            project_id=accepted.project_id,
            team_id=accepted.team_id,
            kind="replace",
            leaving=leaving,
            joining=joining,
            effective_from=left_on,
            lead=accepted.lead,
            members=(joining, accepted.members[1]),
            local_talents=accepted.local_talents,
            decided_by="市人力社保局",
            reason="成员甲调往外地工作",
        ),
        source=MATCHING,
    )
    # two topics, no order between them: the review (months later in life) waits for the change to apply
    await applied_to_the_team(funding_service, accepted.order_id, joining.expert_id)
    review = completed(accepted, "qualified")
    await client.send(review, source=REVIEWS)
    (decided,) = await observer.wait_for(
        lambda o: o.type == "IncentivesDecided" and o.data["review_id"] == review.review_id
    )
    granted = {(d["expert_id"], d["kind"]) for d in decided.data["decisions"] if d["granted"]}
    local = accepted.local_talents[0].expert_id
    assert granted == {
        (joining.expert_id, "early_title_evaluation"),
        (local, "early_title_evaluation"),
        (local, "talent_programme_priority"),
    }
    gone = [d for d in decided.data["decisions"] if d["expert_id"] == leaving.expert_id]
    assert len(gone) == 2 and not any(d["granted"] for d in gone)
    assert {d["reason"] for d in gone} == {f"{left_on}已离开团队：left the team on {left_on}"}
    incentives = await observer.wait_for(
        lambda o: o.type == "IncentiveGranted" and o.data["review_id"] == review.review_id, count=3
    )
    assert leaving.expert_id not in {o.subject for o in incentives}
    people = await funding_service.pool.fetchval("SELECT people FROM grants WHERE order_id = $1", accepted.order_id)
    left = {p["expert_id"]: (p["joined_on"], p["left_on"]) for p in people}
    assert left[leaving.expert_id] == (None, left_on.isoformat())
    assert left[joining.expert_id] == (left_on.isoformat(), None)
    assert await ledger_violations(funding_service.pool) == []


async def applied_to_the_team(funding_service: Any, order_id: str, expert_id: str, timeout_s: float = 30.0) -> None:
    """Until funding's record of the grant's people has `expert_id` (a member change applied)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        people = await funding_service.pool.fetchval("SELECT people FROM grants WHERE order_id = $1", order_id)
        if any(p["expert_id"] == expert_id for p in people or []):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"funding did not apply the member change of {order_id} within {timeout_s} s")
        await asyncio.sleep(0.1)


# ---- the policy release_served_share, on a funding service of its own ----------------------------------


@dataclass
class ServedShare:
    funding: ServiceRuntime
    client: ProgrammeClient
    seen: TopicObserver


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served_share(
    infrastructure: Infrastructure, run_id: str, database_factory: Any
) -> AsyncIterator[ServedShare]:
    prefix = f"t{run_id}share."
    await ensure_topics(infrastructure.provisioning, all_topics(partitions=3), prefix=prefix)
    watched = [f"{prefix}{t}" for t in (events("funding"), REJECTIONS, deadletter("funding"))]
    async with (
        running_service(
            "funding",
            infrastructure,
            prefix,
            database_factory,
            database="funding_served_share",
            clock=FixedClock(datetime.now(UTC)),
            policy=ProgrammePolicy(early_end_unreleased_money="release_served_share"),
            timers_enabled=False,
        ) as funding,
        ProgrammeClient(
            infrastructure.kafka, topic_prefix=prefix, keyring=KEYRING, enrol=True, operator=OPERATOR
        ) as client,
        TopicObserver(infrastructure.kafka, watched) as seen,
    ):
        yield ServedShare(funding, client, seen)


async def test_with_release_served_share_the_days_served_earn_their_share_of_the_year(
    served_share: ServedShare,
) -> None:
    s = served_share
    accepted = await open_grant(s.client, s.seen, months=24)  # 60,000 released; 45,000 + 45,000 to come
    start = accepted.service_period.start
    on = start + timedelta(days=123)
    days = (date(start.year + 1, start.month, start.day) - start).days
    share = 4_500_000 * 123 // days
    await s.client.send(ended_early(accepted, on), source=MATCHING)
    (settled,) = await s.seen.wait_for(about(accepted.order_id, "GrantSettled"))
    released = await s.seen.wait_for(about(accepted.order_id, "FundingReleased"), count=2)
    assert settled.data["rule"] == "release_served_share"
    assert (settled.data["service_year"], settled.data["days_served"], settled.data["days_in_service_year"]) == (
        1,
        123,
        days,
    )
    assert settled.data["released_fen"] == share
    assert settled.data["forfeited_fen"] == 9_000_000 - share
    assert (released[-1].data["tranche"], released[-1].data["amount_fen"]) == (2, share)
    await s.client.send(
        PaymentConfirmed(
            release_id=released[-1].data["release_id"],
            amount_fen=share,
            payment_reference="CQ-TREAS-SHARE",
            paid_on=on,
        ),
        source=TREASURY,
    )
    await s.seen.wait_for(about(accepted.order_id, "ReleasePaid"))
    assert await balances(s.funding, f"G-{accepted.order_id}") == {"paid": share, "released": 6_000_000}
    state = await grant_state(s.funding, accepted.order_id)
    assert (state["status"], state["served_share_fen"], state["released_tranches"]) == ("ended", share, 1)
    later = await s.client.send(completed(accepted, "qualified"), source=REVIEWS)
    assert (await rejection_of(s.seen, later.id, "funding"))["reason_code"] == "project_ended"
    pool: Any = s.funding.pool
    assert await ledger_violations(pool) == []
