"""Signed events in the tests: one keyring for the whole session, whose sources are enrolled
(a key made, the source's topics opened and its public key registered on the `partners` topic,
signed by the session's OPERATOR, as the operator does) on their first event by every
ProgrammeClient made with `keyring=KEYRING, enrol=True, operator=OPERATOR`. The services in the
tests trust OPERATOR's key (OPERATOR_PUBLIC_KEYS).

Raw records that must get past authentication (a schema violation, a rule breaker, a forged
source that is entitled to nothing) are signed with `signed`; enrol their source first
(`await client.enrol(source)`), since a raw send does not."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contract.signing import generate_private_key, record_document, sign_record
from tools.keyring import Keyring, Operator

KEYRING = Keyring()
OPERATOR = Operator(generate_private_key(), "operator (tests)")
OPERATOR_PUBLIC_KEYS = OPERATOR.trusted.text()
STRUCTURED = [("content-type", b"application/cloudevents+json")]


def signed(value: bytes, source: str | None = None, headers: Sequence[tuple[str, bytes]] = STRUCTURED) -> bytes:
    """A structured-mode value signed with the key of `source` (by default the source it names)."""
    claimed = source or str(record_document(value, headers)["source"])
    signed_value, _ = sign_record(value, list(headers), KEYRING.ensure(claimed))
    return signed_value
