"""The container engine: Debian's podman, rootful, with the Docker API on a socket of the project's own.

`ensure_engine()` installs what is missing (podman, runc, debootstrap: Debian's packages), gives
podman the project's settings (`deploy/local/containers.conf`, through CONTAINERS_CONF: nothing in
/etc changes) and starts `podman system service` on `.data/engine/podman.sock` unless it already
answers there. The docker CLI, Docker Compose and testcontainers reach it through
`DOCKER_HOST=unix://…` (`Engine.environment()`); nothing else on the machine is pointed at it, so
the test command keeps its embedded broker unless that variable is set.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.stack.embedded import DATA_DIR, REPO_ROOT

CONTAINERS_CONF = REPO_ROOT / "deploy" / "local" / "containers.conf"
ENGINE_DIR = DATA_DIR / "engine"
DEFAULT_SOCKET = ENGINE_DIR / "podman.sock"
DEBIAN_PACKAGES: Mapping[str, str] = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap"}
"""Command -> the Debian package that brings it."""
START_TIMEOUT_S = 60.0


class EngineUnavailable(RuntimeError):
    """The engine cannot be installed or started here; the message says why and what to do."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


def docker_api_answers(path: Path, timeout_s: float = 2.0) -> bool:
    """Whether a Docker API on the unix socket `path` answers its ping."""
    if not path.is_socket():
        return False
    connection = _UnixHTTPConnection(path, timeout_s)
    try:
        connection.request("GET", "/_ping")
        response = connection.getresponse()
        return response.status == 200 and response.read().strip() == b"OK"
    except OSError:
        return False
    finally:
        connection.close()


@dataclass(frozen=True)
class Engine:
    """The running engine: podman's commands with the project's settings, and its Docker API."""

    socket: Path = DEFAULT_SOCKET

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    def environment(self) -> dict[str, str]:
        """What a client needs: the API socket, podman's settings, and for testcontainers: no Ryuk
        (its reaper comes from a registry this machine does not reach; the tests stop what they
        start), and the containers' published ports on this machine's loopback (a sandbox with a
        /.dockerenv would otherwise have it look for them at a network gateway)."""
        return {
            "DOCKER_HOST": self.docker_host,
            "CONTAINERS_CONF": str(CONTAINERS_CONF),
            "TESTCONTAINERS_RYUK_DISABLED": "true",
            "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
            "TC_HOST": "127.0.0.1",
        }

    def podman(
        self, *args: str, timeout_s: float | None = None, capture: bool = True, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = ["podman", *args]
        result = subprocess.run(
            command,
            env=os.environ | {"CONTAINERS_CONF": str(CONTAINERS_CONF)},
            capture_output=capture,
            text=True,
            check=False,
            timeout=timeout_s,
        )
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip()[-2000:] if capture else ""
            raise RuntimeError(f"`{' '.join(command)}` failed (exit {result.returncode})\n{detail}")
        return result

    def image_exists(self, name: str) -> bool:
        return self.podman("image", "exists", name, check=False).returncode == 0


def missing_commands(commands: Sequence[str] = tuple(DEBIAN_PACKAGES)) -> list[str]:
    return [command for command in commands if shutil.which(command) is None]


def ensure_packages() -> None:
    """Install podman, runc and debootstrap from Debian's packages when one is missing."""
    missing = missing_commands()
    if not missing:
        return
    packages = [DEBIAN_PACKAGES[command] for command in missing]
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise EngineUnavailable(
            f"{', '.join(missing)} missing and this is not a Debian machine run as root: "
            f"install {' '.join(packages)} (the engine runs rootful)"
        )
    print(f"installing {' '.join(packages)} (Debian's packages)", flush=True)
    environment = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
            raise EngineUnavailable(f"`{' '.join(command)}` failed (exit {result.returncode})\n{tail}")


def systemd_runs() -> bool:
    """Whether systemd is the init system (podman then schedules the healthchecks itself)."""
    return Path("/run/systemd/system").is_dir()


def ensure_engine(socket_path: Path = DEFAULT_SOCKET) -> Engine:
    """The engine, installed and serving the Docker API on `socket_path` (started if it does not
    answer), with the healthchecks run on schedule where systemd does not run them."""
    engine = Engine(socket_path)
    if not docker_api_answers(socket_path):
        _start_api_service(engine)
    if not systemd_runs():
        _ensure_healthcheck_runner(socket_path)
    return engine


def _start_api_service(engine: Engine) -> None:
    socket_path = engine.socket
    if os.geteuid() != 0:
        raise EngineUnavailable("the local engine runs rootful podman: run this as root")
    ensure_packages()
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    log_path = socket_path.parent / "service.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", engine.docker_host],
            env=os.environ | {"CONTAINERS_CONF": str(CONTAINERS_CONF)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the service outlives this command, like a daemon
        )
    _pid_file(socket_path).write_text(f"{process.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while not docker_api_answers(socket_path):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            raise EngineUnavailable(f"`podman system service` did not answer on {socket_path} (log {log_path})\n{tail}")
        time.sleep(0.2)


def _ensure_healthcheck_runner(socket_path: Path) -> None:
    """tools/containers/healthchecks.py in the background, unless it runs already."""
    pid_file = _pid_file(socket_path, "healthchecks")
    if _alive(pid_file):
        return
    with (socket_path.parent / "healthchecks.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.containers.healthchecks"],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\n")


def stop_engine(socket_path: Path = DEFAULT_SOCKET) -> bool:
    """Stop the API service and the healthcheck runner that ensure_engine started (the
    containers keep running). True if one was running."""
    stopped = False
    for pid_file in (_pid_file(socket_path), _pid_file(socket_path, "healthchecks")):
        pid = _pid_in(pid_file)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                stopped = True
        pid_file.unlink(missing_ok=True)
    return stopped


def _pid_file(socket_path: Path, name: str = "") -> Path:
    return socket_path.with_name(f"{name}.pid") if name else socket_path.with_suffix(".pid")


def _pid_in(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid_file: Path) -> bool:
    pid = _pid_in(pid_file)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
