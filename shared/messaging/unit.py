"""A transaction's unit of work: what its handlers read and write, kept until it commits.

In the consumer's optimistic run one unit serves the whole batch: an aggregate is read once
(and locked) however many of the batch's events touch it, and every write is flushed in a
few statements just before the transaction commits. In the careful run each record has its
own unit, flushed inside its savepoint, so one record's refusal never undoes another's."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol, Self, TypeVar

from shared.db.types import Connection


class Part(Protocol):
    """A repository (or any writer) that holds writes until the unit is flushed."""

    async def flush(self, conn: Connection) -> None: ...


P = TypeVar("P", bound=Part)


class UnitOfWork:
    def __init__(self) -> None:
        self._parts: dict[type[Part], Part] = {}

    def part(self, kind: type[P], make: Callable[[], P]) -> P:
        """The unit's one `kind` (a repository class), made on first use."""
        existing = self._parts.get(kind)
        if existing is None:
            existing = self._parts[kind] = make()
        return existing  # type: ignore[return-value]

    def parts(self) -> list[Part]:
        return list(self._parts.values())

    async def flush(self, conn: Connection) -> None:
        for part in self._parts.values():
            await part.flush(conn)


class UnitContext(Protocol):
    """What a repository needs of a handler's context (EmitContext is one)."""

    @property
    def conn(self) -> Connection: ...

    @property
    def unit(self) -> UnitOfWork: ...

    def now(self) -> datetime: ...


class Repository:
    """The one repository protocol of the four services, and their one write mode.

    - `X.of(ctx)` is the unit's one repository of its kind: in the consumer's optimistic run the
      whole batch shares it, in the careful run each record has its own.
    - Writes are held (`write`, `write_many`) until the unit is flushed just before the commit,
      in the order they were made; consecutive rows of one statement go in one `executemany`.
    - Reads go through `reading()`, which first flushes what is held: a read sees every write
      made before it (read-your-writes), whatever the repository caches. A write whose answer the
      handler needs (`RETURNING`, a row count) is a read: it runs at once, after the held writes.
    - A repository may hold writes in richer forms (orders: one upsert and one COPY per batch)
      by extending `flush`; it must keep the order that reads and constraints need."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._held: list[tuple[str, list[tuple[Any, ...]]]] = []

    @classmethod
    def of(cls, ctx: UnitContext) -> Self:
        """The repository of the context's unit of work."""
        conn = ctx.conn
        return ctx.unit.part(cls, lambda: cls(conn))

    def write(self, statement: str, *args: Any) -> None:
        if self._held and self._held[-1][0] == statement:
            self._held[-1][1].append(args)
        else:
            self._held.append((statement, [args]))

    def write_many(self, statement: str, rows: Iterable[tuple[Any, ...]]) -> None:
        for row in rows:
            self.write(statement, *row)

    async def reading(self) -> Connection:
        """The connection, once every held write is in the database."""
        await self.flush(self._conn)
        return self._conn

    async def flush(self, conn: Connection) -> None:
        held, self._held = self._held, []
        for statement, rows in held:
            if len(rows) == 1:
                await conn.execute(statement, *rows[0])
            else:
                await conn.executemany(statement, rows)
