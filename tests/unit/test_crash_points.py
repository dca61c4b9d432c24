"""Crash points are settings read once at start: armed only when named, an unknown name stops
the start, and an unarmed point never fires."""

from __future__ import annotations

import pytest

from shared.faults import NO_CRASHES, CrashPoints
from shared.settings import ServiceSettings


def test_crash_points_are_read_from_the_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPERT_TEAMS_FAULTS", "consumer.after_commit=0.02, relay.after_publish")
    settings = ServiceSettings(database_url="postgresql:///石柱县")
    armed = CrashPoints.parse(settings.faults)
    assert armed.probabilities == {"consumer.after_commit": 0.02, "relay.after_publish": 1.0}
    monkeypatch.delenv("EXPERT_TEAMS_FAULTS")
    assert CrashPoints.parse(ServiceSettings(database_url="postgresql:///orders").faults) == NO_CRASHES


def test_an_unknown_crash_point_stops_the_start() -> None:
    with pytest.raises(ValueError, match=r"unknown fault point 'consumer\.before_commit'"):
        CrashPoints.parse("consumer.before_commit=0.5")


def test_no_crash_point_fires_unless_armed() -> None:
    assert CrashPoints.parse("").probabilities == {}
    NO_CRASHES.hit("consumer.after_commit")  # returns: the process is still here
    CrashPoints.parse("relay.after_publish=0").hit("relay.after_publish")
