"""Signing keys on the partners' side, and the operator's registration of their public keys.

A `Keyring` holds the private key of each source a process sends as. With a directory (the
embedded stack's is `.data/security/partners`), each key is the PEM file
`<directory>/<principal>/signing-key.pem` (directory 0700, file 0600), where the principal is the
source's Kafka user (`/counties/500240` -> `counties.500240`).

The operator registers a partner's public key on the `partners` topic (`register`, or `enrol`
when the operator also makes the key, as the demo and the tests do) and revokes it (`revoke`).
Only public keys ever leave a keyring; no private key appears in a log line or an exception.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.contract.partners import PartnerRecord, principal_of
from shared.contract.signing import generate_private_key, load_private_key, public_key_text, save_private_key
from shared.kafka_access import KafkaAccess
from shared.messaging.partners import PartnerDirectory, publish_partner
from shared.topics import PARTNERS, with_prefix

KEY_FILE = "signing-key.pem"
OPERATOR = "operator"


class MissingKey(LookupError):
    """The keyring holds no key for a source (the event would be refused unsigned)."""


class Keyring:
    """Private signing keys by source; in memory, and in `directory` when one is given."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self.enrolled: set[tuple[str, str, str]] = set()
        """(bootstrap servers, topic prefix, source) whose key this process has registered."""

    def path_of(self, source: str) -> Path | None:
        return self.directory / principal_of(source) / KEY_FILE if self.directory else None

    def get(self, source: str) -> Ed25519PrivateKey | None:
        key = self._keys.get(source)
        path = self.path_of(source)
        if key is None and path is not None and path.exists():
            key = self._keys[source] = load_private_key(path)
        return key

    def __getitem__(self, source: str) -> Ed25519PrivateKey:
        key = self.get(source)
        if key is None:
            where = f" (looked for {self.path_of(source)})" if self.directory else ""
            raise MissingKey(f"no signing key for source {source}{where}; the operator must register one")
        return key

    def add(self, source: str, key: Ed25519PrivateKey) -> None:
        self._keys[source] = key
        path = self.path_of(source)
        if path is not None:
            save_private_key(key, path)

    def ensure(self, source: str) -> Ed25519PrivateKey:
        """The source's key, made (and saved) if the keyring has none."""
        key = self.get(source)
        if key is None:
            key = generate_private_key()
            self.add(source, key)
        return key


def partner_record(
    source: str,
    public_key: str,
    *,
    by: str = OPERATOR,
    principal: str | None = None,
    at: datetime | None = None,
) -> PartnerRecord:
    """An active registry record for a source's public key (base64url of its 32 raw bytes)."""
    return PartnerRecord(
        source=source,
        principal=principal or principal_of(source),
        public_key=public_key,
        status="active",
        changed_at=at or datetime.now(UTC),
        changed_by=by,
    )


async def register(
    access: KafkaAccess,
    prefix: str,
    source: str,
    public_key: str,
    *,
    by: str = OPERATOR,
    principal: str | None = None,
) -> PartnerRecord:
    """The operator registers a partner's public key (the partner keeps its private key)."""
    record = partner_record(source, public_key, by=by, principal=principal)
    await publish_partner(access, with_prefix(prefix, PARTNERS), record)
    return record


async def enrol(
    access: KafkaAccess, prefix: str, source: str, keyring: Keyring, *, by: str = OPERATOR
) -> PartnerRecord:
    """Make (or reuse) the source's key in `keyring` and register its public key: for stacks
    where the operator plays the partners too (the demo, the tests)."""
    record = await register(access, prefix, source, public_key_text(keyring.ensure(source)), by=by)
    keyring.enrolled.add((access.bootstrap_servers, prefix, source))
    return record


async def current_record(access: KafkaAccess, prefix: str, source: str) -> PartnerRecord | None:
    """The source's record in the registry as it is now."""
    async with PartnerDirectory(access, with_prefix(prefix, PARTNERS)) as directory:
        return directory.key_for(source)


async def revoke(access: KafkaAccess, prefix: str, source: str, *, by: str = OPERATOR) -> PartnerRecord:
    """Revoke the source's key: from the moment the record is on the topic, every service refuses
    the source's events (unauthorized_source) until a new key is registered."""
    record = await current_record(access, prefix, source)
    if record is None:
        raise LookupError(f"no key is registered for source {source}")
    revoked = record.revoked(at=datetime.now(UTC), by=by)
    await publish_partner(access, with_prefix(prefix, PARTNERS), revoked)
    return revoked
