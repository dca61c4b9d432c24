"""Signed events: what is signed (RFC 8785 of the CloudEvents object as written, in either content
mode, naming its key), what tampering does, what a signature and a key look like, and who may speak
as whom. The key registry's verdicts are in test_key_registry.py."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.contract.events.orders import DemandEndorsed, DemandSubmitted, WithdrawDemand
from shared.contract.events.reviews import CriterionScore, PanelScoreSubmitted, Reviewer, ReviewerConflictDeclared
from shared.contract.keys import KeyFormatError, key_id, signature_bytes
from shared.contract.partners import principal_of
from shared.contract.signing import (
    SIGNATURE,
    SIGNATURE_HEADER,
    SIGNATURE_KEY_ID,
    SIGNATURE_KEY_ID_HEADER,
    SigningError,
    canonical_form,
    generate_private_key,
    load_private_key,
    public_key_text,
    record_document,
    save_private_key,
    sign,
    sign_record,
    signed,
)
from shared.contract.signing import verifies as verifies_with
from shared.contract.speakers import reviewer_source, speaker_refusal
from tests.builders import tea_demand, tianma_demand
from tools.client import binary_headers, envelope_for, structured_headers
from tools.keyring import Keyring

SHIZHU_SYSTEM = "/counties/500240"  # 石柱县
WUXI_SYSTEM = "/counties/500238"  # 巫溪县
BUREAU = "/bureau/hrss"
NOW = datetime(2019, 6, 1, 9, 30, tzinfo=UTC)
SHIZHU_KEY = generate_private_key()
WUXI_KEY = generate_private_key()


def tianma_submission(order_id: str = "500240-2019-001") -> DemandSubmitted:
    return DemandSubmitted(order_id=order_id, demand=tianma_demand(), submitted_by="石柱县人力社保局")


def tianma_envelope(source: str = SHIZHU_SYSTEM) -> Any:
    return envelope_for(tianma_submission(), source=source, time=NOW, event_id="石柱县-2019-0001")


def structured_record(source: str = SHIZHU_SYSTEM) -> tuple[bytes, list[tuple[str, bytes]]]:
    envelope = tianma_envelope(source)
    return envelope.to_structured_json(), structured_headers(envelope)


def binary_record(source: str = SHIZHU_SYSTEM) -> tuple[bytes, list[tuple[str, bytes]]]:
    envelope = tianma_envelope(source)
    return json.dumps(dict(envelope.data), ensure_ascii=False).encode(), binary_headers(envelope)


def verifies(document: dict[str, Any], public_key: str) -> bool:
    return verifies_with(document, "Ed25519", public_key)


def test_the_canonical_form_is_rfc_8785_of_the_document_without_its_signature() -> None:
    document: dict[str, Any] = {
        "source": SHIZHU_SYSTEM,
        "data": {"industry": "中药材", "b": 1.0, "a": [0.5, 1e21]},
        SIGNATURE: "x",
    }
    assert canonical_form(document) == rfc8785.dumps({k: v for k, v in document.items() if k != SIGNATURE})
    assert canonical_form(document) == (
        '{"data":{"a":[0.5,1e+21],"b":1,"industry":"中药材"},"source":"/counties/500240"}'.encode()
    )


def test_a_tianma_submission_has_the_same_signature_in_structured_and_binary_mode() -> None:
    value, headers = structured_record()
    signed_value, _ = sign_record(value, headers, SHIZHU_KEY)
    binary_value, binary = binary_record()
    _, signed_binary = sign_record(binary_value, binary, SHIZHU_KEY)
    in_structured = record_document(signed_value, headers)[SIGNATURE]
    assert dict(signed_binary)[SIGNATURE_HEADER].decode() == in_structured
    assert canonical_form(record_document(signed_value, headers)) == canonical_form(
        record_document(binary_value, signed_binary)
    )
    assert verifies(record_document(binary_value, signed_binary), public_key_text(SHIZHU_KEY))


def test_a_signature_is_base64url_of_64_bytes_without_padding_and_a_public_key_of_32() -> None:
    document = signed({"source": SHIZHU_SYSTEM}, SHIZHU_KEY)
    assert len(document[SIGNATURE]) == 86 and "=" not in document[SIGNATURE]
    assert len(public_key_text(SHIZHU_KEY)) == 43
    assert document[SIGNATURE_KEY_ID] == SHIZHU_KEY.key_id == key_id("Ed25519", public_key_text(SHIZHU_KEY))


def test_only_unpadded_base64url_of_exactly_64_bytes_is_a_signature() -> None:
    document = signed({"source": SHIZHU_SYSTEM, "data": {"crop": "天麻"}}, SHIZHU_KEY)
    text = document[SIGNATURE]
    raw = signature_bytes(text)
    standard = __import__("base64").b64encode(raw).decode()
    variants = {
        "padded": text + "==",
        "the standard alphabet": standard.rstrip("="),
        "the standard alphabet, padded": standard,
        "one character short": text[:-1],
        "a space inside": text[:40] + " " + text[41:],
        "stray bits in the last character": text[:-1] + chr(ord(text[-1]) + 1 if text[-1] not in "9_-" else 65),
        "65 bytes": __import__("base64").urlsafe_b64encode(raw + b"\0").decode().rstrip("="),
    }
    assert verifies(document, public_key_text(SHIZHU_KEY))
    for name, variant in variants.items():
        if variant == text:
            continue
        with pytest.raises(KeyFormatError):
            signature_bytes(variant)
        assert not verifies(document | {SIGNATURE: variant}, public_key_text(SHIZHU_KEY)), name


def test_a_key_id_is_the_rfc_7638_thumbprint_of_the_public_key() -> None:
    public = public_key_text(SHIZHU_KEY)
    jwk = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": public}, separators=(",", ":"), sort_keys=True)
    expected = __import__("base64").urlsafe_b64encode(__import__("hashlib").sha256(jwk.encode()).digest())
    assert key_id("Ed25519", public) == expected.decode().rstrip("=")
    assert key_id("Ed25519", public) != key_id("Ed25519", public_key_text(WUXI_KEY))
    # RFC 8037's example key (appendix A.3): its thumbprint as the RFC gives it
    assert (
        key_id("Ed25519", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
        == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    )


def test_the_named_key_is_signed_with_the_rest_and_cannot_be_swapped() -> None:
    document = signed({"source": SHIZHU_SYSTEM, "data": {"crop": "天麻"}}, SHIZHU_KEY)
    assert SIGNATURE_KEY_ID in json.loads(canonical_form(document))
    assert not verifies(document | {SIGNATURE_KEY_ID: WUXI_KEY.key_id}, public_key_text(SHIZHU_KEY))
    with pytest.raises(SigningError, match="must name the signing key"):
        sign({"source": SHIZHU_SYSTEM}, SHIZHU_KEY)


def test_binary_mode_names_the_key_in_its_own_header() -> None:
    value, headers = binary_record()
    _, signed_headers = sign_record(value, headers, SHIZHU_KEY)
    assert dict(signed_headers)[SIGNATURE_KEY_ID_HEADER] == SHIZHU_KEY.key_id.encode()
    resigned = sign_record(value, signed_headers, WUXI_KEY)[1]
    assert [n for n, _ in resigned].count(SIGNATURE_KEY_ID_HEADER) == 1, "signing again replaces, never adds"
    assert verifies(record_document(value, resigned), public_key_text(WUXI_KEY))


@pytest.mark.parametrize(
    ("where", "tamper"),
    [
        ("source", lambda d: d | {"source": WUXI_SYSTEM}),
        ("id", lambda d: d | {"id": "another-id"}),
        ("type", lambda d: d | {"type": "DemandEndorsed"}),
        ("time", lambda d: d | {"time": "2019-06-01T09:30:01Z"}),
        ("subject", lambda d: d | {"subject": "500238-2019-001"}),
        ("an added extension", lambda d: d | {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}),
        ("a removed attribute", lambda d: {k: v for k, v in d.items() if k != "correlationid"}),
        ("the county in data", lambda d: d | {"data": d["data"] | {"order_id": "500238-2019-001"}}),
        ("the funding asked", lambda d: d | {"data": d["data"] | {"submitted_by": "巫溪县"}}),
        (
            "the signature itself",
            lambda d: d | {SIGNATURE: d[SIGNATURE][:-2] + ("AA" if d[SIGNATURE][-2:] != "AA" else "BA")},
        ),
    ],
)
def test_tampering_with_any_attribute_or_the_data_fails_verification(where: str, tamper: Any) -> None:
    value, headers = structured_record()
    signed_value, _ = sign_record(value, headers, SHIZHU_KEY)
    document = record_document(signed_value, headers)
    assert verifies(document, public_key_text(SHIZHU_KEY))
    assert not verifies(tamper(document), public_key_text(SHIZHU_KEY)), where


def test_tampering_with_a_binary_mode_header_fails_verification() -> None:
    value, headers = binary_record()
    _, signed_headers = sign_record(value, headers, SHIZHU_KEY)
    forged = [(n, WUXI_SYSTEM.encode() if n == "ce_source" else v) for n, v in signed_headers]
    assert verifies(record_document(value, signed_headers), public_key_text(SHIZHU_KEY))
    assert not verifies(record_document(value, forged), public_key_text(SHIZHU_KEY))
    retyped = [(n, b"text/plain" if n == "content-type" else v) for n, v in signed_headers]
    assert not verifies(record_document(value, retyped), public_key_text(SHIZHU_KEY))


_attribute_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30)
_json_data = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    extensions=st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True), _attribute_text, max_size=4),
    data=st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=8), _json_data, max_size=5),
    source=st.sampled_from([SHIZHU_SYSTEM, WUXI_SYSTEM, BUREAU, reviewer_source("REV-0001")]),
)
def test_a_signed_event_survives_structured_to_binary_and_back(
    extensions: dict[str, str], data: dict[str, Any], source: str
) -> None:
    attributes = {"id": "e-1", "source": source, "type": "DemandSubmitted", "time": "2019-06-01T09:30:00Z"}
    structured: dict[str, Any] = (
        attributes | {k: v for k, v in extensions.items() if k not in attributes} | {"specversion": "1.0"}
    )
    structured |= {"subject": "500240-2019-001", "datacontenttype": "application/json", "data": data}
    signed_value, headers = sign_record(json.dumps(structured, ensure_ascii=False).encode(), [], SHIZHU_KEY)
    document = record_document(signed_value, headers)
    assert verifies(document, public_key_text(SHIZHU_KEY))

    as_binary = [("content-type", b"application/json")] + [
        (f"ce_{name}", str(value).encode())
        for name, value in document.items()
        if name not in ("data", "datacontenttype")
    ]
    binary_value = json.dumps(document["data"]).encode()
    assert verifies(record_document(binary_value, as_binary), public_key_text(SHIZHU_KEY)), "into binary mode"
    back = record_document(binary_value, as_binary)
    assert verifies(record_document(json.dumps(back).encode(), []), public_key_text(SHIZHU_KEY)), "and back"


@settings(max_examples=300, deadline=None)
@given(
    document=st.dictionaries(
        st.text(max_size=6).filter(lambda s: s.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") == s),
        _json_data,
        max_size=6,
    )
)
@example(document={"亩": 2.0**53})  # an integral float beyond 2**53 (found by hypothesis)
@example(document={"元": -(2.0**60)})
def test_the_fast_canonical_form_is_exactly_rfc_8785(document: dict[str, Any]) -> None:
    assert canonical_form(document) == rfc8785.dumps(document)


def test_a_private_key_is_saved_as_pem_readable_by_its_owner_only(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path / "partners")
    key = keyring.ensure(SHIZHU_SYSTEM)
    path = tmp_path / "partners" / "counties.500240" / "signing-key.pem"
    assert keyring.path_of(SHIZHU_SYSTEM) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_key_text(load_private_key(path)) == public_key_text(key)
    assert public_key_text(Keyring(tmp_path / "partners")[SHIZHU_SYSTEM]) == public_key_text(key), "read back"
    save_private_key(key, tmp_path / "again.pem")
    assert stat.S_IMODE((tmp_path / "again.pem").stat().st_mode) == 0o600


def test_a_source_has_a_principal_by_convention() -> None:
    assert principal_of(SHIZHU_SYSTEM) == "counties.500240"
    assert principal_of(BUREAU) == "bureau.hrss"
    assert principal_of(f"{SHIZHU_SYSTEM}/portal") == "counties.500240.portal"


def score_by(reviewer_id: str) -> PanelScoreSubmitted:
    return PanelScoreSubmitted(
        cycle_id="2019",
        order_id="500240-2019-001",
        reviewer=Reviewer(reviewer_id=reviewer_id, name="王评审", institution="西南大学"),
        scores=(CriterionScore(criterion="outcomes_achieved", score=90),),
    )


def test_a_reviewer_may_score_and_declare_conflicts_only_as_itself() -> None:
    assert speaker_refusal(reviewer_source("REV-0001"), score_by("REV-0001")) is None
    refusal = speaker_refusal(reviewer_source("REV-0001"), score_by("REV-0002"))
    assert refusal == "source /reviewers/REV-0001 may only speak as its own reviewer, not as reviewer REV-0002"
    conflict = ReviewerConflictDeclared(
        cycle_id="2019", order_id="500240-2019-001", reviewer_id="REV-0002", reason="合作"
    )
    assert speaker_refusal(reviewer_source("REV-0001"), conflict) is not None
    assert speaker_refusal(BUREAU, conflict) is None, "the bureau declares a conflict for a reviewer"


def test_a_county_system_acts_only_for_its_own_county() -> None:
    wuxi_tea = DemandSubmitted(order_id="500238-2019-002", demand=tea_demand(), submitted_by="巫溪县人力社保局")
    assert speaker_refusal(WUXI_SYSTEM, wuxi_tea) is None
    assert speaker_refusal(SHIZHU_SYSTEM, wuxi_tea) == (
        "source /counties/500240 may only speak as its own county, not as county 500238"
    )
    assert speaker_refusal(SHIZHU_SYSTEM, DemandEndorsed(order_id="500238-2019-002", endorsed_by="石柱县")) is not None
    assert speaker_refusal(f"{SHIZHU_SYSTEM}/portal", tianma_submission()) is None, "a system under the county"
    withdrawal = WithdrawDemand(order_id="500240-2019-001", withdrawn_by="石柱县", reason="村里已自筹")
    assert speaker_refusal(SHIZHU_SYSTEM, withdrawal) is None
