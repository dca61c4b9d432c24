"""The key registry's history and its verdicts: records signed by the operator and chained, keys
valid from their registration, replaced keys still good for what they signed before, revoked keys
refused for what arrives after, a key bound to its principal's topics, and the operator's replay
markers. No I/O: the history is built record by record as the directory builds it from Kafka."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.contract.keys import SigningKey, b64url
from shared.contract.partners import (
    KeyHistory,
    OperatorKeys,
    PartnerRecord,
    RegistryHead,
    registry_record,
    signature_refusal,
)
from shared.contract.replays import REPLAY_ARRIVED, REPLAY_OF, authentic_replay, replay_headers
from shared.contract.signing import generate_private_key, signed

SHIZHU = "/counties/500240"  # 石柱县
WUXI = "/counties/500238"  # 巫溪县
OPERATOR = generate_private_key()
STRANGER = generate_private_key()
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def record(
    history: KeyHistory,
    source: str,
    key: SigningKey,
    *,
    status: str = "active",
    principal: str | None = None,
    operator: SigningKey = OPERATOR,
    head: RegistryHead | None = None,
) -> PartnerRecord:
    return registry_record(
        head=head or history.head,
        source=source,
        principal=principal or source.strip("/").replace("/", "."),
        algorithm=key.algorithm,
        public_key=key.public_key,
        status=status,  # type: ignore[arg-type]
        changed_at=T0,
        changed_by="市人力社保局运维 值班员张三",
        operator=operator,
    )


def applied(history: KeyHistory, *changes: tuple[str, SigningKey, str, datetime]) -> KeyHistory:
    """(source, key, status, appended at), each made after the one before (on the head it left)."""
    for source, key, status, at in changes:
        assert history.apply(record(history, source, key, status=status), at) is None
    return history


def tianma(key: SigningKey, *, at: datetime = T0, source: str = SHIZHU) -> dict[str, Any]:
    return signed(
        {
            "specversion": "1.0",
            "id": "石柱县-2027-0001",
            "source": source,
            "type": "DemandSubmitted",
            "time": at.isoformat(),
            "subject": "500240-2027-001",
            "data": {"order_id": "500240-2027-001", "crop": "天麻"},
        },
        key,
    )


def verdict(
    history: KeyHistory,
    document: dict[str, Any],
    *,
    signed_at: datetime,
    arrived_at: datetime,
    writer: str | None = "counties.500240",
    source: str = SHIZHU,
) -> str | None:
    refusal = signature_refusal(
        document, source, history=history, signed_at=signed_at, arrived_at=arrived_at, writer=writer
    )
    return refusal.kind if refusal else None


def test_a_key_is_valid_from_its_registration_for_its_principal_only() -> None:
    history = KeyHistory(OperatorKeys.of(OPERATOR))
    key = generate_private_key()
    applied(history, (SHIZHU, key, "active", T0))
    document = tianma(key)
    assert verdict(history, document, signed_at=T0, arrived_at=T0 + timedelta(seconds=1)) is None
    assert verdict(history, document, signed_at=T0, arrived_at=T0 - timedelta(seconds=1)) == "no_key", (
        "an event that reached the brokers before the key was registered is not the key's"
    )
    assert verdict(history, document, signed_at=T0, arrived_at=T0, writer="counties.500238") == "wrong_writer"
    refusal = signature_refusal(
        document, SHIZHU, history=history, signed_at=T0, arrived_at=T0, writer="counties.500238"
    )
    assert refusal is not None
    assert "written by Kafka principal counties.500238" in refusal.detail
    assert "registered to principal counties.500240" in refusal.detail


def test_a_replaced_key_still_verifies_what_it_signed_before_and_nothing_after() -> None:
    history = KeyHistory(OperatorKeys.of(OPERATOR))
    old, new = generate_private_key(), generate_private_key()
    rotated_at = T0 + timedelta(days=30)
    applied(history, (SHIZHU, old, "active", T0), (SHIZHU, new, "active", rotated_at))
    before = T0 + timedelta(days=29)
    assert verdict(history, tianma(old, at=before), signed_at=before, arrived_at=rotated_at + timedelta(days=1)) is None
    after = rotated_at + timedelta(minutes=1)
    assert verdict(history, tianma(old, at=after), signed_at=after, arrived_at=after) == "retired"
    assert verdict(history, tianma(new, at=after), signed_at=after, arrived_at=after) is None
    assert history.current_key(SHIZHU) is not None
    assert history.current_key(SHIZHU).registration.key_id == new.key_id  # type: ignore[union-attr]


def test_a_revoked_key_is_refused_for_what_arrives_after_the_revocation_only() -> None:
    history = KeyHistory(OperatorKeys.of(OPERATOR))
    key = generate_private_key()
    revoked_at = T0 + timedelta(days=3)
    applied(history, (SHIZHU, key, "active", T0), (SHIZHU, key, "revoked", revoked_at))
    earlier = revoked_at - timedelta(seconds=1)
    assert verdict(history, tianma(key), signed_at=T0, arrived_at=earlier) is None, "a rebuild keeps what was applied"
    assert verdict(history, tianma(key), signed_at=T0, arrived_at=revoked_at) == "revoked"
    refusal = signature_refusal(
        tianma(key), SHIZHU, history=history, signed_at=T0, arrived_at=revoked_at, writer="counties.500240"
    )
    assert refusal is not None
    assert "值班员张三" in refusal.detail
    assert key.public_key not in refusal.detail


def test_an_event_that_names_no_key_or_anothers_key_is_not_its_sources() -> None:
    history = KeyHistory(OperatorKeys.of(OPERATOR))
    shizhu, wuxi = generate_private_key(), generate_private_key()
    applied(history, (SHIZHU, shizhu, "active", T0), (WUXI, wuxi, "active", T0))
    nameless = {k: v for k, v in tianma(shizhu).items() if k != "signaturekeyid"}
    assert verdict(history, nameless, signed_at=T0, arrived_at=T0) == "unsigned"
    assert verdict(history, tianma(wuxi), signed_at=T0, arrived_at=T0) == "no_key", "巫溪县's key is not 石柱县's"
    forged = tianma(shizhu) | {"signaturekeyid": wuxi.key_id}
    assert verdict(history, forged, signed_at=T0, arrived_at=T0) == "no_key"
    assert verdict(history, tianma(shizhu) | {"data": {"crop": "茶叶"}}, signed_at=T0, arrived_at=T0) == (
        "does_not_verify"
    )
    unsigned = {k: v for k, v in tianma(shizhu).items() if k != "signature"}
    assert verdict(history, unsigned, signed_at=T0, arrived_at=T0) == "unsigned"
    padded = tianma(shizhu)
    padded["signature"] += "=="
    assert verdict(history, padded, signed_at=T0, arrived_at=T0) == "malformed"


def test_an_sm2_key_signs_and_is_verified_beside_ed25519() -> None:
    history = KeyHistory(OperatorKeys.of(OPERATOR))
    key = generate_private_key("SM2")
    assert history.apply(record(history, "/treasury/cq", key), T0) is None
    document = tianma(key, source="/treasury/cq")
    assert verdict(history, document, signed_at=T0, arrived_at=T0, writer="treasury.cq", source="/treasury/cq") is None
    tampered = document | {"data": {"crop": "茶叶"}}
    assert verdict(history, tampered, signed_at=T0, arrived_at=T0, writer="treasury.cq", source="/treasury/cq") == (
        "does_not_verify"
    )


def test_records_not_signed_by_the_operator_or_out_of_the_chain_are_ignored_by_every_reader() -> None:
    history = KeyHistory(OperatorKeys.of(OPERATOR))
    first = record(history, SHIZHU, generate_private_key())
    forged = record(history, WUXI, generate_private_key(), operator=STRANGER)
    assert "not signed by a trusted operator key" in (history.apply(forged, T0) or "")
    assert history.apply(first, T0) is None
    replayed = history.apply(first, T0 + timedelta(seconds=1))
    assert replayed is not None and "does not follow the registry's head" in replayed, "a record written twice"
    fork = record(history, WUXI, generate_private_key(), head=RegistryHead())
    assert history.apply(fork, T0) is not None, "a second record #1: another writer's, after the first"
    tampered = first.model_copy(update={"principal": "counties.500238"})
    fresh = KeyHistory(OperatorKeys.of(OPERATOR))
    assert "not signed by a trusted operator key" in (fresh.apply(tampered, T0) or ""), "the operator signed it all"
    assert [r.sequence for r, _ in history.records] == [1]
    assert history.keys_of(WUXI) == []


def test_a_record_removed_from_the_history_leaves_every_later_record_ignored() -> None:
    writer = KeyHistory(OperatorKeys.of(OPERATOR))
    records = []
    for source in (SHIZHU, WUXI, "/bureau/hrss"):
        change = record(writer, source, generate_private_key())
        assert writer.apply(change, T0) is None
        records.append(change)
    reader = KeyHistory(OperatorKeys.of(OPERATOR))
    assert reader.apply(records[0], T0) is None
    assert reader.apply(records[2], T0) is not None, "#2 is missing: #3 does not follow the head"
    assert reader.keys_of("/bureau/hrss") == []


def test_the_operators_keys_are_read_from_their_setting_and_a_bad_one_fails_saying_which() -> None:
    keys = OperatorKeys.parse(f"Ed25519:{OPERATOR.public_key}, Ed25519:{STRANGER.public_key}")
    assert set(keys.keys) == {OPERATOR.key_id, STRANGER.key_id}
    assert OperatorKeys.parse(keys.text()) == keys
    assert not OperatorKeys.parse("")
    with pytest.raises(ValueError, match="operator key"):
        OperatorKeys.parse("Ed25519:not-a-key")
    with pytest.raises(ValueError, match="unknown signature algorithm"):
        OperatorKeys.parse(f"RSA:{OPERATOR.public_key}")


def test_a_registry_record_says_its_key_id_and_cannot_claim_another() -> None:
    history = KeyHistory(OperatorKeys.of(OPERATOR))
    change = record(history, SHIZHU, generate_private_key())
    document = change.document() | {"key_id": STRANGER.key_id}
    with pytest.raises(ValueError, match="key_id is not the thumbprint of public_key"):
        PartnerRecord.model_validate(document)


# ---- the operator's replay marker ---------------------------------------------------------------

TOPIC = "orders.inbound.counties.500240"


def marker(**changes: Any) -> list[tuple[str, bytes]]:
    values: dict[str, Any] = {
        "of": "orders.deadletter:1:7",
        "at": T0 + timedelta(days=2),
        "arrived_at": T0,
        "topic": TOPIC,
        "key": b"500240-2027-001",
        "value": b'{"id":"1"}',
        "operator": OPERATOR,
    }
    return replay_headers(**(values | changes))


def replayed(headers: list[tuple[str, bytes]], topic: str = TOPIC, value: bytes = b'{"id":"1"}') -> Any:
    return authentic_replay(
        headers, topic=topic, key=b"500240-2027-001", value=value, operators=OperatorKeys.of(OPERATOR)
    )


def test_the_operators_replay_marker_is_taken_for_its_record_on_its_topic_only() -> None:
    replay = replayed(marker())
    assert replay is not None
    assert replay.arrived_at == T0
    assert replay.of == "orders.deadletter:1:7"
    assert replayed(marker(), topic="orders.inbound.counties.500238") is None, "moved to another partner's topic"
    assert replayed(marker(), value=b'{"id":"2"}') is None, "put on another record"
    assert replayed(marker(operator=STRANGER)) is None, "made by anyone but the operator"


def test_a_marker_a_partner_wrote_or_changed_is_ignored() -> None:
    assert replayed([(REPLAY_OF, b"orders.deadletter:1:7")]) is None, "the old unsigned header alone"
    changed = [
        (name, (T0 - timedelta(days=400)).isoformat().encode() if name == REPLAY_ARRIVED else value)
        for name, value in marker()
    ]
    assert replayed(changed) is None, "its arrival moved back to when a revoked key was valid"
    doubled = [*marker(), (REPLAY_OF, b"orders.deadletter:1:8")]
    assert replayed(doubled) is None
    assert replayed([(name, b"\xff") for name, _ in marker()]) is None


def test_a_registry_record_digest_is_sha256_of_its_rfc_8785_form() -> None:
    import rfc8785

    history = KeyHistory(OperatorKeys.of(OPERATOR))
    change = record(history, SHIZHU, generate_private_key())
    assert change.digest() == b64url(hashlib.sha256(rfc8785.dumps(change.document())).digest())
    assert history.apply(change, T0) is None
    assert history.head == RegistryHead(1, change.digest())
