"""The demo's data. The two projects and the two team leads named in the source article are
real (石柱县洗新乡保合村 天麻, 郭顺星 of 重庆硒旺华宝生物科技有限公司; 巫溪县红池坝镇茶园村
茶叶, 钟应富 of 市农业科学院); their qualification codes are illustrative. Every other place,
person, number and team is synthetic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.contract.events.matching import ExpertRegistered, TeamComposition
from shared.contract.events.orders import Demand, OutcomeTarget, Place, ServicePeriod
from shared.policy import YUAN
from tools.scenario.calendar import PROGRAMME_START


def programme_start() -> date:
    """Service starts on 1 January of the call's year, on the programme's own calendar."""
    return PROGRAMME_START


def tianma_demand() -> Demand:
    """石柱县洗新乡保合村 天麻 (gastrodia) breeding: the article's first example, with its targets."""
    return Demand(
        place=Place(
            county_code="500240", county_name="石柱县", township="洗新乡", village="保合村", deep_poverty_township=False
        ),
        industry="中药材",
        title="保合村天麻种源繁育与林下种植示范",
        needs=("天麻种源繁育", "林下种植", "产业链培育"),
        description="建设天麻繁育示范园，培育本地技术骨干，带动农户增收。",
        outcome_targets=(
            OutcomeTarget(indicator="demonstration_area", label="示范园面积", unit="亩", baseline=0, target=50),
            OutcomeTarget(indicator="output_value", label="预计产值", unit="元", baseline=0, target=1_200_000),
            OutcomeTarget(indicator="jobs", label="带动就业", unit="人", baseline=0, target=20),
            OutcomeTarget(indicator="farmer_income", label="农户增收", unit="元", baseline=0, target=180_000),
        ),
        service_period=ServicePeriod(start=programme_start(), months=24),
        funding_asked_fen=150_000 * YUAN,
    )


def tea_demand() -> Demand:
    """巫溪县红池坝镇茶园村 tea: the article's second example."""
    return Demand(
        place=Place(
            county_code="500238",
            county_name="巫溪县",
            township="红池坝镇",
            village="茶园村",
            deep_poverty_township=True,
        ),
        industry="茶叶",
        title="茶园村茶叶全产业链技术指导",
        needs=("茶叶生产", "茶叶加工", "产品策划", "工艺创新"),
        description="从生产、加工到产品策划、工艺创新的全产业链技术指导。",
        outcome_targets=(
            OutcomeTarget(indicator="spring_bud_price", label="春茶独芽鲜叶单价", unit="元/斤", baseline=60, target=75),
        ),
        service_period=ServicePeriod(start=programme_start(), months=36),
        funding_asked_fen=200_000 * YUAN,
    )


def bee_demand(funding_yuan: int, *, revised: bool = False) -> Demand:
    """Synthetic: 城口县鸡鸣乡 Chinese honeybee keeping."""
    targets = [OutcomeTarget(indicator="hives", label="中蜂养殖规模", unit="箱", baseline=None, target=800)]
    if revised:
        targets = [
            OutcomeTarget(indicator="hives", label="中蜂养殖规模", unit="箱", baseline=300, target=800),
            OutcomeTarget(indicator="local_talents_trained", label="培养本地骨干", unit="人", baseline=0, target=10),
        ]
    return Demand(
        place=Place(
            county_code="500229", county_name="城口县", township="鸡鸣乡", village="祝乐村", deep_poverty_township=True
        ),
        industry="畜牧",
        title="鸡鸣乡中蜂标准化养殖（合成数据）",
        needs=("中蜂养殖", "蜂蜜品牌"),
        description="合成示例：中蜂标准化养殖与蜂蜜品牌培育。",
        outcome_targets=tuple(targets),
        service_period=ServicePeriod(start=programme_start(), months=24),
        funding_asked_fen=funding_yuan * YUAN,
    )


def oil_tea_demand() -> Demand:
    """Synthetic: 酉阳县车田乡 oil-tea camellia."""
    return Demand(
        place=Place(
            county_code="500242", county_name="酉阳县", township="车田乡", village="清泉村", deep_poverty_township=True
        ),
        industry="林果",
        title="车田乡油茶低产林改造（合成数据）",
        needs=("油茶低产林改造", "油茶加工"),
        description="合成示例：油茶低产林改造与初加工。",
        outcome_targets=(OutcomeTarget(indicator="renovated_area", label="改造面积", unit="亩", target=300),),
        service_period=ServicePeriod(start=programme_start(), months=24),
        funding_asked_fen=100_000 * YUAN,
    )


def _expert(
    expert_id: str,
    name: str,
    institution: str,
    qualification: str,
    specialties: tuple[str, ...],
    local: str | None = None,
) -> ExpertRegistered:
    return ExpertRegistered(
        expert_id=expert_id,
        name=name,
        institution=institution,
        qualifications=(qualification,),
        specialties=specialties,
        local_county_code=local,
    )


XIWANG = "重庆硒旺华宝生物科技有限公司"
ACADEMY = "重庆市农业科学院"
HERBS = ("中药材", "天麻种源繁育", "林下种植", "产业链培育")
TEA = ("茶叶", "茶叶生产", "茶叶加工", "产品策划", "工艺创新")
BEES = ("畜牧", "中蜂养殖", "蜂蜜品牌")

EXPERTS: tuple[ExpertRegistered, ...] = (
    _expert("EXP-guo-shunxing", "郭顺星", XIWANG, "other_national_title", HERBS),
    _expert("EXP-s001", "王立新（合成）", XIWANG, "postdoctoral_researcher", ("中药材", "天麻种源繁育")),
    _expert("EXP-s002", "刘芳（合成）", XIWANG, "young_talent", ("中药材", "林下种植")),
    _expert("EXP-s003", "谭家文（合成）", "石柱县农业农村委", "local_backbone", ("中药材",), "500240"),
    _expert("EXP-zhong-yingfu", "钟应富", ACADEMY, "other_municipal_title", TEA),
    _expert("EXP-s004", "张静（合成）", ACADEMY, "academic_leader", ("茶叶", "茶叶加工")),
    _expert("EXP-s005", "周涛（合成）", ACADEMY, "postdoctoral_researcher", ("茶叶", "产品策划")),
    _expert("EXP-s006", "向成林（合成）", "巫溪县农业技术推广站", "local_backbone", ("茶叶", "茶叶生产"), "500238"),
    _expert("EXP-s007", "黄志强（合成）", "西南大学", "chongqing_talent_scientist", BEES),
    _expert("EXP-s008", "陈蓉（合成）", "西南大学", "young_talent", ("畜牧", "中蜂养殖")),
    _expert("EXP-s009", "杨帆（合成）", "西南大学", "postdoctoral_researcher", ("蜂蜜品牌",)),
    _expert("EXP-s010", "冉光明（合成）", "城口县畜牧站", "local_backbone", ("中蜂养殖",), "500229"),
    _expert("EXP-s011", "何伟（合成）", "重庆市中药研究院", "state_council_allowance", ("中药材", "天麻种源繁育")),
    _expert("EXP-s012", "邓丽（合成）", "重庆市中药研究院", "postdoctoral_researcher", ("中药材",)),
    _expert("EXP-s013", "罗斌（合成）", "重庆市中药研究院", "young_talent", ("中药材", "产业链培育")),
    _expert("EXP-s014", "马春梅（合成）", "石柱县中药材站", "local_backbone", ("中药材", "林下种植"), "500240"),
    _expert("EXP-s015", "孙磊（合成）", "重庆大学", "other_national_title", ("中药材", "产业链培育")),
    _expert("EXP-s016", "吴迪（合成）", "重庆大学", "young_talent", ("中药材",)),
    _expert("EXP-s017", "郑凯（合成）", "重庆大学", "postdoctoral_researcher", ("林下种植",)),
)


@dataclass(frozen=True)
class DemoTeam:
    composition: TeamComposition
    plan: str
    site: str


def _team(team_id: str, name: str, lead: str, members: tuple[str, ...], local: tuple[str, ...]) -> TeamComposition:
    return TeamComposition(
        team_id=team_id, name=name, lead_expert_id=lead, member_expert_ids=members, local_talent_expert_ids=local
    )


GUO_TEAM = _team("TEAM-guo-shunxing", "郭顺星团队", "EXP-guo-shunxing", ("EXP-s001", "EXP-s002"), ("EXP-s003",))
ZHONG_TEAM = _team("TEAM-zhong-yingfu", "钟应富团队", "EXP-zhong-yingfu", ("EXP-s004", "EXP-s005"), ("EXP-s006",))
BEE_TEAM = _team("TEAM-s-bees", "黄志强团队（合成）", "EXP-s007", ("EXP-s008", "EXP-s009"), ("EXP-s010",))
HERB_TEAM = _team("TEAM-s-herbs", "何伟团队（合成）", "EXP-s011", ("EXP-s012", "EXP-s013"), ("EXP-s014",))
NO_LOCAL_TEAM = _team("TEAM-s-nolocal", "孙磊团队（合成）", "EXP-s015", ("EXP-s016", "EXP-s017"), ())


REVIEWERS = (
    ("REV-s001", "王建华（合成）", "重庆工商大学"),
    ("REV-s002", "李秋菊（合成）", "重庆师范大学"),
    ("REV-s003", "赵子龙（合成）", "重庆交通大学"),
)
CONFLICTED_REVIEWER = ("REV-s004", "陈明亮（合成）", ACADEMY)
"""Works at 钟应富's institution: may not score the tea project."""

PANEL_SCORES = {"500240": (95.0, 92.0, 94.0), "500238": (78.0, 72.0, 75.0), "500229": (50.0, 45.0, 40.0)}
"""Synthetic panel scores: the 天麻 project excellent, the tea project qualified, the bees unqualified."""

ACTUALS = {
    "demonstration_area": 56.0,
    "output_value": 1_250_000.0,
    "jobs": 23.0,
    "farmer_income": 180_000.0,
    "spring_bud_price": 75.0,
    "hives": 420.0,
    "local_talents_trained": 3.0,
}
"""Outcomes reported after the year: the article's figures for the two real projects
(20+ jobs, +180,000 yuan farmer income, tea 60 -> 75 yuan per jin); the bees are synthetic."""


def county_source(county_code: str) -> str:
    """The CloudEvents source of a county's system."""
    return f"/counties/{county_code}"


BUREAU_SOURCE = "/bureau/hrss"
BUREAU_STAFF = "市人力社保局人才开发处"
