"""The published JSON Schemas and AsyncAPI document say the same as the code."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema

from services.catalog import DEFINITIONS
from shared.contract.events.orders import DemandSubmitted, OrderPublished
from shared.contract.registry import REGISTRY
from shared.contract.signing import generate_private_key, signed
from tests.builders import tianma_demand
from tools.client import envelope_for
from tools.contract_documents import CONTRACT_DIR, differences, schema_filename


def test_the_committed_contract_documents_match_the_code() -> None:
    assert differences(DEFINITIONS) == [], "run `expert-teams contract generate` and commit docs/contract"


def test_the_design_card_events_exist_under_their_names() -> None:
    names = {spec.type for spec in REGISTRY}
    assert {"OrderPublished"} <= names
    asyncapi = json.loads((CONTRACT_DIR / "asyncapi.json").read_text())
    assert "OrderPublished" in asyncapi["components"]["messages"]
    assert asyncapi["channels"]["orders_events"]["address"] == "orders.events"


def test_a_real_event_validates_against_its_published_schema() -> None:
    now = datetime(2019, 6, 1, tzinfo=UTC)
    published = OrderPublished(
        order_id="500240-2019-001",
        demand=tianma_demand(),
        call="2019年第一批",
        published_by="市人力社保局",
        published_at=now,
    )
    submitted = DemandSubmitted(order_id="500240-2019-001", demand=tianma_demand(), submitted_by="石柱县")
    emitted = json.loads(envelope_for(published, source="/services/orders", time=now).to_structured_json())
    sent = json.loads(envelope_for(submitted, source="/counties/500240", time=now).to_structured_json())
    for data, document in ((published, emitted), (submitted, signed(sent, generate_private_key()))):
        schema = json.loads((CONTRACT_DIR / "schemas" / schema_filename(REGISTRY.for_model(type(data)))).read_text())
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)
    unsigned = list(
        jsonschema.Draft202012Validator(
            json.loads((CONTRACT_DIR / "schemas" / "DemandSubmitted.v1.json").read_text())
        ).iter_errors(sent)
    )
    assert {e.message for e in unsigned} == {
        "'signaturekeyid' is a required property",
        "'signature' is a required property",
    }


def test_the_schema_refuses_what_the_code_refuses() -> None:
    schema = json.loads((CONTRACT_DIR / "schemas" / "DemandSubmitted.v1.json").read_text())
    document = json.loads(
        envelope_for(
            DemandSubmitted(order_id="500240-2019-001", demand=tianma_demand(), submitted_by="石柱县"),
            source="/counties/500240",
            time=datetime(2019, 6, 1, tzinfo=UTC),
        ).to_structured_json()
    )
    document["data"]["demand"]["funding_asked_fen"] = "十五万"
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
    assert errors, "a string amount must violate the published schema"
