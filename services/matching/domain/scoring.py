"""Explainable fit of one expert or one team for one order (no I/O).

A fit is a weighted sum of four factors, normalised by the sum of the positive weights so that
the best possible fit is 1, and floored at 0:

    score = max(0, (specialty·coverage + qualification·level + local·is_local - load_penalty·load) / Σ positive)

- coverage: share of the order's wanted tags (industry + needs) found in the specialties;
- level: qualification level / national level (国家级 = 1, 市级 = 2/3, 团队成员级 = 1/3);
- is_local: 1 when the expert (or someone in the team) is local talent of the order's county;
- load (a penalty): for an expert, the number of active teams it is on; for a team, the share
  of its people already on an active team (policy: an expert serves on one active team at a time).

Continued support (继续支持) is no factor: a team that applies through an earlier project with an
excellent review is ranked first among candidates of equal score (recommend.py, assignment.py),
and `continued_support_reason` says so beside its reasons.

Every factor becomes one reason in Chinese for bureau staff, favourable or not. The vectorised
ranking in recommend.py repeats exactly this arithmetic, in the same order of operations, so
that its scores are bit-for-bit those of `score_expert` and `score_team`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, model_validator

from services.matching.domain.profiles import (
    LABEL_OF,
    LEVEL_OF,
    ExpertProfile,
    Level,
    OrderProfile,
    Qualification,
    TeamProfile,
)
from shared.contract.places import COUNTIES

LEVEL_NAME: dict[Level, str] = {
    Level.NATIONAL: "国家级",
    Level.MUNICIPAL: "市级",
    Level.MEMBER: "团队成员级",
    Level.NONE: "无",
}


class MatchingWeights(BaseModel):
    """Weights and limits of matching; the service reads overrides from `MATCHING_<NAME>`
    environment variables once, at start (services/matching/settings.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specialty_weight: float = 0.6
    """Default 0.6: covering what the village asked for matters most (订单式: the order drives the match)."""
    qualification_weight: float = 0.25
    """Default 0.25: national- or municipal-level lead experts are what the programme recruits."""
    local_weight: float = 0.15
    """Default 0.15: the 1+N+1 team must include local talent of the served county."""
    load_penalty: float = 0.3
    """Default 0.3 per active team (expert) or for a fully busy team: one expert, one active team."""
    top_k: int = 10
    """Default 10: recommendations listed per order."""
    candidate_pool: int = 20
    """Default 20: best-ranked teams per order kept as assignment candidates when no applications are given."""
    expert_shortlist: int = 300
    """Default 300: experts sharing most of an order's specialties that are ranked for it (plus its
    county's local talent); specialty coverage weighs most, so the top ten come from them."""
    team_shortlist: int = 200
    """Default 200: most recent known teams whose lead shares a specialty with the order."""
    max_mismatch: float = 0.8
    """Default 0.8: pairs with a larger mismatch are never assigned; also the cost of leaving an order unassigned."""

    @model_validator(mode="after")
    def _consistent(self) -> MatchingWeights:
        weights = (self.specialty_weight, self.qualification_weight, self.local_weight, self.load_penalty)
        if any(w < 0 for w in weights):
            raise ValueError("matching weights cannot be negative")
        if self.positive_total <= 0:
            raise ValueError("at least one of specialty, qualification and local weight must be positive")
        if self.top_k < 1 or self.candidate_pool < 1:
            raise ValueError("top_k and candidate_pool must be at least 1")
        if not 0 <= self.max_mismatch <= 1:
            raise ValueError("max_mismatch must lie in 0..1")
        return self

    @property
    def positive_total(self) -> float:
        """Normaliser: the best possible raw score (full coverage, national level, local, no load)."""
        return self.specialty_weight + self.qualification_weight + self.local_weight


@dataclass(frozen=True, slots=True)
class Fit:
    """How well a candidate fits an order: higher is better (0..1), with the reasons in Chinese."""

    score: float
    reasons: tuple[str, ...]


def combine(weights: MatchingWeights, coverage: float, level: float, local: float, load: float) -> float:
    """The weighted, normalised score of the four factors (see the module docstring)."""
    raw = (
        weights.specialty_weight * coverage
        + weights.qualification_weight * level
        + weights.local_weight * local
        - weights.load_penalty * load
    )
    return max(0.0, raw / weights.positive_total)


def level_value(level: Level) -> float:
    """A qualification level as a share of the national level."""
    return int(level) / int(Level.NATIONAL)


def county_label(code: str) -> str:
    """'石柱县 (500240)', or the bare code for a county this system does not know by name."""
    name = COUNTIES.get(code)
    return f"{name} ({code})" if name else code


def _tag_list(industry: str, tags: frozenset[str]) -> str:
    """'中药材、天麻种源繁育、林下种植': the industry first, then the rest sorted (reasons read the same every time)."""
    rest = sorted(tags - {industry})
    return "、".join([industry, *rest] if industry in tags else rest)


def coverage_of(order: OrderProfile, specialties: frozenset[str]) -> tuple[int, int]:
    """(matched, wanted): how many of the order's wanted tags the specialties cover."""
    wanted = order.wanted
    return len(wanted & specialties), len(wanted)


def _specialty_reasons(industry: str, wanted: frozenset[str], specialties: frozenset[str]) -> list[str]:
    matched = wanted & specialties
    covered = f"专长覆盖需求 {len(matched)}/{len(wanted)}：{_tag_list(industry, matched) or '无匹配专长'}"
    missing = wanted - matched
    return [covered, f"专长未覆盖：{_tag_list(industry, missing)}"] if missing else [covered]


@lru_cache(maxsize=1024)
def _qualification_text(qualifications: frozenset[Qualification], level: Level) -> str:
    titles = sorted(LABEL_OF[q] for q in qualifications if LEVEL_OF[q] == level)
    return f"{'、'.join(titles)}（{LEVEL_NAME[level]}）" if titles else "无登记人才称号"


def qualification_label(expert: ExpertProfile) -> str:
    """'国务院特殊津贴专家（国家级）': the expert's titles at its highest level."""
    return _qualification_text(expert.qualifications, expert.level)


def _local_reason_of_expert(order: OrderProfile, expert: ExpertProfile) -> str:
    if expert.local_county == order.county_code:
        return f"本地人才：{county_label(order.county_code)}"
    if expert.local_county is None:
        return f"非本地人才：不是{county_label(order.county_code)}本地人才"
    return f"非本地人才：本地人才属{county_label(expert.local_county)}，非{county_label(order.county_code)}"


def _load_reason_of_expert(expert: ExpertProfile) -> str:
    if expert.active_teams == 0:
        return "当前负荷：无在服务团队"
    return f"当前负荷：已在 {expert.active_teams} 个在服务团队"


def _expert_score(
    wanted: frozenset[str], county_code: str, expert: ExpertProfile, level: Level, weights: MatchingWeights
) -> float:
    return combine(
        weights,
        coverage=len(wanted & expert.specialties) / len(wanted),
        level=level_value(level),
        local=1.0 if expert.local_county == county_code else 0.0,
        load=float(expert.active_teams),
    )


def expert_score(order: OrderProfile, expert: ExpertProfile, weights: MatchingWeights) -> float:
    """The score of `score_expert` without its words: for ranking many pairs."""
    return _expert_score(order.wanted, order.county_code, expert, expert.level, weights)


def score_expert(order: OrderProfile, expert: ExpertProfile, weights: MatchingWeights) -> Fit:
    """Fit of one expert for one order, with one reason per factor."""
    wanted, level = order.wanted, expert.level
    reasons = (
        *_specialty_reasons(order.industry, wanted, expert.specialties),
        f"资格：{_qualification_text(expert.qualifications, level)}",
        _local_reason_of_expert(order, expert),
        _load_reason_of_expert(expert),
    )
    return Fit(score=_expert_score(wanted, order.county_code, expert, level, weights), reasons=reasons)


def people_of(team: TeamProfile) -> tuple[ExpertProfile, ...]:
    """Everyone on the team, each person once (the lead may also be listed among the members)."""
    return tuple({person.expert_id: person for person in team.everyone}.values())


def team_specialties(team: TeamProfile) -> frozenset[str]:
    """What the team as a whole knows: the union of everyone's specialties."""
    return frozenset().union(*(person.specialties for person in people_of(team)))


def team_local_counties(team: TeamProfile) -> frozenset[str]:
    """Counties for which the team has local talent."""
    return frozenset(person.local_county for person in people_of(team) if person.local_county is not None)


def team_load(team: TeamProfile) -> tuple[int, int]:
    """(busy, size): how many of the team's people are already on an active team."""
    people = people_of(team)
    return sum(1 for person in people if person.active_teams > 0), len(people)


def team_score(order: OrderProfile, team: TeamProfile, weights: MatchingWeights) -> float:
    """The score of `score_team` without its words."""
    matched, wanted = coverage_of(order, team_specialties(team))
    busy, size = team_load(team)
    return combine(
        weights,
        coverage=matched / wanted,
        level=level_value(team.lead.level),
        local=1.0 if order.county_code in team_local_counties(team) else 0.0,
        load=busy / size,
    )


def _lead_reason(team: TeamProfile) -> str:
    lead = team.lead
    if lead.can_lead:
        return f"资格：领衔专家 {lead.name} 为{qualification_label(lead)}"
    return f"资格：领衔专家 {lead.name} 为{qualification_label(lead)}，不具备领衔资格（需国家级或市级）"


def _local_reason_of_team(order: OrderProfile, team: TeamProfile) -> str:
    locals_here = [person.name for person in people_of(team) if person.local_county == order.county_code]
    if locals_here:
        return f"本地人才：{county_label(order.county_code)}，{'、'.join(locals_here)}"
    return f"缺少本地人才：团队中无{county_label(order.county_code)}本地人才"


def _load_reason_of_team(team: TeamProfile) -> str:
    busy, size = team_load(team)
    if busy == 0:
        return f"当前负荷：{size} 人均无在服务团队"
    return f"当前负荷：{size} 人中 {busy} 人已在其他在服务团队"


def score_team(order: OrderProfile, team: TeamProfile, weights: MatchingWeights) -> Fit:
    """Fit of one team for one order: everyone's specialties, the lead's level, local talent, members' load."""
    reasons = (
        *_specialty_reasons(order.industry, order.wanted, team_specialties(team)),
        _lead_reason(team),
        _local_reason_of_team(order, team),
        _load_reason_of_team(team),
    )
    return Fit(score=team_score(order, team, weights), reasons=reasons)


def continued_support_reason(project_id: str) -> str:
    """The reason shown with a candidate that applies for continued support (继续支持)."""
    return f"继续支持：{project_id} 年度考核优秀，可申请持续资助；同分时优先"


def mismatch(order: OrderProfile, team: TeamProfile, weights: MatchingWeights) -> float:
    """Cost of giving the order to the team, for the assignment: 1 - score (0 = perfect fit)."""
    return 1.0 - team_score(order, team, weights)
