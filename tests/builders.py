"""Domain test data: real places of the programme, unique order ids per test."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from shared.contract.events.orders import Demand, OutcomeTarget, Place, ServicePeriod
from shared.policy import YUAN

SHIZHU = "500240"
WUXI = "500238"
CHENGKOU = "500229"


def new_order_id(county: str = SHIZHU) -> str:
    return f"{county}-T{uuid.uuid4().hex[:10]}"


def tianma_demand(**changes: Any) -> Demand:
    values: dict[str, Any] = {
        "place": Place(
            county_code=SHIZHU, county_name="石柱县", township="洗新乡", village="保合村", deep_poverty_township=False
        ),
        "industry": "中药材",
        "title": "保合村天麻种源繁育",
        "needs": ("天麻种源繁育", "林下种植"),
        "description": "建设天麻繁育示范园",
        "outcome_targets": (
            OutcomeTarget(indicator="demonstration_area", label="示范园面积", unit="亩", baseline=0, target=50),
            OutcomeTarget(indicator="jobs", label="带动就业", unit="人", baseline=0, target=20),
        ),
        "service_period": ServicePeriod(start=date(2019, 6, 1), months=24),
        "funding_asked_fen": 150_000 * YUAN,
    }
    values |= changes
    return Demand(**values)


def tea_demand(**changes: Any) -> Demand:
    values: dict[str, Any] = {
        "place": Place(
            county_code=WUXI, county_name="巫溪县", township="红池坝镇", village="茶园村", deep_poverty_township=True
        ),
        "industry": "茶叶",
        "title": "茶园村茶叶全产业链指导",
        "needs": ("茶叶加工",),
        "description": "全产业链技术指导",
        "outcome_targets": (
            OutcomeTarget(indicator="spring_bud_price", label="春茶独芽单价", unit="元/斤", baseline=60, target=75),
        ),
        "service_period": ServicePeriod(start=date(2019, 6, 1), months=36),
        "funding_asked_fen": 200_000 * YUAN,
    }
    values |= changes
    return Demand(**values)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def expert_registered(
    name: str,
    *qualifications: str,
    specialties: tuple[str, ...] = ("中药材", "天麻种源繁育"),
    local_county: str | None = None,
    institution: str = "重庆硒旺华宝生物科技有限公司",
    expert_id: str | None = None,
) -> Any:
    from shared.contract.events.matching import ExpertRegistered

    return ExpertRegistered(
        expert_id=expert_id or new_id("EXP"),
        name=name,
        institution=institution,
        qualifications=qualifications,
        specialties=specialties,
        local_county_code=local_county,
    )
