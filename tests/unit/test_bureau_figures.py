"""The bureau's figures, from the events alone: money by county and budget year, deep-poverty
coverage, indicators against targets, service days, and the record per expert."""

from __future__ import annotations

from typing import Any

from tools.figures import Figures

YUAN = 100


def person(expert_id: str, name: str, grade: str | None = "intermediate") -> dict[str, Any]:
    return {"expert_id": expert_id, "name": name, "institution": "重庆市农业科学院", "title_grade": grade}


def accepted(order: str, county: str, county_name: str, township: str, village: str, deep: bool) -> dict[str, Any]:
    return {
        "order_id": order,
        "place": {
            "county_code": county,
            "county_name": county_name,
            "township": township,
            "village": village,
            "deep_poverty_township": deep,
        },
        "funding_asked_fen": 150_000 * YUAN,
        "service_period": {"start": "2027-01-01", "months": 24},
        "lead": person(f"EXP-{order}-lead", "郭顺星", "senior"),
        "members": [person(f"EXP-{order}-m1", "成员甲")],
        "local_talents": [person(f"EXP-{order}-lt", "本地骨干丙", "junior")],
    }


def indicator(name: str, label: str, unit: str, target: float, actual: float) -> dict[str, Any]:
    return {"indicator": name, "label": label, "unit": unit, "target": target, "actual": actual}


SHIZHU, WUXI = "500240-2027-001", "500238-2027-002"
EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("TeamAccepted", accepted(SHIZHU, "500240", "石柱县", "洗新乡", "保合村", deep=False)),
    ("TeamAccepted", accepted(WUXI, "500238", "巫溪县", "红池坝镇", "茶园村", deep=True)),
    ("GrantOpened", {"order_id": SHIZHU, "budget_year": 2027, "amount_fen": 120_000 * YUAN}),
    ("GrantOpened", {"order_id": WUXI, "budget_year": 2027, "amount_fen": 150_000 * YUAN}),
    ("FundingReleased", {"order_id": SHIZHU, "amount_fen": 48_000 * YUAN}),
    ("FundingReleased", {"order_id": WUXI, "amount_fen": 60_000 * YUAN}),
    (
        "MemberChangeApproved",
        {
            "order_id": SHIZHU,
            "leaving": person(f"EXP-{SHIZHU}-m1", "成员甲"),
            "joining": person("EXP-new", "成员丁", "deputy_senior"),
            "effective_from": "2027-05-01",
            "local_talents": [person(f"EXP-{SHIZHU}-lt", "本地骨干丙", "junior")],
        },
    ),
    ("ServiceActivityRecorded", {"order_id": SHIZHU, "expert_id": f"EXP-{SHIZHU}-lead", "on": "2027-03-02"}),
    ("ServiceActivityRecorded", {"order_id": SHIZHU, "expert_id": "EXP-new", "on": "2027-03-02"}),
    ("ServiceActivityRecorded", {"order_id": SHIZHU, "expert_id": "EXP-new", "on": "2027-06-10"}),
    ("ServiceActivityRecorded", {"order_id": WUXI, "expert_id": f"EXP-{WUXI}-lead", "on": "2027-04-01"}),
    ("ProjectFlagged", {"order_id": WUXI, "reasons": ["1 day on site by 2027-07-01, 15 expected (30 a year)"]}),
    (
        "ReviewCompleted",
        {
            "order_id": SHIZHU,
            "year": 2027,
            "grade": "excellent",
            "indicator_results": [indicator("area_mu", "示范园面积", "亩", 50, 55)],
        },
    ),
    (
        "ReviewCompleted",
        {
            "order_id": WUXI,
            "year": 2027,
            "grade": "qualified",
            "indicator_results": [indicator("area_mu", "示范园面积", "亩", 30, 24)],
        },
    ),
    (
        "IncentiveGranted",
        {"order_id": SHIZHU, "expert_id": "EXP-new", "kind": "early_title_evaluation", "grade": "excellent"},
    ),
    ("ProjectEndedEarly", {"order_id": WUXI, "ended_on": "2027-09-30", "freed_expert_ids": [f"EXP-{WUXI}-lead"]}),
]


def test_money_is_summed_by_budget_year_and_by_county_with_the_days_served_there() -> None:
    figures = Figures.of(EVENTS)
    assert figures.by_budget_year() == {
        2027: {
            "projects": 2,
            "asked_fen": 300_000 * YUAN,
            "granted_fen": 270_000 * YUAN,
            "released_fen": 108_000 * YUAN,
            "forfeited_fen": 0,
        }
    }
    counties = figures.by_county()
    assert counties["500240"] == {
        "projects": 1,
        "granted_fen": 120_000 * YUAN,
        "released_fen": 48_000 * YUAN,
        "service_days": 2,
    }
    assert counties["500238"]["service_days"] == 1


def test_deep_poverty_coverage_names_the_townships_served_and_those_not_yet() -> None:
    coverage = Figures.of(EVENTS).deep_poverty_coverage()
    assert coverage["townships"] == 18
    assert (coverage["covered"], coverage["covered_townships"]) == (1, ["巫溪县红池坝镇"])
    assert "石柱县中益乡" in coverage["not_covered"] and len(coverage["not_covered"]) == 17


def test_indicators_are_summed_against_their_targets_over_the_latest_reviews() -> None:
    figures = Figures.of(EVENTS)
    assert figures.indicators == {("area_mu", "示范园面积", "亩"): {"target": 80.0, "actual": 79.0, "projects": 2}}
    assert "示范园面积 (area_mu): 79.0 亩 achieved against 80.0 亩 targeted over 2 projects (99% of target)" in (
        figures.lines()
    )


def test_an_experts_record_follows_the_member_change_and_counts_their_own_days() -> None:
    records = {r["expert_id"]: r for r in Figures.of(EVENTS).expert_records()}
    left = records[f"EXP-{SHIZHU}-m1"]["projects"]
    assert left == [
        {
            "order_id": SHIZHU,
            "role": "member",
            "served_from": "2027-01-01",
            "served_to": "2027-05-01",
            "days_on_site": 0,
        }
    ]
    joined = records["EXP-new"]
    assert joined["projects"][0]["served_from"] == "2027-05-01" and joined["days_on_site"] == 2
    assert joined["incentives"] == [{"order_id": SHIZHU, "kind": "early_title_evaluation", "grade": "excellent"}]
    assert joined["grades"] == [{"order_id": SHIZHU, "year": 2027, "grade": "excellent"}]
    assert set(joined) == {
        "expert_id",
        "name",
        "institution",
        "title_grade",
        "projects",
        "days_on_site",
        "grades",
        "incentives",
    }, "no more personal data than the title and talent systems need"
    assert records[f"EXP-{WUXI}-lead"]["projects"][0]["served_to"] == "2027-09-30", "ended early: free from then"


def test_a_project_ended_early_and_a_flag_are_in_the_figures() -> None:
    figures = Figures.of(EVENTS).as_dict()
    assert figures["ended"] == [WUXI]
    assert figures["mid_term_flags"] == {WUXI: ["1 day on site by 2027-07-01, 15 expected (30 a year)"]}
    assert figures["service_days"] == {"total": 3, "by_project": {SHIZHU: 2, WUXI: 1}}
