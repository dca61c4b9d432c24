"""Signed events: every event on an inbound topic is signed by its sender, with Ed25519 or SM2
(shared/contract/keys.py).

What is signed is the RFC 8785 (JSON Canonicalization Scheme) form of the event's CloudEvents
JSON object *as the sender wrote it*, without the `signature` attribute:

- structured mode: the record's value, the JSON object itself;
- binary mode: the object of the `ce_*` headers (name without `ce_`, value as text), with
  `datacontenttype` from the `content-type` header when present and `data` the value's JSON.

So the same event written in either content mode, with the same attribute strings, has the
same signature. The signature travels in the extension attribute `signature` (the `ce_signature`
header in binary mode): base64url without padding of the 64-byte signature, nothing else. The key
that made it is named by the extension attribute `signaturekeyid` (its RFC 7638 thumbprint,
keys.key_id), which is signed with the rest. Nothing here touches Kafka or a database; the key
registry's records are `PartnerRecord`s (shared.contract.partners).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson
import rfc8785

from .keys import KeyFormatError, SigningKey, b64url, generate, signature_bytes, signing_key_from_pem, verify

SIGNATURE: Final = "signature"
"""The CloudEvents extension attribute that carries the signature."""
SIGNATURE_KEY_ID: Final = "signaturekeyid"
"""The extension attribute naming the key that signed (signed itself, like every attribute)."""
SIGNATURE_HEADER: Final = f"ce_{SIGNATURE}"
SIGNATURE_KEY_ID_HEADER: Final = f"ce_{SIGNATURE_KEY_ID}"
STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"


class SigningError(ValueError):
    """A document that cannot be signed or checked (its detail names no key material)."""


# ---- keys on disk (the partner's side and the operator's; services hold public keys only) ------


def generate_private_key(algorithm: str = "Ed25519") -> SigningKey:
    return generate(algorithm)


def save_private_key(key: SigningKey, path: Path) -> None:
    """Write the key as PKCS#8 PEM, readable by its owner only (0600), its directory 0700."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key.pem())
    os.chmod(path, 0o600)


def load_private_key(path: Path) -> SigningKey:
    try:
        return signing_key_from_pem(path.read_bytes())
    except KeyFormatError:
        raise SigningError(f"{path} does not hold a PEM private key of Ed25519 or SM2") from None


def public_key_text(key: SigningKey) -> str:
    """The public key as the registry holds it (keys.py)."""
    return key.public_key


# ---- the signed document ----------------------------------------------------------------------


def record_document(value: bytes, headers: Mapping[str, bytes] | Sequence[tuple[str, bytes]]) -> dict[str, Any]:
    """The CloudEvents JSON object of a record as its sender wrote it, in either content mode
    (header names compared in lower case)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    header_map = {name.lower(): raw for name, raw in items}
    if not any(name.startswith("ce_") for name in header_map):
        document = _json(value)
        if not isinstance(document, dict):
            raise SigningError("the value is not a JSON object")
        return document
    document = {name[3:]: raw.decode("utf-8") for name, raw in header_map.items() if name.startswith("ce_")}
    if "content-type" in header_map:
        document["datacontenttype"] = header_map["content-type"].decode("utf-8")
    document["data"] = _json(value)
    return document


def canonical_form(document: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: RFC 8785 (JCS) of the document without its signature."""
    unsigned = {name: value for name, value in document.items() if name != SIGNATURE}
    try:
        return orjson.dumps(_as_orjson_writes_jcs(unsigned), option=orjson.OPT_SORT_KEYS)
    except (_NotPlain, RecursionError):
        pass
    try:
        return rfc8785.dumps(unsigned)
    except rfc8785.CanonicalizationError as exc:
        raise SigningError(f"the event has no RFC 8785 canonical form: {exc}") from None


_SAFE_INTEGER: Final = 2**53 - 1
_FROM_SURROGATES: Final = "\ud800"


class _NotPlain(Exception):
    """The document needs the reference implementation of RFC 8785."""


def _as_orjson_writes_jcs(value: Any) -> Any:
    """The document as orjson (sorted keys) writes exactly its RFC 8785 form, about five times
    faster than the reference implementation; raises _NotPlain where it cannot be:

    - floats: JCS writes numbers as ECMAScript does. An integral float within 2**53 is written as
      the integer (`3.0` -> `3`), one beyond it by the reference (`2.0**53` is `9007199254740992`,
      never orjson's `9007199254740992.0`); any other float only when Python's shortest repr has no exponent
      and orjson writes the same digits (then ECMAScript does too);
    - integers beyond 2**53 (JCS has none: the reference refuses them);
    - names with a character from U+D800 up: JCS sorts names by UTF-16 code units, orjson by code
      points, and the two orders agree below U+D800.
    Strings are escaped alike by both (tests/unit/test_signing.py proves all of it against rfc8785)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        for name in value:
            if type(name) is not str or (not name.isascii() and max(name) >= _FROM_SURROGATES):
                raise _NotPlain
        return {name: _as_orjson_writes_jcs(item) for name, item in value.items()}
    if kind is list:
        return [_as_orjson_writes_jcs(item) for item in value]
    if kind is int:
        if -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
            return value
        raise _NotPlain
    if kind is float:
        if value.is_integer():  # ECMAScript never writes ".0"; beyond 2**53 the reference decides
            if -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
                return int(value)
            raise _NotPlain
        text = repr(value)
        if "e" not in text and "n" not in text and orjson.dumps(value) == text.encode():
            return value
    raise _NotPlain


def sign(document: Mapping[str, Any], key: SigningKey) -> str:
    """The `signature` attribute for this document (which must name the key: `signaturekeyid`)."""
    if document.get(SIGNATURE_KEY_ID) != key.key_id:
        raise SigningError(f"the document must name the signing key ({SIGNATURE_KEY_ID} = {key.key_id})")
    return b64url(key.sign(canonical_form(document)))


def signed(document: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """The document naming its key, with its `signature` attribute."""
    named = {**{k: v for k, v in document.items() if k != SIGNATURE}, SIGNATURE_KEY_ID: key.key_id}
    return {**named, SIGNATURE: sign(named, key)}


def verifies(document: Mapping[str, Any], algorithm: str, public_key: str) -> bool:
    """Whether the document's `signature` is exactly 86 characters of unpadded base64url and the
    signature of its canonical form by this key. Raises SigningError when the document has no
    canonical form or the key is malformed."""
    try:
        signature = signature_bytes(document.get(SIGNATURE))
    except KeyFormatError:
        return False
    message = canonical_form(document)
    try:
        return verify(algorithm, public_key, message, signature)
    except KeyFormatError as exc:
        raise SigningError(f"the registered key cannot be used: {exc}") from None


def sign_record(
    value: bytes, headers: Sequence[tuple[str, bytes]], key: SigningKey
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A record's value and headers with the event signed, in the record's own content mode
    (structured: `signaturekeyid` and `signature` members added to the value; binary: the
    `ce_signaturekeyid` and `ce_signature` headers)."""
    own = (SIGNATURE_HEADER, SIGNATURE_KEY_ID_HEADER)
    kept = [(name, raw) for name, raw in headers if name.lower() not in own]
    if any(name.lower().startswith("ce_") for name, _ in kept):
        named = [*kept, (SIGNATURE_KEY_ID_HEADER, key.key_id.encode())]
        signature = sign(record_document(value, named), key)
        return value, [*named, (SIGNATURE_HEADER, signature.encode())]
    document = signed(record_document(value, kept), key)
    return orjson.dumps(document), kept


def _json(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        try:  # what orjson refuses but the envelope's reader accepts (integers beyond 64 bits)
            return json.loads(value)
        except ValueError as exc:
            raise SigningError(f"the value is not JSON: {exc}") from None
