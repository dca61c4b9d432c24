"""No impersonation: each event type may only come from the sources entitled to send it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from .registry import REGISTRY, EventRegistry

_COUNTY_SOURCE = re.compile(r"^/counties/(500\d{3})(?:/.*)?$")


class SourcePolicy:
    """Allowed `source` patterns (shell-style globs) per event type.

    Defaults come from the event registry; overrides (a service's `AUTHORIZED_SOURCES`
    setting, type -> list of patterns) replace the list for the types they name.
    """

    def __init__(self, allowed: Mapping[str, Sequence[str]]) -> None:
        self._allowed = {t: tuple(patterns) for t, patterns in allowed.items()}

    @classmethod
    def of(
        cls, registry: EventRegistry = REGISTRY, overrides: Mapping[str, Sequence[str]] | None = None
    ) -> SourcePolicy:
        allowed: dict[str, Sequence[str]] = {spec.type: spec.senders for spec in registry}
        allowed.update(overrides or {})
        return cls(allowed)

    def allows(self, event_type: str, source: str) -> bool:
        return any(fnmatchcase(source, pattern) for pattern in self._allowed.get(event_type, ()))

    def senders(self, event_type: str) -> tuple[str, ...]:
        return self._allowed.get(event_type, ())


def county_of(source: str) -> str | None:
    """The county code a county system's source speaks for ('/counties/500240' -> '500240')."""
    match = _COUNTY_SOURCE.match(source)
    return match.group(1) if match else None
