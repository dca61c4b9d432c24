"""Review cycles, reviews and their upstream facts in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from services.reviews.domain.facts import OrderFacts, Project
from services.reviews.domain.midterm import Flag
from services.reviews.domain.model import (
    Cycle,
    CycleStatus,
    Grading,
    Objection,
    ObjectionStatus,
    PanelScore,
    Report,
    Review,
    ReviewStatus,
)
from services.reviews.domain.service_record import DayOnSite, days_by_date
from services.reviews.domain.team import Stint
from shared.contract.envelope import Envelope
from shared.contract.events.orders import OutcomeTarget, ServicePeriod
from shared.contract.events.reviews import (
    CriterionScore,
    IndicatorResult,
    MidTermCheckCompleted,
    ProjectFlagged,
    RecordServiceActivity,
    Reviewer,
    ReviewResultsPublished,
    WorkDone,
)
from shared.db.types import Connection
from shared.messaging.unit import Repository


@dataclass(frozen=True, slots=True)
class Cause:
    """What caused a change, for the audit trail: an event, or a timer (no event id)."""

    event_id: str | None
    source: str

    @classmethod
    def of(cls, envelope: Envelope) -> Cause:
        return cls(envelope.id, envelope.source)

    @classmethod
    def timer(cls, name: str) -> Cause:
        return cls(None, f"timer:{name}")


_REVIEWS = """
SELECT r.*, c.year, ob.objection_id, ob.grounds AS objection_grounds, ob.lodged_by AS objection_lodged_by,
       ob.status AS objection_status, p.project_id, p.team_id, p.team_name, p.lead_expert_id, p.lead_name,
       p.institution, p.people, p.township, p.village, p.ended_on,
       p.service_start, p.service_months, o.title, o.county_code, o.county_name, o.outcome_targets
FROM reviews r
JOIN review_cycles c USING (cycle_id)
JOIN projects p USING (order_id)
JOIN published_orders o USING (order_id)
LEFT JOIN objections ob USING (review_id)
"""
_REVIEW = _REVIEWS + "WHERE r.cycle_id = $1 AND r.order_id = $2 FOR UPDATE OF r"
_REVIEWS_OF_CYCLE = _REVIEWS + "WHERE r.cycle_id = $1 ORDER BY r.review_id FOR UPDATE OF r"
_REVIEWS_WITHOUT_REPORT = (
    _REVIEWS
    + "WHERE r.cycle_id = $1 AND r.status = 'open' AND r.report_id IS NULL ORDER BY r.review_id FOR UPDATE OF r"
)
_REVIEWS_WITH_REPORT = (
    _REVIEWS
    + "WHERE r.cycle_id = $1 AND r.status = 'open' AND r.report_id IS NOT NULL ORDER BY r.review_id FOR UPDATE OF r"
)
_GRADED_REVIEWS = _REVIEWS + "WHERE r.cycle_id = $1 AND r.status = 'graded' ORDER BY r.review_id FOR UPDATE OF r"
_CYCLE = "SELECT * FROM review_cycles WHERE cycle_id = $1 "
_CYCLE_SHARED = _CYCLE + "FOR SHARE"
_CYCLE_EXCLUSIVE = _CYCLE + "FOR UPDATE"
_PROJECTS = """
SELECT order_id, project_id, team_id, team_name, lead_expert_id, lead_name, institution, people,
       service_start, service_months, township, village, ended_on
FROM projects
"""

_HISTORY = """
INSERT INTO review_history (review_id, event_type, cause_event_id, cause_source, note, at)
VALUES ($1, $2, $3, $4, $5, $6)
"""


class ReviewRepository(Repository):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)

    # ---- upstream facts -----------------------------------------------------------------------

    async def save_order(self, order: OrderFacts, published_at: datetime) -> None:
        self.write(
            """
            INSERT INTO published_orders (order_id, title, county_code, county_name, outcome_targets, published_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (order_id) DO UPDATE SET title = EXCLUDED.title, county_code = EXCLUDED.county_code,
                county_name = EXCLUDED.county_name, outcome_targets = EXCLUDED.outcome_targets,
                published_at = EXCLUDED.published_at
            """,
            order.order_id,
            order.title,
            order.county_code,
            order.county_name,
            [t.model_dump(mode="json") for t in order.targets],
            published_at,
        )

    async def save_project(self, project: Project, accepted_at: datetime) -> None:
        self.write(
            """
            INSERT INTO projects (order_id, project_id, team_id, team_name, lead_expert_id, lead_name, institution,
                                  people, service_start, service_months, accepted_at, township, village)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (order_id) DO UPDATE SET project_id = EXCLUDED.project_id, team_id = EXCLUDED.team_id,
                team_name = EXCLUDED.team_name, lead_expert_id = EXCLUDED.lead_expert_id,
                lead_name = EXCLUDED.lead_name, institution = EXCLUDED.institution, people = EXCLUDED.people,
                service_start = EXCLUDED.service_start, service_months = EXCLUDED.service_months,
                accepted_at = EXCLUDED.accepted_at, township = EXCLUDED.township, village = EXCLUDED.village
            """,
            project.order_id,
            project.project_id,
            project.team_id,
            project.team_name,
            project.lead_expert_id,
            project.lead_name,
            project.institution,
            sorted(project.people),
            project.service_period.start,
            project.service_period.months,
            accepted_at,
            project.township,
            project.village,
        )
        self.save_team(project.order_id, project.team)

    def save_team(self, order_id: str, stints: Sequence[Stint]) -> None:
        """The team's stints as they now stand (replacing the ones kept before)."""
        self.write("DELETE FROM team_members WHERE order_id = $1", order_id)
        self.write_many(
            "INSERT INTO team_members (order_id, expert_id, role, name, institution, valid_from, valid_to) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(order_id, s.expert_id, s.role, s.name, s.institution, s.valid_from, s.valid_to) for s in stints],
        )

    async def project(self, order_id: str) -> Project | None:
        """The project with its team by date, locked: its activities are recorded one at a time."""
        row = await (await self.reading()).fetchrow(_PROJECTS + "WHERE order_id = $1 FOR UPDATE", order_id)
        return (await self._with_teams([row]))[0] if row else None

    async def projects_started_by(self, day: date) -> list[Project]:
        """Projects whose service began by `day` (the domain decides which are active)."""
        rows = await (await self.reading()).fetch(_PROJECTS + "WHERE service_start <= $1 ORDER BY order_id", day)
        return await self._with_teams(rows)

    async def extend_project(self, order_id: str, months: int) -> bool:
        updated = await (await self.reading()).fetchval(
            "UPDATE projects SET service_months = $2 WHERE order_id = $1 RETURNING 1", order_id, months
        )
        return bool(updated)

    async def _with_teams(self, rows: Sequence[Any]) -> list[Project]:
        teams = await self._teams([row["order_id"] for row in rows])
        return [replace(_project(row), team=teams.get(row["order_id"], ())) for row in rows]

    async def _teams(self, order_ids: Sequence[str]) -> dict[str, tuple[Stint, ...]]:
        teams: dict[str, list[Stint]] = {}
        for row in await (await self.reading()).fetch(
            "SELECT * FROM team_members WHERE order_id = ANY($1::text[]) ORDER BY valid_from, expert_id",
            list(order_ids),
        ):
            teams.setdefault(row["order_id"], []).append(
                Stint(
                    expert_id=row["expert_id"],
                    name=row["name"],
                    institution=row["institution"],
                    role=row["role"],
                    valid_from=row["valid_from"],
                    valid_to=row["valid_to"],
                )
            )
        return {order_id: tuple(stints) for order_id, stints in teams.items()}

    # ---- service records and the mid-term check -----------------------------------------------

    async def activity(self, activity_id: str) -> RecordServiceActivity | None:
        request = await (await self.reading()).fetchval(
            "SELECT request FROM service_activities WHERE activity_id = $1", activity_id
        )
        return None if request is None else RecordServiceActivity.model_validate(request)

    async def add_activity(self, request: RecordServiceActivity, at: datetime) -> None:
        await (await self.reading()).execute(
            "INSERT INTO service_activities (activity_id, order_id, expert_id, on_date, kind, people_trained, hours, "
            "request, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            request.activity_id,
            request.order_id,
            request.expert_id,
            request.on,
            request.kind,
            request.people_trained,
            request.hours,
            request.model_dump(mode="json"),
            at,
        )

    async def service_days(self, order_ids: Sequence[str]) -> dict[str, tuple[DayOnSite, ...]]:
        """Each project's recorded days on site (one entry per date, with the people trained)."""
        records: dict[str, list[tuple[date, int]]] = {}
        for row in await (await self.reading()).fetch(
            "SELECT order_id, on_date, people_trained FROM service_activities WHERE order_id = ANY($1::text[])",
            list(order_ids),
        ):
            records.setdefault(row["order_id"], []).append((row["on_date"], row["people_trained"]))
        return {order_id: days_by_date(days) for order_id, days in records.items()}

    async def flags(self, order_ids: Sequence[str]) -> dict[str, tuple[Flag, ...]]:
        flags: dict[str, list[Flag]] = {}
        for row in await (await self.reading()).fetch(
            "SELECT * FROM project_flags WHERE order_id = ANY($1::text[]) ORDER BY as_of, check_id", list(order_ids)
        ):
            flags.setdefault(row["order_id"], []).append(Flag(row["check_id"], row["as_of"], tuple(row["reasons"])))
        return {order_id: tuple(found) for order_id, found in flags.items()}

    async def latest_indicators(self, order_ids: Sequence[str]) -> dict[str, tuple[IndicatorResult, ...]]:
        """The indicators of each project's latest accepted outcome report (projects with one)."""
        rows = await (await self.reading()).fetch(
            "SELECT DISTINCT ON (order_id) order_id, report FROM reviews "
            "WHERE order_id = ANY($1::text[]) AND report IS NOT NULL ORDER BY order_id, report_accepted_at DESC",
            list(order_ids),
        )
        return {
            row["order_id"]: tuple(IndicatorResult.model_validate(i) for i in row["report"]["indicators"])
            for row in rows
        }

    async def mid_term_check_exists(self, check_id: str) -> bool:
        found = await (await self.reading()).fetchval("SELECT 1 FROM mid_term_checks WHERE check_id = $1", check_id)
        return bool(found)

    async def save_mid_term_check(
        self, completed: MidTermCheckCompleted, flagged: Sequence[ProjectFlagged], opened_by: str, at: datetime
    ) -> None:
        self.write(
            "INSERT INTO mid_term_checks (check_id, year, as_of, opened_by, checked, flagged_order_ids, completed_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            completed.check_id,
            completed.year,
            completed.as_of,
            opened_by,
            completed.checked,
            list(completed.flagged_order_ids),
            at,
        )
        self.write_many(
            "INSERT INTO project_flags (check_id, order_id, as_of, days_on_site, days_expected, reasons) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (f.check_id, f.order_id, f.as_of, f.days_on_site, f.days_expected_by_now, list(f.reasons))
                for f in flagged
            ],
        )

    async def candidate_projects(self, year: int, additional_order_ids: Sequence[str]) -> list[Project]:
        """Projects that started before the year ended, and the ones named: the domain decides
        which of them were in service during the year (membership.py)."""
        rows = await (await self.reading()).fetch(
            _PROJECTS
            + "WHERE (service_start < make_date($1 + 1, 1, 1) AND ended_on IS NULL) OR order_id = ANY($2::text[])",
            year,
            list(additional_order_ids),
        )
        return [_project(row) for row in rows]

    async def end_project(self, order_id: str, ended_on: date) -> bool:
        """The project ended (ProjectEnded): later cycles do not review it. False if unknown."""
        updated = await (await self.reading()).fetchval(
            "UPDATE projects SET ended_on = $2 WHERE order_id = $1 RETURNING 1", order_id, ended_on
        )
        return bool(updated)

    async def orders(self, order_ids: Iterable[str]) -> dict[str, OrderFacts]:
        rows = await (await self.reading()).fetch(
            "SELECT * FROM published_orders WHERE order_id = ANY($1::text[])", sorted(set(order_ids))
        )
        return {row["order_id"]: _order(row) for row in rows}

    # ---- cycles -------------------------------------------------------------------------------

    async def cycle(self, cycle_id: str, *, exclusive: bool = False) -> Cycle | None:
        """The cycle, locked for the rest of the transaction: shared by whatever submits to it,
        exclusive for closing it. Cycles are always locked before their reviews (no deadlock)."""
        row = await (await self.reading()).fetchrow(_CYCLE_EXCLUSIVE if exclusive else _CYCLE_SHARED, cycle_id)
        return _cycle(row) if row else None

    async def open_cycles_past_deadline(self, today: date) -> list[Cycle]:
        """Open cycles whose submission deadline is before `today` (a Chongqing date), locked shared."""
        rows = await (await self.reading()).fetch(
            "SELECT * FROM review_cycles WHERE status = 'open' AND submission_deadline < $1 "
            "ORDER BY cycle_id FOR SHARE",
            today,
        )
        return [_cycle(row) for row in rows]

    async def closed_cycles_past_notice(self, today: date) -> list[Cycle]:
        """Closed cycles whose public notice ended before `today` and that still have graded reviews."""
        rows = await (await self.reading()).fetch(
            "SELECT * FROM review_cycles c WHERE status = 'closed' AND notice_ends_on < $1 "
            "AND EXISTS (SELECT 1 FROM reviews r WHERE r.cycle_id = c.cycle_id AND r.status = 'graded') "
            "ORDER BY cycle_id FOR SHARE",
            today,
        )
        return [_cycle(row) for row in rows]

    async def cycle_of_year(self, year: int) -> str | None:
        cycle_id: str | None = await (await self.reading()).fetchval(
            "SELECT cycle_id FROM review_cycles WHERE year = $1", year
        )
        return cycle_id

    async def add_cycle(self, cycle: Cycle, reviews: Sequence[Review], at: datetime, cause: Cause) -> None:
        self.write(
            "INSERT INTO review_cycles (cycle_id, year, submission_deadline, status, opened_by, opened_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            cycle.cycle_id,
            cycle.year,
            cycle.submission_deadline,
            cycle.status.value,
            cycle.opened_by,
            at,
        )
        self.write_many(
            "INSERT INTO reviews (review_id, cycle_id, order_id, status) VALUES ($1, $2, $3, $4)",
            [(r.review_id, r.cycle_id, r.order_id, r.status.value) for r in reviews],
        )
        for review in reviews:
            await self._history(review.review_id, "ReviewCycleOpened", cause, f"opened by {cycle.opened_by}", at)

    async def close_cycle(self, cycle: Cycle, closed_by: str, at: datetime) -> None:
        self.write(
            "UPDATE review_cycles SET status = $2, closed_by = $3, closed_at = $4, published_on = $5, "
            "notice_ends_on = $6 WHERE cycle_id = $1",
            cycle.cycle_id,
            cycle.status.value,
            closed_by,
            at,
            cycle.published_on,
            cycle.notice_ends_on,
        )

    # ---- public exports -----------------------------------------------------------------------

    async def queue_export(self, published: ReviewResultsPublished, at: datetime) -> None:
        """The cycle's results are to be written as public files once this transaction commits."""
        self.write(
            "INSERT INTO public_exports (cycle_id, published, queued_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (cycle_id) DO UPDATE SET published = EXCLUDED.published, queued_at = EXCLUDED.queued_at, "
            "written_at = NULL",
            published.cycle_id,
            published.model_dump(mode="json"),
            at,
        )

    async def unwritten_exports(self) -> list[ReviewResultsPublished]:
        rows = await (await self.reading()).fetch(
            "SELECT published FROM public_exports WHERE written_at IS NULL ORDER BY queued_at"
        )
        return [ReviewResultsPublished.model_validate(row["published"]) for row in rows]

    async def export_written(self, cycle_id: str, at: datetime) -> None:
        self.write("UPDATE public_exports SET written_at = $2 WHERE cycle_id = $1 AND written_at IS NULL", cycle_id, at)

    # ---- reviews ------------------------------------------------------------------------------

    async def review(self, cycle_id: str, order_id: str) -> Review | None:
        """The review of an order in a cycle, locked for the rest of the transaction."""
        row = await (await self.reading()).fetchrow(_REVIEW, cycle_id, order_id)
        return (await self._reviews([row]))[0] if row else None

    async def reviews_of_cycle(self, cycle_id: str) -> list[Review]:
        return await self._reviews(await (await self.reading()).fetch(_REVIEWS_OF_CYCLE, cycle_id))

    async def open_reviews_without_report(self, cycle_id: str) -> list[Review]:
        return await self._reviews(await (await self.reading()).fetch(_REVIEWS_WITHOUT_REPORT, cycle_id))

    async def open_reviews_with_report(self, cycle_id: str) -> list[Review]:
        return await self._reviews(await (await self.reading()).fetch(_REVIEWS_WITH_REPORT, cycle_id))

    async def graded_reviews(self, cycle_id: str) -> list[Review]:
        """Graded reviews whose grade has not taken effect, locked."""
        return await self._reviews(await (await self.reading()).fetch(_GRADED_REVIEWS, cycle_id))

    async def save_report(self, review: Review, at: datetime, cause: Cause) -> None:
        report = review.report
        assert report is not None
        document = {
            "report_id": report.report_id,
            "indicators": [i.model_dump(mode="json") for i in report.indicators],
            "work": report.work.model_dump(mode="json"),
            "submitted_by": report.submitted_by,
        }
        self.write(
            "UPDATE reviews SET report_id = $2, report = $3, report_accepted_at = $4 WHERE review_id = $1",
            review.review_id,
            report.report_id,
            document,
            at,
        )
        await self._history(review.review_id, "OutcomeReportAccepted", cause, f"report {report.report_id}", at)

    async def add_score(self, review: Review, score: PanelScore, at: datetime, cause: Cause) -> None:
        reviewer = score.reviewer
        self.write(
            """
            INSERT INTO panel_scores (review_id, reviewer_id, reviewer_name, reviewer_institution, scores,
                                      weighted_score, rubric_version, comment, recorded_at, round)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """,
            review.review_id,
            reviewer.reviewer_id,
            reviewer.name,
            reviewer.institution,
            [s.model_dump(mode="json") for s in score.scores],
            score.weighted_score,
            score.rubric_version,
            score.comment,
            at,
            review.round,
        )
        note = f"reviewer {reviewer.reviewer_id}: {score.weighted_score} (round {review.round})"
        await self._history(review.review_id, "PanelScoreRecorded", cause, note, at)

    async def add_conflict(self, review: Review, reviewer_id: str, reason: str, at: datetime, cause: Cause) -> bool:
        """Record a declared conflict; False when it was declared before."""
        inserted = await (await self.reading()).fetchval(
            "INSERT INTO reviewer_conflicts (review_id, reviewer_id, reason, declared_by, declared_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
            review.review_id,
            reviewer_id,
            reason,
            cause.source,
            at,
        )
        if inserted:
            await self._history(review.review_id, "ReviewerConflictDeclared", cause, f"reviewer {reviewer_id}", at)
        return bool(inserted)

    async def grade(self, review: Review, at: datetime, cause: Cause) -> None:
        """The panel's grade (status graded; or final when a re-review's grade took effect at once)."""
        grading = review.grading
        assert grading is not None
        self.write(
            "UPDATE reviews SET status = $2, grade = $3, score = $4, reason = $5, rule_version = $6, "
            "completed_at = $7, days_on_site = $8, mid_term_flags = $9 WHERE review_id = $1",
            review.review_id,
            review.status.value,
            grading.grade,
            grading.score,
            grading.reason,
            grading.rule_version,
            at,
            grading.days_on_site,
            list(grading.mid_term_flags),
        )
        note = f"round {review.round}: {grading.grade}: {grading.reason}"
        await self._history(review.review_id, "ReviewGraded", cause, note, at)

    async def finalize(self, review: Review, at: datetime, cause: Cause) -> None:
        self.write("UPDATE reviews SET status = 'final', final_at = $2 WHERE review_id = $1", review.review_id, at)
        assert review.grading is not None
        await self._history(review.review_id, "ReviewCompleted", cause, f"in effect: {review.grading.grade}", at)

    async def add_objection(self, review: Review, at: datetime, cause: Cause) -> None:
        objection, grading = review.objection, review.grading
        assert objection is not None
        assert grading is not None
        self.write(
            "INSERT INTO objections (objection_id, review_id, grade, grounds, lodged_by, status, lodged_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            objection.objection_id,
            review.review_id,
            grading.grade,
            objection.grounds,
            objection.lodged_by,
            objection.status.value,
            at,
        )
        await self._history(
            review.review_id, "ObjectionLodged", cause, f"{objection.objection_id}: {objection.grounds}", at
        )

    async def decide_objection(self, review: Review, decided_by: str, reason: str, at: datetime, cause: Cause) -> None:
        objection = review.objection
        assert objection is not None
        self.write(
            "UPDATE objections SET status = $2, decided_by = $3, decision_reason = $4, decided_at = $5 "
            "WHERE objection_id = $1",
            objection.objection_id,
            objection.status.value,
            decided_by,
            reason,
            at,
        )
        if review.status is ReviewStatus.RE_REVIEW:
            self.write(
                "UPDATE reviews SET status = 're_review', round = $2, earlier_reviewers = $3, grade = NULL, "
                "score = NULL, reason = NULL, rule_version = NULL, completed_at = NULL WHERE review_id = $1",
                review.review_id,
                review.round,
                sorted(review.earlier_reviewers),
            )
        event = "ObjectionUpheld" if objection.status is ObjectionStatus.UPHELD else "ObjectionRejected"
        await self._history(review.review_id, event, cause, f"{objection.objection_id} by {decided_by}: {reason}", at)

    async def _reviews(self, rows: Sequence[Any]) -> list[Review]:
        ids = [row["review_id"] for row in rows]
        panels: dict[str, list[PanelScore]] = {review_id: [] for review_id in ids}
        rounds = {row["review_id"]: row["round"] for row in rows}
        for score in await (await self.reading()).fetch(
            "SELECT * FROM panel_scores WHERE review_id = ANY($1::text[]) ORDER BY seq", ids
        ):
            if score["round"] == rounds[score["review_id"]]:
                panels[score["review_id"]].append(_panel_score(score))
        conflicts: dict[str, set[str]] = {review_id: set() for review_id in ids}
        for conflict in await (await self.reading()).fetch(
            "SELECT review_id, reviewer_id FROM reviewer_conflicts WHERE review_id = ANY($1::text[])", ids
        ):
            conflicts[conflict["review_id"]].add(conflict["reviewer_id"])
        order_ids = [row["order_id"] for row in rows]
        teams, service, flags = (
            await self._teams(order_ids),
            await self.service_days(order_ids),
            await self.flags(order_ids),
        )
        return [
            Review(
                review_id=row["review_id"],
                cycle_id=row["cycle_id"],
                project=replace(_project(row), team=teams.get(row["order_id"], ())),
                service=service.get(row["order_id"], ()),
                flags=flags.get(row["order_id"], ()),
                order=_order(row),
                status=ReviewStatus(row["status"]),
                report=_report(row["report"]),
                panel=tuple(panels[row["review_id"]]),
                conflicts=frozenset(conflicts[row["review_id"]]),
                grading=_grading(row),
                round=row["round"],
                earlier_reviewers=frozenset(row["earlier_reviewers"]),
                objection=_objection(row),
            )
            for row in rows
        ]

    async def _history(self, review_id: str, event_type: str, cause: Cause, note: str, at: datetime) -> None:
        self.write(_HISTORY, review_id, event_type, cause.event_id, cause.source, note, at)


def _cycle(row: Any) -> Cycle:
    return Cycle(
        cycle_id=row["cycle_id"],
        year=row["year"],
        submission_deadline=row["submission_deadline"],
        opened_by=row["opened_by"],
        status=CycleStatus(row["status"]),
        published_on=row["published_on"],
        notice_ends_on=row["notice_ends_on"],
    )


def _project(row: Any) -> Project:
    return Project(
        project_id=row["project_id"],
        order_id=row["order_id"],
        team_id=row["team_id"],
        team_name=row["team_name"],
        lead_expert_id=row["lead_expert_id"],
        lead_name=row["lead_name"],
        institution=row["institution"],
        people=frozenset(row["people"]),
        service_period=ServicePeriod(start=row["service_start"], months=row["service_months"]),
        township=row["township"],
        village=row["village"],
        ended_on=row["ended_on"],
    )


def _order(row: Any) -> OrderFacts:
    return OrderFacts(
        order_id=row["order_id"],
        title=row["title"],
        county_code=row["county_code"],
        county_name=row["county_name"],
        targets=tuple(OutcomeTarget.model_validate(t) for t in row["outcome_targets"]),
    )


def _report(document: Any) -> Report | None:
    if document is None:
        return None
    return Report(
        report_id=document["report_id"],
        indicators=tuple(IndicatorResult.model_validate(i) for i in document["indicators"]),
        work=WorkDone.model_validate(document["work"]),
        submitted_by=document["submitted_by"],
    )


def _panel_score(row: Any) -> PanelScore:
    return PanelScore(
        reviewer=Reviewer(
            reviewer_id=row["reviewer_id"], name=row["reviewer_name"], institution=row["reviewer_institution"]
        ),
        scores=tuple(CriterionScore.model_validate(s) for s in row["scores"]),
        weighted_score=row["weighted_score"],
        rubric_version=row["rubric_version"],
        comment=row["comment"],
    )


def _grading(row: Any) -> Grading | None:
    if row["grade"] is None:
        return None
    return Grading(
        grade=row["grade"],
        score=row["score"],
        reason=row["reason"],
        rule_version=row["rule_version"],
        days_on_site=row["days_on_site"],
        mid_term_flags=tuple(row["mid_term_flags"]),
    )


def _objection(row: Any) -> Objection | None:
    if row["objection_id"] is None:
        return None
    return Objection(
        objection_id=row["objection_id"],
        grounds=row["objection_grounds"],
        lodged_by=row["objection_lodged_by"],
        status=ObjectionStatus(row["objection_status"]),
    )
