"""Faults on production's topology (three Kafka nodes, two replicas of every service), timed by
the programme's own calendar so that they land all over the year: the scenario sets the
programme's date as it plays (tools/scenario/calendar.py), and a watcher does each step's faults
when the date reaches it, while the scenario goes on.

The broker and database faults are fixed to steps (so each run has every kind, each at a phase
that has work in flight); the kills of service replicas are drawn from a seed over every step of
the year. The seed is printed; `FAULTS_SEED` replays a run's plan.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

from tests.faults.harness import MAX_POLL_INTERVAL_MS, FaultyStack
from tools.client import TopicObserver
from tools.scenario.calendar import ProgrammeCalendar

BROKER_AND_DATABASE_FAULTS: dict[str, str] = {
    "applications": "kill_broker",
    "awards": "kill_active_controller",
    "first payments": "rolling_restart",
    "service: first half": "pause_replica",
    "review opened": "crash_database",
    "panel scores": "cut_off_broker",
}
"""Which fault each of these steps of the year brings (the rest of the steps: only replica kills)."""

RESTART_TIMEOUT_S = 300.0
"""How long a restarted Kafka node may take to serve again (a busy two-core machine: over a minute)."""

ONE_YEAR_STEPS = (
    "demands",
    "counties",
    "registry",
    "publication",
    "applications",
    "awards",
    "awards in effect",
    "first payments",
    "member change requested",
    "member change decided",
    "service: first half",
    "mid-term check",
    "review opened",
    "reports",
    "panel scores",
    "results published",
    "objections",
    "objections decided",
    "results in effect",
    "re-review",
    "year's payments",
)
"""The steps a one-year programme visits, in calendar order."""


@dataclass(frozen=True)
class PlannedFault:
    step: str
    kind: str
    target: str = ""
    delay_s: float = 0.0
    """After the step's date is set: the scenario is then sending that step's events."""


@dataclass(frozen=True)
class FaultPlan:
    seed: int
    faults: tuple[PlannedFault, ...]

    @classmethod
    def draw(cls, seed: int, instances: list[str], *, service_kills: int, broker_faults: bool = True) -> FaultPlan:
        rng = random.Random(seed)
        planned = [
            PlannedFault(step, kind, delay_s=1.0)
            for step, kind in BROKER_AND_DATABASE_FAULTS.items()
            if broker_faults or kind == "pause_replica"
        ]
        if "pause_replica" in {p.kind for p in planned}:
            paused = rng.choice(instances)
            planned = [replace_target(p, paused) if p.kind == "pause_replica" else p for p in planned]
        for _ in range(service_kills):
            planned.append(
                PlannedFault(rng.choice(ONE_YEAR_STEPS), "kill_replica", rng.choice(instances), rng.uniform(0.0, 3.0))
            )
        order = {step: n for n, step in enumerate(ONE_YEAR_STEPS)}
        return cls(seed, tuple(sorted(planned, key=lambda p: (order[p.step], p.delay_s))))

    def kinds(self) -> dict[str, int]:
        return dict(Counter(p.kind for p in self.faults))


def replace_target(fault: PlannedFault, target: str) -> PlannedFault:
    return PlannedFault(fault.step, fault.kind, target, fault.delay_s)


@dataclass
class CalendarChaos:
    """Does the plan's faults as the programme's date reaches their steps (a watcher thread reads
    the clock file; a worker does the faults one after the other)."""

    faulty: FaultyStack
    plan: FaultPlan
    start: date
    done: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _kills: queue.Queue[PlannedFault | None] = field(default_factory=queue.Queue)
    """Replica kills: done on time, never behind a slow fault."""
    _slow: queue.Queue[PlannedFault | None] = field(default_factory=queue.Queue)
    """Broker, database and pause faults (each takes seconds to a minute): one after the other."""
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> CalendarChaos:
        self._threads = [
            threading.Thread(target=self._watch, name="calendar-chaos-watch", daemon=True),
            threading.Thread(target=self._work, args=(self._kills,), name="calendar-chaos-kills", daemon=True),
            threading.Thread(target=self._work, args=(self._slow,), name="calendar-chaos-slow", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def finish(self, timeout_s: float = 300.0) -> None:
        """Stop watching; let the worker finish the faults already due."""
        self._stop.set()
        self._kills.put(None)
        self._slow.put(None)
        for thread in self._threads:
            thread.join(timeout_s)

    def _watch(self) -> None:
        steps = ProgrammeCalendar(self.start).steps()
        due: dict[str, list[PlannedFault]] = {}
        for fault in self.plan.faults:
            due.setdefault(str(steps[fault.step]), []).append(fault)
        last = ""
        while not self._stop.wait(0.1):
            today = self.faulty.programme_date()
            if today == last or not today[:1].isdigit():  # unchanged, or no programme date yet
                continue
            last = today
            for day in sorted(d for d in due if d <= today):  # a day the programme went past within 0.1 s too
                for fault in due.pop(day):
                    (self._kills if fault.kind == "kill_replica" else self._slow).put(fault)

    def _work(self, faults: queue.Queue[PlannedFault | None]) -> None:
        while (fault := faults.get()) is not None:
            time.sleep(fault.delay_s)
            started = time.monotonic()
            try:
                detail = self._do(fault)
            except Exception as exc:  # a fault the harness could not make is a failed run, said so
                self.errors.append(f"{fault.kind} at {fault.step}: {type(exc).__name__}: {exc}")
                continue
            self.done.append(
                {
                    "step": fault.step,
                    "programme_date": self.faulty.programme_date(),
                    "fault": fault.kind,
                    "detail": detail,
                    "seconds": round(time.monotonic() - started, 1),
                }
            )

    def _do(self, fault: PlannedFault) -> str:
        stack = self.faulty.stack
        cluster = stack.cluster
        if fault.kind == "kill_replica":
            doing = self.faulty.kill(fault.target)
            return f"{fault.target} killed while: {doing}"
        if fault.kind == "pause_replica":
            seconds = MAX_POLL_INTERVAL_MS / 1000 + 5
            self.faulty.pause_replica(fault.target, seconds)
            return f"{fault.target} stopped {seconds:.0f} s, past its max.poll.interval"
        if fault.kind == "crash_database":
            self.faulty.crash_database()
            return "postmaster killed, recovered from its WAL"
        assert cluster is not None, f"{fault.kind} needs the three-node cluster"
        admin = stack.kafka.confluent()  # the operator: sees every topic's partitions
        if fault.kind == "kill_broker_node":  # a given node, whatever its role: no need to ask the quorum
            node_id = int(fault.target)
            cluster.node(node_id).kill()
            self.faulty.log.broker_faults.append({"fault": fault.kind, "node": node_id})
            time.sleep(8.0)
            self.faulty.in_supervisor(partial(cluster.restart, node_id, timeout_s=RESTART_TIMEOUT_S))
            cluster.wait_all_in_sync(admin, timeout_s=RESTART_TIMEOUT_S)
            return f"node {node_id} killed, restarted, back in sync"
        if fault.kind in ("kill_broker", "kill_active_controller"):
            leader = cluster.active_controller()
            node = (
                leader
                if fault.kind == "kill_active_controller"
                else next(b.node_id for b in cluster.brokers if b.node_id != leader)
            )
            cluster.node(node).kill()
            self.faulty.log.broker_faults.append({"fault": fault.kind, "node": node})
            time.sleep(8.0)  # the programme goes on with two nodes meanwhile
            self.faulty.in_supervisor(partial(cluster.restart, node, timeout_s=RESTART_TIMEOUT_S))
            cluster.wait_all_in_sync(admin, timeout_s=RESTART_TIMEOUT_S)
            after = cluster.active_controller() if fault.kind == "kill_active_controller" else leader
            return f"node {node} killed (controller was {leader}, then {after}), restarted, back in sync"
        if fault.kind == "rolling_restart":
            for broker in cluster.brokers:
                broker.stop()
                self.faulty.in_supervisor(partial(cluster.restart, broker.node_id, timeout_s=RESTART_TIMEOUT_S))
                cluster.wait_all_in_sync(admin, timeout_s=RESTART_TIMEOUT_S)
            self.faulty.log.broker_faults.append({"fault": "rolling_restart", "nodes": len(cluster.brokers)})
            return f"{len(cluster.brokers)} nodes stopped and started one at a time, each back in sync first"
        if fault.kind == "cut_off_broker":
            cut_off = cluster.brokers[-1]
            cut_off.pause()
            self.faulty.log.broker_faults.append({"fault": "cut_off_broker", "node": cut_off.node_id})
            try:
                time.sleep(15.0)
            finally:
                cut_off.resume()
            cluster.wait_all_in_sync(admin, timeout_s=RESTART_TIMEOUT_S)
            return f"node {cut_off.node_id} cut off (SIGSTOP) 15 s while clients wrote, then back in sync"
        raise ValueError(f"unknown fault {fault.kind}")


def longest_wait(observer: TopicObserver, sent_at: Mapping[str, int]) -> tuple[float, str]:
    """The longest any partner waited for the answer to an event it sent: from the event's broker
    timestamp on its own inbound topic (`sent_at`, by id, as the client's sends were acknowledged)
    to the first answer's (seconds, and which event)."""
    first: dict[str, tuple[int, str]] = {}
    for o in observer.distinct:
        cause = o.envelope.causation_id if o.envelope is not None else None
        if cause is not None and cause in sent_at and (cause not in first or o.timestamp_ms < first[cause][0]):
            first[cause] = (o.timestamp_ms, f"{o.type} {o.subject}")
    if not first:
        return 0.0, ""
    cause, (answered, what) = max(first.items(), key=lambda item: item[1][0] - sent_at[item[0]])
    return round((answered - sent_at[cause]) / 1000, 2), f"the cause of {what}"


def fault_seed(environment: Callable[[str], str | None]) -> int:
    """FAULTS_SEED when given (a run replayed), else one drawn now; printed by the suite."""
    given = environment("FAULTS_SEED")
    return int(given) if given else random.SystemRandom().randrange(1_000_000)
