"""The service's pool on a real PostgreSQL: a connection goes back to the pool without a round
trip, and what a user left open (a transaction) is still undone before the next user has it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.db.pool import create_pool
from tests.builders import new_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_released_connection_costs_no_round_trip_and_an_open_transaction_is_rolled_back(
    database_factory: Any,
) -> None:
    pool = await create_pool(await database_factory(f"pool_{new_id('DB')[-6:]}"), min_size=1, max_size=1)
    try:
        await pool.execute("CREATE TABLE ledger_lines (memo text)")
        sent: list[str] = []
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.execute("INSERT INTO ledger_lines VALUES ('石柱县 天麻 首批资金')")
        assert sent == ["INSERT INTO ledger_lines VALUES ('石柱县 天麻 首批资金')"]

        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO ledger_lines VALUES ('未提交')")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert [r["memo"] for r in await conn.fetch("SELECT memo FROM ledger_lines")] == ["石柱县 天麻 首批资金"]
    finally:
        await pool.close()
