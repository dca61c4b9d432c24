"""Domain test data of the yearly review: a published 天麻 order of 石柱县 500240, the 郭顺星
team that took it, outcome reports, reviewers and their score sheets. Used by the unit tests
of services/reviews and by the integration tests through Kafka."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.reviews.domain.facts import OrderFacts, Project
from services.reviews.domain.model import Cycle, Review, open_cycle
from services.reviews.domain.service_record import DayOnSite
from shared.contract.events.matching import ExpertRef, TeamAccepted
from shared.contract.events.orders import OrderPublished, ServicePeriod
from shared.contract.events.reviews import (
    CriterionScore,
    IndicatorResult,
    OpenReviewCycle,
    OutcomeReportSubmitted,
    PanelScoreSubmitted,
    RecordServiceActivity,
    Reviewer,
    WorkDone,
)
from shared.contract.speakers import reviewer_source
from shared.policy import YUAN
from tests.builders import new_id, tianma_demand

GUO_INSTITUTION = "重庆硒旺华宝生物科技有限公司"
CRITERIA = (
    "outcomes_achieved",
    "plan_and_management",
    "local_talent_trained",
    "brand_and_industry_chain",
    "research_transferred",
)


def shortly_before(start: date) -> datetime:
    """Published and accepted some weeks before the service starts (funding budgets by that year)."""
    return datetime.combine(start - timedelta(days=20), time(2, 0), tzinfo=UTC)


def order_published(order_id: str, *, start: date, months: int = 12) -> OrderPublished:
    """The 保合村 天麻 order (targets: 50 亩 demonstration garden, 20 jobs), serving from `start`."""
    return OrderPublished(
        order_id=order_id,
        demand=tianma_demand(service_period=ServicePeriod(start=start, months=months)),
        call=f"{start.year}年第一批",
        published_by="市人力社保局",
        published_at=shortly_before(start),
    )


def expert(name: str, expert_id: str | None = None, institution: str = GUO_INSTITUTION) -> ExpertRef:
    return ExpertRef(expert_id=expert_id or new_id("EXP"), name=name, institution=institution)


def team_accepted(
    published: OrderPublished,
    *,
    lead: ExpertRef | None = None,
    members: tuple[ExpertRef, ...] | None = None,
    local_talents: tuple[ExpertRef, ...] | None = None,
    team_name: str = "郭顺星团队",
) -> TeamAccepted:
    """The team takes the order for the order's service period."""
    demand = published.demand
    return TeamAccepted(
        project_id=f"P-{published.order_id}",
        order_id=published.order_id,
        application_id=new_id("APP"),
        team_id=new_id("TEAM"),
        team_name=team_name,
        lead=lead or expert("郭顺星"),
        members=members if members is not None else (expert("成员甲", institution="西南大学"),),
        local_talents=local_talents
        if local_talents is not None
        else (expert("本地骨干", institution="石柱县农业农村委员会"),),
        place=demand.place,
        site="洗新乡保合村天麻示范园",
        industry=demand.industry,
        service_period=demand.service_period,
        funding_asked_fen=150_000 * YUAN,
        call=published.call,
        awarded_by="市人力社保局",
        accepted_at=shortly_before(demand.service_period.start),
    )


def outcome_report(
    cycle_id: str, order_id: str, *, area: float = 52, jobs: float = 23, **changes: Any
) -> OutcomeReportSubmitted:
    values: dict[str, Any] = {
        "report_id": new_id("RPT"),
        "cycle_id": cycle_id,
        "order_id": order_id,
        "indicators": (
            IndicatorResult(
                indicator="demonstration_area", label="示范园面积", unit="亩", baseline=0, target=50, actual=area
            ),
            IndicatorResult(indicator="jobs", label="带动就业", unit="人", target=20, actual=jobs),
        ),
        "work": WorkDone(
            plan_compiled=True,
            problems_solved=6,
            local_talents_trained=12,
            brand="石柱天麻",
            industry_chain="种源繁育—林下种植—初加工",
            research_results_transferred=2,
        ),
        "submitted_by": "郭顺星团队",
    }
    return OutcomeReportSubmitted(**(values | changes))


def reviewer(name: str = "王评审", institution: str = "西南大学", reviewer_id: str | None = None) -> Reviewer:
    return Reviewer(reviewer_id=reviewer_id or new_id("REV"), name=name, institution=institution)


def sheet(uniform: float | None = None, **scores: float) -> tuple[CriterionScore, ...]:
    """A score sheet: every criterion at `uniform`, or the given ones (weighted score = uniform)."""
    values: Mapping[str, float] = {c: uniform for c in CRITERIA} if uniform is not None else scores
    return tuple(CriterionScore(criterion=c, score=s) for c, s in values.items())


def panel_score(
    cycle_id: str, order_id: str, by: Reviewer, scores: tuple[CriterionScore, ...] | float
) -> PanelScoreSubmitted:
    return PanelScoreSubmitted(
        cycle_id=cycle_id,
        order_id=order_id,
        reviewer=by,
        scores=sheet(scores) if isinstance(scores, int | float) else scores,
        comment="示范园建设达标，本地人才培养扎实",
    )


async def send_score(client: Any, score: PanelScoreSubmitted) -> Any:
    """Send a panel score as its reviewer's own system signs it (/reviewers/<reviewer id>)."""
    return await client.send(score, source=reviewer_source(score.reviewer.reviewer_id))


def days_on_site(first: date, count: int, people_trained: int = 2) -> tuple[DayOnSite, ...]:
    """`count` recorded days on site, every other day from `first`."""
    return tuple(DayOnSite(first + timedelta(days=2 * n), people_trained) for n in range(count))


def activity(
    accepted: TeamAccepted, on: date, *, expert_id: str | None = None, **changes: Any
) -> RecordServiceActivity:
    """A day of 天麻 training at the project's site (洗新乡保合村) by its lead, unless told otherwise."""
    values: dict[str, Any] = {
        "activity_id": new_id("ACT"),
        "order_id": accepted.order_id,
        "expert_id": expert_id or accepted.lead.expert_id,
        "on": on,
        "township": accepted.place.township,
        "village": accepted.place.village,
        "kind": "training",
        "people_trained": 2,
        "hours": 6,
        "summary": "天麻林下种植技术培训",
    }
    return RecordServiceActivity(**(values | changes))


def opened_review(
    order_id: str = "500240-2019-001",
    *,
    cycle_id: str = "2019",
    year: int = 2019,
    deadline: date = date(2020, 1, 31),
    accepted: TeamAccepted | None = None,
    now: datetime = datetime(2020, 1, 10, 2, 0, tzinfo=UTC),
    recorded_days: int = 30,
) -> tuple[Cycle, Review]:
    """(cycle, review): the 2019 cycle opened on 2020-01-10 with the 天麻 project under review; the
    team recorded `recorded_days` days on site in its first service year (by default the policy's
    30: the service criterion costs nothing, the panel's score is the review's)."""
    published = order_published(order_id, start=date(year, 6, 1))
    accepted = accepted or team_accepted(published)
    request = OpenReviewCycle(cycle_id=cycle_id, year=year, submission_deadline=deadline, opened_by="市人力社保局")
    cycle, (review,), _ = open_cycle(
        request,
        projects=[Project.from_event(accepted)],
        orders={order_id: OrderFacts.from_event(published)},
        existing=None,
        cycle_of_year=None,
        now=now,
    )
    return cycle, replace(review, service=days_on_site(date(year, 6, 3), recorded_days))


async def record_service(client: Any, accepted: TeamAccepted, days: int, first: date | None = None) -> list[str]:
    """`days` days of service at the project's site, every other day from `first` (the service
    start), sent as the portal does; the activity ids."""
    start = first or accepted.service_period.start
    sent = [activity(accepted, start + timedelta(days=2 * n)) for n in range(days)]
    for record in sent:
        await client.send(record, source="/portal/teams")
    return [record.activity_id for record in sent]
