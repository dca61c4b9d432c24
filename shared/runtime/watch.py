"""Is the consumer keeping up? A partition is stalled when it has a backlog (the broker's high
watermark is beyond the next offset this service must apply) and the service has not advanced
it for `stall_after_s`. Pure bookkeeping: the runtime feeds it what the consumer knows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Partition:
    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]"


@dataclass(slots=True)
class _Progress:
    next_offset: int | None
    """The offset after the last record applied (None until known)."""
    since: float
    """When next_offset last changed (or the partition was first seen)."""


@dataclass(frozen=True, slots=True)
class Stall:
    partition: Partition
    backlog: int
    stalled_for_s: float
    next_offset: int

    def describe(self) -> str:
        return (
            f"{self.partition}: {self.backlog:,} record(s) waiting at offset {self.next_offset:,}, "
            f"no progress for {self.stalled_for_s:.0f} s"
        )


class PartitionWatch:
    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self._progress: dict[Partition, _Progress] = {}

    def applied(self, partition: Partition, last_offset: int, now: float) -> None:
        """Records up to `last_offset` of `partition` are applied (committed in PostgreSQL)."""
        progress = self._progress.get(partition)
        if progress is None:
            self._progress[partition] = _Progress(last_offset + 1, now)
        elif progress.next_offset is None or last_offset + 1 > progress.next_offset:
            progress.next_offset = last_offset + 1
            progress.since = now

    def needs_start(self, partition: Partition) -> bool:
        """True until the partition's starting offset (its committed offset) is known."""
        progress = self._progress.get(partition)
        return progress is None or progress.next_offset is None

    def started_at(self, partition: Partition, committed: int | None, now: float) -> None:
        """The group's committed offset when the partition was first seen (None: nothing committed)."""
        progress = self._progress.setdefault(partition, _Progress(None, now))
        if progress.next_offset is None:
            progress.next_offset = committed if committed is not None and committed >= 0 else 0

    def stalls(self, high_watermarks: Mapping[Partition, int | None], now: float) -> list[Stall]:
        """The assigned partitions (keys of `high_watermarks`) that are stalled now."""
        found: list[Stall] = []
        for partition, high in high_watermarks.items():
            progress = self._progress.get(partition)
            if high is None or progress is None or progress.next_offset is None:
                continue
            backlog = high - progress.next_offset
            if backlog <= 0:
                progress.since = now  # caught up: the clock of a stall starts with the next backlog
                continue
            waited = now - progress.since
            if waited >= self.stall_after_s:
                found.append(Stall(partition, backlog, waited, progress.next_offset))
        return found

    def lag(self, high_watermarks: Mapping[Partition, int | None]) -> dict[Partition, int]:
        """Records not yet applied on each assigned partition whose position is known."""
        found: dict[Partition, int] = {}
        for partition, high in high_watermarks.items():
            progress = self._progress.get(partition)
            if high is not None and progress is not None and progress.next_offset is not None:
                found[partition] = max(0, high - progress.next_offset)
        return found

    def forget(self, keep: set[Partition]) -> None:
        """Drop partitions no longer assigned (after a rebalance)."""
        for partition in list(self._progress):
            if partition not in keep:
                del self._progress[partition]
