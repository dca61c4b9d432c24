"""Explainable fit of experts and teams for orders, and the fast top-K ranking (no I/O)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from services.matching.domain.profiles import ExpertProfile, OrderProfile, Qualification, TeamProfile
from services.matching.domain.recommend import (
    rank_experts_naive,
    recommend_experts,
    recommend_teams,
)
from services.matching.domain.scoring import MatchingWeights, mismatch, score_expert, score_team
from services.matching.settings import load_weights
from shared.contract.places import COUNTIES

SHIZHU = "500240"
WUXI = "500238"
WEIGHTS = MatchingWeights()

TIANMA_ORDER = OrderProfile(
    order_id="500240-2019-001", county_code=SHIZHU, industry="中药材", needs=frozenset({"天麻种源繁育", "林下种植"})
)
TEA_ORDER = OrderProfile(
    order_id="500238-2019-001", county_code=WUXI, industry="茶叶", needs=frozenset({"茶树栽培", "茶叶加工"})
)


def expert(
    expert_id: str,
    specialties: set[str],
    *qualifications: Qualification,
    local: str | None = None,
    active_teams: int = 0,
    name: str | None = None,
) -> ExpertProfile:
    return ExpertProfile(
        expert_id=expert_id,
        name=name or f"专家{expert_id}",
        institution="市农业科学院",
        qualifications=frozenset(qualifications),
        specialties=frozenset(specialties),
        local_county=local,
        active_teams=active_teams,
    )


def test_the_coverage_reason_names_the_matched_tags_and_the_missing_ones() -> None:
    grower = expert("E1", {"天麻种源繁育", "林下种植", "食用菌"}, Qualification.ACADEMIC_LEADER)

    fit = score_expert(TIANMA_ORDER, grower, WEIGHTS)

    assert "专长覆盖需求 2/3：天麻种源繁育、林下种植" in fit.reasons
    assert "专长未覆盖：中药材" in fit.reasons


def test_full_coverage_lists_the_industry_first_and_has_no_missing_reason() -> None:
    fit = score_expert(TIANMA_ORDER, expert("E1", {"中药材", "天麻种源繁育", "林下种植"}), WEIGHTS)

    assert fit.reasons[0] == "专长覆盖需求 3/3：中药材、天麻种源繁育、林下种植"
    assert not any(reason.startswith("专长未覆盖") for reason in fit.reasons)


def test_a_state_council_allowance_expert_is_shown_as_national_level() -> None:
    fit = score_expert(TIANMA_ORDER, expert("E1", {"中药材"}, Qualification.STATE_COUNCIL_ALLOWANCE), WEIGHTS)

    assert "资格：国务院特殊津贴专家（国家级）" in fit.reasons


def test_an_expert_without_registered_titles_says_so() -> None:
    fit = score_expert(TIANMA_ORDER, expert("E1", {"中药材"}), WEIGHTS)

    assert "资格：无登记人才称号" in fit.reasons


def test_a_local_talent_of_shizhu_is_named_by_county_and_code() -> None:
    fit = score_expert(TIANMA_ORDER, expert("E1", {"中药材"}, Qualification.LOCAL_BACKBONE, local=SHIZHU), WEIGHTS)

    assert "本地人才：石柱县 (500240)" in fit.reasons


def test_local_talent_of_another_county_is_a_negative_reason() -> None:
    fit = score_expert(TIANMA_ORDER, expert("E1", {"中药材"}, local=WUXI), WEIGHTS)

    assert "非本地人才：本地人才属巫溪县 (500238)，非石柱县 (500240)" in fit.reasons


def test_a_county_without_a_known_name_falls_back_to_its_code() -> None:
    order = OrderProfile(order_id="X-1", county_code="500999", industry="中药材", needs=frozenset())
    assert "500999" not in COUNTIES

    fit = score_expert(order, expert("E1", {"中药材"}, local="500999"), WEIGHTS)

    assert "本地人才：500999" in fit.reasons


def test_current_load_is_a_reason_and_lowers_the_score() -> None:
    free = score_expert(TIANMA_ORDER, expert("E1", {"中药材"}, Qualification.ACADEMIC_LEADER), WEIGHTS)
    busy = score_expert(TIANMA_ORDER, expert("E2", {"中药材"}, Qualification.ACADEMIC_LEADER, active_teams=1), WEIGHTS)

    assert "当前负荷：无在服务团队" in free.reasons
    assert "当前负荷：已在 1 个在服务团队" in busy.reasons
    assert busy.score < free.score


def test_every_fit_gives_one_reason_per_factor() -> None:
    fit = score_expert(TEA_ORDER, expert("E1", {"柑橘"}), WEIGHTS)

    prefixes = ("专长覆盖需求", "资格：", "非本地人才", "当前负荷：")
    assert all(any(reason.startswith(prefix) for reason in fit.reasons) for prefix in prefixes)
    assert "专长覆盖需求 0/3：无匹配专长" in fit.reasons


def test_scores_are_normalised_between_zero_and_one() -> None:
    perfect = expert("E1", {"茶叶", "茶树栽培", "茶叶加工"}, Qualification.NATIONAL_TALENT_PROJECT, local=WUXI)
    overloaded = expert("E2", {"柑橘"}, active_teams=5)

    assert score_expert(TEA_ORDER, perfect, WEIGHTS).score == pytest.approx(1.0)
    assert score_expert(TEA_ORDER, overloaded, WEIGHTS).score == 0.0


def test_a_local_national_tea_expert_outranks_a_municipal_non_local_one_for_the_wuxi_tea_order() -> None:
    local_national = expert("E-local", {"茶叶", "茶叶加工"}, Qualification.STATE_COUNCIL_ALLOWANCE, local=WUXI)
    municipal_elsewhere = expert("E-city", {"茶叶", "茶叶加工"}, Qualification.CHONGQING_TALENT_SCIENTIST)

    local_fit = score_expert(TEA_ORDER, local_national, WEIGHTS)
    city_fit = score_expert(TEA_ORDER, municipal_elsewhere, WEIGHTS)
    [ranked] = recommend_experts([TEA_ORDER], [municipal_elsewhere, local_national], WEIGHTS)

    assert local_fit.score > city_fit.score
    assert [r.candidate_id for r in ranked] == ["E-local", "E-city"]
    assert "本地人才：巫溪县 (500238)" in ranked[0].reasons
    assert "资格：重庆英才计划优秀科学家（市级）" in ranked[1].reasons


def test_weights_are_configurable_through_matching_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHING_TOP_K", "5")
    monkeypatch.setenv("MATCHING_LOCAL_WEIGHT", "0.5")

    weights = load_weights()

    assert (weights.top_k, weights.local_weight) == (5, 0.5)
    assert MatchingWeights().top_k == 10, "the domain's weights read no environment"
    with pytest.raises(ValidationError):
        weights.top_k = 3  # type: ignore[misc]


def test_inconsistent_weights_are_refused() -> None:
    with pytest.raises(ValidationError):
        MatchingWeights(load_penalty=-0.1)
    with pytest.raises(ValidationError):
        MatchingWeights(specialty_weight=0, qualification_weight=0, local_weight=0)
    with pytest.raises(ValidationError):
        MatchingWeights(max_mismatch=1.5)


def tianma_team(*, with_shizhu_local: bool = True, lead_titles: tuple[Qualification, ...] = ()) -> TeamProfile:
    lead = expert("L1", {"中药材"}, *(lead_titles or (Qualification.STATE_COUNCIL_ALLOWANCE,)), name="领衔甲")
    member = expert("M1", {"天麻种源繁育"}, Qualification.POSTDOCTORAL_RESEARCHER, active_teams=1, name="成员乙")
    local = expert(
        "P1", {"林下种植"}, Qualification.LOCAL_BACKBONE, local=SHIZHU if with_shizhu_local else WUXI, name="骨干丙"
    )
    return TeamProfile(team_id="T1", name="天麻团队", lead=lead, members=(member,), local_talents=(local,))


def test_a_team_is_scored_on_everyones_specialties_its_leads_level_local_talent_and_load() -> None:
    fit = score_team(TIANMA_ORDER, tianma_team(), WEIGHTS)

    assert fit.reasons == (
        "专长覆盖需求 3/3：中药材、天麻种源繁育、林下种植",
        "资格：领衔专家 领衔甲 为国务院特殊津贴专家（国家级）",
        "本地人才：石柱县 (500240)，骨干丙",
        "当前负荷：3 人中 1 人已在其他在服务团队",
    )
    assert mismatch(TIANMA_ORDER, tianma_team(), WEIGHTS) == pytest.approx(1 - fit.score)


def test_a_team_without_local_talent_of_the_county_and_with_an_unqualified_lead_gets_negative_reasons() -> None:
    team = tianma_team(with_shizhu_local=False, lead_titles=(Qualification.ACADEMIC_LEADER,))

    fit = score_team(TIANMA_ORDER, team, WEIGHTS)

    assert "缺少本地人才：团队中无石柱县 (500240)本地人才" in fit.reasons
    assert "资格：领衔专家 领衔甲 为学术技术带头人（团队成员级），不具备领衔资格（需国家级或市级）" in fit.reasons
    assert fit.score < score_team(TIANMA_ORDER, tianma_team(), WEIGHTS).score


def test_experts_sharing_no_tag_and_not_local_are_never_recommended() -> None:
    tea_grower = expert("E-tea", {"茶叶"})
    citrus_local_elsewhere = expert("E-citrus", {"柑橘"}, local=SHIZHU)
    local_without_tea = expert("E-wuxi", {"柑橘"}, Qualification.LOCAL_BACKBONE, local=WUXI)

    [ranked] = recommend_experts([TEA_ORDER], [citrus_local_elsewhere, tea_grower, local_without_tea], WEIGHTS, k=10)

    assert {r.candidate_id for r in ranked} == {"E-tea", "E-wuxi"}


# -- the vectorised ranking against the naive one, on seeded synthetic instances ------------

INDUSTRIES = ("中药材", "茶叶", "柑橘", "榨菜", "生猪", "花椒", "脆李", "食用菌", "中蜂", "魔芋")
ASPECTS = ("良种繁育", "栽培技术", "病虫害防治", "加工工艺", "品牌营销", "冷链物流")
COUNTY_CODES = sorted(COUNTIES)


def random_expert(rng: random.Random, index: int) -> ExpertProfile:
    industry = rng.choice(INDUSTRIES)
    tags = {industry, *(f"{industry}{a}" for a in rng.sample(ASPECTS, rng.randint(1, 4)))}
    if rng.random() < 0.2:
        tags.add(rng.choice(INDUSTRIES))
    titles = rng.sample(list(Qualification), rng.choice((0, 1, 1, 2)))
    local = rng.choice(COUNTY_CODES) if rng.random() < 0.15 else None
    return expert(f"E{index:05d}", tags, *titles, local=local, active_teams=rng.choices((0, 1, 2), (8, 2, 1))[0])


def random_order(rng: random.Random, index: int) -> OrderProfile:
    industry = rng.choice(INDUSTRIES)
    needs = frozenset(f"{industry}{a}" for a in rng.sample(ASPECTS, rng.randint(0, 3)))
    return OrderProfile(order_id=f"O{index:05d}", county_code=rng.choice(COUNTY_CODES), industry=industry, needs=needs)


def random_team(rng: random.Random, index: int) -> TeamProfile:
    people = [random_expert(rng, index * 10 + i) for i in range(rng.randint(2, 5))]
    return TeamProfile(
        team_id=f"T{index:04d}",
        name=f"团队{index}",
        lead=people[0],
        members=tuple(people[1:-1]),
        local_talents=(people[-1],),
    )


def test_the_vectorised_top_k_equals_the_naive_ranking_on_300_orders_by_2000_experts() -> None:
    rng = random.Random(2019)
    experts = [random_expert(rng, i) for i in range(2000)]
    orders = [random_order(rng, i) for i in range(300)]

    fast = recommend_experts(orders, experts, WEIGHTS, chunk_orders=64)
    naive = rank_experts_naive(orders, experts, WEIGHTS)

    assert sum(len(recs) for recs in fast) == 300 * WEIGHTS.top_k
    for fast_recs, naive_recs in zip(fast, naive, strict=True):
        assert [r.candidate_id for r in fast_recs] == [r.candidate_id for r in naive_recs]
        assert [r.score for r in fast_recs] == pytest.approx([r.score for r in naive_recs], abs=1e-9)
        assert [r.reasons for r in fast_recs] == [r.reasons for r in naive_recs]


def test_recommended_scores_and_reasons_are_exactly_those_of_score_expert() -> None:
    rng = random.Random(7)
    experts = [random_expert(rng, i) for i in range(500)]
    by_id = {e.expert_id: e for e in experts}
    orders = [random_order(rng, i) for i in range(50)]

    for order, recs in zip(orders, recommend_experts(orders, experts, WEIGHTS), strict=True):
        assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
        for rec in recs:
            fit = score_expert(order, by_id[rec.candidate_id], WEIGHTS)
            assert abs(rec.score - fit.score) <= 1e-9
            assert rec.reasons == fit.reasons
            shares_a_tag = order.wanted & by_id[rec.candidate_id].specialties
            assert shares_a_tag or by_id[rec.candidate_id].local_county == order.county_code


def test_chunking_the_orders_does_not_change_the_recommendations() -> None:
    rng = random.Random(11)
    experts = [random_expert(rng, i) for i in range(400)]
    orders = [random_order(rng, i) for i in range(60)]

    assert recommend_experts(orders, experts, WEIGHTS, k=5, chunk_orders=7) == recommend_experts(
        orders, experts, WEIGHTS, k=5
    )


def test_recommended_teams_equal_a_brute_force_ranking_by_score_team() -> None:
    rng = random.Random(45)
    teams = [random_team(rng, i) for i in range(120)]
    orders = [random_order(rng, i) for i in range(40)]

    ranked = recommend_teams(orders, teams, WEIGHTS, k=5)

    for order, recs in zip(orders, ranked, strict=True):
        eligible = [
            (-score_team(order, team, WEIGHTS).score, position, team.team_id)
            for position, team in enumerate(teams)
            if order.wanted & frozenset().union(*(p.specialties for p in team.everyone))
            or any(p.local_county == order.county_code for p in team.everyone)
        ]
        assert [r.candidate_id for r in recs] == [team_id for _, _, team_id in sorted(eligible)[:5]]


def test_no_orders_or_no_candidates_give_empty_recommendations() -> None:
    assert recommend_experts([], [expert("E1", {"茶叶"})], WEIGHTS) == []
    assert recommend_experts([TEA_ORDER], [], WEIGHTS) == [[]]
    assert recommend_teams([TEA_ORDER], [], WEIGHTS) == [[]]
    with pytest.raises(ValueError, match="k must be"):
        recommend_experts([TEA_ORDER], [expert("E1", {"茶叶"})], WEIGHTS, k=0)
