"""promtool, Prometheus's checker of rule files, rule unit tests and configurations, for the tests
of deploy/prometheus: the one on PATH, else Debian's (package `prometheus`), fetched once without
root into `.tools/prometheus/` under the repository (`apt-get download` and `dpkg-deb -x`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNPACKED = ROOT / ".tools" / "prometheus"
LOCAL_PROMTOOL = UNPACKED / "usr" / "bin" / "promtool"
PACKAGE = "prometheus"
FETCH_TIMEOUT_S = 600


def promtool_path() -> Path:
    """promtool from PATH, else the repository's own copy, fetched now if it is not there yet.

    Raises RuntimeError saying what failed and what to do when neither is possible."""
    on_path = shutil.which("promtool")
    if on_path is not None:
        return Path(on_path)
    if not _runnable(LOCAL_PROMTOOL):
        _fetch()
    return LOCAL_PROMTOOL


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _fetch() -> None:
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"promtool is not on PATH and {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing, "
            f"so Debian's {PACKAGE} package cannot be fetched; install promtool (it is in the Prometheus "
            "release tarball, https://prometheus.io/download/) and put it on PATH"
        )
    UNPACKED.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=UNPACKED.parent, prefix="prometheus-fetch-") as scratch:
        work = Path(scratch)
        work.chmod(0o755)  # apt's download sandbox user (_apt) writes here when run as root
        try:
            _run(["apt-get", "download", "-q", PACKAGE], work, "apt-get update (as root) may be needed first")
        except RuntimeError:
            if os.geteuid() != 0:
                raise
            # A machine whose package lists were never fetched: fetch them once and try again.
            _run(["apt-get", "update", "-q"], work, "the package lists could not be fetched")
            _run(["apt-get", "download", "-q", PACKAGE], work, "even after apt-get update")
        debs = sorted(work.glob(f"{PACKAGE}_*.deb"))
        if not debs:
            raise RuntimeError(f"apt-get download {PACKAGE} succeeded but left no {PACKAGE}_*.deb in {work}")
        tree = work / "tree"
        _run(["dpkg-deb", "-x", str(debs[-1]), str(tree)], work, "the downloaded package may be damaged")
        unpacked = tree / LOCAL_PROMTOOL.relative_to(UNPACKED)
        if not _runnable(unpacked):
            raise RuntimeError(f"{debs[-1].name} holds no {LOCAL_PROMTOOL.relative_to(UNPACKED)}")
        kept = work / "kept"  # promtool alone, not the server and the rest of the package
        (kept / LOCAL_PROMTOOL.relative_to(UNPACKED)).parent.mkdir(parents=True)
        unpacked.rename(kept / LOCAL_PROMTOOL.relative_to(UNPACKED))
        try:
            kept.rename(UNPACKED)
        except OSError:
            # Another process (a parallel test run) put its copy there first: use that one.
            if not _runnable(LOCAL_PROMTOOL):
                raise
    if not _runnable(LOCAL_PROMTOOL):
        raise RuntimeError(f"{LOCAL_PROMTOOL} is missing after fetching {PACKAGE}")


def _run(command: list[str], cwd: Path, hint: str) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"fetching promtool: `{' '.join(command)}` failed: {exc}") from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"fetching promtool: `{' '.join(command)}` exited with {done.returncode} ({hint}):\n"
            f"{done.stdout}{done.stderr}".rstrip()
        )
