"""Which projects a yearly cycle reviews (service periods, Chongqing calendar) and opening it, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.reviews.domain.facts import OrderFacts, Project
from services.reviews.domain.membership import in_service_during, service_end
from services.reviews.domain.model import Cycle, open_cycle
from shared.contract.events.orders import ServicePeriod
from shared.contract.events.reviews import OpenReviewCycle, ReviewCycleOpened
from shared.rules import RuleBroken
from tests.reviews_builders import order_published, team_accepted

NOW = datetime(2020, 1, 10, 2, 0, tzinfo=UTC)


def period(start: date, months: int) -> ServicePeriod:
    return ServicePeriod(start=start, months=months)


def project(order_id: str, start: date, months: int = 12) -> tuple[Project, OrderFacts]:
    published = order_published(order_id, start=start, months=months)
    return Project.from_event(team_accepted(published)), OrderFacts.from_event(published)


def request(**changes: Any) -> OpenReviewCycle:
    values: dict[str, Any] = {
        "cycle_id": "2019",
        "year": 2019,
        "submission_deadline": date(2020, 1, 31),
        "opened_by": "市人力社保局",
    }
    return OpenReviewCycle(**(values | changes))


def opened(
    *projects: tuple[Project, OrderFacts],
    orders: dict[str, OrderFacts] | None = None,
    existing: Cycle | None = None,
    cycle_of_year: str | None = None,
    now: datetime = NOW,
    **fields: Any,
) -> ReviewCycleOpened:
    _, _, (event,) = open_cycle(
        request(**fields),
        projects=[p for p, _ in projects],
        orders={o.order_id: o for _, o in projects} if orders is None else orders,
        existing=existing,
        cycle_of_year=cycle_of_year,
        now=now,
    )
    return event


def refused(*projects: tuple[Project, OrderFacts], **changes: Any) -> str:
    with pytest.raises(RuleBroken) as caught:
        opened(*projects, **changes)
    return caught.value.rule


def test_a_service_period_ends_on_the_same_day_of_month_or_the_months_last_day() -> None:
    assert service_end(period(date(2019, 6, 1), 12)) == date(2020, 6, 1)
    assert service_end(period(date(2019, 1, 31), 1)) == date(2019, 2, 28)
    assert service_end(period(date(2019, 11, 30), 3)) == date(2020, 2, 29), "2020 is a leap year"


@pytest.mark.parametrize(
    ("start", "months", "in_2019"),
    [
        (date(2019, 6, 1), 24, True),  # starts during the year
        (date(2018, 3, 1), 36, True),  # spans the whole year
        (date(2019, 12, 31), 12, True),  # one day of 2019 counts
        (date(2018, 1, 1), 12, False),  # ends before 2019-01-01
        (date(2018, 1, 2), 12, True),  # its last day is 2019-01-01
        (date(2020, 1, 1), 12, False),  # starts after the year
    ],
)
def test_a_project_is_under_review_in_the_years_its_service_period_overlaps(
    start: date, months: int, in_2019: bool
) -> None:
    assert in_service_during(period(start, months), 2019) is in_2019


def test_a_cycle_reviews_every_project_in_service_that_year_plus_the_ones_the_bureau_adds() -> None:
    in_service = project("500240-2019-001", date(2019, 6, 1), 24)
    finished = project("500238-2017-004", date(2017, 3, 1), 12)
    added = project("500229-2017-002", date(2017, 5, 1), 12)
    event = opened(in_service, finished, added, additional_order_ids=("500229-2017-002",))
    assert [(r.review_id, r.order_id) for r in event.reviews] == [
        ("RV-2019-500229-2017-002", "500229-2017-002"),
        ("RV-2019-500240-2019-001", "500240-2019-001"),
    ]
    assert event.reviews[1].project_id == "P-500240-2019-001"
    assert (event.year, event.submission_deadline, event.opened_at) == (2019, date(2020, 1, 31), NOW)


def test_review_ids_are_deterministic_from_cycle_and_order() -> None:
    tianma = project("500240-2019-001", date(2019, 6, 1))
    assert opened(tianma).reviews == opened(tianma).reviews


def test_the_bureau_cannot_add_an_order_no_team_has_taken() -> None:
    tianma = project("500240-2019-001", date(2019, 6, 1))
    assert refused(tianma, additional_order_ids=("500238-2019-009",)) == "unknown_project"


def test_a_project_whose_published_order_is_unknown_cannot_be_reviewed() -> None:
    assert refused(project("500240-2019-001", date(2019, 6, 1)), orders={}) == "unknown_order"


def test_a_year_without_projects_in_service_has_nothing_to_review() -> None:
    assert refused(project("500240-2016-001", date(2016, 6, 1))) == "nothing_to_review"


def test_a_cycle_is_opened_once_and_a_year_has_one_cycle() -> None:
    tianma = project("500240-2019-001", date(2019, 6, 1))
    existing = Cycle("2019", 2019, date(2020, 1, 31), "市人力社保局")
    assert refused(tianma, existing=existing) == "cycle_exists"
    assert refused(tianma, cycle_id="2019-bis", cycle_of_year="2019") == "year_has_cycle"


def test_a_deadline_before_today_in_chongqing_is_refused() -> None:
    tianma = project("500240-2019-001", date(2019, 6, 1))
    evening = datetime(2020, 1, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 February in Chongqing
    assert refused(tianma, now=evening) == "deadline_in_past"
    assert opened(tianma, now=datetime(2020, 1, 31, 15, 30, tzinfo=UTC)).reviews, "the deadline day itself is fine"


def test_a_years_cycle_cannot_open_before_that_year_has_begun_in_chongqing() -> None:
    tianma = project("500240-2027-001", date(2027, 1, 1), months=24)
    new_years_eve = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 on 31 December in Chongqing
    early: dict[str, Any] = {"cycle_id": "2027", "year": 2027, "submission_deadline": date(2027, 12, 31)}
    assert refused(tianma, now=new_years_eve, **early) == "year_not_begun"
    assert opened(tianma, now=datetime(2026, 12, 31, 16, 0, tzinfo=UTC), **early).reviews, "from 1 January on"


def test_a_year_of_4500_projects_opens_in_parts_each_far_below_the_brokers_limit() -> None:
    projects = [project(f"{500101 + n % 38}-2019-{n:04d}", date(2019, 6, 1), 24) for n in range(4_500)]
    _, reviews, parts = open_cycle(
        request(),
        projects=[p for p, _ in projects],
        orders={o.order_id: o for _, o in projects},
        existing=None,
        cycle_of_year=None,
        now=NOW,
    )
    assert [(e.part, e.parts, len(e.reviews)) for e in parts] == [(1, 3, 2_000), (2, 3, 2_000), (3, 3, 500)]
    assert {e.reviews_in_all_parts for e in parts} == {4_500} and len(reviews) == 4_500
    in_parts = [summary.review_id for e in parts for summary in e.reviews]
    assert in_parts == [r.review_id for r in reviews], "every review once, in the cycle's order"
    assert max(len(e.model_dump_json()) for e in parts) < 400_000
