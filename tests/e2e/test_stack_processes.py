"""The launcher: every part starts from nothing as its own process and stops without orphans."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from shared.contract.events.orders import DemandSubmitted
from tests.builders import new_order_id, tianma_demand
from tests.signing import KEYRING
from tools.client import ProgrammeClient, TopicObserver
from tools.stack.embedded import port_open
from tools.stack.launcher import Stack

pytestmark = pytest.mark.e2e


def scrape(url: str) -> list[Sample]:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def sample(samples: list[Sample], name: str, labels: dict[str, str]) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_the_embedded_stack_starts_from_nothing_serves_and_stops_without_orphans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    stack = Stack(services=("orders",), data_dir=tmp_path / "data")
    stack.start()
    try:
        orders = stack.processes["orders"]
        assert stack.broker is not None and stack.postgres is not None
        postmaster = psutil.Process(stack.postgres._server.get_pid())
        pids = {"orders": orders.process.pid, "kafka": stack.broker.process.pid, "postgres": postmaster.pid}  # type: ignore[union-attr]
        assert orders.process.pid != psutil.Process().pid, "the service is its own OS process"
        with urllib.request.urlopen(orders.health_url, timeout=2) as response:
            assert response.status == 200
            assert b'"database": "ok"' in response.read()

        order_id = new_order_id()

        async def submit_and_see() -> str | None:
            async with (
                ProgrammeClient(stack.kafka, keyring=KEYRING, enrol=True, operator=stack.operator) as client,
                TopicObserver(stack.kafka, ["orders.events"]) as observer,
            ):
                await client.send(
                    DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县"),
                    source="/counties/500240",
                )
                (event,) = await observer.wait_for(lambda o: o.subject == order_id, timeout_s=30)
                return event.type

        metrics_url = orders.health_url.replace("/health/ready", "/metrics")
        before = scrape(metrics_url)
        assert asyncio.run(submit_and_see()) == "OrderSubmitted"
        after = scrape(metrics_url)
        applied = ("expert_teams_records_total", {"event_type": "DemandSubmitted", "outcome": "applied"})
        assert sample(after, *applied) == sample(before, *applied) + 1, "the county's demand was counted as applied"
        handled = ("expert_teams_handler_seconds_count", {"event_type": "DemandSubmitted"})
        assert sample(after, *handled) == sample(before, *handled) + 1
        deadline = time.monotonic() + 10  # the relay counts a row once it is marked published, after the broker's ack
        while sample(after, "expert_teams_relay_published_rows_total", {}) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
            after = scrape(metrics_url)
        assert sample(after, "expert_teams_relay_published_rows_total", {}) >= 1, "OrderSubmitted went out"
        assert sample(after, "expert_teams_ready", {}) == 1
        assert sample(after, "faststream_received_messages_total", {}) >= 1, "FastStream's own series are there"
        broker_port, health_port = stack.broker.port, orders.http_port
        assert stack.stop_service("orders", sig=signal.SIGTERM) == 0, "SIGTERM is a clean, graceful exit"
    finally:
        stack.stop()
    for name, pid in pids.items():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, (
            f"{name} left running"
        )
    assert not port_open("127.0.0.1", broker_port)
    assert not port_open("127.0.0.1", health_port)
    assert not (tmp_path / "data" / "stack.json").exists()


def test_the_stack_command_stops_cleanly_on_sigint_alone_even_when_started_with_sigint_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["EXPERT_TEAMS_DATA_DIR"] = str(tmp_path / "data")
    command = [sys.executable, "-m", "tools.cli.main", "stack", "--services", "orders"]
    ignoring_sigint = functools.partial(signal.signal, signal.SIGINT, signal.SIG_IGN)  # as a shell's background job
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=ignoring_sigint) as stack:
        try:
            assert stack.stderr is not None
            for line in stack.stderr:
                if line.startswith("stack ready"):
                    break
            else:
                pytest.fail(f"the stack did not start (exit {stack.wait()})")
            stack.send_signal(signal.SIGINT)
            assert stack.wait(timeout=60) == 0, "SIGINT alone stops the stack"
            rest = stack.stderr.read()
        finally:
            if stack.poll() is None:
                stack.terminate()  # SIGTERM: the launcher stops its children on the way out
    assert "stack stopped" in rest
    assert not (tmp_path / "data" / "stack.json").exists()
