"""Reads the public page's data (domain/public_page.py) from the reviews database: published
cycles only, and only the fields the published export shows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.reviews.domain.public_page import PublicCycle, PublicRow, PublicView, render_page
from shared.clock import local_date

_CYCLES = """
SELECT cycle_id, year, published_on, notice_ends_on FROM review_cycles
WHERE status = 'closed' AND published_on IS NOT NULL ORDER BY year DESC, cycle_id
"""
_ROWS = """
SELECT r.order_id, o.title, o.county_code, o.county_name, p.team_name, p.lead_name, p.institution,
       r.grade, r.score, r.status, r.round, ob.status AS objection
FROM reviews r
JOIN projects p USING (order_id)
JOIN published_orders o USING (order_id)
LEFT JOIN objections ob USING (review_id)
WHERE r.cycle_id = $1
ORDER BY o.county_code, r.order_id
"""


async def public_view(pool: Any, query: Mapping[str, str], now: datetime) -> PublicView:
    async with pool.acquire() as conn:
        cycles = tuple(
            PublicCycle(c["cycle_id"], c["year"], c["published_on"], c["notice_ends_on"])
            for c in await conn.fetch(_CYCLES)
        )
        wanted = query.get("cycle")
        cycle = next((c for c in cycles if c.cycle_id == wanted), cycles[0] if cycles else None)
        rows = await conn.fetch(_ROWS, cycle.cycle_id) if cycle else []
    return PublicView(
        cycles=cycles,
        cycle=cycle,
        rows=tuple(
            PublicRow(
                order_id=r["order_id"],
                project=r["title"],
                county_code=r["county_code"],
                county_name=r["county_name"],
                team_name=r["team_name"],
                lead_name=r["lead_name"],
                institution=r["institution"],
                grade=r["grade"],
                score=r["score"],
                status=r["status"],
                round=r["round"],
                objection=r["objection"],
            )
            for r in rows
        ),
        county=query.get("county") or None,
        today=local_date(now),
    )


async def render_results_page(
    pool: Any, query: Mapping[str, str], settings: object, now: datetime
) -> tuple[int, str, bytes]:
    """The public page (shared.runtime.service.Page) at /public/results?cycle=…&county=…"""
    view = await public_view(pool, query, now)
    return 200, "text/html; charset=utf-8", render_page(view).encode("utf-8")
