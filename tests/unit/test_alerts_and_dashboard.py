"""The alert rules (deploy/prometheus/alerts.yml) and the Grafana dashboard
(deploy/grafana/expert-teams.json) ask only for series and labels the services really export,
promtool accepts the rules, their unit tests and the scrape configuration, and every alert has a
unit test where it fires and one where it does not.

The exported series are read from a real ServiceMetrics (with FastStream's middleware on its
registry, as the runtime builds it), each metric labelled and moved once, then exposed and
parsed; nothing here lists them. promtool comes from tools.promtool (PATH, or Debian's package
fetched into .tools/); if it cannot be had, the promtool tests fail, they never skip."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import Counter, Gauge, Histogram, Summary, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from services.catalog import DEFINITIONS
from shared.runtime.metrics import ServiceMetrics
from tests.unit.deploy_files import ROOT, compose
from tools.promtool import promtool_path

PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERT_TESTS = PROMETHEUS / "alerts.test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "expert-teams.json"
JOB = "expert-teams"

TARGET_LABELS = {"job", "instance"}
"""Prometheus adds these to every series it scrapes."""
PROMETHEUS_OWN = {"up": TARGET_LABELS}
"""Series Prometheus itself writes for each target."""
GRAFANA_VARIABLES = {"__rate_interval": "5m", "__range": "6h", "__interval": "1m", "service": ".*"}
"""What Grafana puts in place of the variables the dashboard uses, for checking its queries."""
SEVERITIES = {"critical", "warning"}


# ---- what the services export -------------------------------------------------------------------


def scrape() -> list[Metric]:
    """A service's /metrics, parsed, after every metric was labelled and moved once."""
    metrics = ServiceMetrics("funding")
    KafkaPrometheusMiddleware(registry=metrics.registry, app_name="funding")  # as shared/runtime/service.py
    # Every collector registered, ours and FastStream's (the registry keeps no public list).
    for collector in list(metrics.registry._collector_to_names):
        if isinstance(collector, MetricWrapperBase):
            move_once(collector)
    return list(text_string_to_metric_families(generate_latest(metrics.registry).decode()))


def exported_series() -> dict[str, set[str]]:
    """Series name -> its label names, as Prometheus stores them from a scrape of the services."""
    series: dict[str, set[str]] = {}
    for family in scrape():
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return {name: labels | TARGET_LABELS for name, labels in series.items()} | PROMETHEUS_OWN


def move_once(metric: MetricWrapperBase) -> None:
    names: tuple[str, ...] = metric._labelnames
    child: Any = metric.labels(*["x"] * len(names)) if names else metric
    if isinstance(metric, Counter):
        child.inc()
    elif isinstance(metric, Gauge):
        child.set(1)
    elif isinstance(metric, Histogram | Summary):
        child.observe(0.01)
    else:
        raise AssertionError(f"{metric!r}: a kind of metric this test does not know how to move")


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    return exported_series()


# ---- names in PromQL ----------------------------------------------------------------------------

TOKEN = re.compile(
    r"""
      (?P<space>\s+|\#[^\n]*)
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<variable>\$\{[^}]*\}|\$\w+)
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z0-9]*)
    | (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<op>=~|!~|!=|==|<=|>=|=|<|>|[-+*/%^])
    | (?P<punct>[(){}\[\],@])
    """,
    re.VERBOSE,
)
"""Numbers take their unit letters with them (5m, 1h30m, 0x1f, 1e3), so durations are no names."""

AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
KEYWORDS = AGGREGATIONS | {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
MATCHERS = {"=", "!=", "=~", "!~"}


@dataclass
class Query:
    series: dict[str, set[str]] = field(default_factory=dict)
    """Series named in the query -> the label names its matchers use."""
    grouping: set[str] = field(default_factory=set)
    """Label names in by/without/on/ignoring/group_left/group_right lists."""


def tokens(expr: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(expr):
        match = TOKEN.match(expr, position)
        if match is None:
            raise ValueError(f"cannot read PromQL at {expr[position:]!r} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append((kind, match.group()))
        position = match.end()
    return found


def read_query(expr: str) -> Query:
    """The series and labels a PromQL expression names: identifiers that are not functions (followed
    by `(`), keywords or aggregations, with the label names of their matchers; label lists of
    by/without/on/ignoring apart; strings, numbers, durations, ranges and variables skipped."""
    query = Query()
    found = tokens(expr)
    i = 0

    def next_is(j: int, text: str) -> bool:
        return j < len(found) and found[j][1] == text

    while i < len(found):
        kind, text = found[i]
        if kind == "name" and text.lower() in LABEL_LISTS and next_is(i + 1, "("):
            i += 2
            while i < len(found) and found[i][1] != ")":
                if found[i][0] == "name":
                    query.grouping.add(found[i][1])
                i += 1
        elif kind == "name" and (next_is(i + 1, "(") or text.lower() in KEYWORDS | LABEL_LISTS):
            pass  # a function, an aggregation or a keyword
        elif kind == "name":
            labels = query.series.setdefault(text, set())
            if next_is(i + 1, "{"):
                i = read_matchers(found, i + 2, query, labels)
        elif text == "{":
            i = read_matchers(found, i + 1, query, None)
        elif text == "[":
            while i < len(found) and found[i][1] != "]":
                i += 1
        i += 1
    return query


def read_matchers(found: list[tuple[str, str]], i: int, query: Query, labels: set[str] | None) -> int:
    """Reads `label op "value", …` up to `}`; returns the index of the `}`."""
    named: list[tuple[str, str]] = []
    while i < len(found) and found[i][1] != "}":
        if found[i][0] == "name" and i + 2 < len(found) and found[i + 1][1] in MATCHERS:
            named.append((found[i][1], found[i + 2][1]))
            i += 3
        else:
            i += 1
    for label, value in named:
        if label == "__name__":
            labels = query.series.setdefault(value.strip("\"'`"), set())
    for label, _ in named:
        if label != "__name__" and labels is not None:
            labels.add(label)
    return i


def problems(expr: str, exported: dict[str, set[str]]) -> list[str]:
    """What an expression asks for that a scrape of the services does not have."""
    query = read_query(expr)
    found: list[str] = []
    for name, labels in query.series.items():
        if name not in exported:
            found.append(f"series {name} is not exported")
        else:
            found += [f"{name} has no label {label}" for label in sorted(labels - exported[name])]
    available = set().union(*(exported.get(name, set()) for name in query.series))
    found += [f"no series in it has the label {label}" for label in sorted(query.grouping - available)]
    return found


# ---- the files ----------------------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"] if "alert" in rule]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels inside a collapsed row


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target."""
    return [
        (f"panel {panel['id']} {panel['title']!r} target {target['refId']}", target["expr"])
        for panel in dashboard_panels()
        for target in panel.get("targets", [])
    ]


def with_grafana_variables(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in GRAFANA_VARIABLES, (
            f"dashboard variable ${name} unknown to this test: add it to GRAFANA_VARIABLES"
        )
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


# ---- promtool -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> Path:
    return promtool_path()  # raises (and so fails the tests using it) when promtool cannot be had


def run_promtool(promtool: Path, *args: str | Path) -> None:
    done = subprocess.run([str(promtool), *map(str, args)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (
        f"promtool {' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    )


# ---- the tests ----------------------------------------------------------------------------------


def test_every_alert_asks_only_for_series_and_labels_the_services_export(exported: dict[str, set[str]]) -> None:
    rules = alert_rules()
    assert rules
    for rule in rules:
        assert read_query(rule["expr"]).series, f"{rule['alert']} names no series"
        assert problems(rule["expr"], exported) == [], rule["alert"]


def test_every_dashboard_query_asks_only_for_series_and_labels_the_services_export(
    exported: dict[str, set[str]],
) -> None:
    queries = dashboard_queries()
    assert queries
    for where, expr in queries:
        assert read_query(expr).series, f"{where} names no series"
        assert problems(expr, exported) == [], where
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        assert match, f"variable {variable['name']}: {query!r} is not label_values(series, label)"
        series, label = match.groups()
        assert label in exported.get(series, set()), f"variable {variable['name']}: {series} has no label {label}"


def test_every_metric_of_the_services_is_on_the_dashboard() -> None:
    shown = {name for _, expr in dashboard_queries() for name in read_query(expr).series}
    families = scrape()
    names = {family.name for family in families}
    ours = [
        family
        for family in families
        if family.name.startswith("expert_teams_") and family.name.removesuffix("_created") not in names - {family.name}
    ]  # the creation times of counters and histograms are families of their own in the text format
    assert ours
    missing = [family.name for family in ours if not shown & {sample.name for sample in family.samples}]
    assert missing == [], "metrics without a panel"


def test_the_name_check_finds_a_made_up_series_a_made_up_label_and_nothing_else() -> None:
    exported = {"expert_teams_ready": {"service", "job", "instance"}, "up": {"job", "instance"}}
    assert problems("rate(expert_teams_made_up_total[5m]) > 0", exported) == [
        "series expert_teams_made_up_total is not exported"
    ]
    assert problems('expert_teams_ready{colour="red"} == 0', exported) == ["expert_teams_ready has no label colour"]
    assert problems("sum by (colour) (expert_teams_ready)", exported) == ["no series in it has the label colour"]
    assert problems('{__name__="expert_teams_gone"}', exported) == ["series expert_teams_gone is not exported"]
    query = read_query(
        'sum without (instance) (max_over_time(expert_teams_ready{service=~"$service", job!="x"}[$__rate_interval]'
        ' offset 1h30m)) == bool on (job) group_left () up{job="expert-teams"} and inf > 1e3 or quantile(0.9, up)'
    )
    assert query.series == {"expert_teams_ready": {"service", "job"}, "up": {"job"}}
    assert query.grouping == {"instance", "job"}


def test_promtool_accepts_the_alert_rules(promtool: Path) -> None:
    run_promtool(promtool, "check", "rules", ALERTS)


def test_the_alerts_pass_their_promtool_unit_tests(promtool: Path) -> None:
    run_promtool(promtool, "test", "rules", ALERT_TESTS)


def test_promtool_accepts_the_prometheus_configuration_with_its_rules(promtool: Path) -> None:
    run_promtool(promtool, "check", "config", CONFIG)


def test_every_dashboard_query_is_promql_promtool_accepts(promtool: Path, tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:query_{number}", "expr": with_grafana_variables(expr)}
        for number, (_, expr) in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    run_promtool(promtool, "check", "rules", path)


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not() -> None:
    loaded = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    assert loaded["rule_files"] == [ALERTS.name]
    cases = [case for test in loaded["tests"] for case in test.get("alert_rule_test", [])]
    names = {rule["alert"] for rule in alert_rules()}
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert sorted(names - firing) == [], "alerts without a case where they fire"
    assert sorted(names - quiet) == [], "alerts without a case where they must not fire"
    assert sorted((firing | quiet) - names) == [], "cases of alerts that do not exist"


def test_every_alert_says_how_serious_it_is_what_happened_and_what_to_do_first() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    for rule in alert_rules():
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        description = rule["annotations"]["description"]
        assert "First:" in description, f"{rule['alert']}: the description says what to do first"


def test_the_dashboard_is_a_grafana_model_with_unique_panels_each_with_a_query() -> None:
    model = dashboard()
    assert model["uid"] and model["title"]
    assert 36 <= model["schemaVersion"] <= 41
    variables = {variable["name"]: variable for variable in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["service"]["type"] == "query"
    assert variables["service"]["datasource"]["uid"] == "${datasource}"
    panels = list(dashboard_panels())
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        where = f"panel {panel['id']} {panel['title']!r}"
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"{where} has a query"
        assert panel["datasource"]["uid"] == "${datasource}", where
        assert all(target["expr"].strip() and target["refId"] for target in panel["targets"]), where
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), where
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, where
        mine = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"{where} overlaps another panel"
        cells |= mine


def test_prometheus_scrapes_the_four_services_on_their_health_port_under_the_job_the_alerts_name() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert config["rule_files"] == [ALERTS.name]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    assert job.get("metrics_path", "/metrics") == "/metrics"
    services = compose()["services"]
    expected = {f"{d.name}:{services[d.name]['environment']['HTTP_PORT']}" for d in DEFINITIONS}
    assert {target for group in job["static_configs"] for target in group["targets"]} == expected
    assert any(read_query(rule["expr"]).series.get("up") == {"job"} for rule in alert_rules())
    assert all(f'job="{JOB}"' in rule["expr"] for rule in alert_rules() if "up" in read_query(rule["expr"]).series)
