"""Orders in PostgreSQL, through the transaction's unit of work.

An order is read (and locked) at most once per unit, however many of the batch's events touch
it; saves are kept in memory and flushed just before the transaction commits: the orders in
one upsert, their history lines in one COPY."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.orders.domain.model import Order, OrderStatus
from shared.contract.envelope import Envelope
from shared.contract.events.orders import Demand
from shared.db.types import Connection
from shared.messaging.unit import Repository, UnitOfWork

_SELECT = """
SELECT order_id, demand, submitted_by, status, revision, call FROM orders
WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE
"""

_UPSERT = """
INSERT INTO orders (order_id, county_code, county_name, township, village, deep_poverty, industry, title,
                    demand, funding_asked_fen, service_start, service_months, submitted_by, status, revision,
                    call, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (order_id) DO UPDATE SET
    county_name = EXCLUDED.county_name, township = EXCLUDED.township, village = EXCLUDED.village,
    deep_poverty = EXCLUDED.deep_poverty, industry = EXCLUDED.industry, title = EXCLUDED.title,
    demand = EXCLUDED.demand, funding_asked_fen = EXCLUDED.funding_asked_fen,
    service_start = EXCLUDED.service_start, service_months = EXCLUDED.service_months,
    submitted_by = EXCLUDED.submitted_by, status = EXCLUDED.status, revision = EXCLUDED.revision,
    call = EXCLUDED.call, updated_at = EXCLUDED.updated_at
"""

_HISTORY_COLUMNS = ("order_id", "status", "event_type", "cause_event_id", "cause_source", "decided_by", "note", "at")


@dataclass(slots=True)
class _Pending:
    order: Order
    first_saved_at: datetime
    last_saved_at: datetime


def _order(row: Any) -> Order:
    return Order(
        order_id=row["order_id"],
        demand=Demand.model_validate(row["demand"]),
        submitted_by=row["submitted_by"],
        status=OrderStatus(row["status"]),
        revision=row["revision"],
        call=row["call"],
    )


class OrderRepository(Repository):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._known: dict[str, Order | None] = {}
        self._pending: dict[str, _Pending] = {}
        self._history: list[tuple[Any, ...]] = []

    async def load(self, order_ids: Iterable[str]) -> None:
        """Read (and lock) these orders in one statement; absent ones are remembered as absent.
        Reading needs no flush: an order saved in this unit is served from the unit, never re-read."""
        wanted = sorted({order_id for order_id in order_ids if order_id not in self._known})
        if not wanted:
            return
        for row in await self._conn.fetch(_SELECT, wanted):
            self._known[row["order_id"]] = _order(row)
        for order_id in wanted:
            self._known.setdefault(order_id, None)

    async def get(self, order_id: str) -> Order | None:
        """The order as this unit last saw or saved it, locked for the rest of the transaction."""
        if order_id not in self._known:
            await self.load((order_id,))
        return self._known[order_id]

    def save(
        self,
        order: Order,
        *,
        event_type: str,
        cause: Envelope,
        decided_by: str,
        note: str | None,
        at: datetime,
    ) -> None:
        """Keep the new state and its history line until the unit is flushed."""
        self._known[order.order_id] = order
        pending = self._pending.get(order.order_id)
        if pending is None:
            self._pending[order.order_id] = _Pending(order, at, at)
        else:
            pending.order, pending.last_saved_at = order, at
        self._history.append(
            (order.order_id, order.status.value, event_type, cause.id, cause.source, decided_by, note, at)
        )

    async def flush(self, conn: Connection) -> None:
        await super().flush(conn)
        if self._pending:
            await conn.executemany(_UPSERT, [_row(p) for p in self._pending.values()])
        if self._history:
            await conn.copy_records_to_table("order_history", records=self._history, columns=_HISTORY_COLUMNS)
        self._pending.clear()
        self._history.clear()


def _row(pending: _Pending) -> Sequence[Any]:
    order = pending.order
    demand = order.demand
    place = demand.place
    return (
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
        pending.first_saved_at,
        pending.last_saved_at,
    )


async def prefetch_orders(unit: UnitOfWork, conn: Connection, envelopes: Sequence[Envelope]) -> None:
    """The orders a batch of inbound events names (their subject is the order id), in one read."""
    await unit.part(OrderRepository, lambda: OrderRepository(conn)).load(e.subject for e in envelopes)
