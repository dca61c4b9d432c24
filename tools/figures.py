"""The bureau's own figures, computed only from the events on the topics (what an auditor can
re-derive): projects and money by district/county and by budget year, the coverage of the city's
18 deep-poverty townships (深度贫困乡镇), outcome indicators summed against their targets, the
service days given, and a record per expert for the professional-title and talent-programme
systems (who served where, when, how many days, with which grades and incentives) carrying no
more personal data than those systems need: id, name, institution, title grade.

`Figures.of(events)` takes (type, data) pairs in the order they were published; `expert-teams
figures` reads them from the topics.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.contract.places import COUNTIES, DEEP_POVERTY_TOWNSHIPS
from shared.policy import format_yuan

FORFEITED_BY = {"ProjectEnded": "forfeited_fen"}
"""Funding events that forfeit money of a grant, and the field that says how much."""


@dataclass
class ExpertRecord:
    expert_id: str
    name: str
    institution: str
    title_grade: str | None
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per order id: role, served_from, served_to (None: still serving), days_on_site."""
    grades: list[dict[str, Any]] = field(default_factory=list)
    incentives: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expert_id": self.expert_id,
            "name": self.name,
            "institution": self.institution,
            "title_grade": self.title_grade,
            "projects": [{"order_id": order, **p} for order, p in sorted(self.projects.items())],
            "days_on_site": sum(p["days_on_site"] for p in self.projects.values()),
            "grades": self.grades,
            "incentives": self.incentives,
        }


@dataclass
class Figures:
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per order id: county, township, village, deep_poverty, budget_year, amounts (fen), status."""
    experts: dict[str, ExpertRecord] = field(default_factory=dict)
    indicators: dict[tuple[str, str, str], dict[str, float]] = field(default_factory=dict)
    """(indicator, label, unit) -> target and actual summed over the projects' latest reviews."""
    days_by_order: dict[str, set[date]] = field(default_factory=lambda: defaultdict(set))
    flagged: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, events: Iterable[tuple[str, Mapping[str, Any]]]) -> Figures:
        figures = cls()
        latest_review: dict[str, dict[str, Any]] = {}
        for event_type, data in events:
            figures._apply(event_type, data, latest_review)
        for review in latest_review.values():
            for result in review["indicator_results"]:
                key = (result["indicator"], result["label"], result["unit"])
                sums = figures.indicators.setdefault(key, {"target": 0.0, "actual": 0.0, "projects": 0})
                sums["target"] += float(result["target"])
                sums["actual"] += float(result["actual"])
                sums["projects"] += 1
        return figures

    # ---- reading events -----------------------------------------------------------------------

    def _apply(self, t: str, d: Mapping[str, Any], latest_review: dict[str, dict[str, Any]]) -> None:
        order = str(d.get("order_id", ""))
        if t == "TeamAccepted":
            self._accepted(order, d)
        elif t == "GrantOpened" and order in self.projects:
            self.projects[order]["budget_year"] = int(d["budget_year"])
            self.projects[order]["granted_fen"] = int(d["amount_fen"])
        elif t == "FundingReleased" and order in self.projects:
            self.projects[order]["released_fen"] += int(d["amount_fen"])
        elif t in FORFEITED_BY and order in self.projects:
            self.projects[order]["forfeited_fen"] += int(d[FORFEITED_BY[t]])
            self.projects[order]["status"] = "ended"
        elif t == "GrantSettled" and order in self.projects:  # what it releases comes as FundingReleased
            self.projects[order]["forfeited_fen"] += int(d["forfeited_fen"])
        elif t == "MemberChangeApproved":
            self._member_change(order, d)
        elif t == "ProjectEndedEarly" and order in self.projects:
            self.projects[order]["status"] = "ended early"
            for expert_id in d["freed_expert_ids"]:
                self._leave(expert_id, order, d["ended_on"])
        elif t == "ProjectExtended" and order in self.projects:
            self.projects[order]["months"] = int(d["service_period"]["months"])
        elif t == "ServiceActivityRecorded":
            day = date.fromisoformat(str(d["on"]))
            self.days_by_order[order].add(day)
            record = self.experts.get(str(d["expert_id"]))
            if record is not None and order in record.projects:
                record.projects[order]["days_on_site"] += 1
        elif t == "ProjectFlagged":
            self.flagged.setdefault(order, []).extend(d["reasons"])
        elif t == "ReviewCompleted":
            latest_review[order] = dict(d)
            for record in self.experts.values():
                if order in record.projects:
                    record.grades.append({"order_id": order, "year": d["year"], "grade": d["grade"]})
        elif t == "IncentiveGranted":
            record = self.experts.get(str(d["expert_id"]))
            if record is not None:
                record.incentives.append({"order_id": order, "kind": d["kind"], "grade": d["grade"]})

    def _accepted(self, order: str, d: Mapping[str, Any]) -> None:
        place = d["place"]
        self.projects[order] = {
            "county_code": place["county_code"],
            "county_name": place["county_name"],
            "township": place["township"],
            "village": place["village"],
            "deep_poverty": bool(place.get("deep_poverty_township")),
            "budget_year": None,
            "asked_fen": int(d["funding_asked_fen"]),
            "granted_fen": 0,
            "released_fen": 0,
            "forfeited_fen": 0,
            "months": int(d["service_period"]["months"]),
            "status": "active",
        }
        start = str(d["service_period"]["start"])
        for role, people in (("lead", [d["lead"]]), ("member", d["members"]), ("local_talent", d["local_talents"])):
            for person in people:
                self._join(person, order, role, start)

    def _member_change(self, order: str, d: Mapping[str, Any]) -> None:
        if d.get("leaving"):
            self._leave(d["leaving"]["expert_id"], order, d["effective_from"])
        joining = d.get("joining")
        if joining:
            local = {p["expert_id"] for p in d["local_talents"]}
            self._join(
                joining, order, "local_talent" if joining["expert_id"] in local else "member", d["effective_from"]
            )

    def _join(self, person: Mapping[str, Any], order: str, role: str, start: str) -> None:
        record = self.experts.setdefault(
            str(person["expert_id"]),
            ExpertRecord(str(person["expert_id"]), person["name"], person["institution"], person.get("title_grade")),
        )
        record.projects[order] = {"role": role, "served_from": start, "served_to": None, "days_on_site": 0}

    def _leave(self, expert_id: str, order: str, on: str) -> None:
        record = self.experts.get(expert_id)
        if record is not None and order in record.projects and record.projects[order]["served_to"] is None:
            record.projects[order]["served_to"] = str(on)

    # ---- what the bureau reads ----------------------------------------------------------------

    def by_county(self) -> dict[str, dict[str, int]]:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for p in self.projects.values():
            row = table[p["county_code"]]
            row["projects"] += 1
            row["granted_fen"] += p["granted_fen"]
            row["released_fen"] += p["released_fen"]
            row["service_days"] += 0
        for order, days in self.days_by_order.items():
            if order in self.projects:
                table[self.projects[order]["county_code"]]["service_days"] += len(days)
        return {code: dict(row) for code, row in sorted(table.items())}

    def by_budget_year(self) -> dict[int, dict[str, int]]:
        table: dict[int, Counter[str]] = defaultdict(Counter)
        for p in self.projects.values():
            if p["budget_year"] is None:
                continue
            row = table[p["budget_year"]]
            row["projects"] += 1
            row["asked_fen"] += p["asked_fen"]
            row["granted_fen"] += p["granted_fen"]
            row["released_fen"] += p["released_fen"]
            row["forfeited_fen"] += p["forfeited_fen"]
        return {year: dict(row) for year, row in sorted(table.items())}

    def deep_poverty_coverage(self) -> dict[str, Any]:
        every = {(county, township) for county, towns in DEEP_POVERTY_TOWNSHIPS.items() for township in towns}
        served = {(p["county_code"], p["township"]) for p in self.projects.values()}
        covered = sorted(every & served)
        missing = sorted(every - served)
        return {
            "townships": len(every),
            "covered": len(covered),
            "covered_townships": [f"{COUNTIES.get(c, c)}{t}" for c, t in covered],
            "not_covered": [f"{COUNTIES.get(c, c)}{t}" for c, t in missing],
        }

    def service_days(self) -> dict[str, int]:
        return {order: len(days) for order, days in sorted(self.days_by_order.items()) if order in self.projects}

    def as_dict(self) -> dict[str, Any]:
        return {
            "projects": len(self.projects),
            "by_county": self.by_county(),
            "by_budget_year": {str(y): row for y, row in self.by_budget_year().items()},
            "deep_poverty_coverage": self.deep_poverty_coverage(),
            "indicators": [
                {"indicator": k[0], "label": k[1], "unit": k[2], **v} for k, v in sorted(self.indicators.items())
            ],
            "service_days": {"total": sum(self.service_days().values()), "by_project": self.service_days()},
            "mid_term_flags": self.flagged,
            "ended": sorted(o for o, p in self.projects.items() if p["status"] != "active"),
        }

    def expert_records(self) -> list[dict[str, Any]]:
        return [self.experts[e].as_dict() for e in sorted(self.experts)]

    def lines(self) -> list[str]:
        """The figures as an official reads them."""
        out = [f"Projects: {len(self.projects)}"]
        for year, row in self.by_budget_year().items():
            out.append(
                f"Budget year {year}: {_projects(row['projects'])}, asked {format_yuan(row['asked_fen'])}, "
                f"granted {format_yuan(row['granted_fen'])}, released {format_yuan(row['released_fen'])}, "
                f"forfeited {format_yuan(row['forfeited_fen'])}"
            )
        for code, row in self.by_county().items():
            out.append(
                f"{COUNTIES.get(code, code)}: {_projects(row['projects'])}, granted {format_yuan(row['granted_fen'])}, "
                f"released {format_yuan(row['released_fen'])}, {row['service_days']} days of service on site"
            )
        coverage = self.deep_poverty_coverage()
        out.append(
            f"Deep-poverty townships served: {coverage['covered']} of {coverage['townships']}"
            + (f" (not yet: {', '.join(coverage['not_covered'])})" if coverage["not_covered"] else "")
        )
        for (indicator, label, unit), v in sorted(self.indicators.items()):
            share = f" ({v['actual'] / v['target']:.0%} of target)" if v["target"] else ""
            out.append(
                f"{label} ({indicator}): {v['actual']:,.1f} {unit} achieved against {v['target']:,.1f} {unit} "
                f"targeted over {_projects(int(v['projects']))}{share}"
            )
        total = sum(self.service_days().values())
        out.append(f"Service given: {total} project-days on site over {_projects(len(self.service_days()))}")
        if self.flagged:
            out.append(f"Flagged at the mid-term check: {', '.join(sorted(self.flagged))}")
        return out


def _projects(n: int) -> str:
    return f"{n} project" if n == 1 else f"{n} projects"
