"""A transaction's unit of work: what its handlers read and write, kept until it commits.

In the consumer's optimistic run one unit serves the whole batch: an aggregate is read once
(and locked) however many of the batch's events touch it, and every write is flushed in a
few statements just before the transaction commits. In the careful run each record has its
own unit, flushed inside its savepoint, so one record's refusal never undoes another's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

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
