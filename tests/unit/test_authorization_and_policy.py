"""Who may send what, and the programme's policy numbers as configuration."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.contract.authorization import SourcePolicy, county_of
from shared.policy import YUAN, ProgrammePolicy, format_yuan
from shared.settings import ServiceSettings, load_policy


def configured_sources() -> SourcePolicy:
    return SourcePolicy.of(overrides=ServiceSettings(database_url="postgresql:///orders").authorized_sources)


def test_county_systems_send_demands_and_only_the_bureau_publishes() -> None:
    policy = SourcePolicy.of()
    assert policy.allows("DemandSubmitted", "/counties/500240")
    assert not policy.allows("DemandSubmitted", "/bureau/hrss")
    assert policy.allows("PublishOrder", "/bureau/hrss")
    assert not policy.allows("PublishOrder", "/counties/500240")
    assert not policy.allows("OrderPublished", "/counties/500240")
    assert policy.allows("OrderPublished", "/services/orders")
    assert not policy.allows("NoSuchType", "/bureau/hrss")


def test_the_allowed_sources_are_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHORIZED_SOURCES", '{"PublishOrder": ["/bureau/hrss/portal"]}')
    policy = configured_sources()
    assert policy.allows("PublishOrder", "/bureau/hrss/portal")
    assert not policy.allows("PublishOrder", "/bureau/other")
    assert policy.allows("DemandSubmitted", "/counties/500238")


def test_a_malformed_source_configuration_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHORIZED_SOURCES", '{"PublishOrder": "/bureau/*"}')
    with pytest.raises(ValidationError, match="authorized_sources"):
        configured_sources()


def test_a_county_source_speaks_for_its_own_county_only() -> None:
    assert county_of("/counties/500240") == "500240"
    assert county_of("/counties/500240/portal") == "500240"
    assert county_of("/counties/5002401") is None
    assert county_of("/bureau/hrss") is None


def test_policy_defaults_come_from_the_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = ProgrammePolicy()
    assert (policy.funding_min_fen, policy.funding_max_fen) == (50_000 * YUAN, 200_000 * YUAN)
    assert policy.tranche_percentages(1) == (50, 50)
    assert policy.tranche_percentages(2) == (40, 30, 30)
    assert policy.tranche_percentages(3) == (40, 20, 20, 20)
    assert (policy.excellent_min_score, policy.qualified_min_score) == (90.0, 60.0)
    assert policy.rectification_days == 90
    monkeypatch.setenv("POLICY_FUNDING_MAX_FEN", str(150_000 * YUAN))
    assert ProgrammePolicy().funding_max_fen == 200_000 * YUAN, "the policy itself reads no environment"
    assert load_policy().funding_max_fen == 150_000 * YUAN
    monkeypatch.setenv("POLICY_FIRST_TRANCHE_PERCENT_MULTI_YEAR", "100")
    with pytest.raises(ValueError, match="first tranche"):
        load_policy()


def test_an_inconsistent_policy_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="first tranche"):
        ProgrammePolicy(first_tranche_percent_one_year=0)
    with pytest.raises(ValueError, match="funding range"):
        ProgrammePolicy(funding_min_fen=300_000 * YUAN)


@pytest.mark.parametrize("first", [1, 33, 40, 50, 99])
@pytest.mark.parametrize("years", [1, 2, 3, 4, 7])
def test_a_grants_split_has_one_part_per_service_year_and_adds_up_to_the_whole(first: int, years: int) -> None:
    split = ProgrammePolicy(
        first_tranche_percent_one_year=first, first_tranche_percent_multi_year=first
    ).tranche_percentages(years)
    assert len(split) == years + 1 and sum(split) == 100 and split[0] == first
    assert max(split[1:]) - min(split[1:]) <= years, "the years' parts are even but for what division leaves"


def test_money_is_shown_in_yuan_from_integer_fen() -> None:
    assert format_yuan(15_000_000) == "150,000.00 元"
    assert format_yuan(5) == "0.05 元"
