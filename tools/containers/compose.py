"""Docker Compose, the tool the project runs docker-compose.yml with, and the local stack it runs.

The project uses Docker Compose v2 (the compose specification's reference implementation) at
COMPOSE_VERSION. `ensure_compose_tool()` takes `docker compose` or a `docker-compose` of at least
MIN_COMPOSE_VERSION from the machine, else builds that release once from its Go module
(github.com/docker/compose/v2, through the Go module proxy) into `.tools/compose/`. Neither
Debian 12 (docker-compose 1.29, which refuses the file's top-level `name:`) nor PyPI (the same
1.29, or repackaged binaries of unknown build) offers a current one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.stack.embedded import REPO_ROOT

from .engine import Engine

COMPOSE_MODULE = "github.com/docker/compose/v2"
COMPOSE_VERSION = "2.40.3"
MIN_COMPOSE_VERSION = (2, 24, 4)
"""docker-compose.yml needs Compose v2 (top-level `name:`); the overrides use `!reset` and
`!override` (deploy/compose/one-broker.yml; both there since 2.24.4)."""
TOOLS_DIR = REPO_ROOT / ".tools" / "compose"
MIN_GO = (1, 24)
GO_BUILD_TIMEOUT_S = 1800.0

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
LOCAL_OVERRIDE = REPO_ROOT / "deploy" / "local" / "compose.local.yml"
PROGRAMME_OVERRIDE = REPO_ROOT / "deploy" / "local" / "compose.programme.yml"
ONE_BROKER_OVERRIDE = REPO_ROOT / "deploy" / "compose" / "one-broker.yml"
CREDENTIAL_VARIABLES = (
    "EXPERT_TEAMS_KAFKA_BROKER_PASSWORD",
    "EXPERT_TEAMS_KAFKA_CONTROLLER_PASSWORD",
    "EXPERT_TEAMS_KAFKA_PROVISIONER_PASSWORD",
    "EXPERT_TEAMS_KAFKA_OPERATOR_PASSWORD",
    "EXPERT_TEAMS_KAFKA_HEALTH_PASSWORD",
    "KAFKA_SASL_PASSWORD_ORDERS",
    "KAFKA_SASL_PASSWORD_MATCHING",
    "KAFKA_SASL_PASSWORD_FUNDING",
    "KAFKA_SASL_PASSWORD_REVIEWS",
)


class ComposeToolUnavailable(RuntimeError):
    """No Docker Compose of the needed version, and none can be built here."""


def version_of(command: Sequence[str]) -> tuple[int, int, int] | None:
    """The version a Compose command reports (`version --short`), None when it does not run."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=30)
        match = re.search(r"(\d+)\.(\d+)\.(\d+)", result.stdout)
        if result.returncode == 0 and match is not None:
            major, minor, patch = (int(part) for part in match.groups())
            return major, minor, patch
    return None


def ensure_compose_tool() -> list[str]:
    """The command that runs Docker Compose (MIN_COMPOSE_VERSION or later): EXPERT_TEAMS_COMPOSE,
    the machine's `docker compose` or `docker-compose`, else the project's own build."""
    candidates: list[list[str]] = []
    if os.environ.get("EXPERT_TEAMS_COMPOSE"):
        candidates.append(os.environ["EXPERT_TEAMS_COMPOSE"].split())
    built = TOOLS_DIR / f"docker-compose-{COMPOSE_VERSION}"
    candidates.append([str(built)])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        found = version_of(command) if Path(command[0]).exists() or shutil.which(command[0]) else None
        if found is not None and found >= MIN_COMPOSE_VERSION:
            return command
    return [str(build_compose(built))]


def build_compose(target: Path) -> Path:
    """Docker Compose COMPOSE_VERSION built from its Go module into `target` (as its Makefile does)."""
    go = shutil.which("go")
    if go is None:
        raise ComposeToolUnavailable(
            f"no Docker Compose {'.'.join(map(str, MIN_COMPOSE_VERSION))}+ here and no Go to build it: "
            f"install Go {'.'.join(map(str, MIN_GO))}+ or set EXPERT_TEAMS_COMPOSE"
        )
    print(f"building Docker Compose v{COMPOSE_VERSION} from its Go module (once)", flush=True)
    module = f"{COMPOSE_MODULE}@v{COMPOSE_VERSION}"
    download = _go([go, "mod", "download", "-json", module], cwd=None)
    source = Path(json.loads(download)["Dir"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix="build-") as scratch:
        tree = Path(scratch) / "compose"
        shutil.copytree(source, tree)  # the module cache is read-only; it builds as its own main module
        for path in tree.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        ldflags = f"-s -w -X {COMPOSE_MODULE}/internal.Version=v{COMPOSE_VERSION}"
        partial = target.with_name(target.name + ".partial")
        _go([go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), "./cmd"], cwd=tree)
        partial.replace(target)
    return target


def _go(command: list[str], cwd: Path | None) -> str:
    environment = os.environ | {"CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    result = subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, check=False, timeout=GO_BUILD_TIMEOUT_S
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise ComposeToolUnavailable(f"`{' '.join(command)}` failed (exit {result.returncode})\n{tail}")
    return result.stdout


# ---- the local stack ----------------------------------------------------------------------------


def new_credentials() -> dict[str, str]:
    """Passwords for the stack's `--env-file` (letters and digits: they go into JAAS strings)."""
    return {name: secrets.token_hex(24) for name in CREDENTIAL_VARIABLES}


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.writelines(f"{key}={value}\n" for key, value in values.items())
    return path


@dataclass
class ComposeStack:
    """docker-compose.yml with overrides, as one compose project on the engine."""

    tool: list[str]
    engine: Engine
    project: str
    env_file: Path
    files: Sequence[Path] = (COMPOSE_FILE, LOCAL_OVERRIDE)
    environment: dict[str, str] = field(default_factory=dict)
    """Variables the compose files read besides the env file (ports, folders)."""

    def command(self, *args: str) -> list[str]:
        files = [argument for path in self.files for argument in ("--file", str(path))]
        return [
            *self.tool,
            "--project-name",
            self.project,
            "--project-directory",
            str(REPO_ROOT),
            *files,
            "--env-file",
            str(self.env_file),
            *args,
        ]

    def run(
        self, *args: str, timeout_s: float = 600.0, check: bool = True, capture: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args),
            env=os.environ | self.engine.environment() | self.environment,
            capture_output=capture,
            text=True,
            check=False,
            timeout=timeout_s,
        )
        if check and result.returncode != 0:
            detail = (result.stdout + result.stderr).strip()[-4000:] if capture else ""
            raise RuntimeError(f"`compose {' '.join(args)}` failed (exit {result.returncode})\n{detail}")
        return result

    def config(self) -> dict[str, Any]:
        """The resolved project (`config --format json`): the files merged, variables interpolated."""
        loaded: dict[str, Any] = json.loads(self.run("config", "--format", "json").stdout)
        return loaded

    def up(self, timeout_s: float = 900.0) -> float:
        """Start everything and wait until every service is healthy and the jobs have completed."""
        started = time.monotonic()
        self.run("up", "--detach", timeout_s=timeout_s)
        self.wait_healthy(deadline=started + timeout_s)
        return time.monotonic() - started

    def wait_healthy(self, deadline: float, services: Sequence[str] = (), poll_s: float = 2.0) -> None:
        """Until every container (of `services`, when named) is running and healthy (or has no
        healthcheck) and every job has exited 0. Not compose's `--wait`: that gives up at the first
        `unhealthy` it sees, and podman keeps a restarted container's health from before its stop
        until its next check passes."""
        while True:
            waiting = [c for c in self.containers() if (not services or c["Service"] in services) and not _ready(c)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                states = ", ".join(f"{c['Name']}: {c['State']} {c.get('Health') or ''}".strip() for c in waiting)
                raise RuntimeError(f"not ready in time: {states}")
            time.sleep(poll_s)

    def containers(self) -> list[dict[str, Any]]:
        """Every container of the project (`ps --all`), as compose describes them."""
        output = self.run("ps", "--all", "--format", "json").stdout.strip()
        if not output:
            return []
        if output.startswith("["):
            listed: list[dict[str, Any]] = json.loads(output)
            return listed
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    def stop(self, *services: str, timeout_s: float = 300.0) -> None:
        """Stop the services named (all when none is), their containers and volumes kept."""
        self.run("stop", *services, timeout_s=timeout_s)

    def start(self, *services: str, timeout_s: float = 900.0) -> float:
        """Start the stopped services named (all when none is, with what they depend on) and wait
        as `up` does; the jobs run again, as after a reboot, and change nothing."""
        started = time.monotonic()
        self.run("up", "--detach", "--no-recreate", *services, timeout_s=timeout_s)
        self.wait_healthy(deadline=started + timeout_s, services=services)
        return time.monotonic() - started

    def logs(self, *services: str, tail: int = 200) -> str:
        result = self.run("logs", "--no-color", "--tail", str(tail), *services, check=False)
        return result.stdout + result.stderr

    def down(self, timeout_s: float = 300.0) -> None:
        """Remove the containers, the network and the volumes."""
        self.run("down", "--volumes", "--remove-orphans", timeout_s=timeout_s)


def _ready(container: Mapping[str, Any]) -> bool:
    if container.get("State") == "exited":
        return container.get("ExitCode") == 0  # a job done (a service would restart)
    return container.get("State") == "running" and container.get("Health") in ("healthy", "", None)
