"""No secret of the embedded stack is ever on a process's command line or in a log: the stack is
started as its users start it (`expert-teams stack`), the operator's CLI is run against it, and
every process of the stack is watched while it starts (the broker's storage is formatted then,
with its SCRAM users' passwords), runs and stops. Then every password and private key under its
`security/` folder is looked for in every command line seen and every log file it wrote."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import psutil
import pytest

from services.catalog import DEFINITIONS
from shared.contract.events.orders import DemandSubmitted
from tests.builders import new_order_id, tianma_demand
from tools.stack.access_control import service_principal
from tools.stack.operators import LEGACY, PRINCIPALS

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

START_TIMEOUT_S = 300.0
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----(.*?)-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)


class CommandLines:
    """Samples the command line (argv, no environment) of every process of the watched trees, and
    of any process whose command line names the stack's folder, until stopped."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)
        self.roots: list[int] = []
        self.seen: dict[tuple[int, float], set[tuple[str, ...]]] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, pid: int) -> None:
        self.roots.append(pid)
        self._sample([pid])

    def __enter__(self) -> CommandLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        sweep = 0
        while not self._stop.is_set():
            try:
                self._sample(self.roots)
                sweep += 1
                if sweep % 25 == 0:  # every half second: processes that left the tree (daemons)
                    self._sweep()
            except Exception as exc:  # kept for the test to show: a watcher that stopped proves nothing
                self.errors.append(repr(exc))
            time.sleep(0.02)

    def _sample(self, roots: list[int]) -> None:
        for root in list(roots):
            try:
                tree = [psutil.Process(root)]
                tree += tree[0].children(recursive=True)
            except psutil.Error:
                continue
            for process in tree:
                self._keep(process)

    def _sweep(self) -> None:
        for process in psutil.process_iter():
            try:
                if any(self.folder in argument for argument in process.cmdline()):
                    self._keep(process)
            except psutil.Error:
                continue

    def _keep(self, process: psutil.Process) -> None:
        with contextlib.suppress(psutil.Error):
            argv = tuple(process.cmdline())
            if argv:  # (a zombie's is empty; a process may rewrite its own, as PostgreSQL's do: keep each)
                self.seen.setdefault((process.pid, process.create_time()), set()).add(argv)


def secrets_in(security: Path) -> dict[str, bytes]:
    """Every secret the stack keeps: passwords, partners' passwords, private keys' PEM bodies."""
    found = {f"password of {p.stem}": p.read_bytes().strip() for p in (security / "passwords").glob("*.password")}
    for properties in security.rglob("client.properties"):
        for line in properties.read_bytes().splitlines():
            if line.startswith(b"sasl.password="):
                found[f"sasl.password in {properties.relative_to(security)}"] = line.split(b"=", 1)[1]
    for pem in security.rglob("*.pem"):
        for number, body in enumerate(PEM_PRIVATE_KEY.findall(pem.read_bytes())):
            lines = [line.strip() for line in body.splitlines() if len(line.strip()) >= 16]
            found[f"private key {number} of {pem.relative_to(security)}"] = b"".join(lines)
            found |= {f"line {i} of private key {number} of {pem.name}": line for i, line in enumerate(lines)}
    return found


def log_files(data: Path) -> list[Path]:
    """Every log the stack wrote under its folder (the broker's, PostgreSQL's, the services'), and
    the broker's segment files too (`.log`): everything but the secrets' own folder."""
    chosen = []
    for path in data.rglob("*"):
        if not path.is_file() or "security" in path.relative_to(data).parts:
            continue
        name, parents = path.name, {p.name for p in path.parents}
        if name.endswith((".log", ".out", ".err")) or ".log." in name or parents & {"log", "logs", "pg_log"}:
            chosen.append(path)
    return chosen


async def test_no_process_of_the_running_stack_has_a_secret_on_its_command_line_and_no_log_holds_one(
    tmp_path: Path,
) -> None:
    # in a thread: the session's event loop (other tests' services in this process) keeps running
    await asyncio.to_thread(run_the_stack_and_look_for_secrets, tmp_path)


def run_the_stack_and_look_for_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_URL"))}
    env |= {"EXPERT_TEAMS_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    console = tmp_path / "stack-console.log"
    outputs: list[Path] = [console]

    def cli(*args: str) -> str:
        """The operator's CLI against the running stack (it finds it through the stack file)."""
        out = tmp_path / f"cli-{len(outputs)}.log"
        outputs.append(out)
        with out.open("wb") as handle:
            command = subprocess.Popen(
                [sys.executable, "-m", "tools.cli.main", *args], env=env, stdout=handle, stderr=subprocess.STDOUT
            )
            watcher.watch(command.pid)
            assert command.wait(timeout=120) == 0, out.read_text()
        return out.read_text()

    ready = threading.Event()

    def keep_console(stream: IO[bytes], written: IO[bytes]) -> None:
        """Everything the stack prints (the services log to its console), written as it comes."""
        for line in stream:
            written.write(line)
            written.flush()
            if line.startswith(b"stack ready"):
                ready.set()

    with CommandLines(tmp_path) as watcher, console.open("wb") as written:
        stack = subprocess.Popen(
            [sys.executable, "-m", "tools.cli.main", "stack", "--services", "orders"],
            env=env,
            stdout=written,
            stderr=subprocess.PIPE,
        )
        watcher.watch(stack.pid)
        assert stack.stderr is not None
        reader = threading.Thread(target=keep_console, args=(stack.stderr, written), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not ready.wait(0.5):
                if stack.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the stack did not start (exit {stack.poll()}): {console.read_text()[-3000:]}")
            onboarded = cli("partners", "add", "/counties/500240", "--generate")  # its private key written too
            assert "onboarded /counties/500240 as principal counties.500240" in onboarded
            order_id = new_order_id()
            demand = DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县人力社保局")
            sent = cli(
                "send", "--type", "DemandSubmitted", "--source", "/counties/500240", "--data", demand.model_dump_json()
            )
            assert json.loads(sent)["subject"] == order_id
            checked = cli("topics", "ensure", "--check")  # as the provisioner, which reads no event
            assert "0 need an operator" in checked, checked
            listed = cli("acls", "list")
            assert (
                "User:operator READ topic *" in listed
                and "User:counties.500240 WRITE topic orders.inbound.counties.500240" in listed
            )
            assert "User:provisioner ALTER cluster kafka-cluster" in listed and "User:health" not in listed
            stack.send_signal(signal.SIGINT)
            assert stack.wait(timeout=120) == 0
            reader.join(timeout=30)
        finally:
            if stack.poll() is None:
                stack.terminate()
                stack.wait(timeout=60)

    secrets = secrets_in(data / "security")
    kept = {name.removeprefix("password of ") for name in secrets if name.startswith("password of ")}
    services = {service_principal(definition.name) for definition in DEFINITIONS}
    assert kept == {*PRINCIPALS, *services}, "one password each; the old admin's is gone"
    assert not set(LEGACY) & kept
    assert any(name.startswith("sasl.password in partners") for name in secrets), "the partner's password"
    assert any("ca-key.pem" in name for name in secrets) and any("signing-key.pem" in name for name in secrets)

    every_argv = [argv for seen in watcher.seen.values() for argv in seen]
    command_lines = ["\0".join(argv) for argv in every_argv]
    formats = [line for line in command_lines if re.search(r"\0@[^\0]*format\.args(\0|$)", line)]
    assert formats, "the broker's storage was formatted (java @argument-file) while it was watched"
    assert not watcher.errors, f"the watcher failed: {watcher.errors[:3]}"
    programs = sorted({" ".join(argv[:3])[-80:] for argv in every_argv})
    assert any("kafka.Kafka" in line for line in command_lines), f"the broker was watched: {programs}"
    assert any("services.orders" in line for line in command_lines), f"the service was watched: {programs}"
    assert any("postgres" in line for line in command_lines), "PostgreSQL's processes were watched too"
    for argv in command_lines:
        leaked = [name for name, secret in secrets.items() if secret.decode() in argv]
        shown = argv.replace("\0", " ")
        for secret in secrets.values():
            shown = shown.replace(secret.decode(), "<the secret>")
        assert not leaked, f"{leaked} on the command line {shown[:300]}"
    assert not list(data.rglob("*.args")), "no argument file is left"

    logs = [*log_files(data), *outputs]
    assert data / "logs" / "kafka.log" in logs and len(logs) >= 5, logs
    for path in logs:
        content = path.read_bytes()
        leaked = [name for name, secret in secrets.items() if secret in content]
        assert not leaked, f"{path} holds {leaked}"
