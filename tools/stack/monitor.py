"""Samples the memory of every process of the stack (services, broker, PostgreSQL and its
backends) while a scenario runs, and keeps the peak of their total.

Each process counts its proportional set size (PSS): pages shared by several processes, such as
PostgreSQL's shared buffers mapped by every backend, are divided among them instead of being
counted once per process as RSS would (RSS summed over PostgreSQL's backends counts its shared
buffers many times over)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import psutil


class MemoryMonitor:
    def __init__(self, root_pids: Iterable[int], every_s: float = 0.25) -> None:
        self._roots = list(root_pids)
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-monitor", daemon=True)
        self.peak_bytes = 0
        self.samples = 0

    def _processes(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for pid in self._roots:
            try:
                root = psutil.Process(pid)
                for p in (root, *root.children(recursive=True)):
                    found[p.pid] = p
            except psutil.Error:
                continue
        return list(found.values())

    def sample(self) -> int:
        total = 0
        for process in self._processes():
            try:
                total += _proportional_bytes(process)
            except psutil.Error:
                continue
        self.peak_bytes = max(self.peak_bytes, total)
        self.samples += 1
        return total

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.sample()

    def __enter__(self) -> MemoryMonitor:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


def _proportional_bytes(process: psutil.Process) -> int:
    """PSS where the platform reports it (Linux), RSS elsewhere."""
    try:
        return int(process.memory_full_info().pss)
    except (AttributeError, psutil.AccessDenied):
        return int(process.memory_info().rss)
