"""The containers' healthchecks, run on schedule where podman cannot schedule them.

Podman runs a container's healthcheck from a systemd timer; a machine without systemd (our
sandboxes) never runs them, so every container stays `starting` and compose's `--wait` and
`service_healthy` wait for ever (the engine's log says "unable to get systemd connection to
start healthchecks"). `ensure_engine()` starts this loop beside the API service when systemd
does not run: every running container with a healthcheck gets `podman healthcheck run` at its
own interval, which records the result (and the start period's grace) as the timer would.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from .engine import CONTAINERS_CONF

POLL_INTERVAL_S = 1.0
WORKERS = 8
DEFAULT_INTERVAL_S = 30.0
"""Docker's default healthcheck interval, for a healthcheck that names none."""


@dataclass
class Scheduled:
    interval_s: float
    timeout_s: float
    last_run: float = 0.0
    running: Future[None] | None = None


def _podman(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env=os.environ | {"CONTAINERS_CONF": str(CONTAINERS_CONF)},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )


def running_containers() -> list[str]:
    result = _podman("ps", "--quiet", "--no-trunc")
    return result.stdout.split() if result.returncode == 0 else []


def healthcheck_of(container: str) -> Scheduled | None:
    """The container's healthcheck schedule, None when it has no healthcheck."""
    result = _podman("container", "inspect", container)
    if result.returncode != 0:
        return None
    (described,) = json.loads(result.stdout)
    check = described.get("Config", {}).get("Healthcheck") or {}
    test = check.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    interval_ns = check.get("Interval") or 0
    timeout_ns = check.get("Timeout") or 0
    return Scheduled(interval_ns / 1e9 or DEFAULT_INTERVAL_S, timeout_ns / 1e9 or DEFAULT_INTERVAL_S)


def run_check(container: str, timeout_s: float) -> None:
    # exit 1 is an unhealthy result (recorded by podman); the loop goes on whatever happens
    with contextlib.suppress(subprocess.TimeoutExpired):
        _podman("healthcheck", "run", container, timeout_s=timeout_s + 30)


def run_forever() -> None:
    schedule: dict[str, Scheduled] = {}
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="healthcheck") as pool:
        while True:
            current = set(running_containers())
            for gone in set(schedule) - current:
                del schedule[gone]
            now = time.monotonic()
            for container in current:
                if container not in schedule:
                    found = healthcheck_of(container)
                    schedule[container] = found if found is not None else Scheduled(float("inf"), 0.0)
                entry = schedule[container]
                due = now - entry.last_run >= entry.interval_s
                if due and (entry.running is None or entry.running.done()):
                    entry.last_run = now
                    entry.running = pool.submit(run_check, container, entry.timeout_s)
            time.sleep(POLL_INTERVAL_S)


if __name__ == "__main__":
    run_forever()
