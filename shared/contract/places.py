"""Reference data for scenarios: Chongqing districts/counties (GB/T 2260 codes) and the city's
18 deep-poverty townships (深度贫困乡镇), which are public facts. Villages other than the two
named in the source article are synthetic."""

from __future__ import annotations

COUNTIES: dict[str, str] = {
    "500101": "万州区",
    "500114": "黔江区",
    "500154": "开州区",
    "500156": "武隆区",
    "500229": "城口县",
    "500230": "丰都县",
    "500235": "云阳县",
    "500236": "奉节县",
    "500237": "巫山县",
    "500238": "巫溪县",
    "500240": "石柱县",
    "500241": "秀山县",
    "500242": "酉阳县",
    "500243": "彭水县",
}

DEEP_POVERTY_TOWNSHIPS: dict[str, tuple[str, ...]] = {
    "500229": ("鸡鸣乡", "沿河乡"),
    "500238": ("红池坝镇", "天元乡"),
    "500242": ("车田乡", "浪坪乡"),
    "500243": ("大垭乡", "三义乡"),
    "500240": ("中益乡",),
    "500236": ("平安乡",),
    "500235": ("泥溪镇",),
    "500237": ("双龙镇",),
    "500154": ("大进镇",),
    "500101": ("龙驹镇",),
    "500114": ("金溪镇",),
    "500156": ("后坪乡",),
    "500230": ("三建乡",),
    "500241": ("隘口镇",),
}


def county_source(county_code: str) -> str:
    """The CloudEvents source of a county's system."""
    return f"/counties/{county_code}"


BUREAU_SOURCE = "/bureau/hrss"
BUREAU_STAFF = "市人力社保局人才开发处"
