"""Real processes, real faults: the stack of the end-to-end tests plus a supervisor that
restarts any service process that dies, and the faults themselves (SIGKILL of a service replica,
SIGSTOP of a replica or a broker, a PostgreSQL restart or crash, SIGTERM).

Every death is accounted for: a kill of ours is logged with what the process was doing (its last
log line) and the programme's date; a crash point that fired is recorded by the dying process
(EXPERT_TEAMS_FAULTS_LOG) and matched by pid; any other death is unexplained (an out-of-memory
kill, an exception) and fails the suites."""

from __future__ import annotations

import contextlib
import io
import json
import queue
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from shared.topics import all_topics
from tests.signing import KEYRING
from tools.client import ProgrammeClient, TopicObserver, wait_until_consumed
from tools.scenario.programme import ProgrammeRun
from tools.scenario.seed import SeedProgramme
from tools.stack.launcher import Stack

T = TypeVar("T")

CRASH_POINTS = "consumer.after_commit=0.01,relay.after_publish=0.02"


@dataclass
class FaultLog:
    kills: dict[str, int] = field(default_factory=dict)
    kill_log: list[dict[str, Any]] = field(default_factory=list)
    """Each kill of ours: which process, on which programme date, doing what (its last log line)."""
    crash_point_deaths: dict[str, int] = field(default_factory=dict)
    """Deaths at an armed crash point, by point, each matched to the record the process wrote."""
    unexpected_exits: dict[str, list[int]] = field(default_factory=dict)
    """Deaths that no fault explains (an exception, an exit, a SIGKILL nobody recorded): a
    process that died by itself."""
    restarts: dict[str, int] = field(default_factory=dict)
    broker_pauses: int = 0
    database_restarts: int = 0
    database_crashes: int = 0
    replica_pauses: int = 0
    broker_faults: list[dict[str, Any]] = field(default_factory=list)
    unhealthy_seen_during_pause: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        """The figures as they are now (copies: the supervisor keeps counting after)."""
        return {
            "kills": dict(self.kills),
            "kill_log": list(self.kill_log),
            "crash_point_deaths": dict(self.crash_point_deaths),
            "unexpected_exits": {name: list(codes) for name, codes in self.unexpected_exits.items()},
            "restarts": dict(self.restarts),
            "broker_pauses": self.broker_pauses,
            "broker_faults": list(self.broker_faults),
            "replica_pauses": self.replica_pauses,
            "database_restarts": self.database_restarts,
            "database_crashes": self.database_crashes,
            "unhealthy_during_pause": sorted(self.unhealthy_seen_during_pause),
        }


class FaultyStack:
    """A Stack whose services are restarted whenever they die (like Kubernetes would)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.log = FaultLog()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._our_stops: dict[str, int] = {}
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._work: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()

    def __enter__(self) -> FaultyStack:
        self._supervisor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._supervisor.join(timeout=5)

    def in_supervisor(self, work: Callable[[], T], timeout_s: float = 300.0) -> T:
        """Run `work` (anything that starts a process: a broker node, PostgreSQL) in the supervisor's
        long-lived thread. A process started from a short-lived thread dies with it (PDEATHSIG)."""
        done: Future[T] = Future()
        self._work.put((work, done))
        return done.result(timeout_s)

    def _supervise(self) -> None:
        while not self._stop.wait(0.2):
            while not self._work.empty():
                work, done = self._work.get()
                try:
                    done.set_result(work())
                except BaseException as exc:
                    done.set_exception(exc)
            with self._lock:
                for name, proc in list(self.stack.processes.items()):
                    if name in self._held or proc.process.poll() is None:
                        continue
                    code = proc.process.returncode
                    point = self.crash_point_of(proc.process.pid) if code == -signal.SIGKILL else None
                    if self._expected(name):
                        pass
                    elif point is not None:
                        self.log.crash_point_deaths[point] = self.log.crash_point_deaths.get(point, 0) + 1
                    else:
                        self.log.unexpected_exits.setdefault(name, []).append(code)
                    self.stack.start_service(name)
                    self.log.restarts[name] = self.log.restarts.get(name, 0) + 1

    @property
    def crash_records(self) -> Path:
        """Where the services' armed crash points record that they fired (EXPERT_TEAMS_FAULTS_LOG)."""
        return Path(self.stack.extra_env.get("EXPERT_TEAMS_FAULTS_LOG", self.stack.data_dir / "crash-points.jsonl"))

    def crash_point_of(self, pid: int) -> str | None:
        """The crash point at which process `pid` died, as it recorded before dying; None if it did not."""
        with contextlib.suppress(OSError):
            for line in self.crash_records.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if record.get("pid") == pid:
                        return str(record["point"])
        return None

    def crash_points_hit(self) -> dict[str, int]:
        """Every crash point recorded, by point (read back from the records the processes wrote)."""
        hits: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in self.crash_records.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    point = str(json.loads(line)["point"])
                    hits[point] = hits.get(point, 0) + 1
        return hits

    def doing(self, name: str) -> str:
        """What a service process was doing: the records of the batch it was applying and whether
        it led the outbox relay (its readiness endpoint), and its last log line."""
        proc = self.stack.processes[name]
        state = readiness(proc.health_url)
        with contextlib.suppress(ValueError, TypeError):
            ready = json.loads(state)
            state = f"{ready['records_in_flight']} records in flight, outbox relay {ready['outbox_relay']}"
        return f"{state}; last logged: {self._last_logged(name)}"

    def _last_logged(self, name: str) -> str:
        proc = self.stack.processes[name]
        if proc.log_path is None:
            return "unknown (logs on the console)"
        with contextlib.suppress(OSError), proc.log_path.open("rb") as handle:
            handle.seek(max(0, proc.log_path.stat().st_size - 4096))
            for raw in reversed(handle.read().splitlines()):
                with contextlib.suppress(ValueError):
                    line = json.loads(raw)
                    shown = {k: line[k] for k in ("event_type", "subject", "partition", "rows", "error") if k in line}
                    return f"{line.get('event')} {shown}" if shown else str(line.get("event"))
        return "nothing logged yet"

    def programme_date(self) -> str:
        with contextlib.suppress(OSError, IndexError):
            return self.stack.clock_file.read_text().strip().splitlines()[-1][:10]  # the latest setting
        return "?"

    def _expected(self, name: str) -> bool:
        """Whether this death was ours (a kill or a graceful stop), not the service's own."""
        pending = self._our_stops.get(name, 0)
        if pending:
            self._our_stops[name] = pending - 1
            return True
        return False

    def kill(self, name: str, alive_within_s: float = 60.0) -> str:
        """SIGKILL: no shutdown, no cleanup; the supervisor restarts the service. Returns what the
        process was doing. A process found dead (between a crash point or an earlier kill and the
        supervisor's restart) is waited for: a planned kill always hits a live process."""
        deadline = time.monotonic() + alive_within_s
        while True:
            with self._lock:
                proc = self.stack.processes[name]
                if proc.process.poll() is None:
                    return self._kill_live(name, proc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not running again within {alive_within_s:.0f} s")
            time.sleep(0.1)

    def _kill_live(self, name: str, proc: Any) -> str:
        """Under the lock: the process is running."""
        doing = self.doing(name)
        self._our_stops[name] = self._our_stops.get(name, 0) + 1
        proc.process.send_signal(signal.SIGKILL)
        proc.process.wait()
        self.log.kills[name] = self.log.kills.get(name, 0) + 1
        self.log.kill_log.append(
            {"process": name, "pid": proc.process.pid, "programme_date": self.programme_date(), "doing": doing}
        )
        return doing

    def pause_replica(self, name: str, seconds: float) -> None:
        """SIGSTOP a service process for `seconds` (past its max.poll.interval and session timeout:
        its partitions move to the other replica), then SIGCONT: it comes back as a zombie first."""
        with self.held(name):
            proc = self.stack.processes[name]
            proc.process.send_signal(signal.SIGSTOP)
            self.log.replica_pauses += 1
            try:
                self._stop.wait(seconds)
            finally:
                proc.process.send_signal(signal.SIGCONT)

    def graceful_stop(
        self, name: str, grace_s: float = 30.0, ready_within_s: float = 120.0
    ) -> tuple[int | None, float]:
        """SIGTERM a running, ready process and wait; the supervisor restarts it. Returns (exit
        code, seconds to exit). A process still starting (restarted after a crash point, say) is
        waited for: until it serves it has nothing to finish, and before its signal handlers are
        installed SIGTERM simply ends it (-15), which is not the graceful stop under test.

        Restarts always come from the supervisor's long-lived thread: children die with the
        thread that started them (PR_SET_PDEATHSIG), so a short-lived thread must not start one."""
        deadline = time.monotonic() + ready_within_s
        while True:
            with self.held(name):
                proc = self.stack.processes[name]
                if proc.process.poll() is None and healthy(proc.health_url):
                    started = time.monotonic()
                    code = self.stack.stop_service(name, grace_s=grace_s, sig=signal.SIGTERM)
                    seconds = time.monotonic() - started
                    with self._lock:
                        self._our_stops[name] = self._our_stops.get(name, 0) + 1
                    return code, round(seconds, 2)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready within {ready_within_s:.0f} s: {readiness(proc.health_url)}")
            time.sleep(0.2)

    @contextlib.contextmanager
    def held(self, name: str) -> Iterator[None]:
        """While held, the supervisor leaves the service alone (e.g. a graceful stop)."""
        with self._lock:
            self._held.add(name)
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(name)

    def chaos(self, *, kills_per_service: int, within_s: float, seed: int) -> threading.Thread:
        """Kill every service `kills_per_service` times at random moments within `within_s`."""
        rng = random.Random(seed)
        plan = sorted(
            (rng.uniform(1.0, within_s), name) for name in self.stack.processes for _ in range(kills_per_service)
        )

        def run() -> None:
            started = time.monotonic()
            for at, name in plan:
                if self._stop.wait(max(0.0, at - (time.monotonic() - started))):
                    return
                self.kill(name)

        thread = threading.Thread(target=run, name="chaos", daemon=True)
        thread.start()
        return thread

    def pause_broker(self, seconds: float) -> None:
        """SIGSTOP the broker, watch the services' health while it is stopped, SIGCONT."""
        assert self.stack.broker is not None
        self.stack.broker.pause()
        self.log.broker_pauses += 1
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                for name, proc in self.stack.processes.items():
                    if not healthy(proc.health_url):
                        self.log.unhealthy_seen_during_pause.add(self.stack.service_of(name))
                time.sleep(0.5)
        finally:
            self.stack.broker.resume()

    def restart_database(self) -> None:
        assert self.stack.postgres is not None
        self.stack.postgres.restart()
        self.log.database_restarts += 1

    def crash_database(self) -> None:
        """kill -9 PostgreSQL's postmaster; it recovers from its write-ahead log on the next start."""
        postgres = self.stack.postgres
        assert postgres is not None
        self.in_supervisor(postgres.crash)
        self.log.database_crashes += 1

    def rebalances(self) -> int:
        """Partition assignments the service processes logged after their first (each one a rebalance)."""
        seen: dict[str, int] = {}
        for name, proc in self.stack.processes.items():
            if proc.log_path is None:
                continue
            with contextlib.suppress(OSError):
                seen[name] = proc.log_path.read_bytes().count(b'"partitions assigned"')
        return sum(max(0, count - 1) for count in seen.values())

    def wait_all_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(healthy(p.health_url) for p in self.stack.processes.values()):
                return
            time.sleep(0.2)
        unhealthy = {
            name: readiness(proc.health_url)
            for name, proc in self.stack.processes.items()
            if not healthy(proc.health_url)
        }
        raise TimeoutError(f"service processes not healthy again after {timeout_s:.0f} s: {unhealthy}")


def readiness(url: str) -> str:
    """What a service's readiness endpoint says (its body), or why it did not answer."""
    try:
        with urllib.request.urlopen(url, timeout=1.5) as response:
            return str(response.read()[:500].decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        return f"{exc.code}: {exc.read()[:500].decode(errors='replace')}"
    except OSError as exc:
        return f"no answer: {exc}"


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


MAX_POLL_INTERVAL_MS = 20_000
"""The fault stacks' consumers leave their group after 20 s without fetching (production: 5 min),
so that a replica paused past it is seen to lose its partitions within a test."""


def fault_stack(
    data_dir: Path,
    *,
    topic_prefix: str = "",
    crash_points: str | None = CRASH_POINTS,
    brokers: int = 1,
    replicas: int = 1,
) -> Stack:
    """An embedded stack (its own Apache Kafka and PostgreSQL) with crash points armed in every
    service; `brokers=3, replicas=2`: production's topology."""
    extra = {"EXPERT_TEAMS_FAULTS": crash_points} if crash_points else {}
    extra |= {
        "EXPERT_TEAMS_FAULTS_LOG": str(data_dir / "crash-points.jsonl"),
        "REVIEWS_EXPORT_DIR": str(data_dir / "exports"),
        "TRANSIENT_RETRY_MAX_BACKOFF_S": "2",
        "KAFKA_MAX_POLL_INTERVAL_MS": str(MAX_POLL_INTERVAL_MS),
    }
    return Stack(data_dir=data_dir, topic_prefix=topic_prefix, extra_env=extra, brokers=brokers, replicas=replicas)


@contextlib.asynccontextmanager
async def session(stack: Stack) -> AsyncIterator[tuple[ProgrammeClient, TopicObserver]]:
    watched = [t.name for t in all_topics()]
    async with (
        ProgrammeClient(
            stack.kafka, topic_prefix=stack.topic_prefix, keyring=KEYRING, enrol=True, operator=stack.operator
        ) as client,
        TopicObserver(stack.kafka, [f"{stack.topic_prefix}{t}" for t in watched]) as observer,
    ):
        yield client, observer


def programme_on(
    stack: Stack,
    client: ProgrammeClient,
    observer: TopicObserver,
    programme: SeedProgramme,
    narration: io.StringIO,
    timeout_s: float,
) -> ProgrammeRun:
    """The scenario's run of `programme` on a fault stack (its exports folder, its clock), each
    step waiting up to `timeout_s` for its answers, and, when the date has moved, first for every
    service's consumer group to have read what was published before."""
    return ProgrammeRun(
        client,
        observer,
        programme,
        out=narration,
        exports_dir=stack.data_dir / "exports",
        timeout_s=timeout_s,
        clock_file=stack.clock_file,
        catch_up=lambda: wait_consumed(stack, observer, "", timeout_s=timeout_s),
    )


def record_figures(path: Path, name: str, figures: dict[str, Any]) -> None:
    """Add a suite's figures under `name` to the JSON file `path` (kept across runs, per suite)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing[name] = figures
    path.write_text(json.dumps(existing, ensure_ascii=False, indent=2, default=str))


async def snapshot(stack: Stack) -> dict[str, dict[str, str]]:
    """Every table of every service, as a digest of its rows."""
    result: dict[str, dict[str, str]] = {}
    for name in stack.services:
        conn = await asyncpg.connect(stack.database_url(name))
        try:
            tables = [
                r[0]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
                )
            ]
            result[name] = {
                t: await conn.fetchval(
                    f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM \"{t}\" x"
                )
                for t in tables
            }
        finally:
            await conn.close()
    return result


async def wait_consumed(stack: Stack, observer: TopicObserver, suffix: str, timeout_s: float = 120) -> None:
    """Until every service's (new) consumer group has committed the end of every partition it reads."""
    from services.catalog import DEFINITIONS

    for definition in DEFINITIONS:
        topics = {f"{stack.topic_prefix}{s.topic}" for s in definition.subscriptions}
        group = f"{stack.topic_prefix}{definition.name}{suffix}"
        read = [o for o in observer.seen if o.topic in topics]
        await wait_until_consumed(stack.kafka, group, read, timeout_s=timeout_s)
