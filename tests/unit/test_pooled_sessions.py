"""Pooled connections are returned without asyncpg's session reset (shared/db/pool.py), which is
right only while no code leaves session state on one: a session advisory lock, a LISTEN, a
session variable. These tests read the sources, so that such code fails here instead of
leaking its state to the next user of the connection."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p for folder in ("services", "shared", "tools") for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".sql"}
)
OWN_CONNECTIONS = {
    "shared/messaging/relay.py": "the relay's lock and LISTEN are on a connection of its own (self._connect)",
    "shared/db/migrations.py": "migrate() unlocks its session lock in `finally`",
}

SESSION_LOCK = re.compile(r"pg_(try_)?advisory_lock(_shared)?\s*\(", re.IGNORECASE)
LISTENING = re.compile(r"""(^|[;"'(]\s*)LISTEN\s+\w|add_listener\s*\(""", re.IGNORECASE | re.MULTILINE)
SESSION_VARIABLE = re.compile(
    r"""(^|[;"'(]\s*)SET\s+(SESSION\s+)?(?!LOCAL\b)(\w+\s*(=|\bTO\b)|ROLE\b|SESSION\s+AUTHORIZATION)"""
    r"""|set_config\s*\([^)]*,\s*false\s*\)""",
    re.IGNORECASE | re.MULTILINE,
)


def _where(pattern: re.Pattern[str]) -> set[str]:
    return {str(p.relative_to(ROOT)) for p in SOURCES if pattern.search(p.read_text(encoding="utf-8"))}


def test_session_advisory_locks_are_taken_only_on_connections_that_release_them() -> None:
    assert _where(SESSION_LOCK) <= set(OWN_CONNECTIONS)


def test_only_the_relay_listens_and_on_its_own_connection() -> None:
    assert _where(LISTENING) <= {"shared/messaging/relay.py"}


def test_no_code_sets_a_session_variable() -> None:
    assert _where(SESSION_VARIABLE) == set()


def test_the_checks_see_what_they_look_for() -> None:
    assert SESSION_LOCK.search("SELECT pg_advisory_lock($1)")
    assert SESSION_LOCK.search("SELECT pg_try_advisory_lock($1)")
    assert not SESSION_LOCK.search("SELECT pg_advisory_xact_lock($1)")
    assert LISTENING.search('await conn.execute("LISTEN outbox")') and LISTENING.search("conn.add_listener(ch, cb)")
    assert not LISTENING.search("the Kafka broker cannot listen on it")
    assert SESSION_VARIABLE.search('await conn.execute("SET search_path TO reviews")')
    assert SESSION_VARIABLE.search("SET statement_timeout = 0;")
    assert SESSION_VARIABLE.search("SELECT set_config('jit', 'off', false)")
    assert not SESSION_VARIABLE.search('await conn.execute("SET LOCAL statement_timeout = 100")')
    assert not SESSION_VARIABLE.search("UPDATE inbox SET outcome = $3 WHERE source = $1")
    assert not SESSION_VARIABLE.search("ON CONFLICT (expert_id) DO UPDATE SET\n    name = EXCLUDED.name")
    assert {"shared/messaging/relay.py", "shared/db/migrations.py"} <= _where(SESSION_LOCK)
