"""Matching's state in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from services.matching.domain.awards import Award, AwardStatus, Objection, ObjectionStatus
from services.matching.domain.model import (
    Application,
    ApplicationStatus,
    Eligibility,
    OrderStatus,
    PublishedOrder,
)
from services.matching.domain.profiles import ExpertProfile, OrderProfile, Qualification, TeamProfile
from services.matching.domain.projects import ChangeStatus, MemberChange, Membership, Project, ProjectStatus
from shared.clock import local_date
from shared.contract.envelope import Envelope
from shared.contract.events.funding import ContinuedFundingEligible, TeamSuspended
from shared.contract.events.matching import ExpertRegistered, ExpertUpdated, TeamComposition
from shared.contract.events.orders import Place, ServicePeriod, service_end
from shared.db.types import Connection
from shared.messaging.unit import Repository, UnitContext, UnitOfWork


def _bound_on(day: str) -> str:
    """Memberships `m` of projects `p` that bind their people on the date parameter `day`: the project
    in service or awarded under notice (or ended, until its end), its period not over, the person
    not gone (定人: bound from the award until the period ends, the person leaves or the project ends)."""
    return f"p.status IN ('under_notice', 'active', 'ended') AND {day} < p.service_end AND {day} < m.valid_to"


_EXPERTS = f"""
SELECT e.expert_id, e.name, e.institution, e.title, e.title_grade, e.qualifications, e.specialties,
       e.local_county_code,
       (SELECT count(*) FROM project_members m JOIN projects p USING (project_id)
         WHERE m.expert_id = e.expert_id AND {_bound_on("$1")}) AS active_teams
FROM experts e
"""  # noqa: S608 - constant fragments only
_SAVE_EXPERT = """
INSERT INTO experts (expert_id, name, institution, title, title_grade, qualifications, specialties,
                     local_county_code, registered_at, updated_at)
VALUES ($1, $2, $3, $4, $9, $5, $6, $7, $8, $8)
ON CONFLICT (expert_id) DO UPDATE SET
    name = EXCLUDED.name, institution = EXCLUDED.institution, title = EXCLUDED.title,
    title_grade = EXCLUDED.title_grade, qualifications = EXCLUDED.qualifications,
    specialties = EXCLUDED.specialties, local_county_code = EXCLUDED.local_county_code,
    updated_at = EXCLUDED.updated_at
"""
_KNOWN_EXPERTS = "SELECT expert_id FROM experts WHERE expert_id = ANY($1::text[])"
_EXPERTS_BY_ID = _EXPERTS + "WHERE e.expert_id = ANY($2::text[])"
_EXPERTS_BY_ID_LOCKED = _EXPERTS_BY_ID + " ORDER BY e.expert_id FOR UPDATE OF e"
_SHORTLIST = """
WITH shortlist AS (
    SELECT expert_id FROM (
        SELECT expert_id, cardinality(ARRAY(SELECT unnest(specialties) INTERSECT SELECT unnest($2::text[]))) AS shared,
               cardinality(qualifications) AS titles
        FROM experts WHERE specialties && $2::text[]
        ORDER BY shared DESC, titles DESC, expert_id LIMIT $4
    ) best
    UNION
    SELECT expert_id FROM experts WHERE local_county_code = $3
)
"""
_CANDIDATE_EXPERTS = _SHORTLIST + _EXPERTS + "WHERE e.expert_id IN (SELECT expert_id FROM shortlist)"  # noqa: S608 - constant fragments only
_APPLICATIONS = "SELECT * FROM applications WHERE order_id = ANY($1::text[]) "
_APPLICATIONS_ALL = _APPLICATIONS + "ORDER BY received_at, application_id"
_APPLICATIONS_PENDING = _APPLICATIONS + "AND status = 'pending' ORDER BY received_at, application_id"
_ON_OTHER_TEAMS = f"""
SELECT DISTINCT m.expert_id FROM project_members m JOIN projects p USING (project_id)
WHERE m.expert_id = ANY($1::text[]) AND p.project_id <> $2 AND {_bound_on("$3")}
"""  # noqa: S608 - constant fragments only
_PROJECT = """
SELECT p.*, a.team_name, o.county_code FROM projects p
JOIN applications a ON a.application_id = p.application_id
JOIN published_orders o ON o.order_id = p.order_id
WHERE p.order_id = $1 FOR UPDATE OF p
"""


def _expert(row: Any) -> ExpertProfile:
    return ExpertProfile(
        expert_id=row["expert_id"],
        name=row["name"],
        institution=row["institution"],
        qualifications=frozenset(Qualification(q) for q in row["qualifications"]),
        specialties=frozenset(row["specialties"]),
        local_county=row["local_county_code"],
        active_teams=int(row["active_teams"]),
        title=row["title"],
        title_grade=row["title_grade"],
    )


class MatchingRepository(Repository):
    """`today` (the programme's date) decides which suspensions hold and which projects still
    bind their people: from acceptance until the end of the fixed service period (定人、定服务期)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._today = date.min
        self._known_experts: dict[str, bool] = {}

    @classmethod
    def of(cls, ctx: UnitContext) -> MatchingRepository:
        """The unit's repository, on the programme's date of this context's event."""
        repo = super().of(ctx)
        repo._today = local_date(ctx.now())
        return repo

    # ---- experts ------------------------------------------------------------------------------

    async def save_expert(self, expert: ExpertRegistered, at: datetime) -> bool:
        """Insert or replace an expert's record (held until the unit is flushed); whether the expert
        is new. Whether the expert was known is read once per batch (`load_known_experts`)."""
        await self.load_known_experts((expert.expert_id,))
        new = not self._known_experts[expert.expert_id]
        self._known_experts[expert.expert_id] = True
        self.write(
            _SAVE_EXPERT,
            expert.expert_id,
            expert.name,
            expert.institution,
            expert.title,
            list(expert.qualifications),
            list(expert.specialties),
            expert.local_county_code,
            at,
            expert.title_grade,
        )
        return new

    async def load_known_experts(self, expert_ids: Iterable[str]) -> None:
        """Which of these experts are registered, in one statement (experts are never deleted)."""
        wanted = [e for e in dict.fromkeys(expert_ids) if e not in self._known_experts]
        if not wanted:
            return
        conn = await self.reading()
        known = {r["expert_id"] for r in await conn.fetch(_KNOWN_EXPERTS, wanted)}
        for expert_id in wanted:
            self._known_experts[expert_id] = expert_id in known

    async def experts(self, ids: Iterable[str], *, lock: bool = False) -> dict[str, ExpertProfile]:
        """The registered experts among `ids`; with `lock`, their rows are locked (in id order,
        so that two awards sharing an expert serialize instead of both passing the checks)."""
        query = _EXPERTS_BY_ID_LOCKED if lock else _EXPERTS_BY_ID
        rows = await (await self.reading()).fetch(query, self._today, sorted(set(ids)))
        return {row["expert_id"]: _expert(row) for row in rows}

    async def candidate_experts(self, order: OrderProfile, limit: int) -> list[ExpertProfile]:
        """The `limit` experts sharing most of the order's specialties, and the local talent of its
        county: at a province's scale an industry tag alone matches thousands of experts."""
        rows = await (await self.reading()).fetch(
            _CANDIDATE_EXPERTS, self._today, sorted(order.wanted), order.county_code, limit
        )
        return [_expert(row) for row in rows]

    async def eligibility(self, team: TeamComposition, order_id: str, *, lock: bool) -> Eligibility:
        people = (team.lead_expert_id, *team.member_expert_ids, *team.local_talent_expert_ids)
        experts = await self.experts(people, lock=lock)
        busy = {e.expert_id for e in experts.values() if e.active_teams > 0}
        suspended = await self.suspended([team.team_id, *people])
        pending = await (await self.reading()).fetch(
            "SELECT team_id FROM applications WHERE order_id = $1 AND status = 'pending'", order_id
        )
        return Eligibility(
            experts=experts,
            on_active_teams=busy,
            suspended=suspended,
            pending_teams_for_order={r["team_id"] for r in pending},
            continued_support=frozenset((await self.continued_support([team.team_id])).get(team.team_id, ())),
        )

    # ---- orders -------------------------------------------------------------------------------

    async def order(self, order_id: str) -> PublishedOrder | None:
        """The published order, locked for the rest of the transaction."""
        row = await (await self.reading()).fetchrow(
            "SELECT * FROM published_orders WHERE order_id = $1 FOR UPDATE", order_id
        )
        return _order(row) if row else None

    async def save_order(self, order: PublishedOrder, at: datetime) -> None:
        self.write(
            """
            INSERT INTO published_orders (order_id, county_code, place, industry, needs, title, call, service_start,
                                          service_months, funding_asked_fen, status, awarded_application_id,
                                          published_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
            ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status,
                awarded_application_id = EXCLUDED.awarded_application_id, updated_at = EXCLUDED.updated_at
            """,
            order.order_id,
            order.county_code,
            order.place.model_dump(mode="json"),
            order.industry,
            sorted(order.needs),
            order.title,
            order.call,
            order.service_period.start,
            order.service_period.months,
            order.funding_asked_fen,
            order.status.value,
            order.awarded_application_id,
            at,
        )

    async def open_orders_of_call(self, call: str) -> list[PublishedOrder]:
        rows = await (await self.reading()).fetch(
            "SELECT * FROM published_orders WHERE call = $1 AND status = 'open' ORDER BY order_id", call
        )
        return [_order(r) for r in rows]

    # ---- applications -------------------------------------------------------------------------

    async def application(self, application_id: str) -> Application | None:
        row = await (await self.reading()).fetchrow(
            "SELECT * FROM applications WHERE application_id = $1 FOR UPDATE", application_id
        )
        return _application(row) if row else None

    async def applications_for_orders(self, order_ids: Sequence[str], *, pending_only: bool) -> list[Application]:
        rows = await (await self.reading()).fetch(
            _APPLICATIONS_PENDING if pending_only else _APPLICATIONS_ALL, list(order_ids)
        )
        return [_application(r) for r in rows]

    async def add_application(self, application: Application, at: datetime) -> None:
        team = application.team
        self.write(
            """
            INSERT INTO applications (application_id, order_id, team_id, team_name, lead_expert_id, member_ids,
                                      local_talent_ids, plan, site, service_start, service_months,
                                      funding_asked_fen, status, received_at, continued_support_of)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            """,
            application.application_id,
            application.order_id,
            team.team_id,
            team.name,
            team.lead_expert_id,
            list(team.member_expert_ids),
            list(team.local_talent_expert_ids),
            application.plan,
            application.site,
            application.service_period.start,
            application.service_period.months,
            application.funding_asked_fen,
            application.status.value,
            at,
            application.continued_support_of,
        )

    async def decide(self, application: Application, reason: str, at: datetime) -> None:
        self.write(
            "UPDATE applications SET status = $2, decided_reason = $3, decided_at = $4 WHERE application_id = $1",
            application.application_id,
            application.status.value,
            reason,
            at,
        )

    # ---- projects and teams -------------------------------------------------------------------

    async def reopen(self, applications: Iterable[Application]) -> None:
        """Applications pending again after their order's award was revoked."""
        self.write_many(
            "UPDATE applications SET status = $2, decided_reason = NULL, decided_at = NULL WHERE application_id = $1",
            [(a.application_id, a.status.value) for a in applications],
        )

    # ---- awards and their public notice -------------------------------------------------------

    async def add_award(self, award: Award, application: Application) -> None:
        """The award and its project, which binds its people from now on (under notice or active)."""
        self.write(
            """
            INSERT INTO awards (award_id, order_id, round, application_id, status, announced_on, notice_ends_on,
                                awarded_by, announced_at, decided_at, correlation_id, announced_event_id,
                                approved_fen)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            """,
            award.award_id,
            award.order_id,
            award.round,
            award.application_id,
            award.status.value,
            award.announced_on,
            award.notice_ends_on,
            award.awarded_by,
            award.announced_at,
            award.announced_at if award.status is AwardStatus.ACCEPTED else None,
            award.correlation_id,
            award.announced_event_id,
            award.approved_fen,
        )
        accepted = award.status is AwardStatus.ACCEPTED
        period = application.service_period
        self.write(
            "INSERT INTO projects (project_id, order_id, application_id, team_id, status, accepted_at, "
            "service_start, service_end, service_months, original_months) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            award.project_id,
            award.order_id,
            application.application_id,
            application.team.team_id,
            "active" if accepted else "under_notice",
            award.announced_at if accepted else None,
            period.start,
            service_end(period),
            period.months,
        )
        team = application.team
        members = [(award.project_id, team.lead_expert_id, "lead", period.start)]
        members += [(award.project_id, e, "member", period.start) for e in team.member_expert_ids]
        members += [(award.project_id, e, "local_talent", period.start) for e in team.local_talent_expert_ids]
        self.write_many(
            "INSERT INTO project_members (project_id, expert_id, role, valid_from) VALUES ($1, $2, $3, $4)", members
        )

    async def accept_award(self, award: Award, at: datetime) -> None:
        """The award took effect: its project is active."""
        self.write("UPDATE awards SET status = $2, decided_at = $3 WHERE award_id = $1", award.award_id, "accepted", at)
        self.write(
            "UPDATE projects SET status = 'active', accepted_at = $2 WHERE project_id = $1", award.project_id, at
        )

    async def revoke_award(self, award: Award, at: datetime) -> None:
        """The award is void: its project never existed, its people are free again."""
        self.write("UPDATE awards SET status = $2, decided_at = $3 WHERE award_id = $1", award.award_id, "revoked", at)
        self.write("DELETE FROM project_members WHERE project_id = $1", award.project_id)
        self.write("DELETE FROM projects WHERE project_id = $1 AND status = 'under_notice'", award.project_id)

    async def latest_award(self, order_id: str) -> Award | None:
        """The order's latest award (revoked or not), locked; call after locking the order."""
        row = await (await self.reading()).fetchrow(
            "SELECT * FROM awards WHERE order_id = $1 ORDER BY round DESC LIMIT 1 FOR UPDATE", order_id
        )
        return _award(row) if row else None

    async def awards_of_order(self, order_id: str) -> int:
        count = await (await self.reading()).fetchval("SELECT count(*) FROM awards WHERE order_id = $1", order_id)
        return int(count)

    async def orders_whose_notice_ended(self, today: date) -> list[str]:
        """Orders whose award is under notice, the notice's last day before `today`, and no
        objection pending: the awards that take effect now."""
        rows = await (await self.reading()).fetch(
            """
            SELECT w.order_id FROM awards w
            WHERE w.status = 'under_notice' AND w.notice_ends_on < $1
              AND NOT EXISTS (SELECT 1 FROM award_objections o WHERE o.award_id = w.award_id AND o.status = 'pending')
            ORDER BY w.order_id
            """,
            today,
        )
        return [r["order_id"] for r in rows]

    # ---- projects during their service period -------------------------------------------------

    async def project(self, order_id: str) -> Project | None:
        """The order's project with its team's history, locked for the rest of the transaction."""
        conn = await self.reading()
        row = await conn.fetchrow(_PROJECT, order_id)
        if row is None:
            return None
        members = await conn.fetch(
            "SELECT expert_id, role, valid_from, valid_to FROM project_members WHERE project_id = $1",
            row["project_id"],
        )
        return _project(row, members)

    async def on_other_teams(self, expert_ids: Iterable[str], project_id: str, day: date) -> set[str]:
        """Those of `expert_ids` bound to another project's team on `day` (one team at a time)."""
        rows = await (await self.reading()).fetch(_ON_OTHER_TEAMS, sorted(set(expert_ids)), project_id, day)
        return {r["expert_id"] for r in rows}

    async def member_change(self, change_id: str) -> MemberChange | None:
        row = await (await self.reading()).fetchrow(
            "SELECT * FROM member_changes WHERE change_id = $1 FOR UPDATE", change_id
        )
        return _member_change(row) if row else None

    async def add_member_change(self, change: MemberChange) -> None:
        self.write(
            """
            INSERT INTO member_changes (change_id, order_id, project_id, team_id, kind, leaving_expert_id,
                                        joining_expert_id, joining_role, effective_from, reason, requested_by,
                                        requested_at, status)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            """,
            change.change_id,
            change.order_id,
            change.project_id,
            change.team_id,
            change.kind,
            change.leaving_expert_id,
            change.joining_expert_id,
            change.joining_role,
            change.effective_from,
            change.reason,
            change.requested_by,
            change.requested_at,
            change.status.value,
        )

    async def decide_member_change(self, change: MemberChange) -> None:
        self.write(
            "UPDATE member_changes SET status = $2, rule = $3, decided_by = $4, decision_reason = $5, decided_at = $6 "
            "WHERE change_id = $1",
            change.change_id,
            change.status.value,
            change.rule,
            change.decided_by,
            change.decision_reason,
            change.decided_at,
        )

    async def change_team(self, change: MemberChange) -> None:
        """An approved change: the leaving person is off the team from its date, the joining one on it."""
        day = change.effective_from
        if change.leaving_expert_id is not None:
            self.write(
                "UPDATE project_members SET valid_to = $3 "
                "WHERE project_id = $1 AND expert_id = $2 AND valid_from <= $3 AND $3 < valid_to",
                change.project_id,
                change.leaving_expert_id,
                day,
            )
        if change.joining_expert_id is not None:
            self.write(
                "INSERT INTO project_members (project_id, expert_id, role, valid_from) VALUES ($1, $2, $3, $4)",
                change.project_id,
                change.joining_expert_id,
                change.joining_role or "member",
                day,
            )

    async def end_project(self, project: Project, reason: str) -> None:
        """The project ended on `project.ended_on`: everyone on its team (and anyone due to join later)
        is free from that day."""
        assert project.ended_on is not None
        self.write(
            "UPDATE projects SET status = 'ended', ended_on = $2, ended_reason = $3 WHERE project_id = $1",
            project.project_id,
            project.ended_on,
            reason,
        )
        self.write(
            "UPDATE project_members SET valid_to = GREATEST(valid_from, LEAST(valid_to, $2)) WHERE project_id = $1",
            project.project_id,
            project.ended_on,
        )

    async def extend_project(self, project: Project) -> None:
        self.write(
            "UPDATE projects SET service_months = $2, service_end = $3 WHERE project_id = $1",
            project.project_id,
            project.service_months,
            project.planned_end,
        )

    # ---- objections ---------------------------------------------------------------------------

    async def objection(self, objection_id: str) -> Objection | None:
        row = await (await self.reading()).fetchrow(
            "SELECT * FROM award_objections WHERE objection_id = $1 FOR UPDATE", objection_id
        )
        return _objection(row) if row else None

    async def objections_to(self, award_id: str) -> list[Objection]:
        rows = await (await self.reading()).fetch(
            "SELECT * FROM award_objections WHERE award_id = $1 ORDER BY lodged_at, objection_id", award_id
        )
        return [_objection(r) for r in rows]

    async def add_objection(self, objection: Objection) -> None:
        self.write(
            """
            INSERT INTO award_objections (objection_id, award_id, order_id, application_id, team_id, grounds,
                                          lodged_by, lodged_at, status)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            objection.objection_id,
            objection.award_id,
            objection.order_id,
            objection.application_id,
            objection.team_id,
            objection.grounds,
            objection.lodged_by,
            objection.lodged_at,
            objection.status.value,
        )

    async def decide_objections(self, objections: Iterable[Objection]) -> None:
        self.write_many(
            "UPDATE award_objections SET status = $2, decided_by = $3, reason = $4, decided_at = $5 "
            "WHERE objection_id = $1",
            [(o.objection_id, o.status.value, o.decided_by, o.reason, o.decided_at) for o in objections],
        )

    # ---- continued support (继续支持) ------------------------------------------------------------

    async def record_continued_support(self, event: ContinuedFundingEligible) -> None:
        """The team may apply for continued support through the project (its latest excellent review)."""
        self.write(
            """
            INSERT INTO continued_support (team_id, project_id, order_id, review_id, year, eligible_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (team_id, project_id) DO UPDATE SET review_id = EXCLUDED.review_id, year = EXCLUDED.year,
                eligible_at = EXCLUDED.eligible_at
            WHERE continued_support.year <= EXCLUDED.year
            """,
            event.team_id,
            event.project_id,
            event.order_id,
            event.review_id,
            event.year,
            event.eligible_at,
        )

    async def continued_support(self, team_ids: Iterable[str]) -> dict[str, list[str]]:
        """For each of these teams eligible for continued support, its projects, latest review first."""
        rows = await (await self.reading()).fetch(
            "SELECT team_id, project_id FROM continued_support WHERE team_id = ANY($1::text[]) "
            "ORDER BY team_id, year DESC, project_id",
            sorted(set(team_ids)),
        )
        eligible: dict[str, list[str]] = {}
        for r in rows:
            eligible.setdefault(r["team_id"], []).append(r["project_id"])
        return eligible

    async def available_teams(self, order: OrderProfile, limit: int) -> list[TeamProfile]:
        """Teams known from applications, whose lead shares a specialty with the order, whose
        people are all free and who are not suspended (at most `limit`, most recent first)."""
        rows = await (await self.reading()).fetch(
            """
            SELECT * FROM (
                SELECT DISTINCT ON (a.team_id) a.team_id, a.team_name, a.lead_expert_id, a.member_ids,
                       a.local_talent_ids, a.received_at
                FROM applications a JOIN experts lead ON lead.expert_id = a.lead_expert_id
                WHERE lead.specialties && $1::text[]
                ORDER BY a.team_id, a.received_at DESC
            ) latest ORDER BY received_at DESC LIMIT $2
            """,
            sorted(order.wanted),
            limit,
        )
        people = {p for r in rows for p in (r["lead_expert_id"], *r["member_ids"], *r["local_talent_ids"])}
        experts = await self.experts(people)
        suspended = await self.suspended([*(r["team_id"] for r in rows), *people])
        teams = []
        for r in rows:
            ids = (r["lead_expert_id"], *r["member_ids"], *r["local_talent_ids"])
            if r["team_id"] in suspended or r["lead_expert_id"] in suspended or any(i not in experts for i in ids):
                continue
            if any(experts[i].active_teams > 0 for i in ids):
                continue
            teams.append(
                TeamProfile(
                    team_id=r["team_id"],
                    name=r["team_name"],
                    lead=experts[r["lead_expert_id"]],
                    members=tuple(experts[i] for i in r["member_ids"]),
                    local_talents=tuple(experts[i] for i in r["local_talent_ids"]),
                )
            )
        return teams

    async def team_profiles(self, applications: Sequence[Application]) -> dict[str, TeamProfile]:
        """The teams of these applications, keyed by application id."""
        people = {p for a in applications for p in a.expert_ids}
        experts = await self.experts(people)
        profiles = {}
        for a in applications:
            if any(p not in experts for p in a.expert_ids):
                continue
            t = a.team
            profiles[a.application_id] = TeamProfile(
                team_id=t.team_id,
                name=t.name,
                lead=experts[t.lead_expert_id],
                members=tuple(experts[i] for i in t.member_expert_ids),
                local_talents=tuple(experts[i] for i in t.local_talent_expert_ids),
            )
        return profiles

    # ---- suspensions --------------------------------------------------------------------------

    async def suspend(self, event: TeamSuspended) -> None:
        self.write_many(
            """
            INSERT INTO suspensions (suspended_id, kind, review_id, suspended_from, suspended_until, reason)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (suspended_id, review_id) DO UPDATE SET
                suspended_from = EXCLUDED.suspended_from, suspended_until = EXCLUDED.suspended_until,
                reason = EXCLUDED.reason, lifted_at = NULL
            """,
            [
                (event.team_id, "team", event.review_id, event.suspended_from, event.suspended_until, event.reason),
                (
                    event.lead_expert_id,
                    "expert",
                    event.review_id,
                    event.suspended_from,
                    event.suspended_until,
                    event.reason,
                ),
            ],
        )

    async def lift(self, team_id: str, lead_expert_id: str, review_id: str, at: datetime) -> int:
        result: str = await (await self.reading()).execute(
            "UPDATE suspensions SET lifted_at = $4 WHERE review_id = $3 AND suspended_id = ANY(ARRAY[$1, $2]) "
            "AND lifted_at IS NULL",
            team_id,
            lead_expert_id,
            review_id,
            at,
        )
        return int(result.split()[-1])

    async def suspended(self, ids: Iterable[str]) -> set[str]:
        rows = await (await self.reading()).fetch(
            "SELECT DISTINCT suspended_id FROM suspensions WHERE suspended_id = ANY($1::text[]) "
            "AND lifted_at IS NULL AND suspended_from <= $2 AND $2 < suspended_until",
            sorted(set(ids)),
            self._today,
        )
        return {r["suspended_id"] for r in rows}


def _order(row: Any) -> PublishedOrder:
    return PublishedOrder(
        order_id=row["order_id"],
        place=Place.model_validate(row["place"]),
        industry=row["industry"],
        needs=frozenset(row["needs"]),
        title=row["title"],
        call=row["call"],
        service_period=ServicePeriod(start=row["service_start"], months=row["service_months"]),
        funding_asked_fen=row["funding_asked_fen"],
        status=OrderStatus(row["status"]),
        awarded_application_id=row["awarded_application_id"],
    )


def _project(row: Any, members: Sequence[Any]) -> Project:
    return Project(
        project_id=row["project_id"],
        order_id=row["order_id"],
        team_id=row["team_id"],
        team_name=row["team_name"],
        county_code=row["county_code"],
        status=ProjectStatus(row["status"]),
        service_start=row["service_start"],
        service_months=row["service_months"],
        original_months=row["original_months"],
        memberships=tuple(Membership(m["expert_id"], m["role"], m["valid_from"], m["valid_to"]) for m in members),
        ended_on=row["ended_on"],
    )


def _member_change(row: Any) -> MemberChange:
    return MemberChange(
        change_id=row["change_id"],
        order_id=row["order_id"],
        project_id=row["project_id"],
        team_id=row["team_id"],
        kind=row["kind"],
        leaving_expert_id=row["leaving_expert_id"],
        joining_expert_id=row["joining_expert_id"],
        joining_role=row["joining_role"],
        effective_from=row["effective_from"],
        reason=row["reason"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        status=ChangeStatus(row["status"]),
        rule=row["rule"],
        decided_by=row["decided_by"],
        decision_reason=row["decision_reason"],
        decided_at=row["decided_at"],
    )


def _award(row: Any) -> Award:
    return Award(
        order_id=row["order_id"],
        round=row["round"],
        application_id=row["application_id"],
        status=AwardStatus(row["status"]),
        announced_on=row["announced_on"],
        notice_ends_on=row["notice_ends_on"],
        awarded_by=row["awarded_by"],
        announced_at=row["announced_at"],
        correlation_id=row["correlation_id"],
        announced_event_id=row["announced_event_id"],
        approved_fen=row["approved_fen"],
    )


def _objection(row: Any) -> Objection:
    return Objection(
        objection_id=row["objection_id"],
        award_id=row["award_id"],
        order_id=row["order_id"],
        application_id=row["application_id"],
        team_id=row["team_id"],
        grounds=row["grounds"],
        lodged_by=row["lodged_by"],
        lodged_at=row["lodged_at"],
        status=ObjectionStatus(row["status"]),
        decided_by=row["decided_by"],
        reason=row["reason"],
        decided_at=row["decided_at"],
    )


def _application(row: Any) -> Application:
    return Application(
        application_id=row["application_id"],
        order_id=row["order_id"],
        team=TeamComposition(
            team_id=row["team_id"],
            name=row["team_name"],
            lead_expert_id=row["lead_expert_id"],
            member_expert_ids=tuple(row["member_ids"]),
            local_talent_expert_ids=tuple(row["local_talent_ids"]),
        ),
        plan=row["plan"],
        site=row["site"],
        service_period=ServicePeriod(start=row["service_start"], months=row["service_months"]),
        funding_asked_fen=row["funding_asked_fen"],
        status=ApplicationStatus(row["status"]),
        continued_support_of=row["continued_support_of"],
    )


async def prefetch_known_experts(unit: UnitOfWork, conn: Connection, envelopes: Sequence[Envelope]) -> None:
    """Which experts a batch's registrations and updates name are registered already: one read."""
    registrations = {ExpertRegistered.EVENT_TYPE, ExpertUpdated.EVENT_TYPE}
    await unit.part(MatchingRepository, lambda: MatchingRepository(conn)).load_known_experts(
        e.subject for e in envelopes if e.type in registrations
    )
