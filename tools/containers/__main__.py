"""python -m tools.containers {engine,images,compose-tool,integration}: the commands behind
`python3 tasks.py images` and `python3 tasks.py containers` (deploy/local/README.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from .compose import ensure_compose_tool
from .engine import EngineUnavailable, ensure_engine, stop_engine
from .images import IMAGES, build_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.containers")
    sub = parser.add_subparsers(dest="command", required=True)
    engine_parser = sub.add_parser("engine", help="install podman if missing and serve the Docker API (or stop it)")
    engine_parser.add_argument("action", choices=["start", "stop", "env"])
    sub.add_parser("images", help="build the local images (cached)")
    sub.add_parser("compose-tool", help="the Docker Compose binary the project uses (built once)")
    integration = sub.add_parser(
        "integration", help="pytest with the tests' infrastructure from testcontainers on the local engine and images"
    )
    integration.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "engine" and args.action == "stop":
            print("stopped" if stop_engine() else "no engine service started by the project is running")
        elif args.command == "engine":
            started = ensure_engine()
            if args.action == "env":
                for key, value in started.environment().items():
                    print(f"export {key}={value}")
            else:
                print(f"the Docker API answers on {started.docker_host}")
        elif args.command == "images":
            began = time.monotonic()
            build_all(ensure_engine())
            print(f"images ready in {time.monotonic() - began:.1f} s")
        elif args.command == "integration":
            engine = ensure_engine()
            build_all(engine)
            environment = os.environ | engine.environment()
            environment |= {"EXPERT_TEAMS_KAFKA_IMAGE": IMAGES.kafka, "EXPERT_TEAMS_POSTGRES_IMAGE": IMAGES.postgres}
            for given in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "EXPERT_TEAMS_NO_DOCKER"):
                environment.pop(given, None)  # the point is the testcontainers path
            command = [sys.executable, "-m", "pytest", *args.pytest_args]
            print(f"+ DOCKER_HOST={engine.docker_host} {' '.join(command)}", flush=True)
            os.execve(sys.executable, command, environment)
        else:
            print(" ".join(ensure_compose_tool()))
    except EngineUnavailable as exc:
        print(f"no container engine: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
