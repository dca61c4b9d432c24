"""No impersonation: each event type may only come from the sources entitled to send it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from .registry import REGISTRY, EventRegistry

_COUNTY_SOURCE = re.compile(r"^/counties/(500\d{3})(?:/.*)?$")


class SourcePolicy:
    """Allowed `source` patterns (shell-style globs) per event type.

    Defaults come from the event registry; `AUTHORIZED_SOURCES` (a JSON object of
    type -> list of patterns) replaces the list for the types it names.
    """

    def __init__(self, allowed: Mapping[str, Sequence[str]]) -> None:
        self._allowed = {t: tuple(patterns) for t, patterns in allowed.items()}

    @classmethod
    def from_env(cls, registry: EventRegistry = REGISTRY) -> SourcePolicy:
        allowed: dict[str, Sequence[str]] = {spec.type: spec.senders for spec in registry}
        override = os.environ.get("AUTHORIZED_SOURCES")
        if override:
            loaded = json.loads(override)
            if not isinstance(loaded, dict) or not all(
                isinstance(v, list) and all(isinstance(p, str) for p in v) for v in loaded.values()
            ):
                raise ValueError("AUTHORIZED_SOURCES must be a JSON object of type -> list of source patterns")
            allowed.update(loaded)
        return cls(allowed)

    def allows(self, event_type: str, source: str) -> bool:
        return any(fnmatchcase(source, pattern) for pattern in self._allowed.get(event_type, ()))

    def senders(self, event_type: str) -> tuple[str, ...]:
        return self._allowed.get(event_type, ())


def county_of(source: str) -> str | None:
    """The county code a county system's source speaks for ('/counties/500240' -> '500240')."""
    match = _COUNTY_SOURCE.match(source)
    return match.group(1) if match else None
