"""The key registry: which public key speaks for which `source`, as partners and auditors read it.

One record per source on the compacted `partners` topic (Kafka key = the source): the latest
record is the source's key. Only the operator writes it (Kafka ACLs); a revoked key is kept as
a record with `status: revoked`, so that its revocation stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from .signing import SIGNATURE, SigningError, verifies

Source = Annotated[str, StringConstraints(pattern=r"^/[a-z]+(/[A-Za-z0-9._-]+)+$", max_length=256)]
PublicKey = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$"),
    Field(description="Ed25519 public key: base64url, no padding, of its raw 32 bytes"),
]


class PartnerRecord(BaseModel):
    """A source's signing key, and whether it may still sign."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source = Field(description="the CloudEvents source this key speaks for, e.g. /counties/500240")
    principal: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="the Kafka (SASL) user of the partner's system, e.g. counties.500240"
    )
    public_key: PublicKey
    status: Literal["active", "revoked"]
    changed_at: AwareDatetime
    changed_by: Annotated[str, StringConstraints(min_length=1, max_length=120)]

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    def revoked(self, *, at: datetime, by: str) -> PartnerRecord:
        return self.model_copy(update={"status": "revoked", "changed_at": at, "changed_by": by})


def principal_of(source: str) -> str:
    """The Kafka user name a source's system uses by convention: '/counties/500240' -> 'counties.500240'."""
    return source.strip("/").replace("/", ".")


@dataclass(frozen=True, slots=True)
class SignatureRefusal:
    """Why an event is not taken as sent by its source, in words an operator reads (never any
    key material)."""

    kind: Literal["unsigned", "no_key", "revoked", "does_not_verify", "unreadable"]
    detail: str

    @property
    def registry_may_know_better(self) -> bool:
        """Whether a registry record newer than what was read could change the verdict."""
        return self.kind not in ("unsigned", "unreadable")


def signature_refusal(
    document: Mapping[str, Any], source: str, record: PartnerRecord | None
) -> SignatureRefusal | None:
    """Why the document may not be taken as sent by `source` (None: its signature verifies with
    the key registered for the source)."""
    if not isinstance(document.get(SIGNATURE), str):
        return SignatureRefusal(
            "unsigned", f"unsigned: every event on an inbound topic must carry the '{SIGNATURE}' attribute"
        )
    if record is None:
        return SignatureRefusal("no_key", f"no key is registered for source {source}")
    if not record.active:
        return SignatureRefusal(
            "revoked", f"the key of {source} was revoked on {record.changed_at.isoformat()} by {record.changed_by}"
        )
    try:
        if verifies(document, record.public_key):
            return None
    except SigningError as exc:
        return SignatureRefusal("unreadable", f"the signature cannot be checked: {exc}")
    return SignatureRefusal("does_not_verify", f"the signature does not verify with the key registered for {source}")
