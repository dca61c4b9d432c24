"""Kafka ACLs of the programme, derived from the contract's registry and the services' own
subscriptions, and applied to the broker's StandardAuthorizer (nothing is allowed unless a
grant says so: `allow.everyone.if.no.acl.found=false`).

- A service principal (`service.<name>`) reads the topics it subscribes to (every partner's
  `<name>.inbound.<principal>`: the prefix `<name>.inbound.`) and the partner key registry,
  commits offsets in its own consumer groups (`<prefix><name>*`), and writes only its own
  `<name>.events`, `<name>.deadletter`, the operator's `rejections` and the partners' answers
  (`answers.*`).
- A partner principal (`counties.500240` for source `/counties/500240`) writes only its own
  inbound topics (`<service>.inbound.counties.500240`, one per service its event types go to) and
  reads only its own answers (`answers.counties.500240`), in consumer groups named
  `counties.500240:<anything>`. Every grant on a topic is LITERAL: no principal's name is a prefix
  of another's topics (`counties.500240` and `counties.5002400` share no topic), and the group
  prefix ends with `:`, which no principal's name contains.
- The principals that run the programme (`broker`, `controller`, `provisioner`, `operator`,
  `health`) are in `tools/stack/operators.py`, with their grants and why.

Applying is a sync: missing grants are created and grants the code no longer derives are
deleted, per principal. The admin calls go through confluent-kafka's AdminClient (librdkafka,
the client partners use too), because aiokafka has no calls for ACLs or SCRAM credentials.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from shared.contract.partners import principal_of
from shared.contract.registry import REGISTRY, EventRegistry
from shared.topics import ANSWERS, PARTNERS, REJECTIONS, deadletter, events, inbound, partner_inbound, with_prefix
from shared.topics import answers as answers_topic

TIMEOUT_S = 30.0
LIBRDKAFKA_RESOURCE = {"CLUSTER": "BROKER"}
"""Kafka's resource type names as confluent-kafka's ResourceType spells them (the cluster is BROKER)."""


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL: `principal` may `operation` on the `resource` called `name` (or every
    name starting with it, when `prefixed`)."""

    principal: str
    resource: str
    name: str
    operation: str
    prefixed: bool = False

    def shown(self) -> str:
        pattern = "prefix " if self.prefixed else ""
        return f"{self.principal} {self.operation} {self.resource.lower()} {pattern}{self.name}"


def service_principal(service: str) -> str:
    return f"service.{service}"


def service_grants(service: str, consumed: Iterable[str], prefix: str = "") -> set[Grant]:
    user = f"User:{service_principal(service)}"
    grants: set[Grant] = set()
    for topic in {*consumed, PARTNERS}:  # the partner key registry
        if topic == inbound(service):  # every partner's topic of this service
            name, prefixed = with_prefix(prefix, f"{inbound(service)}."), True
        else:
            name, prefixed = with_prefix(prefix, topic), False
        grants |= {Grant(user, "TOPIC", name, op, prefixed=prefixed) for op in ("READ", "DESCRIBE")}
    for topic in (events(service), deadletter(service), REJECTIONS):
        grants |= {Grant(user, "TOPIC", with_prefix(prefix, topic), op) for op in ("WRITE", "DESCRIBE")}
    answers_prefix = with_prefix(prefix, f"{ANSWERS}.")
    grants |= {Grant(user, "TOPIC", answers_prefix, op, prefixed=True) for op in ("WRITE", "DESCRIBE")}
    grants.add(Grant(user, "GROUP", with_prefix(prefix, service), "READ", prefixed=True))
    return grants


def inbound_topics_of(source: str, registry: EventRegistry = REGISTRY) -> list[str]:
    """The inbound topics of the event types `source` is entitled to send (the registry's senders)."""
    return sorted(
        {
            spec.topic
            for spec in registry
            if spec.topic.endswith(".inbound") and any(fnmatchcase(source, p) for p in spec.senders)
        }
    )


GROUP_DELIMITER = ":"
"""Ends the prefix of a partner's consumer groups: `counties.500240:answers`. No principal's name
contains it, so no principal's groups are a prefix of another's."""


def partner_grants(source: str, prefix: str = "", registry: EventRegistry = REGISTRY) -> set[Grant]:
    principal = principal_of(source)
    user = f"User:{principal}"
    grants: set[Grant] = set()
    for topic in inbound_topics_of(source, registry):
        own = with_prefix(prefix, partner_inbound(topic.removesuffix(".inbound"), principal))
        grants |= {Grant(user, "TOPIC", own, op) for op in ("WRITE", "DESCRIBE")}
    grants |= {Grant(user, "TOPIC", with_prefix(prefix, answers_topic(principal)), op) for op in ("READ", "DESCRIBE")}
    grants.add(Grant(user, "GROUP", with_prefix(prefix, principal + GROUP_DELIMITER), "READ", prefixed=True))
    return grants


def partner_names(source: str, prefix: str = "", registry: EventRegistry = REGISTRY) -> set[str]:
    """The topic and group names a partner's grants may name (what a sync of its grants may delete)."""
    return {grant.name for grant in partner_grants(source, prefix, registry)} | {
        with_prefix(prefix, principal_of(source)),  # the group prefix before groups had a delimiter
        with_prefix(prefix, REJECTIONS),
        *(with_prefix(prefix, topic) for topic in inbound_topics_of(source, registry)),  # shared inbound topics
    }


# ---- applying to the broker (confluent-kafka's AdminClient) ----------------------------------


@dataclass(frozen=True)
class SyncReport:
    principal: str
    created: list[Grant]
    deleted: list[Grant]


def admin_client(config: Mapping[str, Any]) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({**config, "log_level": 0})


def binding_of(grant: Grant) -> Any:
    """The grant as confluent-kafka's AclBinding."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    return AclBinding(
        ResourceType[LIBRDKAFKA_RESOURCE.get(grant.resource, grant.resource)],
        grant.name,
        ResourcePatternType.PREFIXED if grant.prefixed else ResourcePatternType.LITERAL,
        grant.principal,
        "*",
        AclOperation[grant.operation],
        AclPermissionType.ALLOW,
    )


def _filter_of(principal: str) -> Any:
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    anything: Any = None  # a filter's None matches any name and any host
    return AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        principal,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _grant_of(binding: Any) -> Grant:
    resource = binding.restype.name
    return Grant(
        binding.principal,
        "CLUSTER" if resource == LIBRDKAFKA_RESOURCE["CLUSTER"] else resource,
        binding.name,
        binding.operation.name,
        prefixed=binding.resource_pattern_type.name == "PREFIXED",
    )


def grants_on_broker(admin: Any, principal: str) -> set[Grant]:
    bindings = admin.describe_acls(_filter_of(principal), request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
    return {_grant_of(b) for b in bindings}


def programme_names(prefix: str = "") -> set[str]:
    """The topic and group names the programme's ACLs may name in one environment (its prefix):
    what `sync_grants` may delete. Grants on other names (another environment sharing the
    cluster, something an operator granted by hand) are left alone."""
    from shared.topics import SERVICES, all_topics

    topics = {with_prefix(prefix, spec.name) for spec in all_topics()}
    groups = {with_prefix(prefix, spec.name.split(".")[0]) for spec in all_topics()}
    inbound_names = {with_prefix(prefix, name) for s in SERVICES for name in (inbound(s), f"{inbound(s)}.")}
    return topics | groups | inbound_names | {with_prefix(prefix, f"{ANSWERS}.")}


def sync_grants(admin: Any, principal: str, wanted: set[Grant], managed: set[str] | None = None) -> SyncReport:
    """Make the broker's ACLs of `principal` on the `managed` names (default: the names of
    `wanted`) exactly `wanted`."""
    names = managed if managed is not None else {g.name for g in wanted}
    present = {g for g in grants_on_broker(admin, principal) if g.name in names or g in wanted}
    missing, extra = sorted(wanted - present), sorted(present - wanted)
    if missing:
        for future in admin.create_acls([binding_of(g) for g in missing], request_timeout=TIMEOUT_S).values():
            future.result(timeout=TIMEOUT_S)
    if extra:
        for future in admin.delete_acls([_exactly(g) for g in extra], request_timeout=TIMEOUT_S).values():
            future.result(timeout=TIMEOUT_S)
    return SyncReport(principal, missing, extra)


def _exactly(grant: Grant) -> Any:
    """A filter matching this one grant (deleting takes filters)."""
    from confluent_kafka.admin import AclBindingFilter, AclPermissionType, ResourcePatternType

    binding = binding_of(grant)
    return AclBindingFilter(
        binding.restype,
        grant.name,
        ResourcePatternType.PREFIXED if grant.prefixed else ResourcePatternType.LITERAL,
        grant.principal,
        "*",
        binding.operation,
        AclPermissionType.ALLOW,
    )


def revoke_all(admin: Any, principal: str) -> list[Grant]:
    """Delete every ACL of `principal`: its next request is refused, on connections already open too."""
    deleted: list[Grant] = []
    for future in admin.delete_acls([_filter_of(principal)], request_timeout=TIMEOUT_S).values():
        deleted += [_grant_of(b) for b in future.result(timeout=TIMEOUT_S)]
    return sorted(deleted)


def upsert_user(admin: Any, user: str, password: str) -> None:
    """Create (or change the password of) a SCRAM-SHA-512 user."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert], request_timeout=TIMEOUT_S).values():
        future.result(timeout=TIMEOUT_S)


def delete_user(admin: Any, user: str) -> bool:
    """Delete a SCRAM user (new connections with its password are refused); False if there was none."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ScramMechanism, UserScramCredentialDeletion

    deletion = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
    try:
        for future in admin.alter_user_scram_credentials([deletion], request_timeout=TIMEOUT_S).values():
            future.result(timeout=TIMEOUT_S)
    except KafkaException as exc:
        if "RESOURCE_NOT_FOUND" in str(exc) or "not found" in str(exc).lower():
            return False
        raise
    return True


def users_on_broker(admin: Any) -> list[str]:
    described = admin.describe_user_scram_credentials(request_timeout=TIMEOUT_S)
    futures = described.values() if isinstance(described, dict) else [described]
    users: set[str] = set()
    for future in futures:
        result = future.result(timeout=TIMEOUT_S)
        users |= set(result) if isinstance(result, dict) else {getattr(result, "user", "")}
    return sorted(u for u in users if u)
