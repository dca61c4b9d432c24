"""The public export of a cycle's results (考核结果向社会公布), rendered from the
ReviewResultsPublished event alone (all its parts, joined by ReviewResultsPublished.joined), so
that anyone holding it can re-render and check it. Pure: no I/O (adapters/exports.py writes).

Both forms carry exactly the published fields of each project (order, project title, county,
team, lead's name, institution, grade, score) plus the grade's Chinese label; no other
personal data. The CSV is meant for spreadsheets: adapters write it as UTF-8 with a BOM.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from shared.contract.events.reviews import PublicResult, ReviewResultsPublished

from .grading import GRADE_LABELS

COLUMNS: tuple[str, ...] = (
    "order_id",
    "project",
    "county_code",
    "county_name",
    "team_name",
    "lead_name",
    "institution",
    "grade",
    "grade_label",
    "score",
)


def export_name(cycle_id: str, extension: str) -> str:
    """'review-results-2019.json': one file per cycle and form (cycle ids are file-name safe)."""
    return f"review-results-{cycle_id}.{extension}"


def render_json(event: ReviewResultsPublished) -> str:
    document = {
        "cycle_id": event.cycle_id,
        "year": event.year,
        "published_at": event.published_at.isoformat(),
        "notice_ends_on": None if event.notice_ends_on is None else event.notice_ends_on.isoformat(),
        "results": [_row(result) for result in event.results],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def render_csv(event: ReviewResultsPublished) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for result in event.results:
        row = _row(result)
        writer.writerow(row | {"score": "" if row["score"] is None else f"{row['score']:.2f}"})
    return buffer.getvalue()


def _row(result: PublicResult) -> dict[str, Any]:
    values = result.model_dump(mode="json")
    return {column: values.get(column) for column in COLUMNS} | {"grade_label": GRADE_LABELS[result.grade]}
