"""The local images, built on this machine from what it reaches (deploy/local/README.md).

    debootstrap --variant=minbase bookworm  ->  podman import  ->  base (updates applied)
    base + Debian's JRE + the broker's jars (Maven, tools/stack/kafka.py)   ->  kafka
    base + Debian's PostgreSQL                                              ->  postgres
    base + Debian's Python + wheels made here (PyPI) + the project's wheel  ->  project

Each build is `podman build --layers` from a context assembled under `.data/images/<image>/`, so
an unchanged step is taken from the cache: rebuilding after a code change rebuilds the wheel
(only when a source file changed) and the project image's last layer. The debootstrap'd root is
made once, when the engine has no such image.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.stack.embedded import DATA_DIR, REPO_ROOT
from tools.stack.kafka import KAFKA_JVM_OPTS, ensure_kafka_jars, kafka_version, log4j2_config

from .engine import Engine

IMAGES_DIR = DATA_DIR / "images"
SOURCES = REPO_ROOT / "deploy" / "local" / "images"
KAFKA_POM = SOURCES / "kafka" / "pom.xml"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PROJECT_SOURCES = ("pyproject.toml", "README.md", "shared", "services", "tools")
"""What the project's wheel is built from (as deploy/Dockerfile copies)."""
BUILD_TIMEOUT_S = 1800.0
IMAGE_PYTHON = (3, 11)
"""Debian bookworm's python3, the project image's."""


@dataclass(frozen=True)
class ImageNames:
    """The local images' names: under localhost/, never an official image's name."""

    debootstrap: str = f"localhost/expert-teams-local/debootstrap:{DEBIAN_SUITE}"
    base: str = f"localhost/expert-teams-local/debian:{DEBIAN_SUITE}"
    kafka: str = "localhost/expert-teams-local/kafka:local"
    postgres: str = "localhost/expert-teams-local/postgres:local"
    project: str = "localhost/expert-teams-local/project:local"


IMAGES = ImageNames()


@dataclass(frozen=True)
class Built:
    image: str
    seconds: float
    steps: int = 0
    cached: int = 0
    """Of the Containerfile's steps after FROM, how many came from the layer cache."""

    def __str__(self) -> str:
        steps = f", {self.cached}/{self.steps} steps from the cache" if self.steps else ""
        return f"{self.image}: {self.seconds:.1f} s{steps}"


def build_all(engine: Engine, names: ImageNames = IMAGES, out: object = sys.stdout) -> list[Built]:
    """Every local image, each from the cache where nothing it is made of changed."""
    built = [ensure_debootstrap_image(engine, names.debootstrap)]
    built.append(_build(engine, names.base, "base", _base_context(), names.debootstrap))
    built.append(_build(engine, names.kafka, "kafka", _kafka_context(), names.base))
    built.append(_build(engine, names.postgres, "postgres", _postgres_context(), names.base))
    built.append(_build(engine, names.project, "project", _project_context(), names.base))
    for item in built:
        print(f"  {item}", file=out)  # type: ignore[call-overload]
    return built


def ensure_debootstrap_image(engine: Engine, name: str) -> Built:
    """Debian's minimal root (debootstrap --variant=minbase), imported once as an image."""
    started = time.monotonic()
    if engine.image_exists(name):
        return Built(name, 0.0)
    print(f"debootstrap --variant=minbase {DEBIAN_SUITE} (about a minute or two, once)", flush=True)
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=IMAGES_DIR, prefix="debootstrap-") as scratch:
        root = Path(scratch) / "root"
        _run(["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(root), DEBIAN_MIRROR], "debootstrap")
        shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        archive = Path(scratch) / "root.tar"
        _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(archive), "."], "tar")
        engine.podman("import", "--change", 'CMD ["/bin/bash"]', str(archive), name, timeout_s=BUILD_TIMEOUT_S)
    return Built(name, time.monotonic() - started)


def _build(engine: Engine, name: str, kind: str, context: Path, base: str) -> Built:
    started = time.monotonic()
    print(f"building {name}", flush=True)
    result = engine.podman(
        "build",
        "--layers",
        "--format=docker",  # OCI image configs have no HEALTHCHECK: podman drops it from them
        "--pull=never",
        "--build-arg",
        f"BASE={base}",
        "--label",
        f"org.opencontainers.image.title=expert-teams-local {kind}",
        "--tag",
        name,
        "--file",
        str(context / "Containerfile"),
        str(context),
        timeout_s=BUILD_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-40:])
        raise RuntimeError(f"building {name} failed (exit {result.returncode})\n{tail}")
    output = result.stdout + result.stderr
    steps = len(re.findall(r"^STEP \d+/\d+: (?!FROM )", output, flags=re.MULTILINE))
    cached = len(re.findall(r"^--> Using cache ", output, flags=re.MULTILINE))
    return Built(name, time.monotonic() - started, steps, cached)


# ---- build contexts -----------------------------------------------------------------------------


def _fresh_context(kind: str) -> Path:
    context = IMAGES_DIR / kind
    context.mkdir(parents=True, exist_ok=True)
    return context


def _sync_tree(source: Path, target: Path) -> None:
    """`target` becomes a copy of `source` (a file or a folder)."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)


def _base_context() -> Path:
    context = _fresh_context("base")
    _sync_tree(SOURCES / "base" / "Containerfile", context / "Containerfile")
    return context


def _kafka_context() -> Path:
    context = _fresh_context("kafka")
    for item in ("Containerfile", "bin"):
        _sync_tree(SOURCES / "kafka" / item, context / item)
    libs = ensure_kafka_jars(DATA_DIR / "cache" / "kafka-image", KAFKA_POM)
    _sync_tree(libs, context / "libs")
    config = context / "config"
    _sync_tree(SOURCES / "kafka" / "config", config)
    (config / "jvm-options").write_text(" ".join(KAFKA_JVM_OPTS) + "\n")
    (config / "log4j2.properties").write_text(log4j2_config("INFO"))
    (config / "log4j2-tools.properties").write_text(log4j2_config("WARN"))
    (config / "kafka-version").write_text(kafka_version(KAFKA_POM) + "\n")
    return context


def _postgres_context() -> Path:
    context = _fresh_context("postgres")
    for item in ("Containerfile", "docker-entrypoint.sh"):
        _sync_tree(SOURCES / "postgres" / item, context / item)
    return context


def _project_context() -> Path:
    context = _fresh_context("project")
    _sync_tree(SOURCES / "project" / "Containerfile", context / "Containerfile")
    requirements = context / "requirements.txt"
    requirements.write_text("\n".join(runtime_requirements()) + "\n")
    _ensure_wheelhouse(context / "wheelhouse", requirements)
    _ensure_wheel(context / "wheels")
    return context


def runtime_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The project's dependencies without its extras (what `pip install .` installs)."""
    with pyproject.open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return [str(requirement) for requirement in project["dependencies"]]


def source_digest(root: Path = REPO_ROOT, sources: Sequence[str] = PROJECT_SOURCES) -> str:
    """sha256 over the wheel's sources (paths and bytes), caches and bytecode left out."""
    digest = hashlib.sha256()
    for path in _source_files(root, sources):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _source_files(root: Path, sources: Sequence[str]) -> Iterable[Path]:
    for name in sources:
        top = root / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in candidates:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


def _ensure_wheelhouse(wheelhouse: Path, requirements: Path) -> None:
    """Wheels of every dependency (made by pip here, which reaches PyPI), again only when the
    requirements change. The image's Python is Debian 12's 3.11: the wheels must be for it."""
    if sys.version_info[:2] != IMAGE_PYTHON:
        raise RuntimeError(
            f"the project image runs Python {'.'.join(map(str, IMAGE_PYTHON))} (Debian {DEBIAN_SUITE}'s): "
            f"build it from a {'.'.join(map(str, IMAGE_PYTHON))} virtual environment, not {sys.version.split()[0]}"
        )
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = wheelhouse.parent / "wheelhouse-requirements.sha256"
    if (
        wheelhouse.is_dir()
        and any(wheelhouse.glob("*.whl"))
        and stamp.is_file()
        and stamp.read_text().strip() == digest
    ):
        return
    print("building the dependencies' wheels", flush=True)
    shutil.rmtree(wheelhouse, ignore_errors=True)
    wheelhouse.mkdir(parents=True)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheelhouse), "-r", str(requirements)],
        "pip wheel (the dependencies)",
    )
    stamp.write_text(digest + "\n")


def _ensure_wheel(wheels: Path) -> Path:
    """The project's wheel in `wheels/`, built again only when a source changed (the same bytes
    otherwise, so the image's wheel layer comes from the cache)."""
    digest = source_digest()
    stamp = wheels.parent / "wheel-sources.sha256"
    existing = sorted(wheels.glob("*.whl")) if wheels.is_dir() else []
    if len(existing) == 1 and stamp.is_file() and stamp.read_text().strip() == digest:
        return existing[0]
    print("building the project's wheel", flush=True)
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="expert-teams-wheel-") as scratch:
        _run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", scratch, str(REPO_ROOT)],
            "pip wheel",
        )
        (wheel,) = Path(scratch).glob("*.whl")
        shutil.copy2(wheel, wheels / wheel.name)
    stamp.write_text(digest + "\n")
    return wheels / wheel.name


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT_S)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{tail}")
