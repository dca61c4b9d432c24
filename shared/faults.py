"""Crash points for fault tests: a process dies (SIGKILL, no cleanup) at the most dangerous
moments, e.g. after the database commit and before the Kafka offset commit. Off unless the
environment names them:

    EXPERT_TEAMS_FAULTS="consumer.after_commit=0.02,relay.after_publish=0.05"

Each point fires with its probability each time the code passes it. Never set in production.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from functools import lru_cache

POINTS = ("consumer.after_commit", "relay.after_publish")


@lru_cache(maxsize=1)
def _configured() -> dict[str, float]:
    spec = os.environ.get("EXPERT_TEAMS_FAULTS", "").strip()
    if not spec:
        return {}
    points: dict[str, float] = {}
    for item in spec.split(","):
        name, _, probability = item.partition("=")
        if name.strip() not in POINTS:
            raise ValueError(f"unknown fault point {name!r}; known: {', '.join(POINTS)}")
        points[name.strip()] = float(probability or 1.0)
    return points


def crash_point(name: str) -> None:
    """Die here, at once and without cleanup, with the configured probability."""
    probability = _configured().get(name)
    if probability and random.random() < probability:
        sys.stderr.write(f"FAULT INJECTION: SIGKILL at {name}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
