"""Kafka client quotas of a partner's principal: how fast it may write, read and keep the
brokers' request threads busy, so that one partner system cannot flood a topic and every service
behind it.

The quotas are set on the entity `user` = the principal's SCRAM user name (`counties.500240` for
source `/counties/500240`), with Kafka's AlterClientQuotas and DescribeClientQuotas APIs (KIP-546).
Every broker enforces them for each of its connections from that user, by throttling: a request
over the quota is answered with a throttle time and the connection is muted for it (KIP-219).

Neither admin client the project has offers these calls: confluent-kafka's AdminClient (2.16) has
none, aiokafka's (0.14) only DescribeClientQuotas v0. So the two requests are defined here on
aiokafka's protocol layer (`aiokafka.protocol`: Struct, Schema, Request, Response) and sent with
`aiokafka.AIOKafkaClient`, the connection layer aiokafka's own admin client wraps: it
authenticates as the `KafkaAccess` says (SASL/SCRAM, TLS), negotiates API versions with each
broker and sends a request to a given node. Version 1 of both APIs (flexible, KIP-482) is the
one defined: Kafka 4.x serves versions 0-1 of both (KIP-896 removed no version of them; they
date from Kafka 2.6, after its 2.1 baseline), v1 is what Kafka's own Admin client sends, and it
is the version a future removal of non-flexible versions would keep.

The functions are coroutines (`asyncio.run` them from the CLI, as `tools/cli/partners.py` does
for the key registry). A refusal by the broker raises `QuotaRefused` naming Kafka's error code
and message; a broker that does not answer raises aiokafka's `KafkaConnectionError` or
`TimeoutError`, which the CLI reports as such (exit status 3).

Quotas of kinds this module does not manage (`controller_mutation_rate`, `<user, client-id>`
quotas, the `<default>` user) are neither read nor changed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Final

from aiokafka import AIOKafkaClient
from aiokafka.errors import IncompatibleBrokerVersion, for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Float64,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from shared.kafka_access import KafkaAccess

KIB: Final = 1024
MIB: Final = 1024 * KIB
TIMEOUT_S: Final = 30.0

USER: Final = "user"
"""Kafka's quota entity type of a principal (KafkaPrincipal `User:<name>`)."""
MATCH_EXACT: Final = 0
"""DescribeClientQuotas' match type `exact name`."""
UNSUPPORTED_VERSION: Final = 35


@dataclass(frozen=True)
class PartnerQuotas:
    """A partner principal's client quotas, per broker; `None` = no quota of that kind.

    What a partner's real traffic is. A county system sends a few events a day (its villages'
    demands, its endorsements and decisions), each a signed CloudEvent of 1-4 KB; the bureau, the
    treasury, the registry and each reviewer no more on a busy day. The largest legitimate burst is
    a backlog: a county's system back after an outage sends everything it queued at once, a few
    dozen events after a week (under 200 KB), about a thousand after a year (4 MB at most).

    - `producer_byte_rate` 256 KiB/s: 64 of the largest events a second. Kafka measures the rate
      over its quota window (11 samples of 1 s, divided by at least 10 s), so the first 2.5 MiB
      of a burst pass at once, without any throttling: a week's backlog is never slowed, a
      year's is accepted within about 15 s. A flooding partner is held to 256 KiB/s (about 22 GB a
      day) per broker instead of whatever one connection can push (5-13 MB/s from a plain Python
      producer on a two-core test machine, far more from a native client), which the brokers'
      disks and every service consuming that inbound topic would otherwise have to absorb.
    - `consumer_byte_rate` 1 MiB/s: a partner reads its answers from `rejections`, one topic
      shared by every partner and kept forever, and skips the others'; a system catching up after
      an outage, or a new consumer group starting from the beginning, reads the whole topic, so
      reading gets four times writing (60 MiB a minute).
    - `request_percentage` 25: a quarter of one broker thread's time (network and I/O threads
      together; a broker with Kafka's default 3 network and 8 I/O threads has 1,100 %). A
      well-behaved client (metadata, heartbeats, a fetch that waits up to 500 ms for records, a
      produce now and then) uses well under 1 %; this caps a client in a tight loop of small
      requests (one record per request, a retry storm, polling without waiting), which the byte
      rates do not catch: four partners looping at once take one thread out of eleven.

    Quotas are enforced by each broker on its own connections: a partner writing partitions led by
    three brokers gets up to three times the byte rates in all. Every field can be overridden
    (`PartnerQuotas(producer_byte_rate=512 * KIB)`), and `None` lifts that one kind."""

    producer_byte_rate: int | None = 256 * KIB
    """Bytes a second the principal may write (produce requests), per broker."""
    consumer_byte_rate: int | None = 1 * MIB
    """Bytes a second the principal may read (fetch responses), per broker."""
    request_percentage: float | None = 25.0
    """Percent of one request-handling thread's time (network and I/O), per broker."""

    KEYS: ClassVar[tuple[str, ...]] = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")
    """Kafka's names of the quotas, which are the fields' names."""

    def __post_init__(self) -> None:
        for name in ("producer_byte_rate", "consumer_byte_rate"):
            rate = getattr(self, name)
            if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0):
                raise ValueError(f"{name} must be a whole number of bytes a second above 0, not {rate!r}")
        share = self.request_percentage
        if share is not None and (isinstance(share, bool) or not math.isfinite(share) or share <= 0):
            raise ValueError(f"request_percentage must be a percentage above 0, not {share!r}")

    def values(self) -> dict[str, float]:
        """The quotas that are set, by Kafka's names."""
        return {f.name: float(v) for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @classmethod
    def of(cls, values: Mapping[str, float]) -> PartnerQuotas | None:
        """The quotas of a broker's description (Kafka's names; other keys ignored); `None` if none is set."""
        if not any(key in values for key in cls.KEYS):
            return None

        def rate(key: str) -> int | None:
            return int(values[key]) if key in values else None

        share = values.get("request_percentage")
        return cls(rate("producer_byte_rate"), rate("consumer_byte_rate"), None if share is None else float(share))

    def shown(self) -> str:
        """One line for the operator: `writes 256 KiB/s, reads 1 MiB/s, requests 25 % of a broker thread`."""
        share = self.request_percentage
        requests = "unlimited" if share is None else f"{share:g} % of a broker thread"
        return f"writes {_bytes(self.producer_byte_rate)}, reads {_bytes(self.consumer_byte_rate)}, requests {requests}"


def _bytes(rate: int | None) -> str:
    if rate is None:
        return "unlimited"
    for unit, size in (("MiB", MIB), ("KiB", KIB)):
        if rate % size == 0:
            return f"{rate // size} {unit}/s"
    return f"{rate} B/s"


class QuotaRefused(RuntimeError):
    """The broker refused to alter or describe a principal's quotas (Kafka's error code and message)."""

    def __init__(self, action: str, user: str, error_code: int, message: str | None) -> None:
        self.user = user
        self.error_code = error_code
        self.error_name = str(getattr(for_code(error_code), "message", "UNKNOWN_SERVER_ERROR"))
        self.broker_message = message
        said = f": {message}" if message else ""
        super().__init__(
            f"the broker refused to {action} the client quotas of user {user}: "
            f"{self.error_name} (Kafka error {error_code}){said}"
        )


# ---- the two requests, version 1 (flexible), on aiokafka's protocol layer ---------------------
# Fields as in Kafka's AlterClientQuotas{Request,Response}.json and
# DescribeClientQuotas{Request,Response}.json (apiKey 49 and 48, validVersions 0-1, flexible 1+):
# compact strings and arrays, and the tagged fields every flexible struct ends with.

_ENTITY = CompactArray(
    ("entity_type", CompactString("utf-8")),
    ("entity_name", CompactString("utf-8")),  # null: the entity type's default
    ("tags", TaggedFields),
)


class AlterClientQuotasResponse_v1(Response):  # type: ignore[misc]  # aiokafka has no type hints
    API_KEY = 49
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "entries",
            CompactArray(
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("entity", _ENTITY),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterClientQuotasRequest_v1(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 49
    API_VERSION = 1
    RESPONSE_TYPE = AlterClientQuotasResponse_v1
    SCHEMA = Schema(
        (
            "entries",
            CompactArray(
                ("entity", _ENTITY),
                (
                    "ops",
                    CompactArray(
                        ("key", CompactString("utf-8")),
                        ("value", Float64),
                        ("remove", Boolean),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("validate_only", Boolean),
        ("tags", TaggedFields),
    )


class AlterClientQuotasRequest(Request[AlterClientQuotasRequest_v1]):  # type: ignore[misc]
    """Set (`value`) or remove (`None`) quotas of one user."""

    API_KEY = 49

    def __init__(self, user: str, ops: Mapping[str, float | None]) -> None:
        self._user = user
        self._ops = ops

    def build(self, request_struct_class: type[AlterClientQuotasRequest_v1]) -> AlterClientQuotasRequest_v1:
        tags: dict[int, bytes] = {}
        ops = [(key, 0.0 if value is None else value, value is None, tags) for key, value in self._ops.items()]
        entry = ([(USER, self._user, tags)], ops, tags)
        return request_struct_class([entry], False, {})


class DescribeClientQuotasResponse_v1(Response):  # type: ignore[misc]
    API_KEY = 48
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        (
            "entries",
            CompactArray(  # null when error_code is not 0
                ("entity", _ENTITY),
                (
                    "values",
                    CompactArray(
                        ("key", CompactString("utf-8")),
                        ("value", Float64),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeClientQuotasRequest_v1(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 48
    API_VERSION = 1
    RESPONSE_TYPE = DescribeClientQuotasResponse_v1
    SCHEMA = Schema(
        (
            "components",
            CompactArray(
                ("entity_type", CompactString("utf-8")),
                ("match_type", Int8),
                ("match", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("strict", Boolean),
        ("tags", TaggedFields),
    )


class DescribeClientQuotasRequest(Request[DescribeClientQuotasRequest_v1]):  # type: ignore[misc]
    """The quotas of exactly the entity `user` (strict: not those of <user, client-id>)."""

    API_KEY = 48

    def __init__(self, user: str) -> None:
        self._user = user

    def build(self, request_struct_class: type[DescribeClientQuotasRequest_v1]) -> DescribeClientQuotasRequest_v1:
        return request_struct_class([(USER, MATCH_EXACT, self._user, {})], True, {})


# ---- the operator's calls -------------------------------------------------------------------


async def set_quotas(kafka: KafkaAccess, user: str, quotas: PartnerQuotas, *, timeout_s: float = TIMEOUT_S) -> None:
    """Make the quotas of `user` exactly `quotas` (a `None` field removes that kind), and return once
    every broker serves them. `kafka` must be the operator's access (a super user, or one allowed
    AlterConfigs and DescribeConfigs on the cluster)."""
    name = _user_name(user)
    ops: dict[str, float | None] = {key: None for key in PartnerQuotas.KEYS} | quotas.values()
    async with asyncio.timeout(timeout_s):
        client = await _connect(kafka, timeout_s)
        try:
            await _alter(client, name, ops)
            await _until_served(client, name, quotas if quotas.values() else None)
        finally:
            await client.close()


async def read_quotas(kafka: KafkaAccess, user: str, *, timeout_s: float = TIMEOUT_S) -> PartnerQuotas | None:
    """The quotas of `user` as a broker serves them; `None` if it has none."""
    name = _user_name(user)
    async with asyncio.timeout(timeout_s):
        client = await _connect(kafka, timeout_s)
        try:
            return await _describe(client, name, _any_broker(client))
        finally:
            await client.close()


async def remove_quotas(kafka: KafkaAccess, user: str, *, timeout_s: float = TIMEOUT_S) -> PartnerQuotas | None:
    """Remove every quota of `user` (it is throttled no more once this returns); what it had, or `None`."""
    name = _user_name(user)
    async with asyncio.timeout(timeout_s):
        client = await _connect(kafka, timeout_s)
        try:
            had = await _describe(client, name, _any_broker(client))
            if had is not None:
                await _alter(client, name, dict.fromkeys(PartnerQuotas.KEYS))
            await _until_served(client, name, None)
            return had
        finally:
            await client.close()


def _user_name(user: str) -> str:
    """`counties.500240` from itself or from the principal `User:counties.500240`."""
    name = user.removeprefix("User:")
    if not name:
        raise ValueError("a quota needs a user name (e.g. counties.500240)")
    return name


async def _connect(kafka: KafkaAccess, timeout_s: float) -> Any:
    client = AIOKafkaClient(
        **kafka.aiokafka(), client_id="expert-teams-quotas", request_timeout_ms=max(1, int(timeout_s * 1000))
    )
    try:
        await client.bootstrap()
    except BaseException:
        await client.close()
        raise
    return client


def _any_broker(client: Any) -> int:
    return int(client.get_random_node())


async def _send(client: Any, node: int, request: Any, action: str, user: str) -> Any:
    try:
        return await client.send(node, request)
    except (IncompatibleBrokerVersion, NotImplementedError) as exc:  # the broker serves no version defined here
        raise QuotaRefused(
            action, user, UNSUPPORTED_VERSION, f"broker {node} does not serve version 1 of this API ({exc})"
        ) from exc


async def _alter(client: Any, user: str, ops: Mapping[str, float | None]) -> None:
    """Any broker takes AlterClientQuotas (in KRaft it forwards it to the active controller)."""
    response = await _send(client, _any_broker(client), AlterClientQuotasRequest(user, ops), "alter", user)
    for error_code, message, _entity, _tags in response.entries:
        if error_code != 0:
            raise QuotaRefused("alter", user, error_code, message)


async def _describe(client: Any, user: str, node: int) -> PartnerQuotas | None:
    response = await _send(client, node, DescribeClientQuotasRequest(user), "describe", user)
    if response.error_code != 0:
        raise QuotaRefused("describe", user, response.error_code, response.error_message)
    values: dict[str, float] = {}
    for entity, entity_values, _tags in response.entries or []:
        if [(entity_type, entity_name) for entity_type, entity_name, _ in entity] == [(USER, user)]:
            values |= {key: value for key, value, _ in entity_values}
    return PartnerQuotas.of(values)


async def _until_served(client: Any, user: str, wanted: PartnerQuotas | None) -> None:
    """Wait until every broker describes `user`'s quotas as `wanted`: each applies the controller's
    metadata record on its own, a few milliseconds after the alteration is committed."""
    brokers = sorted(int(b.nodeId) for b in client.cluster.brokers())
    pause = 0.02
    for node in brokers:
        while await _describe(client, user, node) != wanted:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
