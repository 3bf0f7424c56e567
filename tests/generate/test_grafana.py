"""Grafana provisioning and dashboards: golden files, structure, catalogue coverage."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import Config, load, parse
from agent.generate import HEADER, render_all, serialise
from agent.generate.grafana import dashboards, metric_names, panel_queries, render
from agent.generate.hosts import COMPOSE, native
from agent.generate.naming import (
    DATASOURCE_UID,
    GRAFANA_DASHBOARD_PROVIDERS_FILE,
    GRAFANA_DASHBOARDS_MOUNT,
    dashboard_uid,
)
from exporters import catalogue

ROOT = Path(__file__).resolve().parents[2]
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
BUILTINS = {"__rate_interval", "__interval", "__range", "datasource"}
UIDS = {
    "opslens-executive",
    "opslens-cost",
    "opslens-dora",
    "opslens-application",
    "opslens-infrastructure",
    "opslens-alerts",
}


@pytest.fixture(scope="module")
def config() -> Config:
    return load(ROOT / "opslens.yaml")


@pytest.fixture(scope="module")
def boards(config: Config) -> dict[str, dict[str, Any]]:
    return dashboards(config)


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def query_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(board) if p["type"] != "row"]


def grafana_paths() -> list[str]:
    return [a.path for a in render(load(ROOT / "opslens.yaml"), COMPOSE)]


@pytest.mark.parametrize("path", grafana_paths())
def test_golden(config: Config, golden: Callable[[str, str], None], path: str) -> None:
    artefact = next(a for a in render(config, COMPOSE) if a.path == path)
    golden(path, serialise(artefact))


def test_committed_grafana_folder_is_current(config: Config) -> None:
    stale = [
        a.path
        for a in render(config, COMPOSE)
        if not (ROOT / a.path).exists()
        or (ROOT / a.path).read_text(encoding="utf-8") != serialise(a)
    ]
    assert not stale, f"run `opslens generate`: {stale}"


def test_one_dashboard_per_configured_name_with_contract_uids(
    config: Config, boards: dict[str, dict[str, Any]]
) -> None:
    assert list(boards) == config.dashboards
    assert {b["uid"] for b in boards.values()} == UIDS
    for name, board in boards.items():
        assert board["uid"] == dashboard_uid(name)
    assert len({b["title"] for b in boards.values()}) == len(boards)
    paths = {a.path for a in render(config, COMPOSE)}
    assert {f"grafana/dashboards/{n}.json" for n in config.dashboards} <= paths


def test_every_file_carries_the_header(config: Config) -> None:
    for artefact in render(config, COMPOSE):
        assert HEADER in serialise(artefact)
        if artefact.kind == "json":
            assert HEADER in artefact.content["description"]


def test_every_panel_and_target_names_the_datasource(boards: dict[str, dict[str, Any]]) -> None:
    for board in boards.values():
        variable = board["templating"]["list"][0]
        assert variable["type"] == "datasource"
        assert variable["query"] == "prometheus"
        assert variable["current"]["value"] == DATASOURCE_UID
        for panel in query_panels(board):
            assert panel["datasource"] == DATASOURCE_REF, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE_REF, panel["title"]
                assert target["expr"].strip(), panel["title"]
        for var in board["templating"]["list"][1:]:
            if var["type"] == "query":
                assert var["datasource"] == DATASOURCE_REF


def test_panel_ids_are_unique_sequential_and_laid_out_on_the_grid(
    boards: dict[str, dict[str, Any]],
) -> None:
    for name, board in boards.items():
        ids = [p["id"] for p in panels(board)]
        assert ids == list(range(1, len(ids) + 1)), name
        cells: set[tuple[int, int]] = set()
        for panel in panels(board):
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (name, panel["title"])
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not area & cells, f"{name}: {panel['title']} overlaps another panel"
            cells |= area


def test_output_is_deterministic(config: Config) -> None:
    again = load(ROOT / "opslens.yaml")
    first = [serialise(a) for a in render(config, COMPOSE)]
    assert first == [serialise(a) for a in render(again, COMPOSE)]


def test_queries_use_only_defined_variables(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        defined = {v["name"] for v in board["templating"]["list"]} | BUILTINS
        for title, expr in panel_queries(board):
            used = set(re.findall(r"\$\{?(\w+)", expr))
            assert used <= defined, f"{name} / {title}: undefined {used - defined}"


def test_rates_use_rate_interval(boards: dict[str, dict[str, Any]]) -> None:
    rate_range = re.compile(r"\b(?:i?rate)\([^\[\]]*\[([^\]]*)\]")
    seen = 0
    for name, board in boards.items():
        for title, expr in panel_queries(board):
            for window in rate_range.findall(expr):
                seen += 1
                assert window == "$__rate_interval", f"{name} / {title}: rate over {window}"
    assert seen > 10


def test_panels_cover_every_catalogue_family(boards: dict[str, dict[str, Any]]) -> None:
    used = {n for b in boards.values() for _, e in panel_queries(b) for n in metric_names(e)}
    missing = [
        family
        for family in catalogue.ALL
        if not {family, f"{family}_bucket", f"{family}_sum", f"{family}_count"} & used
    ]
    assert not missing, f"no panel shows {missing}"


def recorded_names(config: Config) -> set[str]:
    names = set()
    for artefact in render_all(config):
        if artefact.path.startswith("rules/") and artefact.path.endswith(".rules.yml"):
            for group in yaml.safe_load(serialise(artefact))["groups"]:
                names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def test_queries_use_only_catalogue_series_or_recording_rules(
    config: Config, boards: dict[str, dict[str, Any]]
) -> None:
    known = catalogue.series_names() | recorded_names(config)
    for name, board in boards.items():
        for title, expr in panel_queries(board):
            unknown = metric_names(expr) - known
            assert not unknown, f"{name} / {title}: unknown series {unknown}"


def test_datasource_provisioning_reaches_prometheus_from_grafana(config: Config) -> None:
    def datasource(hosts: Any) -> dict[str, Any]:
        artefact = next(a for a in render(config, hosts) if "datasources" in a.path)
        docs = yaml.safe_load(serialise(artefact))
        assert docs["apiVersion"] == 1
        (only,) = docs["datasources"]
        return dict(only)

    compose = datasource(COMPOSE)
    assert compose["uid"] == DATASOURCE_UID
    assert compose["type"] == "prometheus"
    assert compose["url"] == "http://prometheus:9090"
    assert compose["jsonData"]["timeInterval"] == "15s"
    assert datasource(native("127.0.0.1:10470"))["url"] == "http://127.0.0.1:9090"


def test_dashboard_provider_reads_the_mounted_folder(config: Config) -> None:
    artefact = next(
        a for a in render(config, COMPOSE) if a.path == GRAFANA_DASHBOARD_PROVIDERS_FILE
    )
    (provider,) = yaml.safe_load(serialise(artefact))["providers"]
    assert provider["type"] == "file"
    assert (
        provider["options"]["path"]
        == GRAFANA_DASHBOARDS_MOUNT
        == "/var/lib/grafana/dashboards/opslens"
    )
    assert provider["allowUiUpdates"] is False


def test_dashboards_follow_the_config() -> None:
    minimal = parse(
        "version: 1\nproject: tiny\ndashboards: [application, cost, infrastructure]\n"
        "app: {host: false}\n"
        "cost: {sources: [{type: focus, name: bills, path: 'bills/*.csv'}]}\n"
        "targets: [{job: web, static: ['web:8000']}]\n"
    )
    boards = dashboards(minimal)
    assert list(boards) == ["application", "cost", "infrastructure"]
    paths = [a.path for a in render(minimal, COMPOSE)]
    assert "grafana/dashboards/dora.json" not in paths
    titles = {n: {p["title"] for p in panels(b)} for n, b in boards.items()}
    # No SLOs, probes, budgets, tag labels, host or processes configured: no such panels,
    # so no query needs a recording rule that is not generated.
    assert "SLOs" not in titles["application"] and "Probes" not in titles["application"]
    assert "Budgets" not in titles["cost"] and "Month to date by team" not in titles["cost"]
    assert titles["infrastructure"] & {"Host", "Processes"} == set()
    names = {n for b in boards.values() for _, e in panel_queries(b) for n in metric_names(e)}
    assert not {n for n in names if n.startswith("opslens_slo:")}
    assert {v["name"] for v in boards["cost"]["templating"]["list"]} == {"datasource", "cost_type"}


_SLO_SELECTOR = re.compile(r"(opslens_slo:[a-zA-Z0-9_:]+)(\{[^}]*\})?")


def test_every_slo_series_in_a_query_filters_on_slo_and_service(
    boards: dict[str, dict[str, Any]],
) -> None:
    """Another SLO tool's series in the same Prometheus can never join with ours.

    Sloth's series carry neither `slo` nor `service`; selecting ours by both on every side
    of every expression keeps them out of any join (no many-to-many errors) and any panel.
    """
    seen = 0
    for name, board in boards.items():
        for title, expr in panel_queries(board):
            for metric, matchers in _SLO_SELECTOR.findall(expr):
                seen += 1
                assert re.search(r"\bslo(!=|=)", matchers), (name, title, metric, expr)
                assert re.search(r"\bservice(!=|=~|=)", matchers), (name, title, metric, expr)
    assert seen >= 20


def test_application_dashboard_plots_each_slos_own_burn_windows(
    boards: dict[str, dict[str, Any]],
) -> None:
    queries = dict.fromkeys(e for t, e in panel_queries(boards["application"]) if "Burn" in t)
    # The 28d SLO's windows scale: 56m, not 1h.
    assert any('ratio_rate56m{slo="availability",service="checkout"' in q for q in queries)
    assert not any('ratio_rate1h{slo="availability",service="checkout"' in q for q in queries)
    titles = {p["title"] for p in panels(boards["application"])}
    assert {"SLOs", "Error budget remaining", "SLI over the SLO period"} <= titles


def test_budget_and_level_thresholds_come_from_the_config(
    boards: dict[str, dict[str, Any]],
) -> None:
    def steps(board: str, title: str) -> list[tuple[Any, str]]:
        panel = next(p for p in panels(boards[board]) if p["title"] == title)
        return [
            (s["value"], s["color"])
            for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        ]

    # opslens.yaml budgets warn at 0.8; DORA default levels: 1/day elite, 1/week high …
    assert steps("cost", "Budget used") == [(None, "green"), (0.8, "orange"), (1.0, "red")]
    frequency = steps("dora", "Deployment frequency")
    assert frequency == [(None, "red"), (1 / 30, "orange"), (1 / 7, "blue"), (1.0, "green")]
    assert steps("dora", "Lead time for changes")[1] == (86400.0, "blue")


def test_panel_queries_reads_collapsed_rows() -> None:
    board = {
        "panels": [
            {"type": "stat", "title": "A", "targets": [{"expr": "up"}, {"expr": ""}]},
            {
                "type": "row",
                "title": "R",
                "collapsed": True,
                "panels": [{"type": "timeseries", "title": "B", "targets": [{"expr": "x"}]}],
            },
            {"type": "text", "title": "C"},
        ]
    }
    assert panel_queries(board) == [("A", "up"), ("B", "x")]


def test_json_round_trips(config: Config) -> None:
    for artefact in render(config, COMPOSE):
        if artefact.kind == "json":
            assert json.loads(serialise(artefact)) == artefact.content


def test_dora_shows_na_where_a_key_cannot_be_computed(boards: dict[str, dict[str, Any]]) -> None:
    # Stats first, so a stat and a time series of the same title resolve to the stat.
    by_title = {
        p["title"]: p for p in sorted(panels(boards["dora"]), key=lambda p: p["type"] == "stat")
    }
    for title in ("Performance level", "Performance level over time"):
        panel = by_title[title]
        (target,) = panel["targets"]
        # The level where it exists, else -1 from the unknown family (its reason dropped).
        assert target["expr"].startswith("dora_performance_level{")
        assert " or -1 * max without (reason) (dora_performance_level_unknown{" in target["expr"]
        options = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
        assert options["-1"]["text"] == "N/A"
        assert {options[str(v)]["text"] for v in range(4)} == {"Low", "Medium", "High", "Elite"}
    # Values that a window may not have show N/A rather than "No data".
    for title in (
        "Lead time for changes",
        "Change failure ratio",
        "Time to restore",
        "Failed deployment recovery",
        "Deployment days per month",
    ):
        assert by_title[title]["fieldConfig"]["defaults"]["noValue"] == "N/A", title
    assert (
        "dora_deployment_day_count_per_week"
        in by_title["Deployment days per week"]["targets"][0]["expr"]
    )
