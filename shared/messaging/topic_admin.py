"""Topics configured by code: every topic of the contract exists with its partition count,
replication factor, `min.insync.replicas` and retention, and drift is reported and fixed.

Kafka can fix most drift in place: configs are altered, partitions added (never removed: keys
would move between partitions, so a topic with more partitions than wanted is reported only).
A replication factor cannot be changed by a config; it is reported for an operator to
reassign partitions."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from shared.topics import TopicSpec, with_prefix

log = structlog.get_logger("shared.messaging.topic_admin")

_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True, slots=True)
class TopicSettings:
    """What every topic gets besides its partition count (from KafkaSettings)."""

    replication_factor: int = 1
    min_insync_replicas: int = 1
    retention_ms: int = -1
    """-1: kept forever. The topics are the programme's audit trail and the input of a rebuild."""

    def configs(self) -> dict[str, str]:
        return {
            "min.insync.replicas": str(self.min_insync_replicas),
            "retention.ms": str(self.retention_ms),
            "retention.bytes": "-1",
            "cleanup.policy": "delete",
        }


@dataclass(slots=True)
class TopicReport:
    """What `ensure_topics` found and did, topic by topic, in words an operator reads."""

    created: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    """Drift corrected: '<topic>: <what>'."""
    unfixable: list[str] = field(default_factory=list)
    """Drift an operator must correct: '<topic>: <what>'."""
    in_order: list[str] = field(default_factory=list)

    @property
    def drift(self) -> list[str]:
        return [*self.fixed, *self.unfixable]


async def ensure_topics(
    admin: AIOKafkaAdminClient,
    specs: Sequence[TopicSpec],
    *,
    prefix: str = "",
    settings: TopicSettings | None = None,
    fix: bool = True,
    create: bool = True,
) -> TopicReport:
    """Create missing topics with their configs; report (and with `fix`, correct) the others' drift.

    Without `create` (a service whose principal may not manage topics), only check that every
    topic exists and has leaders: a missing one is an error naming the operator's command."""
    settings = settings or TopicSettings()
    wanted = {with_prefix(prefix, spec.name): spec for spec in specs}
    report = TopicReport()
    existing = set(await admin.list_topics())
    missing = [name for name in wanted if name not in existing]
    if missing and not create:
        raise RuntimeError(
            f"{len(missing)} topic(s) missing or not visible to this principal: {', '.join(sorted(missing)[:6])}; "
            "the operator creates them (`expert-teams topics ensure`) and grants them (`expert-teams acls sync`)"
        )
    if not create:
        await _until_led(admin, list(wanted))
        report.in_order.extend(wanted)
        return report
    if missing:
        response = await admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=wanted[name].partitions,
                    replication_factor=settings.replication_factor,
                    topic_configs=settings.configs() | dict(wanted[name].configs),
                )
                for name in missing
            ]
        )
        for name, code, *rest in response.topic_errors:
            if code == _TOPIC_ALREADY_EXISTS:  # created meanwhile by another starter: check it below
                existing.add(name)
            elif code:
                message = rest[0] if rest else ""
                raise for_code(code)(f"could not create topic {name}: {message}")
            else:
                report.created.append(name)
    await _until_led(admin, list(wanted))
    present = [name for name in wanted if name in existing]
    if present:
        await _check(admin, present, wanted, settings, report, fix)
    if report.created or report.drift:
        log.info(
            "topics ensured",
            created=len(report.created),
            fixed=report.fixed,
            needs_operator=report.unfixable,
        )
    return report


async def _check(
    admin: AIOKafkaAdminClient,
    names: list[str],
    wanted: Mapping[str, TopicSpec],
    settings: TopicSettings,
    report: TopicReport,
    fix: bool,
) -> None:
    described = {t["topic"]: t for t in await admin.describe_topics(names)}
    configs = await _configs(admin, names)
    more_partitions: dict[str, NewPartitions] = {}
    alter: list[ConfigResource] = []
    for name in names:
        partitions = described[name]["partitions"]
        count = len(partitions)
        problems_fixed: list[str] = []
        if count < wanted[name].partitions:
            problems_fixed.append(f"{count} partitions, wanted {wanted[name].partitions}")
            more_partitions[name] = NewPartitions(total_count=wanted[name].partitions)
        elif count > wanted[name].partitions:
            report.unfixable.append(
                f"{name}: {count} partitions, wanted {wanted[name].partitions} (partitions are never removed)"
            )
        replicas = min((len(p["replicas"]) for p in partitions), default=0)
        if replicas != settings.replication_factor:
            report.unfixable.append(
                f"{name}: replication factor {replicas}, wanted {settings.replication_factor} "
                "(reassign its partitions: kafka-reassign-partitions)"
            )
        current = configs.get(name, {})
        wanted_configs = settings.configs() | dict(wanted[name].configs)
        differs = {k: v for k, v in wanted_configs.items() if current.get(k) != v}
        if differs:
            shown = ", ".join(f"{k}={current.get(k)!s} (wanted {v})" for k, v in sorted(differs.items()))
            problems_fixed.append(shown)
            alter.append(ConfigResource(ConfigResourceType.TOPIC, name, configs=wanted_configs))
        if problems_fixed:
            (report.fixed if fix else report.unfixable).append(f"{name}: {'; '.join(problems_fixed)}")
        elif not any(u.startswith(f"{name}: ") for u in report.unfixable):
            report.in_order.append(name)
    if not fix:
        return
    if more_partitions:
        await admin.create_partitions(more_partitions)
    if alter:
        for response in await admin.alter_configs(alter):
            for code, message, _, name in response.resources:
                if code:
                    raise for_code(code)(f"could not alter the configs of topic {name}: {message}")


async def _until_led(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    """Until every partition of these topics has a leader in the broker's metadata: a topic just
    created (here or by another starter) is not yet usable, and its configs not yet readable."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        waiting = [
            t["topic"]
            for t in described
            if t["error_code"] or not t["partitions"] or any(p["leader"] < 0 for p in t["partitions"])
        ]
        if not waiting:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics without leaders after {timeout_s:.0f} s: {', '.join(waiting[:5])}")
        await asyncio.sleep(0.1)


async def _configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            code, message, _, name, entries = resource[:5]
            if code:
                raise for_code(code)(f"could not read the configs of topic {name}: {message}")
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


def describe(report: TopicReport) -> list[str]:
    """Lines for the `topics ensure` command."""
    lines = [f"created {name}" for name in report.created]
    lines += [f"fixed   {line}" for line in report.fixed]
    lines += [f"DRIFT   {line}" for line in report.unfixable]
    lines.append(
        f"{len(report.in_order)} topic(s) in order, {len(report.created)} created, "
        f"{len(report.fixed)} fixed, {len(report.unfixable)} need an operator"
    )
    return lines
