"""Crash points for fault tests: a process dies (SIGKILL, no cleanup) at the most dangerous
moments, e.g. after the database commit and before the Kafka offset commit. Off unless the
service's settings name them (read once at start):

    EXPERT_TEAMS_FAULTS="consumer.after_commit=0.02,relay.after_publish=0.05"

Each point fires with its probability each time the code passes it. Never set in production.
With EXPERT_TEAMS_FAULTS_LOG, a point that fires first appends a line (JSON: pid, point, time) to
that file and syncs it, so that a test can tell the deaths it armed from any other.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

POINTS = ("consumer.after_commit", "relay.after_publish")


@dataclass(frozen=True, slots=True)
class CrashPoints:
    probabilities: Mapping[str, float] = field(default_factory=dict)
    record_to: Path | None = None

    @classmethod
    def parse(cls, spec: str, record_to: Path | None = None) -> CrashPoints:
        """`name=probability,...` (a name alone: always); an unknown name stops the start."""
        points: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, probability = item.partition("=")
            if name.strip() not in POINTS:
                raise ValueError(f"unknown fault point {name!r}; known: {', '.join(POINTS)}")
            points[name.strip()] = float(probability or 1.0)
        return cls(points, record_to)

    def hit(self, name: str) -> None:
        """Die here, at once and without cleanup, with the configured probability."""
        probability = self.probabilities.get(name)
        if probability and random.random() < probability:
            sys.stderr.write(f"FAULT INJECTION: SIGKILL at {name}\n")
            sys.stderr.flush()
            if self.record_to is not None:
                _record(self.record_to, name)
            os.kill(os.getpid(), signal.SIGKILL)


def _record(path: Path, name: str) -> None:
    line = json.dumps({"pid": os.getpid(), "point": name, "at": time.time()}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


NO_CRASHES = CrashPoints()
