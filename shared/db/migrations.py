"""Forward-only SQL migrations, applied at service start.

Each stream (the shared messaging tables, then the service's own tables) is a folder of
`NNNN_description.sql` files applied in order, each in its own transaction, under an
advisory lock so that replicas starting together migrate once. An applied file whose
checksum has changed stops the start: migrations are never edited, only added.

Why not a library: yoyo-migrations (the well-kept choice) needs a synchronous DB-API driver
(psycopg) beside asyncpg; asyncpg-trek is little used. This is 60 lines over asyncpg.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import structlog

from shared.db.types import Connection

log = structlog.get_logger("shared.db.migrations")

_LOCK_KEY = 0x5EED_0001


@dataclass(frozen=True, slots=True)
class Migration:
    stream: str
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def load_stream(stream: str, folder: Path) -> list[Migration]:
    files = sorted(p for p in folder.glob("*.sql") if p.name[:4].isdigit())
    return [Migration(stream, p.stem, p.read_text(encoding="utf-8")) for p in files]


async def migrate(conn: Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is missing; return the applied versions."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   stream text NOT NULL, version text NOT NULL, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (stream, version))"""
        )
        rows = await conn.fetch("SELECT stream, version, checksum FROM schema_migrations")
        done = {(r["stream"], r["version"]): r["checksum"] for r in rows}
        for migration in migrations:
            key = (migration.stream, migration.version)
            if key in done:
                if done[key] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.stream}/{migration.version} was changed after it was applied"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (stream, version, checksum) VALUES ($1, $2, $3)",
                    migration.stream,
                    migration.version,
                    migration.checksum,
                )
            applied_now.append(f"{migration.stream}/{migration.version}")
            log.info("migration applied", stream=migration.stream, version=migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
