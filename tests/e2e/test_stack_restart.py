"""The default stack keeps everything across a stop and a start: half a programme year is
played, the whole stack (four services, Apache Kafka, PostgreSQL) stops and starts again on
the same data, and the year finishes as if nothing had happened; nothing was lost or redone."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.topics import all_topics
from tests.faults.harness import snapshot
from tests.programme_checks import ORDERS, assert_a_consistent_year, state_of
from tests.programme_play import WATCHED, seed_programme
from tests.signing import KEYRING
from tools.client import TopicObserver
from tools.stack.launcher import Stack
from tools.stack.operators import LEGACY, PRINCIPALS

pytestmark = pytest.mark.e2e


async def committed_offsets(stack: Stack) -> dict[str, dict[TopicPartition, int]]:
    """Every service's consumer group's committed offsets."""
    admin = AIOKafkaAdminClient(**stack.kafka.aiokafka())
    await admin.start()
    try:
        return {
            name: {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(name)).items()}
            for name in stack.services
        }
    finally:
        await admin.close()


def test_a_stack_stopped_and_started_again_loses_nothing_and_finishes_the_year(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    data = tmp_path / "data"
    stack = Stack(data_dir=data, extra_env={"REVIEWS_EXPORT_DIR": str(tmp_path / "exports")})
    narration = io.StringIO()
    every_topic = [t.name for t in all_topics()]
    found: dict[str, Any] = {}

    async def play() -> Any:
        async with seed_programme(
            stack.kafka, KEYRING, narration, tmp_path / "exports", stack.clock_file, operator=stack.operator
        ) as (
            run,
            observer,
        ):
            await run.until_the_awards()
            await observer.settle(1.0)
            found["events_before"] = {(o.topic, o.partition, o.offset) for o in observer.seen}
            await asyncio.to_thread(restart)
            return await run.from_the_payments()

    def restart() -> None:
        found["offsets_before"] = asyncio.run(committed_offsets(stack))
        found["tables_before"] = asyncio.run(snapshot(stack))
        found["port_before"] = stack.bootstrap_servers
        stack.stop()
        stack.start()
        found["tables_after"] = asyncio.run(snapshot(stack))
        found["offsets_after"] = asyncio.run(committed_offsets(stack))

        async def everything_kept() -> set[tuple[str, int, int]]:
            async with TopicObserver(stack.kafka, every_topic) as reread:
                await reread.settle(1.5)
                return {(o.topic, o.partition, o.offset) for o in reread.seen if o.topic in WATCHED}

        found["events_after_restart"] = asyncio.run(everything_kept())

    stack.start()
    try:
        report = asyncio.run(play())
        state = asyncio.run(state_of(stack.database_url, stack.services))
    finally:
        stack.stop()

    assert found["port_before"] == stack.bootstrap_servers, "the broker came back at its address"
    assert found["tables_after"] == found["tables_before"], "every service database is as it was"
    assert found["offsets_after"] == found["offsets_before"], "every consumer group's offsets are as they were"
    assert found["events_before"] <= found["events_after_restart"], "every event and dead letter is still there"
    assert_a_consistent_year(report, state, narration.getvalue(), ORDERS)
    assert stack.kafka.security_protocol == "SASL_PLAINTEXT", "the embedded stack authenticates by default"
    (tmp_path / "narration.txt").write_text(narration.getvalue())
    written = [*(data / "logs").iterdir(), *(tmp_path / "exports").iterdir(), tmp_path / "narration.txt"]
    assert len(written) >= 8, written
    assert_no_secret_written(data, written)


def secrets_of(data: Path) -> dict[str, str]:
    """Every password the stack keeps (its broker, controller listener, provisioner, operator,
    healthcheck, each service)."""
    return {path.stem: path.read_text().strip() for path in (data / "security" / "passwords").glob("*.password")}


def assert_no_secret_written(data: Path, files: list[Path]) -> None:
    kept = secrets_of(data)
    assert {*PRINCIPALS, "service.orders", "service.funding"} <= set(kept), kept.keys()
    assert not set(LEGACY) & set(kept), "the old all-purpose principal is gone"
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")  # service logs, the broker's log, exports
        leaked = [name for name, secret in kept.items() if secret in text]
        assert not leaked, f"{path} holds the password of {leaked}"
