"""The programme's time as a scenario drives it, for demo and test stacks (never production):
the services' clock reads a file the scenario writes (`CLOCK_FILE`)."""

from __future__ import annotations

import bisect
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


class DrivenClock:
    """The programme's time as a scenario sets it (demo and tests only, never in production):
    the file holds every setting, one line each (the moment the scenario set and the wall-clock
    instant it set it), and time runs on from the latest at the wall clock's pace. Without the file,
    the system clock. The file is read again whenever it changes (one `stat` per reading).

    Because every setting is kept, `at(wall)` says what the programme's time was at any past
    wall-clock instant (a record's arrival at the broker, say), the same in a rebuild as live."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._set_at: list[datetime] = []
        self._offsets: list[timedelta] = []

    def _read(self) -> bool:
        """Whether the file exists (its settings read if it changed)."""
        try:
            status = self.path.stat()
        except FileNotFoundError:
            self._seen, self._set_at, self._offsets = None, [], []
            return False
        changed = (status.st_ino, status.st_mtime_ns)
        if changed != self._seen:
            settings = []
            for line in self.path.read_text().splitlines():
                if line.strip():
                    moment, set_at = line.split()
                    settings.append((datetime.fromisoformat(set_at), datetime.fromisoformat(moment)))
            settings.sort(key=lambda pair: pair[0])
            self._set_at = [set_at for set_at, _ in settings]
            self._offsets = [moment - set_at for set_at, moment in settings]
            self._seen = changed
        return True

    def now(self) -> datetime:
        wall = datetime.now(UTC)
        if not self._read() or not self._offsets:
            return wall
        return wall + self._offsets[-1]

    def at(self, wall: datetime) -> datetime:
        """The programme's time at the wall-clock instant `wall` (the system clock's before the
        first setting)."""
        if not self._read():
            return wall
        index = bisect.bisect_right(self._set_at, wall) - 1
        return wall + self._offsets[index] if index >= 0 else wall


def set_programme_time(path: Path, moment: datetime) -> None:
    """Make every DrivenClock reading `path` say `moment` now (and run on from there); earlier
    settings are kept, for `DrivenClock.at`."""
    if moment.tzinfo is None:
        raise ValueError("the programme's time must be timezone-aware")
    earlier = path.read_text() if path.exists() else ""
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(f"{earlier}{moment.isoformat()} {datetime.now(UTC).isoformat()}\n")
    os.replace(scratch, path)
