"""Signing keys on the partners' side and the operator's, and the operator's changes of the key
registry.

A `Keyring` holds the private key of each source a process sends as. With a directory (the
embedded stack's is `.data/security/partners`), each key is the PEM file
`<directory>/<principal>/signing-key.pem` (directory 0700, file 0600), where the principal is the
source's Kafka user (`/counties/500240` -> `counties.500240`).

The operator's own key (`Operator`) signs every registry record and every replay; its public key
is the trust anchor every service is configured with (OPERATOR_PUBLIC_KEYS). The operator
onboards a partner's topics (`open_partner_topics`), registers the partner's own public key
(`register`), or, for stacks where the operator plays the partners too (the demo, the tests),
makes the key and registers it (`enrol`), and revokes keys (`revoke`). Only public keys ever leave
a keyring; no private key appears in a log line or an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from shared.contract.keys import SigningKey
from shared.contract.partners import OperatorKeys, PartnerRecord, principal_of
from shared.contract.signing import generate_private_key, load_private_key, save_private_key
from shared.kafka_access import KafkaAccess
from shared.messaging.kafka import ensure_topics, start_with_retry
from shared.messaging.partners import PartnerDirectory, append_registry_record
from shared.settings import KafkaSettings
from shared.topics import PARTNER_TOPIC_PARTITIONS, PARTNERS, SERVICES, inbound, partner_topics, with_prefix

KEY_FILE = "signing-key.pem"
OPERATOR = "operator"


class MissingKey(LookupError):
    """The keyring holds no key for a source (the event would be refused unsigned)."""


@dataclass
class Operator:
    """The operator's signing key and the name its changes are recorded under."""

    key: SigningKey
    name: str = OPERATOR

    @classmethod
    def from_file(cls, path: Path, name: str = OPERATOR, *, create: bool = False) -> Operator:
        """The key in `path` (PKCS#8 PEM, owner-only); made there first with `create`."""
        if not path.exists():
            if not create:
                raise MissingKey(f"no operator signing key at {path}")
            save_private_key(generate_private_key(), path)
        return cls(load_private_key(path), name)

    @property
    def trusted(self) -> OperatorKeys:
        """The trust anchor that takes this operator's signatures (what OPERATOR_PUBLIC_KEYS says)."""
        return OperatorKeys.of(self.key)


OPERATOR_KEY_FILE_VARIABLE = "EXPERT_TEAMS_OPERATOR_KEY_FILE"


def operator_from_environment(default: Path | None = None) -> Operator:
    """The operator whose key EXPERT_TEAMS_OPERATOR_KEY_FILE names, else the one in `default` (by
    default the embedded stack's, made there on first use)."""
    import os

    given = os.environ.get(OPERATOR_KEY_FILE_VARIABLE)
    name = f"operator {os.environ.get('USER', 'unknown')}"
    if given:
        return Operator.from_file(Path(given), name)
    if default is None:
        from tools.stack.launcher import operator_key_path

        default = operator_key_path()
    return Operator.from_file(default, name, create=True)


class Keyring:
    """Private signing keys by source; in memory, and in `directory` when one is given."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._keys: dict[str, SigningKey] = {}
        self.enrolled: set[tuple[str, str, str]] = set()
        """(bootstrap servers, topic prefix, source) whose key and topics this process has set up."""

    def path_of(self, source: str) -> Path | None:
        return self.directory / principal_of(source) / KEY_FILE if self.directory else None

    def get(self, source: str) -> SigningKey | None:
        key = self._keys.get(source)
        path = self.path_of(source)
        if key is None and path is not None and path.exists():
            key = self._keys[source] = load_private_key(path)
        return key

    def __getitem__(self, source: str) -> SigningKey:
        key = self.get(source)
        if key is None:
            where = f" (looked for {self.path_of(source)})" if self.directory else ""
            raise MissingKey(f"no signing key for source {source}{where}; the operator must register one")
        return key

    def add(self, source: str, key: SigningKey) -> None:
        self._keys[source] = key
        path = self.path_of(source)
        if path is not None:
            save_private_key(key, path)

    def ensure(self, source: str, algorithm: str = "Ed25519") -> SigningKey:
        """The source's key, made (and saved) if the keyring has none."""
        key = self.get(source)
        if key is None:
            key = generate_private_key(algorithm)
            self.add(source, key)
        return key


def services_of(source: str) -> tuple[str, ...]:
    """The services whose inbound types `source` may send (the registry's senders)."""
    from tools.stack.access_control import inbound_topics_of

    topics = set(inbound_topics_of(source))
    return tuple(service for service in SERVICES if inbound(service) in topics)


@dataclass
class Registry:
    """Where the key registry is, and who may change it."""

    access: KafkaAccess
    prefix: str
    operator: Operator
    trusted: OperatorKeys = field(default_factory=OperatorKeys)
    """The trust anchor the services use (by default: the operator's own key)."""

    @property
    def topic(self) -> str:
        return with_prefix(self.prefix, PARTNERS)

    @property
    def operators(self) -> OperatorKeys:
        return self.trusted or self.operator.trusted

    def directory(self) -> PartnerDirectory:
        """The registry as the services read it (use it in `async with`: read to its end first)."""
        return PartnerDirectory(self.access, self.topic, self.operators)


async def open_partner_topics(
    access: KafkaAccess, prefix: str, source: str, *, principal: str | None = None, partitions: int | None = None
) -> list[str]:
    """Create the partner's own topics (an inbound topic per service it sends to, its answers),
    replicated as the cluster allows (3 copies, 2 in sync, where there are three brokers). Returns
    their names."""
    principal = principal or principal_of(source)
    specs = partner_topics(principal, services_of(source), partitions or PARTNER_TOPIC_PARTITIONS)
    brokers = await _broker_count(access)
    replication = min(3, brokers)
    settings = KafkaSettings(
        bootstrap_servers=access.bootstrap_servers,
        replication_factor=replication,
        min_insync_replicas=2 if replication >= 3 else 1,
    )
    await ensure_topics(access, specs, prefix=prefix, settings=settings)
    return [with_prefix(prefix, spec.name) for spec in specs]


async def _broker_count(access: KafkaAccess) -> int:
    admin = AIOKafkaAdminClient(**access.aiokafka(), client_id="expert-teams-partner-topics")
    await start_with_retry(admin.start, "admin (partner topics)")
    try:
        cluster = await admin.describe_cluster()
        return max(1, len(cluster.get("brokers", [])))
    finally:
        await admin.close()


async def register(
    registry: Registry,
    source: str,
    public_key: str,
    *,
    algorithm: str = "Ed25519",
    principal: str | None = None,
) -> PartnerRecord:
    """The operator registers a partner's public key (the partner keeps its private key): from
    the moment the record is on the topic it is the source's key, and the source's previous key
    signs no more (what it signed before stays valid). Registering the source's current key again
    changes nothing."""
    principal = principal or principal_of(source)
    async with registry.directory() as directory:
        current = directory.history.latest(source)
        if (
            current is not None
            and current.active
            and (current.public_key, current.principal) == (public_key, principal)
        ):
            return current
        return await append_registry_record(
            directory,
            registry.access,
            registry.operator.key,
            source=source,
            principal=principal,
            algorithm=algorithm,
            public_key=public_key,
            status="active",
            changed_by=registry.operator.name,
        )


async def enrol(registry: Registry, source: str, keyring: Keyring, *, algorithm: str = "Ed25519") -> PartnerRecord:
    """Make (or reuse) the source's key in `keyring`, open its topics and register its public key:
    for stacks where the operator plays the partners too (the demo, the tests)."""
    key = keyring.ensure(source, algorithm)
    await open_partner_topics(registry.access, registry.prefix, source)
    record = await register(registry, source, key.public_key, algorithm=key.algorithm)
    keyring.enrolled.add((registry.access.bootstrap_servers, registry.prefix, source))
    return record


async def current_record(registry: Registry, source: str) -> PartnerRecord | None:
    """The source's latest record in the registry as it is now (its key, or its revocation)."""
    async with registry.directory() as directory:
        return directory.history.latest(source)


async def revoke(registry: Registry, source: str) -> list[PartnerRecord]:
    """Revoke every key of the source that is not revoked yet: from the moment the records are on
    the topic, every service refuses what arrives signed by them (unauthorized_source)."""
    async with registry.directory() as directory:
        live = [state.registration for state in directory.history.keys_of(source) if state.revocation is None]
        if not live:
            raise LookupError(f"no key of source {source} is left to revoke")
        return [
            await append_registry_record(
                directory,
                registry.access,
                registry.operator.key,
                source=source,
                principal=record.principal,
                algorithm=record.algorithm,
                public_key=record.public_key,
                status="revoked",
                changed_by=registry.operator.name,
            )
            for record in live
        ]
