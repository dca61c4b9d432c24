"""A seeded, reproducible programme at the article's scale (45 orders, 300+ experts, 45 teams).

Real: the two projects the article names, their places and industries and the outcomes it
states (石柱县洗新乡保合村 天麻; 巫溪县红池坝镇茶园村 茶叶), the city's deep-poverty townships and
the county codes. Synthetic (generated from the seed, marked so in the report): every other
village, and every person, team, institution assignment, amount, score and outcome, including
the teams and scores of the two real projects (the real team leaders' names are not used with
invented scores).

The story is picked from the seed too. During the first year's service: the bureau approves one
amount below what was asked, a lead replaces a member who fell ill (approved; a second request,
naming an expert bound to another team, is refused by the acceptance rules), and one project falls
behind on its days on site and is flagged at the mid-term check. After the first year's review (the
demo's second programme year): which result is objected to (upheld, re-reviewed; or rejected), which
unqualified teams rectify (accepted; rejected; or no report, project ended), the second call of the
next year, where a suspended team applies and an excellent team applies for continued support
(继续支持), and one project the bureau ends early.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date

from shared.contract.events.matching import ExpertRegistered, TeamComposition, TitleGrade
from shared.contract.events.orders import Demand, OutcomeTarget, Place, ServicePeriod
from shared.contract.events.reviews import Reviewer
from shared.contract.places import COUNTIES, DEEP_POVERTY_TOWNSHIPS
from shared.policy import YUAN
from tools.scenario import cast

INDUSTRIES: dict[str, tuple[str, ...]] = {
    "中药材": ("天麻种源繁育", "林下种植", "中药材加工", "道地药材认证"),
    "茶叶": ("茶叶生产", "茶叶加工", "产品策划", "工艺创新"),
    "畜牧": ("中蜂养殖", "生猪养殖", "肉牛养殖", "疫病防控"),
    "林果": ("油茶低产林改造", "脆李栽培", "柑橘提质", "果树修剪"),
    "蔬菜": ("高山蔬菜", "设施栽培", "病虫害绿色防控", "冷链物流"),
    "食用菌": ("香菇栽培", "羊肚菌栽培", "菌种选育", "烘干加工"),
    "乡村旅游": ("民宿运营", "乡村规划", "文旅品牌", "农旅融合"),
    "电子商务": ("农村电商", "直播带货", "品牌包装", "供应链管理"),
    "水产": ("稻渔综合种养", "冷水鱼养殖", "水质管理", "苗种繁育"),
    "粮油": ("高粱种植", "再生稻", "油菜种植", "机械化生产"),
}
INSTITUTIONS = (
    "重庆大学",
    "西南大学",
    "重庆医科大学",
    "重庆市农业科学院",
    "重庆市中药研究院",
    "重庆三峡学院",
    "长江师范学院",
    "重庆文理学院",
    "重庆工商大学",
    "重庆市畜牧科学院",
    "重庆市林业科学研究院",
    "重庆市水产科学研究所",
)
REVIEW_INSTITUTIONS = ("重庆师范大学", "重庆交通大学", "重庆邮电大学", "四川外国语大学", "重庆理工大学", "重庆科技学院")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "建国明华丽芳强伟军平红英玉兰秀云志刚海燕春梅晓东文斌超杰涛磊静敏亮辉勇鹏飞宇新宁安福贵成林山"
VILLAGES = (
    "新华村",
    "双河村",
    "红星村",
    "龙泉村",
    "青山村",
    "花园村",
    "石桥村",
    "长坪村",
    "金竹村",
    "柏树村",
    "大坝村",
    "白果村",
    "桂花村",
    "光明村",
    "团结村",
    "三合村",
    "马鞍村",
    "槐树村",
)
LEAD_QUALIFICATIONS = (
    "national_talent_project",
    "state_council_allowance",
    "chongqing_talent_scientist",
    "other_national_title",
    "other_municipal_title",
)
MEMBER_QUALIFICATIONS = ("academic_leader", "postdoctoral_researcher", "young_talent")
MEMBER_TITLES: tuple[tuple[str, TitleGrade], ...] = (
    ("研究员（合成）", "senior"),
    ("副研究员（合成）", "deputy_senior"),
    ("副研究员（合成）", "deputy_senior"),
    ("助理研究员（合成）", "intermediate"),
)
GRADE_BANDS = {"excellent": (91.0, 97.0), "qualified": (64.0, 86.0), "unqualified": (35.0, 55.0)}
CRITERIA = (
    "outcomes_achieved",
    "plan_and_management",
    "local_talent_trained",
    "brand_and_industry_chain",
    "research_transferred",
)


@dataclass(frozen=True)
class SeededOrder:
    order_id: str
    demand: Demand
    submitted_by: str
    team: TeamComposition
    experts: tuple[ExpertRegistered, ...]
    lead_institution: str
    site: str
    grade: str
    panel: tuple[tuple[Reviewer, float], ...]
    actuals: dict[str, float]
    real: bool = False
    rereview: tuple[tuple[Reviewer, float], ...] = ()
    """A new panel's scores after an upheld objection (异议), if the story has one for this order."""
    approved_fen: int | None = None
    """The amount the bureau approves at the award, when below what was asked (None: the ask)."""

    @property
    def granted_fen(self) -> int:
        """What funding grants: the approved amount, or the ask."""
        return self.demand.funding_asked_fen if self.approved_fen is None else self.approved_fen

    @property
    def county_code(self) -> str:
        return self.demand.place.county_code

    @property
    def final_grade(self) -> str:
        """The grade in effect: the re-review's when an objection was upheld."""
        if not self.rereview:
            return self.grade
        mean = sum(score for _, score in self.rereview) / len(self.rereview)
        return "excellent" if mean >= 90 else "qualified" if mean >= 60 else "unqualified"


@dataclass(frozen=True)
class SecondCallOrder:
    """An order of the next year's call, and who applies for it: (team, continued_support_of, expect)."""

    order: SeededOrder
    applications: tuple[tuple[TeamComposition, str | None, str], ...]


@dataclass(frozen=True)
class MemberChange:
    """A lead replaces a member from `effective_from` (approved), and asks for a second replacement by
    an expert bound to another active team (`refused_joining`: refused by the acceptance rules)."""

    order: SeededOrder
    leaving: ExpertRegistered
    joining: ExpertRegistered
    effective_from: date
    refused_leaving: ExpertRegistered
    refused_joining: ExpertRegistered

    def people_after(self) -> tuple[ExpertRegistered, ...]:
        """The team's people from `effective_from` on."""
        return (*(e for e in self.order.experts if e.expert_id != self.leaving.expert_id), self.joining)


@dataclass(frozen=True)
class Story:
    """Who does what after the first year's review (the demo's second programme year)."""

    objection_upheld: SeededOrder | None
    objection_rejected: SeededOrder | None
    rectification_accepted: SeededOrder | None
    rectification_rejected: SeededOrder | None
    continued_support: SeededOrder | None
    """An excellent one-year project whose team applies for continued support in the next call."""
    second_call: tuple[SecondCallOrder, ...] = ()
    second_call_experts: tuple[ExpertRegistered, ...] = ()
    member_change: MemberChange | None = None
    flagged: SeededOrder | None = None
    """Falls behind on its days on site in the first half of the year: flagged at the mid-term check
    (it catches up by the review, so its grade is as seeded)."""
    ended_early: SeededOrder | None = None
    """A project of more than one year that passed its first review, ended early by the bureau in
    the next year."""
    approved_below_ask: SeededOrder | None = None

    @property
    def second_call_name(self) -> str:
        return self.second_call[0].order.order_id.split("-")[1] + "年第二批" if self.second_call else ""


@dataclass(frozen=True)
class SeedProgramme:
    seed: int
    year: int
    call: str
    start: date
    orders: tuple[SeededOrder, ...]
    spare_experts: tuple[ExpertRegistered, ...]
    reviewers: tuple[Reviewer, ...]
    envelope_first_fen: int
    envelope_raised_fen: int
    conflicted: tuple[Reviewer, SeededOrder] | None = None
    story: Story | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def experts(self) -> tuple[ExpertRegistered, ...]:
        return (*(e for o in self.orders for e in o.experts), *self.spare_experts)

    @property
    def total_funding_fen(self) -> int:
        """What the first call grants: the approved amounts."""
        return sum(o.granted_fen for o in self.orders)

    def people_at_review(self, order: SeededOrder) -> tuple[ExpertRegistered, ...]:
        """The order's team on its first review's date: the member change made in the first year."""
        change = self.story.member_change if self.story is not None else None
        return (
            change.people_after() if change is not None and change.order.order_id == order.order_id else order.experts
        )


class _Names:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def person(self) -> str:
        while True:
            name = self._rng.choice(SURNAMES) + "".join(self._rng.sample(GIVEN, self._rng.choice((1, 2))))
            if name not in self._used and name not in {"郭顺星", "钟应富"}:
                self._used.add(name)
                return name


def generate(
    orders: int = 45, *, seed: int = 2019, start: date | None = None, spare_experts: int = 30
) -> SeedProgramme:
    """The same arguments always give the same programme."""
    if orders < 3:
        raise ValueError("a programme needs at least 3 orders, so that every grade is represented")
    rng = random.Random(seed)
    names = _Names(rng)
    start = start or cast.programme_start()
    places = _places(rng, orders)
    grades = _grades(rng, orders)
    reviewers = tuple(
        Reviewer(reviewer_id=f"REV-{i:04d}", name=names.person(), institution=REVIEW_INSTITUTIONS[i % 6])
        for i in range(1, 13)
    )
    seeded = []
    for number, (county, township, village) in enumerate(places, start=1):
        real = number <= 2
        seeded.append(_order(rng, names, number, county, township, village, start, grades[number - 1], reviewers, real))
    seeded = _approved_below_ask(_continued_support_serves_one_year(_objections(seeded, reviewers)))
    story = _story(rng, names, seeded, start)
    spares = tuple(_spare_expert(rng, names, i) for i in range(1, spare_experts + 1))
    story = _during_the_service(seeded, story, spares, start)
    total = sum(o.granted_fen for o in seeded)
    first = (total * 85 // 100) // (10_000 * YUAN) * (10_000 * YUAN)
    raised = -(-total // (100_000 * YUAN)) * (100_000 * YUAN)
    conflicted_order = seeded[1]
    conflicted = Reviewer(reviewer_id="REV-0099", name=names.person(), institution=conflicted_order.lead_institution)
    return SeedProgramme(
        seed=seed,
        year=start.year,
        call=f"{start.year}年第一批",
        start=start,
        orders=tuple(seeded),
        spare_experts=spares,
        reviewers=reviewers,
        envelope_first_fen=first,
        envelope_raised_fen=raised,
        conflicted=(conflicted, conflicted_order),
        story=story,
    )


def _objections(orders: list[SeededOrder], reviewers: tuple[Reviewer, ...]) -> list[SeededOrder]:
    """The first synthetic unqualified project's objection is upheld: a new panel (none of the
    first's reviewers, none of the lead's institution) scores it qualified."""
    upheld = next((o for o in orders[2:] if o.grade == "unqualified"), None)
    if upheld is None:
        return orders
    earlier = {r.reviewer_id for r, _ in upheld.panel}
    new_panel = [r for r in reviewers if r.reviewer_id not in earlier and r.institution != upheld.lead_institution][:3]
    rescored = replace(upheld, rereview=tuple(zip(new_panel, (70.0, 72.5, 68.0), strict=True)))
    return [rescored if o.order_id == upheld.order_id else o for o in orders]


def _continued_support_serves_one_year(orders: list[SeededOrder]) -> list[SeededOrder]:
    """The first synthetic excellent project (the one that applies for continued support in the
    next call) serves one year, so that its people are free by then (one active team each)."""
    first = next((o for o in orders[2:] if o.grade == "excellent"), None)
    if first is None:
        return orders
    period = ServicePeriod(start=first.demand.service_period.start, months=12)
    one_year = replace(first, demand=first.demand.model_copy(update={"service_period": period}))
    return [one_year if o.order_id == first.order_id else o for o in orders]


def _story(rng: random.Random, names: _Names, orders: list[SeededOrder], start: date) -> Story:
    synthetic = orders[2:]
    failing = [o for o in synthetic if o.final_grade == "unqualified"]
    qualified = [o for o in synthetic if o.grade == "qualified" and not o.rereview]
    excellent = [o for o in synthetic if o.grade == "excellent"]
    continued = excellent[0] if excellent else None
    upheld = next((o for o in synthetic if o.rereview), None)
    accepted = failing[0] if failing else None
    rejected = failing[1] if len(failing) > 1 else None
    next_year = date(start.year + 1, 7, 1)
    calls: list[SecondCallOrder] = []
    experts: list[ExpertRegistered] = []
    if continued is not None and accepted is not None:
        # each team applies in its own county (its local talent is local there), in a new village
        places = [
            (o.county_code, o.demand.place.township, f"{(o.demand.place.village or '示范').removesuffix('村')}新村")
            for o in (continued, accepted)
        ]
        for number, (county, township, village) in enumerate(places, start=1):
            industry = continued.demand.industry if number == 1 else rng.choice(sorted(INDUSTRIES))
            demand = _demand(rng, county, township, village, industry, next_year)
            demand = demand.model_copy(update={"service_period": ServicePeriod(start=next_year, months=12)})
            order_id = f"{county}-{next_year.year}-2{number:02d}"
            _, rivals, rival_team = _team(rng, names, order_id, county, industry, demand, False)
            experts.extend(rivals)
            order = SeededOrder(
                order_id=order_id,
                demand=demand,
                submitted_by=f"{COUNTIES[county]}人力社保局",
                team=rival_team,
                experts=rivals,
                lead_institution=rivals[0].institution,
                site=f"{township}{village}{industry}服务点",
                grade="qualified",
                panel=(),
                actuals={},
            )
            applications: tuple[tuple[TeamComposition, str | None, str], ...]
            if number == 1:
                applications = ((continued.team, f"P-{continued.order_id}", "ApplicationReceived"),)
            else:
                applications = (
                    (accepted.team, None, "EventRejected(team_suspended)"),
                    (rival_team, None, "ApplicationReceived"),
                )
            calls.append(SecondCallOrder(order, applications))
    return Story(
        upheld, qualified[0] if qualified else None, accepted, rejected, continued, tuple(calls), tuple(experts)
    )


def _approved_below_ask(orders: list[SeededOrder]) -> list[SeededOrder]:
    """The bureau approves less than the largest synthetic ask (not the excellent project that applies
    for continued support, nor the re-reviewed one): 80 % of it in whole 10,000 元, at least 50,000 元."""
    continued = next((o for o in orders[2:] if o.grade == "excellent"), None)
    synthetic = [o for o in orders[2:] if o is not continued and not o.rereview]
    largest = max(synthetic, key=lambda o: o.demand.funding_asked_fen, default=None)
    if largest is None:
        return orders
    step = 10_000 * YUAN
    approved = max(50_000 * YUAN, largest.demand.funding_asked_fen * 8 // 10 // step * step)
    if approved >= largest.demand.funding_asked_fen:
        return orders
    return [replace(o, approved_fen=approved) if o is largest else o for o in orders]


def _during_the_service(
    orders: list[SeededOrder], story: Story, spares: tuple[ExpertRegistered, ...], start: date
) -> Story:
    """Picks the service period's story from the seeded orders, drawing nothing from the seed's
    random stream (the rest of the programme stays as it was): a member change, a project flagged
    at the mid-term check and one ended early (the approved amount is set on its order)."""
    continued = story.continued_support.order_id if story.continued_support else None
    upheld = story.objection_upheld.order_id if story.objection_upheld else None
    roles = {
        o.order_id
        for o in (story.objection_rejected, story.rectification_accepted, story.rectification_rejected)
        if o is not None
    }
    synthetic = [o for o in orders[2:] if o.order_id not in (continued, upheld)]
    passing = [o for o in synthetic if o.final_grade != "unqualified"]
    changed = next((o for o in passing if o.order_id not in roles), next(iter(passing), None))
    longer = [o for o in passing if o.demand.service_period.months > 12]
    ended_early = next((o for o in longer if o is not changed), next(iter(longer), None))
    flagged = story.rectification_rejected or next(
        (o for o in reversed(synthetic) if o.final_grade == "unqualified"), None
    )
    return replace(
        story,
        member_change=_member_change(changed, orders, spares, start) if changed is not None else None,
        flagged=flagged,
        ended_early=ended_early,
        approved_below_ask=next((o for o in orders if o.approved_fen is not None), None),
    )


def _member_change(
    order: SeededOrder, orders: list[SeededOrder], spares: tuple[ExpertRegistered, ...], start: date
) -> MemberChange | None:
    """The first member leaves (ill) from the fourth month; a spare expert of the registry with a
    member's qualification joins. The second request names a member of another project."""
    members = [e for e in order.experts if e.expert_id in order.team.member_expert_ids]
    joining = next((e for e in reversed(spares) if e.qualifications[0] in MEMBER_QUALIFICATIONS), None)
    other = next((o for o in orders[2:] if o.order_id != order.order_id), None)
    if len(members) < 2 or joining is None or other is None:
        return None
    bound = next(e for e in other.experts if e.expert_id in other.team.member_expert_ids)
    month = start.month + 3
    effective = date(start.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
    return MemberChange(order, members[0], joining, effective, members[1], bound)


def _places(rng: random.Random, orders: int) -> list[tuple[str, str, str]]:
    """Orders spread over the deep-poverty townships; the article's two villages first."""
    places = [("500240", "洗新乡", "保合村"), ("500238", "红池坝镇", "茶园村")]
    townships = [(c, t) for c, ts in sorted(DEEP_POVERTY_TOWNSHIPS.items()) for t in ts]
    used = {(c, t, v) for c, t, v in places}
    while len(places) < orders:
        county, township = townships[(len(places) - 2) % len(townships)]
        village = rng.choice(VILLAGES)
        number = 2
        while (county, township, village) in used:  # at a province's scale names repeat: 新华二村 …
            village = f"{village.removesuffix('村').rstrip('0123456789')}{number}村"
            number += 1
        used.add((county, township, village))
        places.append((county, township, village))
    return places[:orders]


def _grades(rng: random.Random, orders: int) -> list[str]:
    """The two real projects excellent; the rest ~20% excellent, ~10% unqualified, every grade present."""
    rest = orders - 2
    unqualified = max(1 if rest < 6 else 3, round(rest * 0.1))
    excellent = max(0, round(rest * 0.2))
    qualified = max(1, rest - unqualified - excellent)
    pool = ["excellent"] * excellent + ["qualified"] * qualified + ["unqualified"] * unqualified
    rng.shuffle(pool)
    return ["excellent", "excellent", *pool[:rest]]


def _order(
    rng: random.Random,
    names: _Names,
    number: int,
    county: str,
    township: str,
    village: str,
    start: date,
    grade: str,
    reviewers: tuple[Reviewer, ...],
    real: bool,
) -> SeededOrder:
    order_id = f"{county}-{start.year}-{number:03d}"
    if real:
        demand = (cast.tianma_demand() if county == "500240" else cast.tea_demand()).model_copy(
            update={"service_period": ServicePeriod(start=start, months=24 if county == "500240" else 36)}
        )
        industry = demand.industry
    else:
        industry = rng.choice(sorted(INDUSTRIES))
        demand = _demand(rng, county, township, village, industry, start)
    lead_institution, experts, team = _team(rng, names, order_id, county, industry, demand, False)
    center = rng.uniform(*GRADE_BANDS[grade])
    eligible = [r for r in reviewers if r.institution != lead_institution]
    panel_reviewers = rng.sample(eligible, 3)
    spread = (-2.0, 0.5, 1.5)
    panel = tuple((r, round(min(100.0, max(0.0, center + d)), 1)) for r, d in zip(panel_reviewers, spread, strict=True))
    return SeededOrder(
        order_id=order_id,
        demand=demand,
        submitted_by=f"{COUNTIES[county]}人力社保局",
        team=team,
        experts=experts,
        lead_institution=lead_institution,
        site=f"{township}{village}",
        grade=grade,
        panel=panel,
        actuals=_actuals(rng, demand, grade, real),
        real=real,
    )


def _demand(rng: random.Random, county: str, township: str, village: str, industry: str, start: date) -> Demand:
    needs = tuple(rng.sample(INDUSTRIES[industry], rng.choice((2, 3))))
    area = rng.choice((30, 50, 80, 100, 200, 300))
    targets = (
        OutcomeTarget(indicator="demonstration_area", label="示范基地面积", unit="亩", baseline=0, target=area),
        OutcomeTarget(indicator="jobs", label="带动就业", unit="人", baseline=0, target=rng.choice((10, 15, 20, 30))),
        OutcomeTarget(
            indicator="farmer_income",
            label="农户增收",
            unit="元",
            baseline=0,
            target=rng.choice((100_000, 150_000, 200_000, 300_000)),
        ),
        OutcomeTarget(
            indicator="local_talents_trained",
            label="培养本地骨干",
            unit="人",
            baseline=0,
            target=rng.choice((5, 8, 10)),
        ),
    )
    return Demand(
        place=Place(
            county_code=county,
            county_name=COUNTIES[county],
            township=township,
            village=village,
            deep_poverty_township=True,
        ),
        industry=industry,
        title=f"{village}{industry}产业技术服务（合成数据）",
        needs=needs,
        description=f"合成示例：{township}{village}{industry}产业，重点需求：{'、'.join(needs)}。",
        outcome_targets=targets,
        service_period=ServicePeriod(start=start, months=rng.choice((12, 24, 36))),
        funding_asked_fen=rng.choice(range(50_000, 200_001, 10_000)) * YUAN,
    )


def _team(
    rng: random.Random, names: _Names, order_id: str, county: str, industry: str, demand: Demand, real: bool
) -> tuple[str, tuple[ExpertRegistered, ...], TeamComposition]:
    if real:
        story = cast.GUO_TEAM if county == "500240" else cast.ZHONG_TEAM
        by_id = {e.expert_id: e for e in cast.EXPERTS}
        people = (story.lead_expert_id, *story.member_expert_ids, *story.local_talent_expert_ids)
        return by_id[story.lead_expert_id].institution, tuple(by_id[p] for p in people), story
    institution = rng.choice(INSTITUTIONS)
    wanted = (industry, *demand.needs)
    suffix = order_id.replace("-", "")
    lead = ExpertRegistered(
        expert_id=f"EXP-{suffix}-L",
        name=names.person(),
        institution=institution,
        title="研究员（合成）" if (senior := rng.random() < 0.8) else "副研究员（合成）",
        title_grade="senior" if senior else "deputy_senior",
        qualifications=(rng.choice(LEAD_QUALIFICATIONS),),
        specialties=wanted,
    )
    members = tuple(
        ExpertRegistered(
            expert_id=f"EXP-{suffix}-M{i}",
            name=names.person(),
            institution=institution,
            title=title,
            title_grade=grade,
            qualifications=(rng.choice(MEMBER_QUALIFICATIONS),),
            specialties=(industry, *rng.sample(demand.needs, 1)),
        )
        for i, (title, grade) in enumerate((rng.choice(MEMBER_TITLES) for _ in range(rng.randint(3, 7))), start=1)
    )
    locals_ = tuple(
        ExpertRegistered(
            expert_id=f"EXP-{suffix}-T{i}",
            name=names.person(),
            institution=f"{COUNTIES[county]}农业农村委",
            title="农艺师（合成）" if (middle := rng.random() < 0.6) else "助理农艺师（合成）",
            title_grade="intermediate" if middle else "junior",
            qualifications=("local_backbone",),
            specialties=(industry,),
            local_county_code=county,
        )
        for i in range(1, rng.choice((1, 1, 2)) + 1)
    )
    team = TeamComposition(
        team_id=f"TEAM-{suffix}",
        name=f"{lead.name}团队",
        lead_expert_id=lead.expert_id,
        member_expert_ids=tuple(m.expert_id for m in members),
        local_talent_expert_ids=tuple(t.expert_id for t in locals_),
    )
    return institution, (lead, *members, *locals_), team


def _spare_expert(rng: random.Random, names: _Names, number: int) -> ExpertRegistered:
    industry = rng.choice(sorted(INDUSTRIES))
    return ExpertRegistered(
        expert_id=f"EXP-SPARE-{number:04d}",
        name=names.person(),
        institution=rng.choice(INSTITUTIONS),
        title="研究员（合成）",
        title_grade="senior",
        qualifications=(rng.choice(LEAD_QUALIFICATIONS + MEMBER_QUALIFICATIONS),),
        specialties=(industry, *rng.sample(INDUSTRIES[industry], 2)),
    )


def _actuals(rng: random.Random, demand: Demand, grade: str, real: bool) -> dict[str, float]:
    if real:
        return {t.indicator: cast.ACTUALS.get(t.indicator, t.target) for t in demand.outcome_targets}
    share = {"excellent": (1.0, 1.25), "qualified": (0.7, 1.0), "unqualified": (0.2, 0.6)}[grade]
    return {t.indicator: round(t.target * rng.uniform(*share)) for t in demand.outcome_targets}
