"""The public page of the review results (考核结果公示): the results under public notice and the
results in effect, per cycle, filterable by district/county. Pure: renders what
adapters/public_results.py read; the page shows no more personal data than the published export
(project, county, team, the lead's name, institution, grade, score) and each result's standing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape
from urllib.parse import urlencode

from shared.contract.events.reviews import Grade

from .grading import GRADE_LABELS


@dataclass(frozen=True, slots=True)
class PublicCycle:
    cycle_id: str
    year: int
    published_on: date
    notice_ends_on: date


@dataclass(frozen=True, slots=True)
class PublicRow:
    order_id: str
    project: str
    county_code: str
    county_name: str
    team_name: str
    lead_name: str
    institution: str
    grade: Grade | None
    score: Decimal | None
    status: str
    """The review's status: graded, re_review or final."""
    round: int
    objection: str | None
    """The objection's status (pending, upheld, rejected), if one was lodged."""


@dataclass(frozen=True, slots=True)
class PublicView:
    cycles: tuple[PublicCycle, ...]
    """Every cycle whose results were published, newest first."""
    cycle: PublicCycle | None
    rows: tuple[PublicRow, ...]
    """The chosen cycle's results (all counties: the filter is applied when rendering)."""
    county: str | None
    today: date


def standing(row: PublicRow, cycle: PublicCycle, today: date) -> str:
    """Where the result stands, in the words of a notice board."""
    if row.status == "final":
        return "已生效（经复核）" if row.round > 1 else "已生效"
    if row.status == "re_review":
        return "异议成立，复核中（原评定不生效）"
    if row.objection == "pending":
        return "异议处理中"
    if today <= cycle.notice_ends_on:
        return "公示中（异议不成立）" if row.objection == "rejected" else "公示中"
    return "公示期满，待生效"


def render_page(view: PublicView) -> str:
    title = "重庆市专家服务团年度考核结果公示"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{title}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px 8px}</style>",
        f"</head><body><h1>{title}</h1>",
    ]
    if view.cycle is None:
        parts.append('<p id="no-results">尚无公布的考核结果。</p></body></html>')
        return "\n".join(parts)
    cycle = view.cycle
    parts.append(_cycle_links(view))
    counties = sorted({(r.county_code, r.county_name) for r in view.rows})
    shown = [r for r in view.rows if view.county is None or r.county_code == view.county]
    notice = (
        f"公示期：{cycle.published_on} 至 {cycle.notice_ends_on}（5个工作日）。公示期内如有异议，请通过申报系统提出。"
        if view.today <= cycle.notice_ends_on
        else f"公示期已于 {cycle.notice_ends_on} 结束。"
    )
    parts.append(f'<h2 id="cycle" data-cycle="{escape(cycle.cycle_id)}">{cycle.year}年度考核结果</h2>')
    parts.append(f'<p id="notice" data-notice-ends-on="{cycle.notice_ends_on}">{escape(notice)}</p>')
    parts.append(_county_form(cycle, counties, view.county))
    parts.append(
        '<table id="results"><thead><tr><th>区县</th><th>项目</th><th>团队</th><th>负责专家</th><th>单位</th>'
        "<th>考核等次</th><th>得分</th><th>状态</th></tr></thead><tbody>"
    )
    for row in shown:
        grade = GRADE_LABELS[row.grade] if row.grade else "—"
        score = "" if row.score is None else f"{row.score:.2f}"
        parts.append(
            f'<tr data-order="{escape(row.order_id)}" data-county="{escape(row.county_code)}">'
            f"<td>{escape(row.county_name)}</td><td>{escape(row.project)}</td><td>{escape(row.team_name)}</td>"
            f"<td>{escape(row.lead_name)}</td><td>{escape(row.institution)}</td>"
            f'<td class="grade">{grade}</td><td class="score">{score}</td>'
            f'<td class="standing">{escape(standing(row, cycle, view.today))}</td></tr>'
        )
    parts.append("</tbody></table>")
    parts.append(f'<p id="count">共 {len(shown)} 个项目</p>')
    parts.append(
        "<script>document.getElementById('county').addEventListener('change',"
        "function(){this.form.submit();});</script></body></html>"
    )
    return "\n".join(parts)


def _cycle_links(view: PublicView) -> str:
    links = []
    for cycle in view.cycles:
        query = {"cycle": cycle.cycle_id} | ({"county": view.county} if view.county else {})
        links.append(f'<a href="?{escape(urlencode(query))}">{cycle.year}年度</a>')
    return '<nav id="cycles">' + " | ".join(links) + "</nav>"


def _county_form(cycle: PublicCycle, counties: list[tuple[str, str]], chosen: str | None) -> str:
    options = ['<option value="">全部区县</option>']
    for code, name in counties:
        selected = " selected" if code == chosen else ""
        options.append(f'<option value="{escape(code)}"{selected}>{escape(name)}</option>')
    return (
        '<form id="filter" method="get">'
        f'<input type="hidden" name="cycle" value="{escape(cycle.cycle_id)}">'
        f'<label>区县：<select id="county" name="county">{"".join(options)}</select></label>'
        '<noscript><button type="submit">筛选</button></noscript></form>'
    )
