"""docker-compose.yml with deploy/compose/one-broker.yml, for real: one Apache Kafka node (its own
KRaft quorum, one replica per topic), PostgreSQL, the jobs and two replicas of each service come
up healthy on the local engine and images, and the seeded programme played through the stack from
outside passes the end-to-end test's checks. `python3 tasks.py compose` runs this with the
three-node stack (marker `containers`); the stack is torn down at the end."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.topics import SERVICES
from tests.compose.local_stack import LocalStack, start_local_stack
from tests.programme_checks import ORDERS, assert_a_consistent_year, state_of
from tests.programme_play import seed_programme
from tools.keyring import Keyring

pytestmark = [pytest.mark.containers, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with start_local_stack(brokers=1) as local:
        yield local


def test_one_broker_postgres_the_jobs_and_two_replicas_of_each_service_come_up_healthy(stack: LocalStack) -> None:
    by_service: dict[str, list[dict[str, Any]]] = {}
    for container in stack.compose.containers():
        by_service.setdefault(container["Service"], []).append(container)
    assert {name: len(found) for name, found in by_service.items()} == {
        "kafka-1": 1,
        "postgres": 1,
        "operators": 1,
        "topics": 1,
        "acls": 1,
        **dict.fromkeys(SERVICES, 2),
    }
    for name in ("kafka-1", "postgres", *SERVICES):
        states = [(c["State"], c["Health"]) for c in by_service[name]]
        assert states == [("running", "healthy")] * len(states), stack.compose.logs(name)
    print(f"\ncompose up to healthy (one broker): {stack.up_seconds:.1f} s", flush=True)


def test_the_programme_played_through_one_broker_passes_the_end_to_end_checks(
    stack: LocalStack, tmp_path: Path
) -> None:
    narration = io.StringIO()

    async def play() -> Any:
        keyring = Keyring(tmp_path / "keys")
        async with seed_programme(
            stack.kafka, keyring, narration, stack.exports_dir, stack.clock_file, operator=stack.signer
        ) as (run, _):
            began = asyncio.get_running_loop().time()
            report = await run.play()
            print(f"\nthe programme through one broker: {asyncio.get_running_loop().time() - began:.1f} s", flush=True)
            return report

    report = asyncio.run(play())
    state = asyncio.run(state_of(stack.database_url, SERVICES))
    (stack.programme_dir / "narration.txt").write_text(narration.getvalue())
    assert_a_consistent_year(report, state, narration.getvalue(), ORDERS)
