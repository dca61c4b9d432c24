"""The fast fault suite (part of the README's test command), on one embedded stack of
production's topology (three Kafka nodes, two replicas of every service, crash points armed): a
programme year with kill -9 of service replicas drawn over the whole year and a Kafka node
killed and restarted, a full replay of every topic into every service, and a fuzzer of hostile
input. The long suites are in test_production_topology.py and test_soak.py (`tasks.py faults`)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from shared.contract.limits import MAX_RECORD_BYTES
from shared.runtime.clock_file import set_programme_time
from shared.topics import deadletter
from tests.faults.checks import check_services
from tests.faults.fuzz import FUZZ_SOURCES, GOOD_TABLES, Message, good_events, hostile_batch
from tests.faults.harness import (
    FaultyStack,
    fault_stack,
    programme_on,
    session,
    snapshot,
    wait_consumed,
)
from tests.faults.invariants import check_topics
from tests.faults.topology import CalendarChaos, FaultPlan, PlannedFault, fault_seed
from tests.hostile import allow_raw_header_names
from tests.programme_checks import assert_a_consistent_year, state_of
from tests.signing import signed
from tools.client import TopicObserver, envelope_for
from tools.scenario.seed import generate
from tools.stack.embedded import DATA_DIR

pytestmark = pytest.mark.e2e

KILL_ROUND_ORDERS = 24
KILL_ROUND_SEED = 7
REPLICA_KILLS = 8
FUZZ_BATCH = int(os.environ.get("FAULTS_FUZZ_BATCH", "96"))
FUZZ_EXAMPLES = int(os.environ.get("FAULTS_FUZZ_EXAMPLES", "3"))
FIGURES: dict[str, Any] = {}
FIGURES_FILE = DATA_DIR / "faults" / "fast.json"
"""Kills, restarts, fuzzed messages and the counts lost or duplicated, for the closing note."""


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyStack]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        env.delenv("DATABASE_URL", raising=False)
        stack = fault_stack(tmp_path_factory.mktemp("faults") / "data", brokers=3, replicas=2)
        stack.start()
    try:
        with FaultyStack(stack) as faults:
            yield faults
    finally:
        stack.stop()
        FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
        FIGURES_FILE.write_text(json.dumps(FIGURES, ensure_ascii=False, indent=2))


@pytest.mark.timeout(1200)
def test_a_programme_year_survives_replicas_killed_all_over_the_year_and_a_kafka_node_killed(
    faulty: FaultyStack,
) -> None:
    stack = faulty.stack
    programme = generate(KILL_ROUND_ORDERS, seed=KILL_ROUND_SEED)
    seed = fault_seed(os.environ.get)
    kills = FaultPlan.draw(seed, stack.instances, service_kills=REPLICA_KILLS, broker_faults=False)
    plan = FaultPlan(seed, (PlannedFault("awards", "kill_broker_node", target="3", delay_s=1.0), *kills.faults))
    narration = io.StringIO()

    async def play() -> tuple[Any, Any, CalendarChaos, list[float]]:
        async with session(stack) as (client, observer):
            with CalendarChaos(faulty, plan, programme.start) as chaos:
                run = programme_on(stack, client, observer, programme, narration, timeout_s=180)
                report = await run.play()
                await asyncio.to_thread(chaos.finish)
            await observer.settle(1.0)
            await wait_consumed(stack, observer, "")  # a replica killed late may still be catching up
            return report, check_topics(observer, stack.topic_prefix), chaos, run.catch_up_waits

    report, findings, chaos, catch_ups = asyncio.run(play())
    faulty.wait_all_healthy()
    state = asyncio.run(state_of(stack.database_url, stack.services))
    services = asyncio.run(check_services(stack.database_url, stack.services))
    FIGURES["kill_round"] = {
        "orders": KILL_ROUND_ORDERS,
        "seed": seed,
        "faults": chaos.done,
        "rebalances_seen": faulty.rebalances(),
        "crash_points_hit": faulty.crash_points_hit(),
        "longest_catch_up_s": round(max(catch_ups, default=0.0), 2),
        **faulty.log.as_dict(),
        **findings.as_dict(),
        **{f"services_{k}": v for k, v in services.as_dict().items()},
    }

    context = f"fault seed {seed} (FAULTS_SEED replays it): {chaos.done}"
    assert chaos.errors == [], chaos.errors
    assert len(chaos.done) == len(plan.faults), context
    assert sum(faulty.log.kills.values()) == REPLICA_KILLS, context
    assert faulty.log.unexpected_exits == {}, faulty.log.as_dict()
    assert faulty.crash_points_hit() == faulty.log.crash_point_deaths, "every recorded crash point is a death"
    told = f"{context}\n{narration.getvalue()}"
    assert report.failures == [], told
    assert_a_consistent_year(report, state, told, KILL_ROUND_ORDERS, seed=KILL_ROUND_SEED)
    assert findings.duplicated_effects == [], findings.duplicated_effects[:5]
    assert findings.out_of_order == [], findings.out_of_order[:5]
    assert services.duplicated_effects == [], services.duplicated_effects[:5]
    assert services.applied_out_of_order == [], services.applied_out_of_order[:5]


def test_replaying_every_topic_from_the_beginning_into_every_service_changes_nothing(faulty: FaultyStack) -> None:
    stack = faulty.stack
    before = asyncio.run(snapshot(stack))

    async def replay() -> tuple[int, int]:
        async with session(stack) as (_, observer):
            await observer.settle(1.5)
            messages_before = len(observer.seen)
            stack.extra_env["KAFKA_GROUP_SUFFIX"] = "-replay"
            for name in list(stack.processes):
                with faulty.held(name):
                    stack.stop_service(name)
                    stack.start_service(name)
            # a replica that dies at an armed crash point while it replays is restarted by the supervisor
            await asyncio.to_thread(faulty.wait_all_healthy, 180)
            await wait_consumed(stack, observer, "-replay")
            await observer.settle(1.0)
            return messages_before, len(observer.seen)

    messages_before, messages_after = asyncio.run(replay())
    after = asyncio.run(snapshot(stack))
    FIGURES["replay"] = {"messages_replayed": messages_before, "new_messages": messages_after - messages_before}
    assert messages_after == messages_before, "a replay emitted new events"
    assert after == before, "a replay changed some service's state"


@pytest.mark.timeout(180 + 30 * FUZZ_EXAMPLES)  # each batch of 96 takes ~10 s; `tasks.py faults` runs 40
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.generate],  # a failing batch is reported as it is: shrinking would replay it for minutes
    print_blob=False,
)
@given(batch=hostile_batch(FUZZ_BATCH))
def test_hostile_input_is_dead_lettered_with_its_reason_and_costs_the_other_senders_nothing(
    faulty: FaultyStack, batch: list[Message]
) -> None:
    stack = faulty.stack
    # The fuzz's senders date their events by the wall clock (as partners do): the programme's clock,
    # which the year before left in 2028, is set to now, so that freshness refuses none of them.
    set_programme_time(stack.clock_file, datetime.now(UTC))
    before = asyncio.run(snapshot(stack))
    allow_raw_header_names()
    run = uuid.uuid4().hex[:6]

    async def send_and_check() -> None:
        async with session(stack) as (client, observer):
            sent: dict[tuple[str, int, int], Message] = {}
            good: list[Any] = []
            others = iter(good_events(len(batch) // 4 + 1, run))
            for source in FUZZ_SOURCES:
                await client.enrol(source)
            for i, message in enumerate(batch):
                metadata = await client.send_raw(
                    client.topic(message.topic), message.value, key=message.key, headers=message.headers
                )
                sent[(metadata.topic, metadata.partition, metadata.offset)] = message
                if i % 4 == 0:  # other senders' valid events among the hostile ones, some with odd headers
                    data, source = next(others)
                    envelope = envelope_for(data, source=source, time=datetime.now(UTC))
                    noted = [("x-note", b"\xff\xfe")] if i % 8 == 0 else []
                    await client.send_raw(
                        client.topic_of(envelope.type, source),
                        signed(envelope.to_structured_json()),
                        key=envelope.subject.encode(),
                        headers=[("content-type", b"application/cloudevents+json"), *noted],
                    )
                    good.append(envelope)

            def letters() -> dict[tuple[str, int, int], list[Any]]:
                found: dict[tuple[str, int, int], list[Any]] = {}
                for o in observer.seen:
                    if o.header("dlt.origin.topic"):
                        origin = (
                            o.header("dlt.origin.topic") or "",
                            int(o.header("dlt.origin.partition") or -1),
                            int(o.header("dlt.origin.offset") or -1),
                        )
                        found.setdefault(origin, []).append(o)
                return found

            with contextlib.suppress(TimeoutError):
                await observer.wait_until(lambda: set(sent) <= set(letters()), timeout_s=180)
            missing = [f"{m.service}/{m.kind}" for origin, m in sent.items() if origin not in letters()]
            assert not missing, f"hostile messages never dead-lettered: {missing}"
            with contextlib.suppress(TimeoutError):
                await observer.wait_until(lambda: all(applied(observer, e) for e in good), timeout_s=90)
            lost = [f"{e.type} {e.subject}" for e in good if not applied(observer, e)]
            assert not lost, f"valid events of other senders never applied: {lost}"
            dead = letters()
            reasons: dict[str, dict[str, int]] = {}
            for origin, message in sent.items():
                copies = {(o.header("dlt.id"), o.header("dlt.reason")) for o in dead[origin]}
                assert len(copies) == 1, f"{message.kind}: one dead letter per hostile message, got {copies}"
                ((_, reason),) = copies
                assert reason in message.expected, (
                    f"{message.kind} on {message.service}: {reason} ({dead[origin][0].header('dlt.detail')})"
                )
                letter = dead[origin][0]
                assert letter.topic == client.topic(deadletter(message.service))
                size = (
                    len(letter.key or b"") + len(letter.value or b"") + sum(len(n) + len(v) for n, v in letter.headers)
                )
                assert size <= MAX_RECORD_BYTES, f"{message.kind}: a dead letter of {size:,} bytes"
                per_kind = reasons.setdefault(message.kind, {})
                per_kind[reason or "?"] = per_kind.get(reason or "?", 0) + 1
            total = FIGURES.setdefault(
                "fuzz", {"messages": 0, "dead_lettered": 0, "by_kind": {}, "valid_sent": 0, "valid_applied": 0}
            )
            total["messages"] += len(sent)
            total["dead_lettered"] += len(sent)
            total["valid_sent"] += len(good)
            total["valid_applied"] += sum(1 for e in good if applied(observer, e))
            for kind, by_reason in reasons.items():
                kind_total = total["by_kind"].setdefault(kind, {})
                for reason, n in by_reason.items():
                    kind_total[reason] = kind_total.get(reason, 0) + n

    asyncio.run(send_and_check())
    after = asyncio.run(snapshot(stack))
    faulty.wait_all_healthy()  # a service that died at an armed crash point just now is back
    assert faulty.log.unexpected_exits == {}, "a consumer died by itself (not an injected crash)"
    for service, tables in after.items():
        changed = {t for t, digest in tables.items() if before[service].get(t) != digest}
        allowed = {"inbox", "outbox", "dead_letters"} | GOOD_TABLES[service]
        assert changed <= allowed, f"{service}: hostile input changed {changed - allowed}"


def applied(observer: TopicObserver, envelope: Any) -> bool:
    """The good event was applied: its service answered it with an event that is not a refusal."""
    return any(a.type not in (None, "EventRejected") for a in observer.answers_to(envelope.id))
