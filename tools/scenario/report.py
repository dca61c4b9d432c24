"""What an official reads at the end of a scenario, built only from the events on the topics."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.contract.places import COUNTIES
from shared.policy import format_yuan
from tools.client import Observed
from tools.figures import Figures

ORDER_STATE_OF = {
    "OrderSubmitted": "submitted",
    "OrderEndorsed": "endorsed",
    "OrderReturned": "returned",
    "OrderPublished": "published",
    "OrderAwarded": "awarded",
    "OrderWithdrawn": "withdrawn",
    "OrderCancelled": "cancelled",
}
APPLICATION_STATE_OF = {
    "ApplicationReceived": "received",
    "ApplicationWithdrawn": "withdrawn",
    "ApplicationDeclined": "declined",
    "TeamAccepted": "accepted",
}
MONEY_OF = {
    "GrantOpened": "granted",
    "FundingReleased": "released",
    "ReleasePaid": "paid",
    "FundingWithheld": "withheld",
}


@dataclass
class Report:
    started: float = field(default_factory=time.monotonic)
    steps: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    orders: dict[str, str] = field(default_factory=dict)
    applications: dict[str, str] = field(default_factory=dict)
    projects: list[dict[str, Any]] = field(default_factory=list)
    money_fen: Counter[str] = field(default_factory=Counter)
    granted_by_budget_year: Counter[int] = field(default_factory=Counter)
    grades: dict[str, dict[str, Any]] = field(default_factory=dict)
    incentives: Counter[str] = field(default_factory=Counter)
    continued_funding: list[str] = field(default_factory=list)
    rectifications: list[dict[str, Any]] = field(default_factory=list)
    suspensions: list[dict[str, Any]] = field(default_factory=list)
    published_results: list[dict[str, Any]] = field(default_factory=list)
    payments_escalated: int = 0
    payment_retries: int = 0
    experts_recorded: int = 0
    recommendations: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    events_seen: int = 0
    exports: list[str] = field(default_factory=list)
    real_orders: set[str] = field(default_factory=set)
    """The article's two real projects: real place, industry and targets; synthetic team and scores."""
    ledger: dict[str, Counter[str]] = field(default_factory=dict)
    """Per order: granted, released, withheld, restored, forfeited (fen), from funding's events."""
    budget_year_of: dict[str, int] = field(default_factory=dict)
    places: dict[str, dict[str, Any]] = field(default_factory=dict)
    objections: list[dict[str, Any]] = field(default_factory=list)
    rectification_outcomes: dict[str, str] = field(default_factory=dict)
    incentive_reasons: Counter[str] = field(default_factory=Counter)
    incentive_decisions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    continued_support_grants: list[dict[str, Any]] = field(default_factory=list)
    approved_below_ask: list[dict[str, Any]] = field(default_factory=list)
    member_changes: list[dict[str, Any]] = field(default_factory=list)
    mid_term_flags: list[dict[str, Any]] = field(default_factory=list)
    ended_early: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per order: the bureau's decision (ProjectEndedEarly) and funding's settlement (GrantSettled)."""
    figures: Figures = field(default_factory=Figures)
    """The bureau's figures (tools/figures.py), from the same events."""

    @property
    def ok(self) -> bool:
        return not self.failures

    def summarize(self, seen: list[Observed]) -> None:
        for o in seen:
            self.events_seen += 1
            self._one(o)
            self._money_and_outcomes(o)
            self._service_period(o)
        self.figures = Figures.of((o.type, o.data) for o in seen if o.type)

    def _service_period(self, o: Observed) -> None:
        """What happened between acceptance and review: approved amounts, member changes, mid-term
        flags, early ends."""
        t, d = o.type or "", o.data
        order = str(d.get("order_id", ""))
        if t == "TeamAccepted" and d.get("approved_fen") is not None and d["approved_fen"] != d["funding_asked_fen"]:
            self.approved_below_ask.append(
                {"order_id": order, "asked_fen": d["funding_asked_fen"], "approved_fen": d["approved_fen"]}
            )
        elif t == "MemberChangeApproved":
            self.member_changes.append(
                {
                    "order_id": order,
                    "change_id": d["change_id"],
                    "decision": "approved",
                    "leaving": (d.get("leaving") or {}).get("name"),
                    "joining": (d.get("joining") or {}).get("name"),
                    "effective_from": d["effective_from"],
                }
            )
        elif t == "MemberChangeRefused":
            self.member_changes.append(
                {"order_id": order, "change_id": d["change_id"], "decision": f"refused ({d['rule']})"}
            )
        elif t == "ProjectFlagged":
            self.mid_term_flags.append({"order_id": order, "as_of": d["as_of"], "reasons": d["reasons"]})
        elif t == "ProjectEndedEarly":
            self.ended_early.setdefault(order, {}).update(
                ended_on=d["ended_on"], planned_end=d["planned_end"], reason=d["reason"]
            )
        elif t == "GrantSettled":
            self.ended_early.setdefault(order, {}).update(
                rule=d["rule"],
                granted_fen=d["granted_fen"],
                released_fen=d["released_before_fen"] + d["released_fen"],
                forfeited_fen=d["forfeited_fen"],
            )

    def _money_and_outcomes(self, o: Observed) -> None:
        t, d = o.type or "", o.data
        order = str(d.get("order_id", ""))
        money = {
            "GrantOpened": ("granted", "amount_fen"),
            "FundingReleased": ("released", "amount_fen"),
            "FundingWithheld": ("withheld", "amount_fen"),
            "RectificationAccepted": ("restored", "restored_fen"),
        }
        if t in money:
            kind, amount = money[t]
            self.ledger.setdefault(order, Counter())[kind] += int(d[amount])
        if t in ("ProjectEnded", "GrantSettled"):  # what is forfeited: withheld money first, then committed
            ledger = self.ledger.setdefault(order, Counter())
            forfeited = int(d["forfeited_fen"])
            withheld = ledger["withheld"] - ledger["restored"] - ledger["forfeited_withheld"]
            ledger["forfeited"] += forfeited
            ledger["forfeited_withheld"] += min(withheld, forfeited)
        if t == "GrantOpened":
            self.budget_year_of[order] = int(d["budget_year"])
            if d.get("continued_support_of"):
                self.continued_support_grants.append(
                    {"order_id": order, "continues": d["continued_support_of"], "amount_fen": d["amount_fen"]}
                )
        elif t == "TeamAccepted":
            place = d["place"]
            self.places[order] = {
                "place": f"{place['county_name']}{place['township']}{place['village']}",
                "industry": d["industry"],
                "continued_support_of": d.get("continued_support_of"),
            }
        elif t == "ObjectionLodged":
            self.objections.append({"order_id": order, "grade": d["grade"], "outcome": "pending"})
        elif t in ("ObjectionUpheld", "ObjectionRejected"):
            outcome = "upheld: re-reviewed by a new panel" if t == "ObjectionUpheld" else "rejected"
            for objection in self.objections:
                if objection["order_id"] == order:
                    objection["outcome"] = outcome
        elif t == "RectificationAccepted":
            self.rectification_outcomes[order] = "accepted: withheld money restored"
        elif t == "RectificationRejected":
            self.rectification_outcomes[order] = "rejected"
        elif t == "ProjectEnded":
            self.rectification_outcomes[order] = (
                self.rectification_outcomes.get(order, "no report by the deadline") + "; project ended"
            )
        elif t == "IncentivesDecided":
            decisions = [
                {k: x[k] for k in ("expert_name", "role", "title_grade", "kind", "granted", "reason")}
                for x in d["decisions"]
            ]
            self.incentive_decisions.setdefault(order, []).extend(decisions)
            for x in decisions:
                who = f"{x['role']}, title grade {x['title_grade'] or 'unknown'}"
                why = f"granted to a {who}" if x["granted"] else f"not granted: {x['reason']}"
                self.incentive_reasons[f"{x['kind']} {why}"] += 1

    def money_by_budget_year(self) -> dict[int, dict[str, int]]:
        """Granted = released + withheld (net of what was restored) + forfeited + committed for later years."""
        years: dict[int, Counter[str]] = {}
        for order, ledger in self.ledger.items():
            year = self.budget_year_of.get(order)
            if year is None:
                continue
            years.setdefault(year, Counter()).update(ledger)
        table = {}
        for year, c in sorted(years.items()):
            withheld = c["withheld"] - c["restored"] - c["forfeited_withheld"]
            table[year] = {
                "granted": c["granted"],
                "released": c["released"],
                "withheld": withheld,
                "forfeited": c["forfeited"],
                "committed_later": c["granted"] - c["released"] - withheld - c["forfeited"],
            }
        return table

    def _one(self, o: Observed) -> None:
        t, d = o.type or "", o.data
        if t in ORDER_STATE_OF and o.subject:
            self.orders[o.subject] = ORDER_STATE_OF[t]
        if t in APPLICATION_STATE_OF:
            self.applications[d["application_id"]] = APPLICATION_STATE_OF[t]
        if t in MONEY_OF:
            self.money_fen[MONEY_OF[t]] += int(d["amount_fen"])
            if t == "GrantOpened":
                self.granted_by_budget_year[int(d["budget_year"])] += int(d["amount_fen"])
        if t == "TeamAccepted":
            self.projects.append(
                {
                    "project_id": d["project_id"],
                    "order_id": d["order_id"],
                    "team": d["team_name"],
                    "lead": d["lead"]["name"],
                    "people": 1 + len(d["members"]) + len(d["local_talents"]),
                    "site": d["site"],
                    "funding_asked_fen": d["funding_asked_fen"],
                }
            )
        elif t == "ReviewCompleted":
            self.grades[d["order_id"]] = {
                "team": d["team_name"],
                "grade": d["grade"],
                "score": d["score"],
                "round": d.get("round", 1),
                "days_on_site": d.get("days_on_site"),
                "mid_term_flags": list(d.get("mid_term_flags", [])),
                "indicators": [
                    f"{i['label']} {_figure(i['actual'])}/{_figure(i['target'])} {i['unit']}"
                    for i in d["indicator_results"]
                ],
            }
        elif t == "IncentiveGranted":
            self.incentives[d["kind"]] += 1
        elif t == "ContinuedFundingEligible":
            self.continued_funding.append(d["team_id"])
        elif t == "RectificationRequired":
            self.rectifications.append({"order_id": d["order_id"], "deadline": d["deadline"]})
        elif t == "TeamSuspended":
            self.suspensions.append({"team_id": d["team_id"], "until": d["suspended_until"]})
        elif t == "ReviewResultsPublished":  # in parts, in order on the cycle's partition
            if d.get("part", 1) == 1:
                self.published_results = []
            self.published_results.extend(d["results"])
        elif t == "PaymentEscalated":
            self.payments_escalated += 1
        elif t == "PaymentRetryRequested":
            self.payment_retries += 1
        elif t == "ExpertProfileRecorded":
            self.experts_recorded += 1
        elif t == "CandidatesRecommended":
            self.recommendations += 1
        elif t == "EventRejected":
            self.rejections[str(d.get("reason_code"))] += 1
        elif o.header("dlt.reason"):
            self.dead_letters[o.header("dlt.rule") or o.header("dlt.reason") or "?"] += 1

    def project_details(self) -> list[dict[str, Any]]:
        details = []
        for order, place in sorted(self.places.items()):
            ledger = self.ledger.get(order, Counter())
            details.append(
                {
                    "order_id": order,
                    **place,
                    "real": order in self.real_orders,
                    "budget_year": self.budget_year_of.get(order),
                    "grade": self.grades.get(order, {}).get("grade"),
                    "score": self.grades.get(order, {}).get("score"),
                    "re_reviewed": self.grades.get(order, {}).get("round", 1) > 1,
                    "indicators": self.grades.get(order, {}).get("indicators", []),
                    "granted_fen": ledger["granted"],
                    "released_fen": ledger["released"],
                    "rectification": self.rectification_outcomes.get(order),
                    "days_on_site": self.grades.get(order, {}).get("days_on_site"),
                    "mid_term_flags": self.grades.get(order, {}).get("mid_term_flags", []),
                    "ended_early": self.ended_early.get(order),
                }
            )
        return details

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "wall_time_s": round(time.monotonic() - self.started, 2),
            "orders_by_state": dict(Counter(self.orders.values())),
            "orders": self.orders,
            "applications_by_state": dict(Counter(self.applications.values())),
            "projects": self.projects,
            "money_fen": {k: self.money_fen.get(k, 0) for k in ("granted", "released", "paid", "withheld")},
            "granted_by_budget_year": {str(y): fen for y, fen in sorted(self.granted_by_budget_year.items())},
            "payment_retries": self.payment_retries,
            "payments_escalated": self.payments_escalated,
            "grades": self.grades,
            "grades_count": dict(Counter(g["grade"] for g in self.grades.values())),
            "incentives_by_kind": dict(self.incentives),
            "continued_funding_eligible": self.continued_funding,
            "rectifications": self.rectifications,
            "suspensions": self.suspensions,
            "published_results": self.published_results,
            "money_by_budget_year": {str(y): v for y, v in self.money_by_budget_year().items()},
            "objections": self.objections,
            "rectification_outcomes": self.rectification_outcomes,
            "incentive_decisions_by_reason": dict(self.incentive_reasons),
            "incentive_decisions": self.incentive_decisions,
            "continued_support_grants": self.continued_support_grants,
            "approved_below_ask": self.approved_below_ask,
            "member_changes": self.member_changes,
            "mid_term_flags": self.mid_term_flags,
            "ended_early": self.ended_early,
            "figures": self.figures.as_dict(),
            "project_details": self.project_details(),
            "public_exports": self.exports,
            "experts_recorded": self.experts_recorded,
            "orders_with_recommendations": self.recommendations,
            "rejections_by_reason": dict(self.rejections),
            "dead_letters_by_reason": dict(self.dead_letters),
            "events_seen": self.events_seen,
            "steps": self.steps,
            "failures": self.failures,
        }


def print_report(report: Report, out: Any = sys.stdout) -> None:
    d = report.as_dict()

    def line(text: str = "") -> None:
        print(text, file=out)

    def counts(mapping: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(mapping.items())) or "none"

    listed = 50  # beyond this, totals only (the JSON report has everything)
    rule = "=" * 78
    line(f"\n{rule}\nReport\n{rule}")
    line(f"Orders by state: {counts(d['orders_by_state'])}")
    line("Projects (village, industry; grade in effect; outcome indicators reported/target; money):")
    for p in d["project_details"][:listed]:
        real = "  [real project from the article; team and scores synthetic]" if p["real"] else ""
        grade = f"{p['grade']} {p['score']}" if p["grade"] else "not graded"
        grade += " (re-reviewed after an upheld objection)" if p["re_reviewed"] else ""
        line(f"  {p['order_id']}  {p['place']}  {p['industry']}{real}")
        line(f"      {grade}; {'; '.join(p['indicators']) or 'no indicators reported yet'}")
        money = (
            f"granted {format_yuan(p['granted_fen'])} ({p['budget_year']}), released {format_yuan(p['released_fen'])}"
        )
        extra = f"; continues {p['continued_support_of']} (继续支持)" if p["continued_support_of"] else ""
        extra += f"; rectification {p['rectification']}" if p["rectification"] else ""
        line(f"      {money}{extra}")
        if p["days_on_site"] is not None or p["mid_term_flags"]:
            flags = f"; flagged: {'; '.join(p['mid_term_flags'])}" if p["mid_term_flags"] else ""
            line(f"      {p['days_on_site']} days on site in the reviewed year{flags}")
        if p["ended_early"]:
            e = p["ended_early"]
            line(
                f"      ended early on {e.get('ended_on')} (planned until the day before {e.get('planned_end')}): "
                f"{format_yuan(e.get('forfeited_fen', 0))} forfeited ({e.get('rule', 'not yet settled')})"
            )
    for order_id, state in sorted(d["orders"].items()):
        if order_id not in {p["order_id"] for p in d["project_details"]} and len(d["project_details"]) < listed:
            line(f"  {order_id}  {COUNTIES.get(order_id[:6], order_id[:6])}  {state}")
    line(f"Experts recorded: {d['experts_recorded']}   orders with recommendations: {d['orders_with_recommendations']}")
    line(f"Applications: {counts(d['applications_by_state'])}")
    people = sum(p["people"] for p in d["projects"])
    line(f"Projects (定点、定人、定服务期): {len(d['projects'])} teams of 1+N+1, {people} people")
    money = d["money_fen"]
    named = {"withheld": "withheld after unqualified reviews (before rectification)"}
    line("Money: " + ", ".join(f"{named.get(k, k)} {format_yuan(v)}" for k, v in money.items()))
    for year, m in d["money_by_budget_year"].items():
        line(
            f"Budget year {year}: granted {format_yuan(m['granted'])} = released {format_yuan(m['released'])}"
            f" + withheld {format_yuan(m['withheld'])} + forfeited {format_yuan(m['forfeited'])}"
            f" + committed for later service years {format_yuan(m['committed_later'])}"
        )
    line(f"Payments: {d['payment_retries']} retried, {d['payments_escalated']} escalated")
    line(f"Grades: {counts(d['grades_count'])}")
    line(f"Incentives: {counts(d['incentives_by_kind'])}")
    for reason, n in sorted(d["incentive_decisions_by_reason"].items(), key=lambda x: -x[1])[:20]:
        line(f"    {n:4} × {reason}")
    for o in d["objections"]:
        line(f"Objection to {o['order_id']} ({o['grade']}): {o['outcome']}")
    for order_id, outcome in sorted(d["rectification_outcomes"].items()):
        line(f"Rectification of {order_id}: {outcome}")
    for g in d["continued_support_grants"]:
        line(
            f"Continued support (继续支持): {g['order_id']} continues {g['continues']}, {format_yuan(g['amount_fen'])}"
        )
    for a in d["approved_below_ask"]:
        line(
            f"Approved below the ask: {a['order_id']} asked {format_yuan(a['asked_fen'])}, "
            f"granted {format_yuan(a['approved_fen'])}"
        )
    for c in d["member_changes"]:
        who = f": {c['leaving']} replaced by {c['joining']} from {c['effective_from']}" if c.get("joining") else ""
        line(f"Member change {c['change_id']} of {c['order_id']} {c['decision']}{who}")
    for f in d["mid_term_flags"]:
        line(f"Flagged at the mid-term check of {f['as_of']}: {f['order_id']} ({'; '.join(f['reasons'])})")
    eligible = d["continued_funding_eligible"]
    line(
        f"Eligible for continued funding: {len(eligible)} teams ({', '.join(eligible[:8])}{' …' * (len(eligible) > 8)})"
    )
    for r in d["rectifications"][:listed]:
        line(f"Rectification: {r['order_id']} by {r['deadline']}")
    for s in d["suspensions"][:listed]:
        line(f"Suspended from applying: {s['team_id']} until {s['until']}")
    line(
        f"Results published to the public: {len(d['published_results'])} projects; exports "
        f"{', '.join(d['public_exports']) or 'none'}"
    )
    line("The bureau's figures (from the same events; `expert-teams figures` prints them for a running stack):")
    for text in report.figures.lines():
        line(f"  {text}")
    line(f"Rejections answered to senders: {counts(d['rejections_by_reason'])}")
    line(f"Dead letters: {counts(d['dead_letters_by_reason'])}")
    line(f"Messages on the topics: {d['events_seen']}   wall time: {d['wall_time_s']} s")
    line("Result: " + ("all steps answered as expected" if report.ok else "FAILURES: " + "; ".join(report.failures)))


def _figure(value: float) -> str:
    """52 -> '52', 1250000 -> '1,250,000', 7.5 -> '7.5' (an indicator as an official reads it)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


async def public_exports(directory: Path, cycle_id: str, timeout_s: float = 10.0) -> list[str]:
    """The cycle's public files (JSON and CSV), waiting for the reviews service to write them:
    it does so once the closing has committed, so they may follow the published event by a moment."""
    wanted = [directory / f"review-results-{cycle_id}.{form}" for form in ("csv", "json")]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        if all(path.exists() for path in wanted) or asyncio.get_running_loop().time() >= deadline:
            return [str(path) for path in wanted if path.exists()]
        await asyncio.sleep(0.1)
