"""docker-compose.yml, for real: on the machine's own engine and images (deploy/local/), three
Apache Kafka nodes, PostgreSQL, the topics and ACL jobs and two replicas of each service come up
healthy; the seeded programme is played through the stack from outside with the partner client;
halfway through, the whole stack stops (the services, then Kafka and PostgreSQL) and starts again,
and every database, consumer group offset and event is as it was when the services stopped; the
year then ends with the same checks as the end-to-end test. `python3 tasks.py compose` runs this
(marker `containers`, deselected elsewhere); it tears the stack down at the end."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.topics import SERVICES, all_topics
from tests.compose.local_stack import LocalStack, committed_offsets, start_local_stack
from tests.faults.harness import snapshot
from tests.programme_checks import ORDERS, assert_a_consistent_year, state_of
from tests.programme_play import WATCHED, seed_programme
from tools.client import TopicObserver
from tools.keyring import Keyring

pytestmark = [pytest.mark.containers, pytest.mark.timeout(3600)]

BROKERS = ("kafka-1", "kafka-2", "kafka-3")
JOBS = ("operators", "topics", "acls")


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with start_local_stack() as local:
        yield local


def test_every_container_is_healthy_with_three_brokers_and_two_replicas_of_each_service(stack: LocalStack) -> None:
    containers = stack.compose.containers()
    by_service: dict[str, list[dict[str, Any]]] = {}
    for container in containers:
        by_service.setdefault(container["Service"], []).append(container)
    assert {name: len(found) for name, found in by_service.items()} == {
        **dict.fromkeys(BROKERS, 1),
        "postgres": 1,
        **dict.fromkeys(JOBS, 1),
        **dict.fromkeys(SERVICES, 2),
    }
    for name in (*BROKERS, "postgres", *SERVICES):
        assert [(c["State"], c["Health"]) for c in by_service[name]] == [("running", "healthy")] * len(
            by_service[name]
        ), stack.compose.logs(name)
    for name in JOBS:
        assert [(c["State"], c["ExitCode"]) for c in by_service[name]] == [("exited", 0)], stack.compose.logs(name)
    print(f"\ncompose up to healthy: {stack.up_seconds:.1f} s", flush=True)


def test_the_programme_played_from_outside_survives_a_stop_and_start_and_passes_the_end_to_end_checks(
    stack: LocalStack, tmp_path: Path
) -> None:
    narration = io.StringIO()
    every_topic = [t.name for t in all_topics()]
    found: dict[str, Any] = {}
    timings = stack.timings

    async def play() -> Any:
        keyring = Keyring(tmp_path / "keys")
        async with seed_programme(
            stack.kafka, keyring, narration, stack.exports_dir, stack.clock_file, operator=stack.signer
        ) as (
            run,
            observer,
        ):
            began = asyncio.get_running_loop().time()
            await run.until_the_awards()
            await observer.settle(1.0)
            timings["programme until the awards"] = asyncio.get_running_loop().time() - began
            found["events_before"] = {(o.topic, o.partition, o.offset) for o in observer.seen}
            await asyncio.to_thread(restart)
            began = asyncio.get_running_loop().time()
            report = await run.from_the_payments()
            timings["programme from the payments"] = asyncio.get_running_loop().time() - began
            return report

    def restart() -> None:
        began = time.monotonic()
        stack.stop_services()
        found["offsets_before"] = asyncio.run(committed_offsets(stack.kafka, SERVICES))
        found["tables_before"] = asyncio.run(snapshot(stack))  # type: ignore[arg-type]
        stack.stop_and_start_the_rest()
        found["tables_after"] = asyncio.run(snapshot(stack))  # type: ignore[arg-type]
        found["offsets_after"] = asyncio.run(committed_offsets(stack.kafka, SERVICES, loaded_within_s=120))
        stack.start_services()
        timings["compose stop + start to healthy"] = time.monotonic() - began

        async def everything_kept() -> set[tuple[str, int, int]]:
            async with TopicObserver(stack.kafka, every_topic) as reread:
                await reread.settle(1.5)
                return {(o.topic, o.partition, o.offset) for o in reread.seen if o.topic in WATCHED}

        found["events_after_restart"] = asyncio.run(everything_kept())

    report = asyncio.run(play())
    state = asyncio.run(state_of(stack.database_url, SERVICES))
    (stack.programme_dir / "narration.txt").write_text(narration.getvalue())
    print("\n" + "\n".join(f"{what}: {seconds:.1f} s" for what, seconds in timings.items()), flush=True)

    changed = sorted(
        (service, table)
        for service, tables in found["tables_before"].items()
        for table in {*tables, *found["tables_after"][service]}
        if tables.get(table) != found["tables_after"][service].get(table)
    )
    assert changed == [], "every service database is as it was"
    assert found["offsets_after"] == found["offsets_before"], "every consumer group's offsets are as they were"
    assert found["events_before"] <= found["events_after_restart"], "every event and dead letter is still there"
    assert_a_consistent_year(report, state, narration.getvalue(), ORDERS)
