"""Signing keys of the programme: the algorithms a partner may sign with, how public keys and
signatures are written, and each key's id.

- **Ed25519** (RFC 8032): the public key is written as base64url without padding of its raw
  32 bytes (43 characters).
- **SM2** with SM3 (GB/T 32918, China's commercial cryptography; user id "1234567812345678", the
  default of GB/T 35276): the public key is base64url without padding of the 64 bytes x‖y of its
  point (86 characters); shared/contract/sm2.py computes it.

A signature of either is exactly 64 bytes (SM2: r‖s, not DER), written as base64url without
padding: exactly 86 characters of the URL-safe alphabet, the last of which carries no stray bits.
Nothing else is read as a signature (no padding, no standard alphabet, no whitespace).

A key's id is its RFC 7638 JWK thumbprint (SHA-256, base64url): anyone holding the public key can
compute it, so a partner names the key it signed with (`signaturekeyid`) without asking us, and
the id cannot name another key. No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Final, Literal, Protocol, get_args

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

Algorithm = Literal["Ed25519", "SM2"]
ALGORITHMS: Final[tuple[str, ...]] = get_args(Algorithm)

SIGNATURE_BYTES: Final = 64
_SIGNATURE_TEXT: Final = re.compile(r"^[A-Za-z0-9_-]{86}$")
_PUBLIC_KEY_CHARS: Final[dict[str, int]] = {"Ed25519": 43, "SM2": 86}
_PUBLIC_KEY_BYTES: Final[dict[str, int]] = {"Ed25519": 32, "SM2": 64}


class KeyFormatError(ValueError):
    """A key or signature text that is not what the contract says (the detail names no secret)."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url_strict(text: str, length: int) -> bytes:
    """The bytes of canonical unpadded base64url text of exactly `length` bytes; raises KeyFormatError
    for anything else (padding, the standard alphabet, whitespace, stray bits in the last
    character, another length)."""
    if not text.isascii() or "=" in text:
        raise KeyFormatError("not unpadded base64url text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise KeyFormatError("not unpadded base64url text") from None
    if len(raw) != length or b64url(raw) != text:
        raise KeyFormatError(f"not the unpadded base64url text of exactly {length} bytes")
    return raw


def signature_bytes(text: object) -> bytes:
    """The 64 bytes of a signature attribute; raises KeyFormatError unless it is exactly 86 characters of
    canonical unpadded base64url."""
    if not isinstance(text, str) or not _SIGNATURE_TEXT.match(text):
        raise KeyFormatError("a signature is exactly 86 characters of unpadded base64url (64 bytes)")
    return unb64url_strict(text, SIGNATURE_BYTES)


def public_key_bytes(algorithm: str, text: str) -> bytes:
    if algorithm not in _PUBLIC_KEY_BYTES:
        raise KeyFormatError(f"unknown signature algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    if len(text) != _PUBLIC_KEY_CHARS[algorithm]:
        raise KeyFormatError(f"an {algorithm} public key is {_PUBLIC_KEY_CHARS[algorithm]} characters of base64url")
    return unb64url_strict(text, _PUBLIC_KEY_BYTES[algorithm])


def key_id(algorithm: str, public_key: str) -> str:
    """The key's RFC 7638 thumbprint: SHA-256 of its JWK's required members, sorted, without
    whitespace, in base64url (43 characters). Ed25519: {"crv":"Ed25519","kty":"OKP","x":…};
    SM2: {"crv":"SM2","kty":"EC","x":…,"y":…} (x and y 32 bytes each)."""
    raw = public_key_bytes(algorithm, public_key)
    if algorithm == "Ed25519":
        jwk = {"crv": "Ed25519", "kty": "OKP", "x": public_key}
    else:
        jwk = {"crv": "SM2", "kty": "EC", "x": b64url(raw[:32]), "y": b64url(raw[32:])}
    canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode("ascii")
    return b64url(hashlib.sha256(canonical).digest())


def verify(algorithm: str, public_key: str, message: bytes, signature: bytes) -> bool:
    """Whether `signature` (64 bytes) is `algorithm`'s signature of `message` by the key. Raises
    KeyFormatError only for a malformed key or an unknown algorithm; a wrong signature is False."""
    raw = public_key_bytes(algorithm, public_key)
    if len(signature) != SIGNATURE_BYTES:
        return False
    if algorithm == "Ed25519":
        try:
            _ed25519_public(raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True
    from .sm2 import sm2_verify

    return sm2_verify(raw, message, signature)


@functools.lru_cache(maxsize=4096)
def _ed25519_public(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


# ---- private keys: what a partner (or the operator) signs with ---------------------------------


class SigningKey(Protocol):
    """A private key that signs: Ed25519 or SM2."""

    @property
    def algorithm(self) -> Algorithm: ...

    @property
    def public_key(self) -> str:
        """The public key as the registry writes it."""
        ...

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes:
        """The 64-byte signature of `message`."""
        ...

    def pem(self) -> bytes:
        """The private key as PKCS#8 PEM (what OpenSSL reads and writes)."""
        ...


@dataclass(frozen=True)
class Ed25519Key:
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> Ed25519Key:
        return cls(Ed25519PrivateKey.generate())

    @property
    def algorithm(self) -> Algorithm:
        return "Ed25519"

    @property
    def public_key(self) -> str:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b64url(raw)

    @property
    def key_id(self) -> str:
        return key_id("Ed25519", self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


@dataclass(frozen=True)
class SM2Key:
    private: bytes
    """The 32-byte private scalar."""

    @classmethod
    def generate(cls) -> SM2Key:
        from .sm2 import sm2_generate_private_key

        return cls(sm2_generate_private_key())

    @property
    def algorithm(self) -> Algorithm:
        return "SM2"

    @property
    def public_key(self) -> str:
        from .sm2 import sm2_public_key

        return b64url(sm2_public_key(self.private))

    @property
    def key_id(self) -> str:
        return key_id("SM2", self.public_key)

    def sign(self, message: bytes) -> bytes:
        from .sm2 import sm2_sign

        return sm2_sign(self.private, message)

    def pem(self) -> bytes:
        from .sm2 import sm2_private_key_pem

        return sm2_private_key_pem(self.private)

    def __repr__(self) -> str:  # never the private scalar
        return f"SM2Key(key_id={self.key_id!r})"


def generate(algorithm: str = "Ed25519") -> SigningKey:
    if algorithm == "Ed25519":
        return Ed25519Key.generate()
    if algorithm == "SM2":
        return SM2Key.generate()
    raise KeyFormatError(f"unknown signature algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")


def signing_key_from_pem(pem: bytes) -> SigningKey:
    """An Ed25519 or SM2 private key from PKCS#8 PEM; raises KeyFormatError for anything else."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if isinstance(key, Ed25519PrivateKey):
        return Ed25519Key(key)
    from .sm2 import sm2_load_private_key_pem

    try:
        return SM2Key(sm2_load_private_key_pem(pem))
    except ValueError:
        raise KeyFormatError("not a PEM private key of Ed25519 or SM2") from None
