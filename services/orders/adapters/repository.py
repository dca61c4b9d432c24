"""Orders in PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from services.orders.domain.model import Order, OrderStatus
from shared.contract.envelope import Envelope
from shared.contract.events.orders import Demand
from shared.db.types import Connection

_SAVE = """
WITH saved AS (
    INSERT INTO orders (order_id, county_code, county_name, township, village, deep_poverty, industry, title,
                        demand, funding_asked_fen, service_start, service_months, submitted_by, status, revision,
                        call, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)
    ON CONFLICT (order_id) DO UPDATE SET
        county_name = EXCLUDED.county_name, township = EXCLUDED.township, village = EXCLUDED.village,
        deep_poverty = EXCLUDED.deep_poverty, industry = EXCLUDED.industry, title = EXCLUDED.title,
        demand = EXCLUDED.demand, funding_asked_fen = EXCLUDED.funding_asked_fen,
        service_start = EXCLUDED.service_start, service_months = EXCLUDED.service_months,
        submitted_by = EXCLUDED.submitted_by, status = EXCLUDED.status, revision = EXCLUDED.revision,
        call = EXCLUDED.call, updated_at = EXCLUDED.updated_at
    RETURNING order_id
)
INSERT INTO order_history (order_id, status, event_type, cause_event_id, cause_source, decided_by, note, at)
SELECT order_id, $14, $18, $19, $20, $21, $22, $17 FROM saved
"""
"""The order and its history line in one statement (one round trip)."""


class OrderRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, order_id: str) -> Order | None:
        """The order, locked for the rest of the transaction."""
        row = await self._conn.fetchrow(
            "SELECT order_id, demand, submitted_by, status, revision, call FROM orders WHERE order_id = $1 FOR UPDATE",
            order_id,
        )
        if row is None:
            return None
        return Order(
            order_id=row["order_id"],
            demand=Demand.model_validate(row["demand"]),
            submitted_by=row["submitted_by"],
            status=OrderStatus(row["status"]),
            revision=row["revision"],
            call=row["call"],
        )

    async def save(
        self,
        order: Order,
        *,
        event_type: str,
        cause: Envelope,
        decided_by: str,
        note: str | None,
        at: datetime,
    ) -> None:
        place, demand = order.demand.place, order.demand
        await self._conn.execute(
            _SAVE,
            order.order_id,
            place.county_code,
            place.county_name,
            place.township,
            place.village,
            place.deep_poverty_township,
            demand.industry,
            demand.title,
            demand.model_dump(mode="json"),
            demand.funding_asked_fen,
            demand.service_period.start,
            demand.service_period.months,
            order.submitted_by,
            order.status.value,
            order.revision,
            order.call,
            at,
            event_type,
            cause.id,
            cause.source,
            decided_by,
            note,
        )
