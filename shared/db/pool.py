"""Connection pools and the service's own database."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import structlog

from shared.db.types import Connection

log = structlog.get_logger("shared.db")


async def _init_connection(conn: Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=_dumps, decoder=json.loads, schema="pg_catalog")


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


async def _keep_session(conn: Connection) -> None:
    """A connection returned to the pool is given back as it is: asyncpg's default reset
    (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) cost a round trip at every
    release, on the path of every batch and every relay step. Pooled connections hold no session
    state to undo: locks are transaction-scoped (the relay's session lock and LISTEN have a
    connection of their own; migrations unlock theirs), nothing sets a session variable, and an
    open transaction is still rolled back by asyncpg before this runs. Pinned by
    tests/unit/test_pooled_sessions.py."""


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 8) -> asyncpg.Pool[Any]:
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
    )
    assert pool is not None
    return pool


def database_name(url: str) -> str:
    path = urlsplit(url).path.lstrip("/")
    return path or "postgres"


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database (keeps host, port, query such as ?host=/socket)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def ensure_database(url: str) -> None:
    """Create the URL's database if it does not exist (connects to the server's `postgres` db)."""
    name = database_name(url)
    if name == "postgres":
        return
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await admin.execute(f'CREATE DATABASE "{_quote_ident(name)}"')
                log.info("database created", database=name)
            except asyncpg.DuplicateDatabaseError:
                pass
    finally:
        await admin.close()


async def drop_database(url: str) -> None:
    name = database_name(url)
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{_quote_ident(name)}" WITH (FORCE)')
    finally:
        await admin.close()


def _quote_ident(name: str) -> str:
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"refusing unusual database name {name!r}")
    return name
