"""Time is always timezone-aware; services take a clock so tests never sleep."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

PROGRAMME_TZ = ZoneInfo("Asia/Shanghai")
"""Dates of the programme (deadlines, service periods, suspensions) are Chongqing dates."""


def local_date(moment: datetime) -> date:
    """The programme's calendar date of an aware moment."""
    return moment.astimezone(PROGRAMME_TZ).date()


class Clock(Protocol):
    def now(self) -> datetime: ...

    def at(self, wall: datetime) -> datetime:
        """The programme's time at a past wall-clock instant (e.g. when a record reached the
        broker): the same instant for the system clock."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def at(self, wall: datetime) -> datetime:
        return wall


class FixedClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def at(self, wall: datetime) -> datetime:
        """A fixed clock moves only when told: it says nothing of past wall-clock instants, which
        are taken as they are (an event's freshness is judged by the wall clock in such tests)."""
        return wall

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FixedClock needs timezone-aware times")
        self._now = when
