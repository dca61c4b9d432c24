"""Funding's state and ledger in PostgreSQL, through the transaction's unit of work.

The hot path (a TeamAccepted opening a grant: commit and release entries, the grant, its first
release) is kept in memory and written at the unit's flush in one pipelined statement per
table; the year's envelope and committed total are read (and locked) once per unit and kept
up to date in memory. Every other read or write first flushes what is pending, so a handler
always reads its own unit's writes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.funding.domain import ledger
from services.funding.domain.model import (
    Grant,
    GrantStatus,
    Person,
    Rectification,
    RectificationStatus,
    Release,
    ReleaseStatus,
)
from shared.contract.envelope import Envelope
from shared.contract.events.funding import IncentiveGranted, Payee, TeamSuspended, Tranche
from shared.contract.events.orders import ServicePeriod
from shared.db.types import Connection
from shared.messaging.unit import Repository, UnitOfWork

_POST = """
WITH entry AS (
    INSERT INTO journal_entries (kind, memo, grant_id, cause_event_id, at)
    VALUES ($1, $2, $3, $4, $5) RETURNING entry_id
), committed AS (
    UPDATE budget_years SET committed_fen = committed_fen + $9 WHERE year = $8
)
INSERT INTO journal_lines (entry_id, account, amount_fen)
SELECT entry.entry_id, line.account, line.amount_fen
FROM entry, unnest($6::text[], $7::bigint[]) AS line (account, amount_fen)
"""

_YEAR = "SELECT envelope_fen, committed_fen FROM budget_years WHERE year = $1 FOR UPDATE"

_SAVE_GRANT = """
INSERT INTO grants (grant_id, project_id, order_id, team_id, payee, lead_expert_id, people, amount_fen,
                    budget_year, tranches, status, released_tranches, withheld_fen, held_reason,
                    created_at, updated_at, forfeited_fen, continued_support_of, asked_fen, service_start,
                    service_months, ended_on, served_share_fen, returned_fen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18, $19, $20, $21, $22,
        $23)
ON CONFLICT (grant_id) DO UPDATE SET status = EXCLUDED.status,
    released_tranches = EXCLUDED.released_tranches, withheld_fen = EXCLUDED.withheld_fen,
    forfeited_fen = EXCLUDED.forfeited_fen, held_reason = EXCLUDED.held_reason, updated_at = EXCLUDED.updated_at,
    lead_expert_id = EXCLUDED.lead_expert_id, people = EXCLUDED.people, tranches = EXCLUDED.tranches,
    service_start = EXCLUDED.service_start, service_months = EXCLUDED.service_months, ended_on = EXCLUDED.ended_on,
    served_share_fen = EXCLUDED.served_share_fen, returned_fen = EXCLUDED.returned_fen
"""

_GRANT = """
SELECT g.*, coalesce((SELECT jsonb_agg(jsonb_build_array(i.expert_id, i.kind)) FROM incentives i
                     WHERE i.project_id = g.project_id), '[]') AS incentives_granted
FROM grants g
"""
"""A grant with the (expert, kind) of every incentive its project granted (once per service period;
rows from before the per-project incentive ids count too: they are found by project)."""

_ADD_RELEASE = """
INSERT INTO releases (release_id, grant_id, order_id, tranche, amount_fen, status, attempts, released_at, updated_at,
                      served_share)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
"""


@dataclass(frozen=True, slots=True)
class YearPosition:
    envelope_fen: int
    committed_fen: int
    order_has_grant: bool


class FundingRepository(Repository):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._years: dict[int, list[int]] = {}
        """year -> [envelope, committed], locked, as of this unit's writes"""
        self._has_grant: dict[str, bool] = {}
        """order id -> whether it has a grant, as of this unit's writes"""
        self._grants: list[tuple[Any, ...]] = []
        self._releases: list[tuple[Any, ...]] = []
        self._posts: list[tuple[Any, ...]] = []

    async def flush(self, conn: Connection) -> None:
        """Write what is held: the plain writes in their order (each handler reads, and so flushes,
        before it updates what an earlier event of the unit added), then grants, their releases and
        the journal, in that order, in one statement each."""
        await super().flush(conn)
        grants, releases, posts = self._grants, self._releases, self._posts
        self._grants, self._releases, self._posts = [], [], []
        for statement, rows in ((_SAVE_GRANT, grants), (_ADD_RELEASE, releases), (_POST, posts)):
            if len(rows) == 1:
                await conn.execute(statement, *rows[0])
            elif rows:
                await conn.executemany(statement, rows)

    async def load_grant_owners(self, order_ids: Sequence[str]) -> None:
        """Which of these orders already have a grant, in one statement."""
        wanted = [o for o in dict.fromkeys(order_ids) if o not in self._has_grant]
        if not wanted:
            return
        conn = await self.reading()
        owners = {
            r["order_id"] for r in await conn.fetch("SELECT order_id FROM grants WHERE order_id = ANY($1)", wanted)
        }
        for order_id in wanted:
            self._has_grant[order_id] = order_id in owners

    # ---- the ledger ---------------------------------------------------------------------------

    def post(self, entry: ledger.Entry, *, at: datetime, grant_id: str | None, cause_event_id: str | None) -> None:
        """The entry and its lines (written at the flush, in one statement each); a commit also adds
        to its year's committed total, a give-back (forfeited money of an early end) takes from it."""
        committed_year, committed_fen = None, 0
        if entry.kind in ("commit", "give_back"):
            account, amount = next((a, -n) for a, n in entry.lines if a.startswith("budget:"))
            committed_year, committed_fen = int(account.removeprefix("budget:")), amount
            if committed_year in self._years:
                self._years[committed_year][1] += committed_fen
        self._posts.append(
            (
                entry.kind,
                entry.memo,
                grant_id,
                cause_event_id,
                at,
                [account for account, _ in entry.lines],
                [amount for _, amount in entry.lines],
                committed_year,
                committed_fen,
            )
        )

    async def balance(self, account: str) -> int:
        conn = await self.reading()
        value = await conn.fetchval(
            "SELECT coalesce(sum(amount_fen), 0) FROM journal_lines WHERE account = $1", account
        )
        return int(value)

    # ---- budget envelope ----------------------------------------------------------------------

    async def year_position(
        self, year: int, order_id: str, default_fen: int, at: datetime, cause_event_id: str | None
    ) -> YearPosition:
        """The year's envelope (locked for this transaction; a new year starts at the policy default),
        what it has committed, and whether the order already has a grant: read once per unit."""
        if year not in self._years:
            conn = await self.reading()
            row = await conn.fetchrow(_YEAR, year)
            if row is None:
                default_by = "policy default (POLICY_ANNUAL_ENVELOPE_FEN)"
                await self.set_envelope(year, default_fen, default_by, at, cause_event_id)
                await self.flush(conn)
                row = await conn.fetchrow(_YEAR, year)
                assert row is not None
            self._years[year] = [int(row["envelope_fen"]), int(row["committed_fen"])]
        await self.load_grant_owners((order_id,))
        envelope_fen, committed_fen = self._years[year]
        return YearPosition(envelope_fen, committed_fen, self._has_grant[order_id])

    async def set_envelope(
        self, year: int, amount_fen: int, set_by: str, at: datetime, cause_event_id: str | None
    ) -> int:
        """Set the envelope; returns the change. The ledger's appropriation follows the change."""
        conn = await self.reading()
        self._years.pop(year, None)
        previous = await conn.fetchval("SELECT envelope_fen FROM budget_years WHERE year = $1 FOR UPDATE", year)
        self.write(
            "INSERT INTO budget_years (year, envelope_fen, set_by, updated_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (year) DO UPDATE SET envelope_fen = EXCLUDED.envelope_fen, set_by = EXCLUDED.set_by, "
            "updated_at = EXCLUDED.updated_at",
            year,
            amount_fen,
            set_by,
            at,
        )
        delta = amount_fen - int(previous or 0)
        if delta:
            memo = f"{year} envelope set to {amount_fen} fen by {set_by}"
            self.post(ledger.appropriate(year, delta, memo), at=at, grant_id=None, cause_event_id=cause_event_id)
        return delta

    async def committed(self, year: int) -> int:
        """What the year's envelope has granted to open grants."""
        conn = await self.reading()
        committed = await conn.fetchval("SELECT committed_fen FROM budget_years WHERE year = $1", year)
        return int(committed or 0)

    # ---- grants -------------------------------------------------------------------------------

    async def grant_for_order(self, order_id: str) -> Grant | None:
        conn = await self.reading()
        row = await conn.fetchrow(f"{_GRANT} WHERE g.order_id = $1 FOR UPDATE OF g", order_id)
        return _grant(row) if row else None

    async def held_grants(self, year: int) -> list[Grant]:
        conn = await self.reading()
        rows = await conn.fetch(
            f"{_GRANT} WHERE g.budget_year = $1 AND g.status = 'held' "
            "ORDER BY g.created_at, g.grant_id FOR UPDATE OF g",
            year,
        )
        return [_grant(r) for r in rows]

    def save_grant(self, grant: Grant, at: datetime, held_reason: str | None = None) -> None:
        """Insert or update the grant (at the flush)."""
        self._has_grant[grant.order_id] = True
        self._grants.append(
            (
                grant.grant_id,
                grant.project_id,
                grant.order_id,
                grant.team_id,
                grant.payee.model_dump(mode="json"),
                grant.lead_expert_id,
                [_person_json(p) for p in grant.people],
                grant.amount_fen,
                grant.budget_year,
                [t.model_dump(mode="json") for t in grant.tranches],
                grant.status.value,
                grant.released_tranches,
                grant.withheld_fen,
                held_reason,
                at,
                grant.forfeited_fen,
                grant.continued_support_of,
                grant.asked,
                grant.service_period.start if grant.service_period else None,
                grant.service_period.months if grant.service_period else None,
                grant.ended_on,
                grant.served_share_fen,
                grant.returned_fen,
            )
        )

    # ---- releases -----------------------------------------------------------------------------

    def add_release(self, release: Release, at: datetime) -> None:
        """A new release (at the flush)."""
        self._releases.append(
            (
                release.release_id,
                release.grant_id,
                release.order_id,
                release.tranche,
                release.amount_fen,
                release.status.value,
                release.attempts,
                at,
                release.served_share,
            )
        )

    async def release(self, release_id: str) -> Release | None:
        conn = await self.reading()
        row = await conn.fetchrow("SELECT * FROM releases WHERE release_id = $1 FOR UPDATE", release_id)
        if row is None:
            return None
        return Release(
            release_id=row["release_id"],
            grant_id=row["grant_id"],
            order_id=row["order_id"],
            tranche=row["tranche"],
            amount_fen=row["amount_fen"],
            status=ReleaseStatus(row["status"]),
            attempts=row["attempts"],
            served_share=row["served_share"],
        )

    async def update_release(
        self,
        release: Release,
        at: datetime,
        *,
        failure: str | None = None,
        reference: str | None = None,
        paid_on: Any = None,
    ) -> None:
        self.write(
            "UPDATE releases SET status = $2, attempts = $3, last_failure = coalesce($4, last_failure), "
            "payment_reference = coalesce($5, payment_reference), paid_on = coalesce($6, paid_on), updated_at = $7 "
            "WHERE release_id = $1",
            release.release_id,
            release.status.value,
            release.attempts,
            failure,
            reference,
            paid_on,
            at,
        )

    # ---- review consequences ------------------------------------------------------------------

    async def claim_review(self, review_id: str, grant_id: str, grade: str, summary: str, at: datetime) -> bool:
        """Record that a review's consequence applies; False if it already did."""
        inserted = await (await self.reading()).fetchval(
            "INSERT INTO review_consequences (review_id, grant_id, grade, summary, applied_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (review_id) DO NOTHING RETURNING 1",
            review_id,
            grant_id,
            grade,
            summary,
            at,
        )
        return inserted is not None

    async def add_incentives(self, incentives: tuple[IncentiveGranted, ...]) -> None:
        self.write_many(
            "INSERT INTO incentives (incentive_id, expert_id, expert_name, kind, project_id, order_id, review_id, "
            "grade, reason, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [
                (
                    i.incentive_id,
                    i.expert_id,
                    i.expert_name,
                    i.kind,
                    i.project_id,
                    i.order_id,
                    i.review_id,
                    i.grade,
                    i.reason,
                    i.granted_at,
                )
                for i in incentives
            ],
        )

    async def add_rectification(
        self, rectification: Rectification, reason: str, at: datetime, correlation_id: str, cause_event_id: str
    ) -> None:
        """A required rectification, with the event that required it (the timer's events follow it)."""
        self.write(
            "INSERT INTO rectifications (review_id, order_id, team_id, deadline, reason, created_at, year, status, "
            "correlation_id, cause_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            rectification.review_id,
            rectification.order_id,
            rectification.team_id,
            rectification.deadline,
            reason,
            at,
            rectification.year,
            rectification.status.value,
            correlation_id,
            cause_event_id,
        )

    async def rectification(self, review_id: str) -> Rectification | None:
        """The rectification a review required, locked for this transaction."""
        conn = await self.reading()
        row = await conn.fetchrow("SELECT * FROM rectifications WHERE review_id = $1 FOR UPDATE", review_id)
        return _rectification(row) if row else None

    def update_rectification(self, rectification: Rectification) -> None:
        self.write(
            "UPDATE rectifications SET status = $2, report_summary = $3, submitted_by = $4, submitted_at = $5, "
            "decided_by = $6, decision_reason = $7, decided_at = $8 WHERE review_id = $1",
            rectification.review_id,
            rectification.status.value,
            rectification.report_summary,
            rectification.submitted_by,
            rectification.submitted_at,
            rectification.decided_by,
            rectification.decision_reason,
            rectification.decided_at,
        )

    async def due_rectifications(self, today: Any) -> list[Any]:
        """Open rectifications whose deadline is before `today` (no report came): review and order ids
        and the event that required each (the caller locks the grant, then the rectification)."""
        rows: list[Any] = await (await self.reading()).fetch(
            "SELECT review_id, order_id, correlation_id, cause_event_id FROM rectifications "
            "WHERE status = 'open' AND deadline < $1 ORDER BY deadline, review_id",
            today,
        )
        return rows

    async def add_suspension(self, suspension: TeamSuspended, correlation_id: str, cause_event_id: str) -> None:
        self.write(
            "INSERT INTO suspensions (review_id, team_id, lead_expert_id, suspended_from, suspended_until, "
            "correlation_id, cause_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            suspension.review_id,
            suspension.team_id,
            suspension.lead_expert_id,
            suspension.suspended_from,
            suspension.suspended_until,
            correlation_id,
            cause_event_id,
        )

    async def lift_due_suspensions(self, today: Any, at: datetime) -> list[Any]:
        """Mark every suspension due by `today` lifted and return them (once: concurrent runs split the rows)."""
        rows: list[Any] = await (await self.reading()).fetch(
            """
            UPDATE suspensions SET lifted_at = $2
            WHERE review_id IN (SELECT review_id FROM suspensions WHERE lifted_at IS NULL AND suspended_until <= $1
                                FOR UPDATE SKIP LOCKED)
            RETURNING review_id, team_id, lead_expert_id, suspended_until, correlation_id, cause_event_id
            """,
            today,
            at,
        )
        return rows


def _grant(row: Any) -> Grant:
    payee = _json(row["payee"])
    return Grant(
        grant_id=row["grant_id"],
        project_id=row["project_id"],
        order_id=row["order_id"],
        team_id=row["team_id"],
        payee=Payee.model_validate(payee),
        lead_expert_id=row["lead_expert_id"],
        people=tuple(_person(p) for p in _json(row["people"])),
        amount_fen=row["amount_fen"],
        budget_year=row["budget_year"],
        tranches=tuple(Tranche.model_validate(t) for t in row["tranches"]),
        status=GrantStatus(row["status"]),
        released_tranches=row["released_tranches"],
        withheld_fen=row["withheld_fen"],
        forfeited_fen=row["forfeited_fen"],
        continued_support_of=row["continued_support_of"],
        asked_fen=row["asked_fen"],
        service_period=(
            ServicePeriod(start=row["service_start"], months=row["service_months"]) if row["service_start"] else None
        ),
        ended_on=row["ended_on"],
        served_share_fen=row["served_share_fen"],
        returned_fen=row["returned_fen"],
        incentives_granted=frozenset((expert_id, kind) for expert_id, kind in _json(row["incentives_granted"])),
    )


def _person_json(person: Person) -> dict[str, Any]:
    return {
        "expert_id": person.expert_id,
        "name": person.name,
        "role": person.role,
        "title_grade": person.title_grade,
        "title": person.title,
        "joined_on": person.joined_on.isoformat() if person.joined_on else None,
        "left_on": person.left_on.isoformat() if person.left_on else None,
    }


def _person(p: dict[str, Any]) -> Person:
    """Rows from before 0004 have no title (unknown, never guessed); from before 0005 no membership dates
    (on the team from the acceptance)."""
    return Person(
        p["expert_id"],
        p["name"],
        p["role"],
        p.get("title_grade"),
        p.get("title"),
        _day(p.get("joined_on")),
        _day(p.get("left_on")),
    )


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _rectification(row: Any) -> Rectification:
    return Rectification(
        review_id=row["review_id"],
        order_id=row["order_id"],
        team_id=row["team_id"],
        deadline=row["deadline"],
        year=row["year"],
        status=RectificationStatus(row["status"]),
        report_summary=row["report_summary"],
        submitted_by=row["submitted_by"],
        submitted_at=row["submitted_at"],
        decided_by=row["decided_by"],
        decision_reason=row["decision_reason"],
        decided_at=row["decided_at"],
    )


async def prefetch_grant_owners(unit: UnitOfWork, conn: Connection, envelopes: Sequence[Envelope]) -> None:
    """Whether the orders of a batch of TeamAccepted (their subject is the order id) have grants: one read."""
    await unit.part(FundingRepository, lambda: FundingRepository(conn)).load_grant_owners(
        [e.subject for e in envelopes]
    )
