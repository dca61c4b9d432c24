"""SM2 with SM3 (shared.contract.sm2): the standards' published examples, what one changed bit
does to them, round trips, keys in OpenSSL 3's PKCS#8 PEM, signatures OpenSSL made, and hostile
inputs.

Where the vectors are published:

- GB/T 32918.2-2016 (GM/T 0003.2-2012) Annex A, "digital signature over E(Fp)": the 256-bit test
  curve, ID_A "ALICE123@YAHOO.COM", M "message digest", with Z_A, e, the nonce k and (r, s). The
  same example, figure for figure, is Appendix A.2 of the IETF draft draft-shen-sm2-ecdsa-02.
- GB/T 32918.5-2017 (GM/T 0003.5-2012) Annex A: the recommended curve, ID "1234567812345678",
  M "message digest", d, P, the hash value e (its "H"), k and (r, s).
  OpenSSL 3.0.19 verifies that (r, s) too (`openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt
  distid:1234567812345678`, with the key written by sm2_private_key_pem).
- GB/T 32905-2016 (SM3) Annex A: the hashes of "abc" and of "abcd" x 16.

The files in tests/unit/sm2_openssl/ were made once with OpenSSL 3.0.19, in that folder:

    openssl genpkey -algorithm SM2 -out partner.pem
    openssl pkey -in partner.pem -pubout -text -out partner.pub.txt
    printf '%s' '{"data":{"industry":"中药材",...}' > event.json   # the file's bytes, no newline
    openssl pkeyutl -sign -rawin -digest sm3 -inkey partner.pem \\
        -pkeyopt distid:1234567812345678 -in event.json -out event.default-id.sig
    openssl pkeyutl -sign -rawin -digest sm3 -inkey partner.pem \\
        -pkeyopt distid:/counties/500240 -in event.json -out event.source-id.sig
    openssl pkeyutl -sign -rawin -digest sm3 -inkey partner.pem -in event.json -out event.no-distid.sig

(the .sig files are DER ECDSA-Sig-Value, as OpenSSL writes them; partners send r‖s).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract.sm2 import (
    SM2_DEFAULT_USER_ID,
    SM2P256V1,
    SM2Curve,
    SM2KeyError,
    _digest,
    _multiply_base,
    _public_point,
    _sign_with_nonce,
    _sm3,
    _verify,
    _x_of_combination,
    _z,
    sm2_generate_private_key,
    sm2_load_private_key_pem,
    sm2_private_key_pem,
    sm2_public_key,
    sm2_sign,
    sm2_verify,
)

OPENSSL = Path(__file__).parent / "sm2_openssl"


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


ANNEX_A_CURVE = SM2Curve(
    name="GB/T 32918.2-2016 Annex A, Fp-256 test curve",
    p=int("8542D69E 4C044F18 E8B92435 BF6FF7DE 45728391 5C45517D 722EDB8B 08F1DFC3".replace(" ", ""), 16),
    a=int("787968B4 FA32C3FD 2417842E 73BBFEFF 2F3C848B 6831D7E0 EC65228B 3937E498".replace(" ", ""), 16),
    b=int("63E4C6D3 B23B0C84 9CF84241 484BFE48 F61D59A5 B16BA06E 6E12D1DA 27C5249A".replace(" ", ""), 16),
    gx=int("421DEBD6 1B62EAB6 746434EB C3CC315E 32220B3B ADD50BDC 4C4E6C14 7FEDD43D".replace(" ", ""), 16),
    gy=int("0680512B CBB42C07 D47349D2 153B70C4 E5D7FDFC BFA36EA1 A85841B9 E46E09A2".replace(" ", ""), 16),
    n=int("8542D69E 4C044F18 E8B92435 BF6FF7DD 29772063 0485628D 5AE74EE7 C32E79B7".replace(" ", ""), 16),
)


@dataclass(frozen=True)
class Vector:
    name: str
    curve: SM2Curve
    user_id: bytes
    private_key: bytes
    public_key: bytes
    message: bytes
    z: bytes | None  # Z_A, where the standard prints it
    e: bytes
    k: int
    signature: bytes


ANNEX_A = Vector(
    name="GB/T 32918.2-2016 Annex A",
    curve=ANNEX_A_CURVE,
    user_id=b"ALICE123@YAHOO.COM",
    private_key=_hex("128B2FA8 BD433C6C 068C8D80 3DFF7979 2A519A55 171B1B65 0C23661D 15897263"),
    public_key=_hex(
        "0AE4C779 8AA0F119 471BEE11 825BE462 02BB79E2 A5844495 E97C04FF 4DF2548A"
        "7C0240F8 8F1CD4E1 6352A73C 17B7F16F 07353E53 A176D684 A9FE0C6B B798E857"
    ),
    message=b"message digest",
    z=_hex("F4A38489 E32B45B6 F876E3AC 2168CA39 2362DC8F 23459C1D 1146FC3D BFB7BC9A"),
    e=_hex("B524F552 CD82B8B0 28476E00 5C377FB1 9A87E6FC 682D48BB 5D42E3D9 B9EFFE76"),
    k=int("6CB28D99 385C175C 94F94E93 4817663F C176D925 DD72B727 260DBAAE 1FB2F96F".replace(" ", ""), 16),
    signature=_hex(
        "40F1EC59 F793D9F4 9E09DCEF 49130D41 94F79FB1 EED2CAA5 5BACDB49 C4E755D1"
        "6FC6DAC3 2C5D5CF1 0C77DFB2 0F7C2EB6 67A45787 2FB09EC5 6327A67E C7DEEBE7"
    ),
)

RECOMMENDED = Vector(
    name="GB/T 32918.5-2017 Annex A",
    curve=SM2P256V1,
    user_id=b"1234567812345678",
    private_key=_hex("3945208F 7B2144B1 3F36E38A C6D39F95 88939369 2860B51A 42FB81EF 4DF7C5B8"),
    public_key=_hex(
        "09F9DF31 1E5421A1 50DD7D16 1E4BC5C6 72179FAD 1833FC07 6BB08FF3 56F35020"
        "CCEA490C E26775A5 2DC6EA71 8CC1AA60 0AED05FB F35E084A 6632F607 2DA9AD13"
    ),
    message=b"message digest",
    z=None,
    e=_hex("F0B43E94 BA45ACCA ACE692ED 534382EB 17E6AB5A 19CE7B31 F4486FDF C0D28640"),
    k=int("59276E27 D506861A 16680F3A D9C02DCC EF3CC1FA 3CDBE4CE 6D54B80D EAC1BC21".replace(" ", ""), 16),
    signature=_hex(
        "F5A03B06 48D2C463 0EEAC513 E1BB81A1 5944DA38 27D5B741 43AC7EAC EEE720B3"
        "B1B6AA29 DF212FD8 763182BC 0D421CA1 BB9038FD 1F7F42D4 840B69C4 85BBC1AA"
    ),
)

VECTORS = [pytest.param(ANNEX_A, id="annex-a-test-curve"), pytest.param(RECOMMENDED, id="recommended-curve")]
N = SM2P256V1.n
PARTNER_KEY = sm2_generate_private_key()
PARTNER_PUBLIC = sm2_public_key(PARTNER_KEY)


def verifies(vector: Vector, **changes: bytes) -> bool:
    parts = {
        "public_key": vector.public_key,
        "message": vector.message,
        "signature": vector.signature,
        "user_id": vector.user_id,
        **changes,
    }
    return _verify(parts["public_key"], parts["message"], parts["signature"], parts["user_id"], vector.curve)


def flipped(data: bytes, bit: int) -> bytes:
    """`data` with one bit changed (bit 0: the last byte's lowest)."""
    value = bytearray(data)
    value[len(value) - 1 - bit // 8] ^= 1 << (bit % 8)
    return bytes(value)


def rs(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# ---- the published examples -----------------------------------------------------------------------


def test_sm3_gives_the_hashes_published_in_gbt_32905() -> None:
    assert _sm3(b"abc") == _hex("66C7F0F4 62EEEDD9 D1F2D46B DC10E4E2 4167C487 5CF2F7A2 297DA02B 8F4BA8E0")
    assert _sm3(b"abcd" * 16) == _hex("DEBE9FF9 2275B8A1 38604889 C18E5A4D 6FDB70E5 387E5765 293DCBA3 9C0C5732")


def test_the_standards_worked_example_verifies() -> None:
    assert verifies(ANNEX_A)
    assert ANNEX_A.z is not None
    assert _z(ANNEX_A.user_id, ANNEX_A.public_key, ANNEX_A_CURVE) == ANNEX_A.z
    assert _digest(ANNEX_A.z, ANNEX_A.message) == ANNEX_A.e


@pytest.mark.parametrize("vector", VECTORS)
def test_each_published_signature_is_made_again_from_its_private_key_and_nonce(vector: Vector) -> None:
    d = int.from_bytes(vector.private_key, "big")
    point = _multiply_base(d, vector.curve)
    assert point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big") == vector.public_key
    e = _digest(_z(vector.user_id, vector.public_key, vector.curve), vector.message)
    assert e == vector.e
    assert _sign_with_nonce(d, e, vector.k, vector.curve) == vector.signature


def test_the_recommended_curves_example_verifies_through_the_public_functions_with_the_default_id() -> None:
    assert RECOMMENDED.user_id == SM2_DEFAULT_USER_ID
    assert sm2_public_key(RECOMMENDED.private_key) == RECOMMENDED.public_key
    assert sm2_verify(RECOMMENDED.public_key, b"message digest", RECOMMENDED.signature) is True
    assert sm2_verify(RECOMMENDED.public_key, b"message digest", RECOMMENDED.signature, user_id=b"") is False


def test_the_worked_example_is_refused_on_the_recommended_curve() -> None:
    assert sm2_verify(ANNEX_A.public_key, ANNEX_A.message, ANNEX_A.signature, user_id=ANNEX_A.user_id) is False


@pytest.mark.parametrize("curve", [SM2P256V1, ANNEX_A_CURVE], ids=["recommended", "annex-a"])
def test_each_curves_base_point_lies_on_it_and_has_the_order_n(curve: SM2Curve) -> None:
    base = curve.gx.to_bytes(32, "big") + curve.gy.to_bytes(32, "big")
    assert _public_point(base, curve) == (curve.gx, curve.gy)
    assert _multiply_base(curve.n - 1, curve) == (curve.gx, curve.p - curve.gy)
    assert _x_of_combination(curve.n, 0, None, curve) is None  # [n]G is the point at infinity
    assert curve.n.bit_length() == curve.p.bit_length() == 256


# ---- one bit changed ------------------------------------------------------------------------------------

BITS = [0, 7, 100, 255]


@pytest.mark.parametrize("vector", VECTORS)
@pytest.mark.parametrize("bit", BITS)
def test_a_vector_is_refused_when_one_bit_of_its_r_or_s_changes(vector: Vector, bit: int) -> None:
    s_changed = flipped(vector.signature, bit)
    r_changed = flipped(vector.signature, 256 + bit)
    assert verifies(vector, signature=s_changed) is False
    assert verifies(vector, signature=r_changed) is False


@pytest.mark.parametrize("vector", VECTORS)
@pytest.mark.parametrize("bit", [0, 7, 50, 111])
def test_a_vector_is_refused_when_one_bit_of_its_message_changes(vector: Vector, bit: int) -> None:
    assert verifies(vector, message=flipped(vector.message, bit)) is False


@pytest.mark.parametrize("vector", VECTORS)
@pytest.mark.parametrize("bit", [0, 7, 64, 127])
def test_a_vector_is_refused_when_one_bit_of_its_user_id_changes(vector: Vector, bit: int) -> None:
    assert verifies(vector, user_id=flipped(vector.user_id, bit)) is False


@pytest.mark.parametrize("vector", VECTORS)
@pytest.mark.parametrize("bit", [0, 9, 255, 256, 300, 511])
def test_a_vector_is_refused_when_one_bit_of_its_key_changes(vector: Vector, bit: int) -> None:
    assert verifies(vector, public_key=flipped(vector.public_key, bit)) is False


def test_the_worked_example_is_refused_with_r_or_s_raised_by_n_or_its_key_written_with_x_plus_p() -> None:
    """On the test curve (n and p near 2^255) these still fit in 32 bytes. [s + n]G = [s]G, so only the
    range check refuses r + n and s + n; the key with x + p is refused by its own range check and by
    Z_A, which hashes the key as written."""
    n, p = ANNEX_A_CURVE.n, ANNEX_A_CURVE.p
    r = int.from_bytes(ANNEX_A.signature[:32], "big")
    s = int.from_bytes(ANNEX_A.signature[32:], "big")
    x = int.from_bytes(ANNEX_A.public_key[:32], "big")
    assert r + n < 2**256 and s + n < 2**256 and x + p < 2**256
    assert verifies(ANNEX_A, signature=rs(r, s + n)) is False
    assert verifies(ANNEX_A, signature=rs(r + n, s)) is False
    assert verifies(ANNEX_A, public_key=(x + p).to_bytes(32, "big") + ANNEX_A.public_key[32:]) is False


@pytest.mark.parametrize("vector", VECTORS)
def test_a_vector_is_refused_under_another_key_on_the_curve(vector: Vector) -> None:
    x, y = vector.public_key[:32], int.from_bytes(vector.public_key[32:], "big")
    negated = x + (vector.curve.p - y).to_bytes(32, "big")  # -P_A: on the curve, another key
    assert _public_point(negated, vector.curve) is not None
    assert verifies(vector, public_key=negated) is False
    other = ANNEX_A if vector is RECOMMENDED else RECOMMENDED
    assert verifies(vector, public_key=other.public_key) is False


# ---- round trips and sizes --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(message=st.binary(max_size=4096), user_id=st.binary(max_size=64))
def test_what_is_signed_verifies_and_nothing_else(message: bytes, user_id: bytes) -> None:
    signature = sm2_sign(PARTNER_KEY, message, user_id=user_id)
    assert len(signature) == 64
    assert sm2_verify(PARTNER_PUBLIC, message, signature, user_id=user_id) is True
    assert sm2_verify(PARTNER_PUBLIC, message + b"\x00", signature, user_id=user_id) is False
    assert sm2_verify(PARTNER_PUBLIC, message, signature, user_id=user_id + b"\x00") is False


def test_keys_and_signatures_have_their_fixed_lengths_and_every_signature_is_new() -> None:
    private = sm2_generate_private_key()
    public = sm2_public_key(private)
    assert len(private) == 32 and 1 <= int.from_bytes(private, "big") <= N - 2
    assert len(public) == 64 and _public_point(public, SM2P256V1) is not None
    first, second = sm2_sign(private, b"x"), sm2_sign(private, b"x")
    assert len(first) == len(second) == 64
    assert first != second  # a fresh nonce each time
    assert sm2_verify(public, b"x", first) and sm2_verify(public, b"x", second)
    assert sm2_generate_private_key() != private


@pytest.mark.parametrize(
    "private",
    [bytes(32), (N - 1).to_bytes(32, "big"), N.to_bytes(32, "big"), b"\xff" * 32, b"\x01" * 31, b"\x01" * 33],
    ids=["zero", "n-1", "n", "2^256-1", "31 bytes", "33 bytes"],
)
def test_a_private_key_outside_one_to_n_minus_two_is_refused(private: bytes) -> None:
    with pytest.raises(SM2KeyError):
        sm2_public_key(private)
    with pytest.raises(SM2KeyError):
        sm2_sign(private, b"x")
    with pytest.raises(SM2KeyError):
        sm2_private_key_pem(private)


def test_a_user_id_longer_than_entl_can_say_cannot_sign_and_never_verifies() -> None:
    longest = b"i" * 8191
    assert sm2_verify(PARTNER_PUBLIC, b"x", sm2_sign(PARTNER_KEY, b"x", user_id=longest), user_id=longest)
    with pytest.raises(ValueError, match="8191"):
        sm2_sign(PARTNER_KEY, b"x", user_id=longest + b"i")
    assert sm2_verify(PARTNER_PUBLIC, b"x", sm2_sign(PARTNER_KEY, b"x"), user_id=longest + b"i") is False


# ---- keys in PEM, signatures by OpenSSL -------------------------------------------------------------------


def test_a_key_written_by_our_pem_writer_is_read_back() -> None:
    private = sm2_generate_private_key()
    pem = sm2_private_key_pem(private)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n") and pem.endswith(b"-----END PRIVATE KEY-----\n")
    assert sm2_load_private_key_pem(pem) == private
    assert sm2_load_private_key_pem(pem.replace(b"\n", b"\r\n")) == private


def test_an_openssl_genpkey_key_loads_with_the_public_key_openssl_printed() -> None:
    pem = (OPENSSL / "partner.pem").read_bytes()
    printed = (OPENSSL / "partner.pub.txt").read_text()
    private = sm2_load_private_key_pem(pem)
    hex_block = re.search(r"pub:\n((?:\s+[0-9a-f:]+\n)+)", printed)
    assert hex_block is not None
    uncompressed = bytes.fromhex(re.sub(r"[\s:]", "", hex_block.group(1)))
    assert uncompressed[0] == 0x04 and len(uncompressed) == 65
    assert sm2_public_key(private) == uncompressed[1:]
    spki = re.search(r"-----BEGIN PUBLIC KEY-----\n(.+?)-----END PUBLIC KEY-----", printed, re.DOTALL)
    assert spki is not None
    assert base64.b64decode(spki.group(1))[-64:] == uncompressed[1:]
    assert "ASN1 OID: SM2" in printed
    assert sm2_private_key_pem(private) == pem  # byte for byte what OpenSSL wrote


def test_signatures_openssl_made_verify_under_the_id_they_were_made_with() -> None:
    private = sm2_load_private_key_pem((OPENSSL / "partner.pem").read_bytes())
    public = sm2_public_key(private)
    event = (OPENSSL / "event.json").read_bytes()
    assert "中药材".encode() in event

    def signature(name: str) -> bytes:
        r, s = decode_dss_signature((OPENSSL / f"event.{name}.sig").read_bytes())
        return rs(r, s)

    assert sm2_verify(public, event, signature("default-id")) is True
    assert sm2_verify(public, event, signature("source-id"), user_id=b"/counties/500240") is True
    assert sm2_verify(public, event, signature("source-id")) is False
    # OpenSSL 3's command line signs with the empty id unless told `-pkeyopt distid:...`
    assert sm2_verify(public, event, signature("no-distid")) is False
    assert sm2_verify(public, event, signature("no-distid"), user_id=b"") is True
    assert sm2_verify(public, event + b" ", signature("default-id")) is False


def _der_of(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(pem.strip().splitlines()[1:-1]))


def _pem_of(der: bytes) -> bytes:
    return b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(der) + b"-----END PRIVATE KEY-----\n"


def _with_scalar(scalar: bytes) -> bytes:
    """Our PEM of the recommended example's key with the private scalar (DER bytes 36..68) replaced,
    its public key left as it was."""
    der = _der_of(sm2_private_key_pem(RECOMMENDED.private_key))
    assert der[36:68] == RECOMMENDED.private_key
    return _pem_of(der[:36] + scalar + der[68:])


def _refused_pems() -> list[object]:
    p256 = ec.generate_private_key(ec.SECP256R1())
    ed25519 = Ed25519PrivateKey.generate()
    pkcs8, pem = serialization.PrivateFormat.PKCS8, serialization.Encoding.PEM
    plain = serialization.NoEncryption()
    ours = sm2_private_key_pem(RECOMMENDED.private_key)
    der = _der_of(ours)
    return [
        pytest.param(ed25519.private_bytes(pem, pkcs8, plain), "algorithm", id="ed25519"),
        pytest.param(p256.private_bytes(pem, pkcs8, plain), "algorithm", id="p-256"),
        pytest.param(
            p256.private_bytes(pem, pkcs8, serialization.BestAvailableEncryption(b"pw")), "encrypted", id="encrypted"
        ),
        pytest.param(p256.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, plain), "SEC1", id="sec1"),
        pytest.param(
            p256.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
            "not a PEM private key",
            id="public-key",
        ),
        pytest.param(b"", "not a PEM private key", id="empty"),
        pytest.param(ours.replace(b"MIGHAgEA", b"MIGHAg*A"), "base64", id="not-base64"),
        pytest.param(_pem_of(der[:-10]), "PrivateKeyInfo", id="cut-short"),
        pytest.param(_pem_of(der + b"\x00\x00"), "PrivateKeyInfo", id="trailing-bytes"),
        pytest.param(_with_scalar(bytes(32)), "[1, n-2]", id="zero-scalar"),
        pytest.param(_with_scalar((N - 1).to_bytes(32, "big")), "[1, n-2]", id="n-1-scalar"),
        pytest.param(_with_scalar(PARTNER_KEY), "not its private key's", id="another-public-key"),
    ]


@pytest.mark.parametrize(("pem", "reason"), _refused_pems())
def test_a_pem_that_is_not_an_unencrypted_sm2_pkcs8_key_is_refused_with_a_clear_error(pem: bytes, reason: str) -> None:
    with pytest.raises(SM2KeyError) as refused:
        sm2_load_private_key_pem(pem)
    assert isinstance(refused.value, ValueError)
    assert reason in str(refused.value)


# ---- hostile inputs ---------------------------------------------------------------------------------------

KEY, MESSAGE, GOOD = RECOMMENDED.public_key, RECOMMENDED.message, RECOMMENDED.signature
P = SM2P256V1.p
X, Y = KEY[:32], int.from_bytes(KEY[32:], "big")


@pytest.mark.parametrize(
    ("public_key", "signature"),
    [
        pytest.param(KEY, GOOD[:63], id="63-byte-signature"),
        pytest.param(KEY, GOOD + b"\x00", id="65-byte-signature"),
        pytest.param(KEY, b"", id="empty-signature"),
        pytest.param(KEY, rs(0, 1), id="r=0"),
        pytest.param(KEY, rs(N, 1), id="r=n"),
        pytest.param(KEY, rs(1, 0), id="s=0"),
        pytest.param(KEY, rs(1, N), id="s=n"),
        pytest.param(KEY, rs(N + 5, N + 7), id="r,s>n"),
        pytest.param(KEY, b"\xff" * 64, id="r,s=2^256-1"),
        pytest.param(KEY, rs(1, N - 1), id="r+s=n"),
        pytest.param(KEY, GOOD[:32] + rs(N, 0)[:32], id="s=n-with-good-r"),
        pytest.param(X + ((Y + 1) % P).to_bytes(32, "big"), GOOD, id="key-not-on-the-curve"),
        pytest.param(bytes(64), GOOD, id="key-at-infinity"),
        pytest.param(P.to_bytes(32, "big") + KEY[32:], GOOD, id="key-x=p"),
        pytest.param(X + b"\xff" * 32, GOOD, id="key-y>p"),
        pytest.param(b"\x04" + KEY, GOOD, id="65-byte-key"),
        pytest.param(KEY[:63], GOOD, id="63-byte-key"),
        pytest.param(b"", GOOD, id="empty-key"),
    ],
)
def test_hostile_inputs_give_false_never_an_exception(public_key: bytes, signature: bytes) -> None:
    assert sm2_verify(KEY, MESSAGE, GOOD) is True  # the same call with the good parts
    assert sm2_verify(public_key, MESSAGE, signature) is False


@settings(max_examples=300, deadline=None)
@given(
    public_key=st.one_of(st.binary(min_size=62, max_size=66), st.just(PARTNER_PUBLIC)),
    message=st.binary(max_size=64),
    signature=st.binary(min_size=62, max_size=66),
    user_id=st.binary(max_size=32),
)
def test_arbitrary_bytes_are_refused_without_an_exception(
    public_key: bytes, message: bytes, signature: bytes, user_id: bytes
) -> None:
    assert sm2_verify(public_key, message, signature, user_id=user_id) is False
