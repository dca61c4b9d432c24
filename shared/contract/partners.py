"""The key registry: which public keys speak for which `source`, and since when, as partners,
services and auditors read it.

The `partners` topic (one partition, kept forever, never compacted) is an append-only history of
`PartnerRecord`s, each one change about one key: a key registered for a source (`active`; it
replaces the source's previous key from that moment, which stays valid for what was signed before
it), or a key revoked (`revoked`: nothing that reaches the brokers after the revocation is taken as
signed by it). Each record is signed by the operator (a key of the trust anchor every service is
configured with, OPERATOR_PUBLIC_KEYS) and chained to the one before it (`sequence`, and
`previous` = the digest of the previous record): a record that is not signed by a trusted operator
key, or does not follow the head of the chain, is ignored by every reader alike, so a record
removed from the history, or one written by anyone but the operator, is seen.

Every moment the verdicts compare is one the brokers stamped (LogAppendTime): when a record was
appended to the registry, when an event arrived on its topic. So a service judges an event the
same way live and in a rebuild, whatever it read first; only `time` (when the partner signed,
as it says) comes from the partner. Nothing here touches Kafka.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import rfc8785
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .keys import Algorithm, KeyFormatError, SigningKey, b64url, key_id, public_key_bytes, signature_bytes, verify
from .signing import SIGNATURE, SIGNATURE_KEY_ID, SigningError, verifies

Source = Annotated[str, StringConstraints(pattern=r"^/[a-z]+(/[A-Za-z0-9._-]+)+$", max_length=200)]
Principal = Annotated[str, StringConstraints(pattern=r"^[a-z]+(\.[A-Za-z0-9._-]+)+$", max_length=200)]
KeyId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$"),
    Field(description="the key's RFC 7638 JWK thumbprint (SHA-256, base64url)"),
]
PublicKey = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$|^[A-Za-z0-9_-]{86}$"),
    Field(description="base64url without padding: Ed25519 its raw 32 bytes (43 characters), SM2 x‖y (86)"),
]
Digest = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$")]

RECORD_VERSION = 2


class PartnerRecord(BaseModel):
    """One change of the key registry, signed by the operator and chained to the one before."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[2] = 2
    sequence: int = Field(ge=1, description="1 for the first record of the registry, then one more each")
    previous: Digest | None = Field(description="digest of the previous record (None for the first)")
    source: Source = Field(description="the CloudEvents source this key speaks for, e.g. /counties/500240")
    principal: Principal = Field(
        description="the Kafka (SASL) user whose topics may carry this key's events, e.g. counties.500240"
    )
    key_id: KeyId
    algorithm: Algorithm
    public_key: PublicKey
    status: Literal["active", "revoked"]
    changed_at: AwareDatetime = Field(description="when the operator made the change (the operator's clock)")
    changed_by: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    operator_key_id: KeyId = Field(description="the operator key that signed this record")
    signature: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{86}$")] = Field(
        description="the operator's signature of the record's RFC 8785 form without `signature`"
    )

    @model_validator(mode="after")
    def _key_is_its_id(self) -> PartnerRecord:
        try:
            computed = key_id(self.algorithm, self.public_key)
        except KeyFormatError as exc:
            raise ValueError(f"public_key: {exc}") from None
        if computed != self.key_id:
            raise ValueError("key_id is not the thumbprint of public_key")
        if (self.sequence == 1) != (self.previous is None):
            raise ValueError("only the first record (sequence 1) has no previous record")
        return self

    @property
    def active(self) -> bool:
        return self.status == "active"

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """What the next record names as `previous`: SHA-256 of this record's RFC 8785 form."""
        return b64url(hashlib.sha256(rfc8785.dumps(self.document())).digest())

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def registry_record(
    *,
    head: RegistryHead,
    source: str,
    principal: str,
    algorithm: str,
    public_key: str,
    status: Literal["active", "revoked"],
    changed_at: datetime,
    changed_by: str,
    operator: SigningKey,
) -> PartnerRecord:
    """The next record of the registry after `head`, signed by the operator's key."""
    unsigned = {
        "version": RECORD_VERSION,
        "sequence": head.sequence + 1,
        "previous": head.digest,
        "source": source,
        "principal": principal,
        "key_id": key_id(algorithm, public_key),
        "algorithm": algorithm,
        "public_key": public_key,
        "status": status,
        "changed_at": changed_at,
        "changed_by": changed_by,
        "operator_key_id": operator.key_id,
    }
    probe = PartnerRecord.model_validate({**unsigned, "signature": "A" * 86})  # validates the fields
    document = {k: v for k, v in probe.document().items() if k != SIGNATURE}
    signature = b64url(operator.sign(rfc8785.dumps(document)))
    return probe.model_copy(update={"signature": signature})


def principal_of(source: str) -> str:
    """The Kafka user name a source's system uses by convention: '/counties/500240' -> 'counties.500240'."""
    return source.strip("/").replace("/", ".")


# ---- the operator's keys: the trust anchor ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatorKeys:
    """The public keys of the operator whose signatures on registry records (and on replays of
    dead letters) the services trust, by key id. Configured, never read from a topic."""

    keys: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """key id -> (algorithm, public key)."""

    @classmethod
    def parse(cls, text: str) -> OperatorKeys:
        """`Ed25519:<public key>` entries separated by commas or whitespace (SM2: `SM2:<key>`).
        Raises ValueError saying which entry is wrong."""
        keys: dict[str, tuple[str, str]] = {}
        for entry in (e for e in re.split(r"[\s,]+", text.strip()) if e):
            algorithm, _, public_key = entry.partition(":")
            try:
                keys[key_id(algorithm, public_key)] = (algorithm, public_key)
            except KeyFormatError as exc:
                raise ValueError(f"operator key {entry[:12]}…: {exc}") from None
        return cls(keys)

    @classmethod
    def of(cls, *signing_keys: SigningKey) -> OperatorKeys:
        return cls({k.key_id: (k.algorithm, k.public_key) for k in signing_keys})

    def text(self) -> str:
        return ",".join(f"{algorithm}:{public_key}" for algorithm, public_key in self.keys.values())

    def signed_by_operator(self, document: Mapping[str, Any], key: str, signature: str) -> bool:
        """Whether `signature` is a trusted operator key's (`key`) signature of the document's
        RFC 8785 form."""
        try:
            message = rfc8785.dumps(dict(document))
        except rfc8785.CanonicalizationError:
            return False
        return self.verifies_bytes(message, key, signature)

    def verifies_bytes(self, message: bytes, key: str, signature: str) -> bool:
        """Whether `signature` (base64url text) is the trusted operator key `key`'s signature of `message`."""
        known = self.keys.get(key)
        if known is None:
            return False
        try:
            return verify(known[0], known[1], message, signature_bytes(signature))
        except KeyFormatError:
            return False

    def __bool__(self) -> bool:
        return bool(self.keys)


# ---- the history as read ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryHead:
    sequence: int = 0
    digest: str | None = None


@dataclass(slots=True)
class KeyState:
    """One key of one source, as the history says up to now."""

    registration: PartnerRecord
    registered_at: datetime
    """When its registration was appended to the registry (the broker's clock)."""
    retired_at: datetime | None = None
    """When the source's next key was registered: events signed from then on need that one."""
    revocation: PartnerRecord | None = None
    revoked_at: datetime | None = None
    """When its revocation was appended: nothing arriving from then on is taken as signed by it."""

    @property
    def principal(self) -> str:
        return self.registration.principal


class KeyHistory:
    """Every source's keys, built record by record from the registry's history. Records that are
    not signed by a trusted operator key or do not follow the chain's head are refused (`apply`
    says why) and change nothing."""

    def __init__(self, operators: OperatorKeys) -> None:
        self.operators = operators
        self.head = RegistryHead()
        self._keys: dict[str, dict[str, KeyState]] = {}
        self._latest: dict[str, PartnerRecord] = {}
        self.records: list[tuple[PartnerRecord, datetime]] = []
        """Every accepted record with its append time, in order (the auditor's history)."""

    def apply(self, record: PartnerRecord, appended_at: datetime) -> str | None:
        """Take the next record of the topic; None if accepted, else why it is ignored."""
        document = {k: v for k, v in record.document().items() if k != SIGNATURE}
        if not self.operators.signed_by_operator(document, record.operator_key_id, record.signature):
            return f"not signed by a trusted operator key (operator_key_id {record.operator_key_id})"
        if record.sequence != self.head.sequence + 1 or record.previous != self.head.digest:
            return (
                f"does not follow the registry's head (it is #{record.sequence} after {record.previous}; "
                f"the head is #{self.head.sequence} {self.head.digest})"
            )
        keys = self._keys.setdefault(record.source, {})
        known = keys.get(record.key_id)
        if record.active:
            for other in keys.values():
                if other.retired_at is None and other.registration.key_id != record.key_id:
                    other.retired_at = appended_at
            if known is None or known.revocation is not None:
                keys[record.key_id] = KeyState(record, appended_at)
        else:
            if known is None:
                known = keys[record.key_id] = KeyState(record, appended_at, retired_at=appended_at)
            if known.revocation is None:
                known.revocation, known.revoked_at = record, appended_at
        self._latest[record.source] = record
        self.records.append((record, appended_at))
        self.head = RegistryHead(record.sequence, record.digest())
        return None

    def key(self, source: str, key: str) -> KeyState | None:
        return self._keys.get(source, {}).get(key)

    def keys_of(self, source: str) -> list[KeyState]:
        return sorted(self._keys.get(source, {}).values(), key=lambda s: s.registered_at)

    def latest(self, source: str) -> PartnerRecord | None:
        """The source's latest record (its current key, or its revocation)."""
        return self._latest.get(source)

    def sources(self) -> list[str]:
        return sorted(self._latest)

    def current_key(self, source: str) -> KeyState | None:
        """The key the source signs with now (None: none, or revoked)."""
        live = [s for s in self._keys.get(source, {}).values() if s.retired_at is None and s.revocation is None]
        return live[-1] if live else None


# ---- the verdict ---------------------------------------------------------------------------------


def _same(moment: datetime) -> datetime:
    return moment


RefusalKind = Literal["unsigned", "malformed", "no_key", "revoked", "retired", "wrong_writer", "does_not_verify"]


@dataclass(frozen=True, slots=True)
class SignatureRefusal:
    """Why an event is not taken as sent by its source, in words an operator reads (never any
    key material)."""

    kind: RefusalKind
    detail: str


def signature_refusal(
    document: Mapping[str, Any],
    source: str,
    *,
    history: KeyHistory,
    signed_at: datetime,
    arrived_at: datetime,
    writer: str | None,
    programme_time: Callable[[datetime], datetime] = _same,
) -> SignatureRefusal | None:
    """Why the document may not be taken as sent by `source` (None: it is signed by a key of the
    source that was registered when it arrived, not revoked before it arrived, still the
    source's key when it was signed, and registered to `writer`, the Kafka principal whose topic
    carried it). `history` must hold every registry record appended before `arrived_at`.

    `arrived_at` and the history's moments are the brokers'; `signed_at` (the event's `time`) is
    on the programme's clock, which `programme_time` gives for a broker's moment (the same
    moment, except on a demo or test stack whose programme clock a scenario drives)."""
    if SIGNATURE not in document:
        return SignatureRefusal(
            "unsigned", f"unsigned: every event on an inbound topic must carry the '{SIGNATURE}' attribute"
        )
    try:
        signature_bytes(document[SIGNATURE])
    except KeyFormatError as exc:
        return SignatureRefusal("malformed", f"the '{SIGNATURE}' attribute is malformed: {exc}")
    named = document.get(SIGNATURE_KEY_ID)
    if not isinstance(named, str):
        return SignatureRefusal(
            "unsigned", f"the event does not name its signing key: the '{SIGNATURE_KEY_ID}' attribute is required"
        )
    state = history.key(source, named)
    if state is None or state.registered_at > arrived_at:
        known = "" if history.keys_of(source) else " (none is registered for it)"
        return SignatureRefusal("no_key", f"key {named} is not registered for source {source}{known}")
    if state.revoked_at is not None and state.revoked_at <= arrived_at and state.revocation is not None:
        revocation = state.revocation
        return SignatureRefusal(
            "revoked",
            f"key {named} of {source} was revoked on {revocation.changed_at.isoformat()} by {revocation.changed_by}",
        )
    if state.retired_at is not None and signed_at >= (replaced := programme_time(state.retired_at)):
        return SignatureRefusal(
            "retired",
            f"key {named} of {source} was replaced on {replaced.isoformat()}; the event says it was signed "
            f"at {signed_at.isoformat()}, after that: sign with the source's current key",
        )
    if writer is not None and writer != state.principal:
        return SignatureRefusal(
            "wrong_writer",
            f"the event was written by Kafka principal {writer}, but key {named} of {source} is registered to "
            f"principal {state.principal}: a source's events travel only on its own principal's topics",
        )
    try:
        if verifies(document, state.registration.algorithm, state.registration.public_key):
            return None
    except SigningError as exc:
        return SignatureRefusal("does_not_verify", f"the signature cannot be checked: {exc}")
    return SignatureRefusal("does_not_verify", f"the signature does not verify with key {named} of {source}")


def public_key_is_valid(algorithm: str, public_key: str) -> str | None:
    """Why a public key cannot be registered (None: it can)."""
    try:
        public_key_bytes(algorithm, public_key)
    except KeyFormatError as exc:
        return str(exc)
    return None
