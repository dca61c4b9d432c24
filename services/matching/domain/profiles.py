"""What matching knows about experts, orders and teams, as plain immutable values (no I/O).

These are the inputs of the rules (rules.py), the recommendations (recommend.py) and the
optimal assignment (assignment.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from shared.contract.events.matching import TitleGrade


class Qualification(StrEnum):
    """Titles and categories from the talent registry (DOMAIN.md, actors)."""

    NATIONAL_TALENT_PROJECT = "national_talent_project"
    """百千万人才工程国家级人选"""
    STATE_COUNCIL_ALLOWANCE = "state_council_allowance"
    """国务院特殊津贴专家"""
    CHONGQING_TALENT_SCIENTIST = "chongqing_talent_scientist"
    """重庆英才计划优秀科学家"""
    OTHER_NATIONAL_TITLE = "other_national_title"
    OTHER_MUNICIPAL_TITLE = "other_municipal_title"
    ACADEMIC_LEADER = "academic_leader"
    """学术技术带头人"""
    POSTDOCTORAL_RESEARCHER = "postdoctoral_researcher"
    """博士后科研人员"""
    YOUNG_TALENT = "young_talent"
    """青年科技人才"""
    LOCAL_BACKBONE = "local_backbone"
    """当地专业技术人员骨干"""


class Level(IntEnum):
    NONE = 0
    MEMBER = 1
    MUNICIPAL = 2
    NATIONAL = 3


LEVEL_OF: dict[Qualification, Level] = {
    Qualification.NATIONAL_TALENT_PROJECT: Level.NATIONAL,
    Qualification.STATE_COUNCIL_ALLOWANCE: Level.NATIONAL,
    Qualification.OTHER_NATIONAL_TITLE: Level.NATIONAL,
    Qualification.CHONGQING_TALENT_SCIENTIST: Level.MUNICIPAL,
    Qualification.OTHER_MUNICIPAL_TITLE: Level.MUNICIPAL,
    Qualification.ACADEMIC_LEADER: Level.MEMBER,
    Qualification.POSTDOCTORAL_RESEARCHER: Level.MEMBER,
    Qualification.YOUNG_TALENT: Level.MEMBER,
    Qualification.LOCAL_BACKBONE: Level.MEMBER,
}

LABEL_OF: dict[Qualification, str] = {
    Qualification.NATIONAL_TALENT_PROJECT: "百千万人才工程国家级人选",
    Qualification.STATE_COUNCIL_ALLOWANCE: "国务院特殊津贴专家",
    Qualification.CHONGQING_TALENT_SCIENTIST: "重庆英才计划优秀科学家",
    Qualification.OTHER_NATIONAL_TITLE: "国家级人才称号",
    Qualification.OTHER_MUNICIPAL_TITLE: "市级人才称号",
    Qualification.ACADEMIC_LEADER: "学术技术带头人",
    Qualification.POSTDOCTORAL_RESEARCHER: "博士后科研人员",
    Qualification.YOUNG_TALENT: "青年科技人才",
    Qualification.LOCAL_BACKBONE: "当地专业技术人员骨干",
}


@dataclass(frozen=True, slots=True)
class ExpertProfile:
    expert_id: str
    name: str
    institution: str
    qualifications: frozenset[Qualification]
    specialties: frozenset[str]
    """Industry and expertise tags, e.g. {"中药材", "天麻种源繁育", "林下种植"}."""
    local_county: str | None
    """County code where the expert is local talent (当地人才), if any."""
    active_teams: int = 0
    """Current load: active (awarded, in service) teams the expert is on; policy allows one."""
    title: str | None = None
    """Professional title (职称), e.g. 研究员, as the registry sent it."""
    title_grade: TitleGrade | None = None
    """Its grade (正高级 senior, 副高级 deputy_senior, 中级, 初级): funding's incentives depend on it."""

    @property
    def level(self) -> Level:
        return max((LEVEL_OF[q] for q in self.qualifications), default=Level.NONE)

    @property
    def can_lead(self) -> bool:
        return self.level >= Level.MUNICIPAL


@dataclass(frozen=True, slots=True)
class OrderProfile:
    order_id: str
    county_code: str
    industry: str
    needs: frozenset[str]

    @property
    def wanted(self) -> frozenset[str]:
        """Everything an expert's specialties can match: the industry and each need."""
        return self.needs | {self.industry}


@dataclass(frozen=True, slots=True)
class TeamProfile:
    team_id: str
    name: str
    lead: ExpertProfile
    members: tuple[ExpertProfile, ...]
    local_talents: tuple[ExpertProfile, ...]

    @property
    def everyone(self) -> tuple[ExpertProfile, ...]:
        return (self.lead, *self.members, *self.local_talents)
