"""The one write mode of every repository: writes are held until the unit flushes, in the order
they were made, consecutive rows of one statement in one executemany; a read first flushes what
is held, so it sees every earlier write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.messaging.unit import Repository, UnitOfWork

INSERT_SCORE = "INSERT INTO panel_scores (review_id, reviewer_id, score) VALUES ($1, $2, $3)"
INSERT_HISTORY = "INSERT INTO review_history (review_id, note) VALUES ($1, $2)"


class RecordingConnection:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def execute(self, statement: str, *args: Any) -> str:
        self.calls.append(("execute", (statement, args)))
        return "INSERT 0 1"

    async def executemany(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        self.calls.append(("executemany", (statement, rows)))

    async def fetchval(self, statement: str, *args: Any) -> int:
        self.calls.append(("fetchval", (statement, args)))
        return 3


class Context:
    def __init__(self, conn: RecordingConnection) -> None:
        self.conn: Any = conn
        self.unit = UnitOfWork()

    def now(self) -> datetime:
        return datetime(2027, 1, 10, tzinfo=UTC)


async def test_writes_wait_for_the_flush_and_keep_their_order() -> None:
    conn = RecordingConnection()
    repo = Repository.of(Context(conn))
    repo.write(INSERT_SCORE, "R-500240-2027", "王评审", 96)
    repo.write(INSERT_SCORE, "R-500240-2027", "李评审", 94)
    repo.write(INSERT_HISTORY, "R-500240-2027", "two scores for 石柱县's 天麻 project")
    repo.write(INSERT_SCORE, "R-500238-2027", "张评审", 90)
    assert conn.calls == [], "nothing is written before the flush"
    await repo.flush(conn)  # type: ignore[arg-type]
    assert conn.calls == [
        ("executemany", (INSERT_SCORE, [("R-500240-2027", "王评审", 96), ("R-500240-2027", "李评审", 94)])),
        ("execute", (INSERT_HISTORY, ("R-500240-2027", "two scores for 石柱县's 天麻 project"))),
        ("execute", (INSERT_SCORE, ("R-500238-2027", "张评审", 90))),
    ]
    await repo.flush(conn)  # type: ignore[arg-type]
    assert len(conn.calls) == 3, "a flush writes what is held once"


async def test_a_read_sees_every_earlier_write() -> None:
    conn = RecordingConnection()
    context = Context(conn)
    repo = Repository.of(context)
    assert Repository.of(context) is repo, "one repository of a kind per unit"
    repo.write(INSERT_SCORE, "R-500240-2027", "王评审", 96)
    count = await (await repo.reading()).fetchval("SELECT count(*) FROM panel_scores WHERE review_id = $1", "R")
    assert count == 3
    assert [kind for kind, _ in conn.calls] == ["execute", "fetchval"], "the held write went in before the read"
