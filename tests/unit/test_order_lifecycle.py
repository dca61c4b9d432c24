"""The order aggregate's rules, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.orders.domain.model import Order, OrderStatus
from shared.contract.events.orders import OrderEndorsed, OrderPublished, OrderSubmitted, ServicePeriod, service_end
from shared.policy import YUAN, ProgrammePolicy
from shared.rules import RuleBroken
from tests.builders import SHIZHU, WUXI, tea_demand, tianma_demand

NOW = datetime(2019, 5, 20, 9, 30, tzinfo=UTC)
POLICY = ProgrammePolicy()


def submitted(order_id: str = "500240-2019-001") -> Order:
    order, _ = Order.submit(
        order_id=order_id,
        demand=tianma_demand(),
        submitted_by="石柱县人力社保局",
        sender_county=SHIZHU,
        policy=POLICY,
        now=NOW,
    )
    return order


def endorsed() -> Order:
    order, _ = submitted().endorse(by="石柱县人力社保局", note=None, sender_county=SHIZHU, now=NOW)
    return order


def test_a_county_submits_a_tianma_demand_and_an_order_is_created() -> None:
    order, event = Order.submit(
        order_id="500240-2019-001",
        demand=tianma_demand(),
        submitted_by="石柱县人力社保局",
        sender_county=SHIZHU,
        policy=POLICY,
        now=NOW,
    )
    assert order.status is OrderStatus.SUBMITTED
    assert order.revision == 1
    assert isinstance(event, OrderSubmitted)
    assert event.order_id == "500240-2019-001"
    assert event.demand.place.village == "保合村"
    assert event.submitted_at == NOW


@pytest.mark.parametrize("yuan", [49_999, 200_001, 0])
def test_funding_asked_outside_50_000_to_200_000_yuan_is_refused(yuan: int) -> None:
    with pytest.raises(RuleBroken) as refused:
        Order.submit(
            order_id="500240-2019-002",
            demand=tianma_demand(funding_asked_fen=yuan * YUAN),
            submitted_by="石柱县",
            sender_county=SHIZHU,
            policy=POLICY,
            now=NOW,
        )
    assert refused.value.rule == "funding_out_of_range"
    assert "200,000.00 元" in refused.value.reason


@pytest.mark.parametrize("yuan", [50_000, 200_000])
def test_funding_at_the_limits_is_accepted(yuan: int) -> None:
    order, _ = Order.submit(
        order_id="500240-2019-003",
        demand=tianma_demand(funding_asked_fen=yuan * YUAN),
        submitted_by="石柱县",
        sender_county=SHIZHU,
        policy=POLICY,
        now=NOW,
    )
    assert order.demand.funding_asked_fen == yuan * YUAN


def test_the_funding_range_is_policy_not_a_constant() -> None:
    strict = ProgrammePolicy(funding_max_fen=100_000 * YUAN)
    with pytest.raises(RuleBroken, match="funding_out_of_range"):
        Order.submit(
            order_id="500240-2019-004",
            demand=tianma_demand(),
            submitted_by="石柱县",
            sender_county=SHIZHU,
            policy=strict,
            now=NOW,
        )


@pytest.mark.parametrize("months", [6, 11, 37, 60])
def test_a_service_period_outside_one_to_three_years_is_refused(months: int) -> None:
    demand = tianma_demand(service_period=ServicePeriod(start=date(2019, 6, 1), months=months))
    with pytest.raises(RuleBroken) as refused:
        Order.submit(
            order_id="500240-2019-005",
            demand=demand,
            submitted_by="石柱县",
            sender_county=SHIZHU,
            policy=POLICY,
            now=NOW,
        )
    assert refused.value.rule == "service_period_out_of_range"


def test_a_county_cannot_submit_a_demand_of_another_county() -> None:
    with pytest.raises(RuleBroken) as refused:
        Order.submit(
            order_id="500238-2019-001",
            demand=tea_demand(),
            submitted_by="石柱县人力社保局",
            sender_county=SHIZHU,
            policy=POLICY,
            now=NOW,
        )
    assert refused.value.rule == "county_mismatch"


def test_the_order_id_must_carry_the_county_code() -> None:
    with pytest.raises(RuleBroken) as refused:
        Order.submit(
            order_id="500238-2019-009",
            demand=tianma_demand(),
            submitted_by="石柱县人力社保局",
            sender_county=SHIZHU,
            policy=POLICY,
            now=NOW,
        )
    assert refused.value.rule == "order_id_county_mismatch"


def test_the_county_endorses_and_the_bureau_publishes() -> None:
    order, endorsement = submitted().endorse(by="石柱县人力社保局", note="同意", sender_county=SHIZHU, now=NOW)
    assert order.status is OrderStatus.ENDORSED
    assert isinstance(endorsement, OrderEndorsed) and endorsement.note == "同意"
    order, publication = order.publish(by="市人力社保局", call="2019年第一批", applications_close_on=None, now=NOW)
    assert order.status is OrderStatus.PUBLISHED
    assert isinstance(publication, OrderPublished)
    assert publication.demand == tianma_demand()
    assert publication.call == "2019年第一批"


def test_publishing_before_endorsement_is_refused() -> None:
    with pytest.raises(RuleBroken) as refused:
        submitted().publish(by="市人力社保局", call="2019年第一批", applications_close_on=None, now=NOW)
    assert refused.value.rule == "not_endorsed"


def test_publishing_twice_is_refused() -> None:
    order, _ = endorsed().publish(by="市人力社保局", call="2019年第一批", applications_close_on=None, now=NOW)
    with pytest.raises(RuleBroken) as refused:
        order.publish(by="市人力社保局", call="2019年第二批", applications_close_on=None, now=NOW)
    assert refused.value.rule == "already_published"


def test_an_application_deadline_in_the_past_is_refused() -> None:
    with pytest.raises(RuleBroken, match="deadline_in_past"):
        endorsed().publish(by="市人力社保局", call="2019年第一批", applications_close_on=date(2019, 5, 1), now=NOW)


def test_the_county_cannot_return_a_demand_it_endorsed() -> None:
    with pytest.raises(RuleBroken) as refused:
        endorsed().return_to_village(by="石柱县人力社保局", reason="改主意", sender_county=SHIZHU, now=NOW)
    assert refused.value.rule == "decision_already_taken"


def test_the_county_cannot_endorse_twice() -> None:
    with pytest.raises(RuleBroken, match="decision_already_taken"):
        endorsed().endorse(by="石柱县人力社保局", note=None, sender_county=SHIZHU, now=NOW)


def test_another_county_cannot_endorse() -> None:
    with pytest.raises(RuleBroken, match="county_mismatch"):
        submitted().endorse(by="巫溪县人力社保局", note=None, sender_county=WUXI, now=NOW)


def test_a_returned_demand_can_be_revised_and_resubmitted() -> None:
    order, _ = submitted().return_to_village(by="石柱县人力社保局", reason="补充基线", sender_county=SHIZHU, now=NOW)
    revised = tianma_demand(title="保合村天麻种源繁育（修订）")
    order, event = order.resubmit(
        demand=revised, submitted_by="石柱县人力社保局", sender_county=SHIZHU, policy=POLICY, now=NOW
    )
    assert order.status is OrderStatus.SUBMITTED
    assert order.revision == event.revision == 2
    assert event.demand.title.endswith("（修订）")


def test_a_live_order_cannot_be_submitted_again() -> None:
    with pytest.raises(RuleBroken, match="order_exists"):
        submitted().resubmit(
            demand=tianma_demand(), submitted_by="石柱县", sender_county=SHIZHU, policy=POLICY, now=NOW
        )


def test_the_county_withdraws_until_publication_then_only_the_bureau_cancels() -> None:
    order, event = endorsed().withdraw(by="石柱县人力社保局", reason="规划调整", sender_county=SHIZHU, now=NOW)
    assert order.status is OrderStatus.WITHDRAWN and event.previous_state == "endorsed"
    published, _ = endorsed().publish(by="市人力社保局", call="2019年第一批", applications_close_on=None, now=NOW)
    with pytest.raises(RuleBroken, match="ask the bureau"):
        published.withdraw(by="石柱县人力社保局", reason="规划调整", sender_county=SHIZHU, now=NOW)
    cancelled, cancellation = published.cancel(by="市人力社保局", reason="项目重复", now=NOW)
    assert cancelled.status is OrderStatus.CANCELLED and cancellation.previous_state == "published"


def test_a_cancelled_order_cannot_be_cancelled_or_published_again() -> None:
    cancelled, _ = endorsed().cancel(by="市人力社保局", reason="项目重复", now=NOW)
    with pytest.raises(RuleBroken, match="invalid_transition"):
        cancelled.cancel(by="市人力社保局", reason="again", now=NOW)
    with pytest.raises(RuleBroken, match="invalid_transition"):
        cancelled.publish(by="市人力社保局", call="2019年第一批", applications_close_on=None, now=NOW)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2019, 6, 1), 24, date(2021, 6, 1)),
        (date(2019, 1, 31), 1, date(2019, 2, 28)),
        (date(2019, 11, 30), 3, date(2020, 2, 29)),
        (date(2019, 12, 15), 12, date(2020, 12, 15)),
    ],
)
def test_a_service_period_ends_the_same_day_months_later_or_at_the_months_end(
    start: date, months: int, end: date
) -> None:
    assert service_end(ServicePeriod(start=start, months=months)) == end
