"""Funding's state and ledger in PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.funding.domain import ledger
from services.funding.domain.model import Grant, GrantStatus, Person, Release, ReleaseStatus
from shared.contract.events.funding import IncentiveGranted, Payee, TeamSuspended, Tranche
from shared.db.types import Connection

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

_YEAR_POSITION = """
SELECT envelope_fen, committed_fen, EXISTS (SELECT 1 FROM grants WHERE order_id = $2) AS order_has_grant
FROM budget_years WHERE year = $1
FOR UPDATE
"""


@dataclass(frozen=True, slots=True)
class YearPosition:
    envelope_fen: int
    committed_fen: int
    order_has_grant: bool


class FundingRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # ---- the ledger ---------------------------------------------------------------------------

    async def post(
        self, entry: ledger.Entry, *, at: datetime, grant_id: str | None, cause_event_id: str | None
    ) -> None:
        """The entry and its lines in one statement; a commit also adds to its year's committed total."""
        committed_year, committed_fen = None, 0
        if entry.kind == "commit":
            account, amount = next((a, -n) for a, n in entry.lines if a.startswith("budget:"))
            committed_year, committed_fen = int(account.removeprefix("budget:")), amount
        await self._conn.execute(
            _POST,
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

    async def balance(self, account: str) -> int:
        value = await self._conn.fetchval(
            "SELECT coalesce(sum(amount_fen), 0) FROM journal_lines WHERE account = $1", account
        )
        return int(value)

    # ---- budget envelope ----------------------------------------------------------------------

    async def year_position(
        self, year: int, order_id: str, default_fen: int, at: datetime, cause_event_id: str | None
    ) -> YearPosition:
        """The year's envelope (locked for this transaction; a new year starts at the policy default),
        what it has committed, and whether the order already has a grant: one round trip."""
        row = await self._conn.fetchrow(_YEAR_POSITION, year, order_id)
        if row is None:
            default_by = "policy default (POLICY_ANNUAL_ENVELOPE_FEN)"
            await self.set_envelope(year, default_fen, default_by, at, cause_event_id)
            row = await self._conn.fetchrow(_YEAR_POSITION, year, order_id)
            assert row is not None
        return YearPosition(int(row["envelope_fen"]), int(row["committed_fen"]), bool(row["order_has_grant"]))

    async def set_envelope(
        self, year: int, amount_fen: int, set_by: str, at: datetime, cause_event_id: str | None
    ) -> int:
        """Set the envelope; returns the change. The ledger's appropriation follows the change."""
        previous = await self._conn.fetchval("SELECT envelope_fen FROM budget_years WHERE year = $1 FOR UPDATE", year)
        await self._conn.execute(
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
            await self.post(ledger.appropriate(year, delta, memo), at=at, grant_id=None, cause_event_id=cause_event_id)
        return delta

    async def committed(self, year: int) -> int:
        """What the year's envelope has granted to open grants."""
        committed = await self._conn.fetchval("SELECT committed_fen FROM budget_years WHERE year = $1", year)
        return int(committed or 0)

    # ---- grants -------------------------------------------------------------------------------

    async def grant_for_order(self, order_id: str) -> Grant | None:
        row = await self._conn.fetchrow("SELECT * FROM grants WHERE order_id = $1 FOR UPDATE", order_id)
        return _grant(row) if row else None

    async def held_grants(self, year: int) -> list[Grant]:
        rows = await self._conn.fetch(
            "SELECT * FROM grants WHERE budget_year = $1 AND status = 'held' ORDER BY created_at, grant_id FOR UPDATE",
            year,
        )
        return [_grant(r) for r in rows]

    async def save_grant(self, grant: Grant, at: datetime, held_reason: str | None = None) -> None:
        await self._conn.execute(
            """
            INSERT INTO grants (grant_id, project_id, order_id, team_id, payee, lead_expert_id, people, amount_fen,
                                budget_year, tranches, status, released_tranches, withheld_fen, held_reason,
                                created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
            ON CONFLICT (grant_id) DO UPDATE SET status = EXCLUDED.status,
                released_tranches = EXCLUDED.released_tranches, withheld_fen = EXCLUDED.withheld_fen,
                held_reason = EXCLUDED.held_reason, updated_at = EXCLUDED.updated_at
            """,
            grant.grant_id,
            grant.project_id,
            grant.order_id,
            grant.team_id,
            grant.payee.model_dump(mode="json"),
            grant.lead_expert_id,
            [{"expert_id": p.expert_id, "name": p.name, "role": p.role} for p in grant.people],
            grant.amount_fen,
            grant.budget_year,
            [t.model_dump(mode="json") for t in grant.tranches],
            grant.status.value,
            grant.released_tranches,
            grant.withheld_fen,
            held_reason,
            at,
        )

    # ---- releases -----------------------------------------------------------------------------

    async def add_release(self, release: Release, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO releases (release_id, grant_id, order_id, tranche, amount_fen, status, attempts, "
            "released_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            release.release_id,
            release.grant_id,
            release.order_id,
            release.tranche,
            release.amount_fen,
            release.status.value,
            release.attempts,
            at,
        )

    async def release(self, release_id: str) -> Release | None:
        row = await self._conn.fetchrow("SELECT * FROM releases WHERE release_id = $1 FOR UPDATE", release_id)
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
        await self._conn.execute(
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
        inserted = await self._conn.fetchval(
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
        await self._conn.executemany(
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
        self, review_id: str, order_id: str, team_id: str, deadline: Any, reason: str, at: datetime
    ) -> None:
        await self._conn.execute(
            "INSERT INTO rectifications (review_id, order_id, team_id, deadline, reason, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            review_id,
            order_id,
            team_id,
            deadline,
            reason,
            at,
        )

    async def add_suspension(self, suspension: TeamSuspended, correlation_id: str, cause_event_id: str) -> None:
        await self._conn.execute(
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
        rows: list[Any] = await self._conn.fetch(
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
    payee = row["payee"] if isinstance(row["payee"], dict) else json.loads(row["payee"])
    return Grant(
        grant_id=row["grant_id"],
        project_id=row["project_id"],
        order_id=row["order_id"],
        team_id=row["team_id"],
        payee=Payee.model_validate(payee),
        lead_expert_id=row["lead_expert_id"],
        people=tuple(Person(p["expert_id"], p["name"], p["role"]) for p in row["people"]),
        amount_fen=row["amount_fen"],
        budget_year=row["budget_year"],
        tranches=tuple(Tranche.model_validate(t) for t in row["tranches"]),
        status=GrantStatus(row["status"]),
        released_tranches=row["released_tranches"],
        withheld_fen=row["withheld_fen"],
    )
