#!/usr/bin/env python3
"""The project's two entry points for a fresh machine with only Python 3.11+.

    python3 tasks.py demo    # start the embedded stack and play the programme for a year
    python3 tasks.py test    # lint, type-check and run every test (with the fast fault suite)
    python3 tasks.py faults  # the long fault suites: kill -9 soak, broker pause, database restart, ...
    python3 tasks.py images      # build the local container images (cached; deploy/local/README.md)
    python3 tasks.py compose     # docker-compose.yml on the local engine: up, the programme, restart, down
    python3 tasks.py containers  # the integration tests through testcontainers on the local engine

Both create (or reuse) the virtual environment `.venv/` inside the repository and install
the project into it; the install is repeated only when `pyproject.toml` changes.
Anything after the task name is passed on (e.g. `python3 tasks.py test -k orders`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".installed-pyproject-sha256"


def _run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    completed = subprocess.run([str(c) for c in cmd], cwd=ROOT, check=False)
    if completed.returncode != 0:
        raise SystemExit(completed.returncode)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may be run by an older python3
        raise SystemExit(f"Python 3.11+ is required, this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev,embedded]")
    STAMP.write_text(wanted)


def demo(args: list[str]) -> None:
    _run(BIN / "expert-teams", "demo", *args)


def test(args: list[str]) -> None:
    _run(BIN / "ruff", "check", ".")
    _run(BIN / "ruff", "format", "--check", ".")
    _run(BIN / "mypy")
    _run(BIN / "lint-imports")
    _run(BIN / "expert-teams", "contract", "check")
    _run(PYTHON, "-m", "pytest", *args)


def faults(args: list[str]) -> None:
    os.environ.setdefault("FAULTS_FUZZ_EXAMPLES", "40")
    _run(PYTHON, "-m", "pytest", "-s", "-m", "faults or e2e", "-p", "no:cacheprovider", "tests/faults", *args)


def images(args: list[str]) -> None:
    _run(PYTHON, "-m", "tools.containers", "images", *args)


def compose(args: list[str]) -> None:
    _run(PYTHON, "-m", "pytest", "-m", "containers", "-p", "no:cacheprovider", "-s", "tests/compose", *args)


def containers(args: list[str]) -> None:
    _run(PYTHON, "-m", "tools.containers", "integration", *(args or ["tests/integration"]))


TASKS = {"demo": demo, "test": test, "faults": faults, "images": images, "compose": compose, "containers": containers}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(__doc__)
        raise SystemExit(2)
    ensure_venv()
    TASKS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
