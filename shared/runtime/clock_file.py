"""The programme's time as a scenario drives it, for demo and test stacks (never production):
the services' clock reads a file the scenario writes (`CLOCK_FILE`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


class DrivenClock:
    """The programme's time as a scenario sets it (demo and tests only, never in production):
    a file holds the moment the scenario set and the wall-clock instant it set it, and time runs
    on from there at the wall clock's pace. Without the file, the system clock. The file is read
    again whenever it changes (one `stat` per reading)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        wall = datetime.now(UTC)
        try:
            status = self.path.stat()
        except FileNotFoundError:
            self._seen, self._offset = None, timedelta(0)
            return wall
        changed = (status.st_ino, status.st_mtime_ns)
        if changed != self._seen:
            moment, set_at = self.path.read_text().split()
            self._offset = datetime.fromisoformat(moment) - datetime.fromisoformat(set_at)
            self._seen = changed
        return wall + self._offset


def set_programme_time(path: Path, moment: datetime) -> None:
    """Make every DrivenClock reading `path` say `moment` now (and run on from there)."""
    if moment.tzinfo is None:
        raise ValueError("the programme's time must be timezone-aware")
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(f"{moment.isoformat()} {datetime.now(UTC).isoformat()}\n")
    os.replace(scratch, path)
