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


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FixedClock needs timezone-aware times")
        self._now = when
