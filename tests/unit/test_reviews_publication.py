"""The public results of a cycle (考核结果向社会公布) and their JSON and CSV export, without I/O."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest

from services.reviews.domain.model import accept_report, close_cycle, complete_if_ready, record_score
from services.reviews.domain.publication import COLUMNS, export_name, render_csv, render_json
from services.reviews.domain.rubric import ReviewRubric
from shared.contract.events.reviews import PublicResult, ReviewResultsPublished
from shared.policy import ProgrammePolicy
from tests.reviews_builders import (
    expert,
    opened_review,
    order_published,
    outcome_report,
    panel_score,
    reviewer,
    team_accepted,
)

NOW = datetime(2020, 1, 10, 2, 0, tzinfo=UTC)
CLOSED_AT = datetime(2020, 2, 10, 2, 0, tzinfo=UTC)
RUBRIC, POLICY = ReviewRubric(), ProgrammePolicy()
REVIEWERS = (reviewer("王评审", "西南大学"), reviewer("李评审", "重庆大学"), reviewer("张评审", "重庆市农业科学院"))
MEMBER = expert("成员甲", "EXP-member-1", institution="西南大学")


def published_cycle() -> ReviewResultsPublished:
    """A closed 2019 cycle: the 郭顺星 team graded by its panel, another team without a report."""
    tianma = team_accepted(order_published("500240-2019-001", start=date(2019, 6, 1)), members=(MEMBER,))
    cycle, graded = opened_review("500240-2019-001", accepted=tianma)
    graded, _ = accept_report(graded, cycle, outcome_report("2019", graded.order_id), NOW)
    for by, score in zip(REVIEWERS, (93, 91.5, 90), strict=True):
        graded, _ = record_score(graded, cycle, panel_score("2019", graded.order_id, by, score), RUBRIC, NOW)
    ready = complete_if_ready(graded, cycle, RUBRIC, POLICY, NOW)
    graded = ready.review if ready else graded
    _, silent = opened_review("500240-2019-002")
    return close_cycle(cycle, [silent, graded], RUBRIC, POLICY, CLOSED_AT).published


def test_the_public_results_list_each_project_with_its_grade_and_only_the_published_fields() -> None:
    event = published_cycle()
    assert (event.cycle_id, event.year, event.published_at) == ("2019", 2019, CLOSED_AT)
    assert [r.model_dump() for r in event.results] == [
        {
            "order_id": "500240-2019-001",
            "project": "保合村天麻种源繁育",
            "county_code": "500240",
            "county_name": "石柱县",
            "team_name": "郭顺星团队",
            "lead_name": "郭顺星",
            "institution": "重庆硒旺华宝生物科技有限公司",
            "grade": "excellent",
            "score": 91.5,
        },
        {
            "order_id": "500240-2019-002",
            "project": "保合村天麻种源繁育",
            "county_code": "500240",
            "county_name": "石柱县",
            "team_name": "郭顺星团队",
            "lead_name": "郭顺星",
            "institution": "重庆硒旺华宝生物科技有限公司",
            "grade": "unqualified",
            "score": None,
        },
    ]
    assert set(PublicResult.model_fields) == set(COLUMNS) - {"grade_label"}


def test_the_json_export_is_rendered_from_the_event_alone() -> None:
    event = published_cycle()
    document = json.loads(render_json(event))
    assert document["cycle_id"] == "2019"
    assert document["published_at"] == "2020-02-10T02:00:00+00:00"
    first, second = document["results"]
    assert list(first) == list(COLUMNS)
    assert (first["grade"], first["grade_label"], first["score"]) == ("excellent", "优秀", 91.5)
    assert (second["grade_label"], second["score"]) == ("不合格", None)
    assert render_json(ReviewResultsPublished.model_validate(event.model_dump(mode="json"))) == render_json(event)


def test_the_csv_export_has_one_row_per_project_and_an_empty_score_when_graded_without_scores() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(published_cycle()))))
    assert [tuple(row.values()) for row in rows] == [
        (
            "500240-2019-001",
            "保合村天麻种源繁育",
            "500240",
            "石柱县",
            "郭顺星团队",
            "郭顺星",
            "重庆硒旺华宝生物科技有限公司",
            "excellent",
            "优秀",
            "91.50",
        ),
        (
            "500240-2019-002",
            "保合村天麻种源繁育",
            "500240",
            "石柱县",
            "郭顺星团队",
            "郭顺星",
            "重庆硒旺华宝生物科技有限公司",
            "unqualified",
            "不合格",
            "",
        ),
    ]


def test_no_personal_data_beyond_the_published_fields_reaches_the_exports() -> None:
    event = published_cycle()
    for export in (render_json(event), render_csv(event)):
        for private in (
            "成员甲",
            "EXP-member-1",
            "本地骨干",
            *(r.name for r in REVIEWERS),
            *(r.reviewer_id for r in REVIEWERS),
        ):
            assert private not in export
        assert "TEAM-" not in export and "示范园建设达标" not in export, "no team ids, no reviewers' comments"


def test_each_cycle_has_its_own_export_files() -> None:
    assert export_name("2019", "json") == "review-results-2019.json"
    assert export_name("2019-annual", "csv") == "review-results-2019-annual.csv"


def test_a_large_cycle_is_published_in_parts_that_join_back_into_the_same_export(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = published_cycle()
    many = event.model_copy(
        update={
            "results": tuple(
                r.model_copy(update={"order_id": f"500240-2019-{i:03}"})
                for i in range(1, 26)
                for r in event.results[:1]
            )
        }
    )
    monkeypatch.setattr(ReviewResultsPublished, "RESULTS_PER_PART", 10)

    parts = many.in_parts()

    assert [(p.part, p.parts, len(p.results)) for p in parts] == [(1, 3, 10), (2, 3, 10), (3, 3, 5)]
    assert [r.order_id for p in parts for r in p.results] == [r.order_id for r in many.results]
    assert {(p.cycle_id, p.year, p.published_at) for p in parts} == {("2019", 2019, CLOSED_AT)}
    assert render_json(ReviewResultsPublished.joined(list(reversed(parts)))) == render_json(many)
    with pytest.raises(ValueError, match="do not make a whole"):
        ReviewResultsPublished.joined(parts[:2])
    assert event.in_parts() == [event], "a small cycle is one part, as before"
