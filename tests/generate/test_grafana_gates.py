"""Panels and dashboards exist only for the features a config uses (docs/dashboards.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.cli.up import demo_config_text
from agent.config import load, parse
from agent.generate import render_all
from agent.generate.grafana import dashboards, panel_queries
from agent.generate.hosts import COMPOSE
from agent.generate.naming import dashboard_file

BASE = "version: 1\nproject: tiny\n"
FOCUS = "{type: focus, name: bills, path: 'bills/*.csv'}"
CE = "{type: aws_cost_explorer, name: ce}"
GIT = "{type: git, name: repo, path: ., service: shop}"
TARGET = "targets: [{job: web, static: ['web:8000'], service: web}]\n"


def probe(url: str) -> str:
    return f"app: {{probes: [{{name: p, url: '{url}'}}]}}\n"


HTTP_PROBE = probe("http://web:8000/")


def titles(extra: str) -> dict[str, set[str]]:
    """Panel and row titles of each generated dashboard for BASE plus `extra`."""
    config = parse(BASE + extra)

    def walk(panels: list[dict[str, Any]]) -> Iterator[str]:
        for panel in panels:
            yield panel["title"]
            yield from walk(panel.get("panels", []))

    return {name: set(walk(board["panels"])) for name, board in dashboards(config).items()}


PAID = {"Paid API cost (24h)", "Paid API requests", "Daily request cap used (24h)", "Daily cap"}
QUALITY = {"Billing data quality", "Rows dropped (24h)", "Rows dropped by reason"}
ANOMALY = {"Anomalies", "Anomaly score (top 10)", "Anomalies above threshold"}
INCIDENTS = {"Incidents open", "Incidents tied to no deployment", "Incidents"}
RED = {"Rate, errors, duration", "Request rate", "Requests per route", "Cache hit ratio"}

# (feature, config with it, config without it, dashboard, titles only present with it)
GATES = [
    ("paid API", f"cost: {{sources: [{CE}]}}\n", f"cost: {{sources: [{FOCUS}]}}\n", "cost", PAID),
    ("focus", f"cost: {{sources: [{FOCUS}]}}\n", f"cost: {{sources: [{CE}]}}\n", "cost", QUALITY),
    (
        "anomaly",
        f"cost: {{sources: [{FOCUS}]}}\n",
        f"cost: {{sources: [{FOCUS}], anomaly: {{enabled: false}}}}\n",
        "cost",
        ANOMALY,
    ),
    (
        "alertmanager incidents",
        f"dora: {{sources: [{GIT}], incidents: {{alertmanager: {{enabled: true}}}}}}\n",
        f"dora: {{sources: [{GIT}]}}\n",
        "dora",
        INCIDENTS | {"Time to restore p90 (time range)"},
    ),
    (
        "events incidents",
        f"dora: {{sources: [{GIT}, {{type: events, name: ev}}]}}\n",
        f"dora: {{sources: [{GIT}]}}\n",
        "dora",
        INCIDENTS,
    ),
    (
        "incidents on the executive board",
        f"dora: {{sources: [{GIT}], incidents: {{alertmanager: {{enabled: true}}}}}}\n",
        f"dora: {{sources: [{GIT}]}}\n",
        "executive",
        {"Incidents open"},
    ),
    (
        "app targets",
        TARGET + HTTP_PROBE,
        HTTP_PROBE,
        "application",
        RED,
    ),
    (
        "https probe",
        probe("https://web.example.com/"),
        HTTP_PROBE,
        "application",
        {"Certificate expires in"},
    ),
    (
        "cost on the executive board",
        f"cost: {{sources: [{FOCUS}]}}\n",
        "",
        "executive",
        {"Cloud cost (billed)", "Month to date", "Forecast month end"},
    ),
    (
        "delivery on the executive board",
        f"dora: {{sources: [{GIT}]}}\n",
        "",
        "executive",
        {"Delivery (DORA, 30d)", "Deployment frequency", "Lead time for changes"},
    ),
]


@pytest.mark.parametrize(
    ("with_it", "without", "board", "gated"),
    [g[1:] for g in GATES],
    ids=[g[0] for g in GATES],
)
def test_panels_follow_their_feature(
    with_it: str, without: str, board: str, gated: set[str]
) -> None:
    present = titles(with_it)[board]
    assert gated <= present, f"missing with the feature: {gated - present}"
    absent = titles(without).get(board, set())
    assert not gated & absent, f"generated without the feature: {gated & absent}"


def test_panels_of_features_in_use_stay() -> None:
    """Without the gated features the boards keep the panels that always have data."""
    cost = titles(f"cost: {{sources: [{FOCUS}], anomaly: {{enabled: false}}}}\n")["cost"]
    assert {"Latest complete day", "Month to date", "Data age by source and provider"} <= cost
    assert "Data freshness" in cost and "Cost API spend and data freshness" not in cost
    dora = titles(f"dora: {{sources: [{GIT}]}}\n")["dora"]
    assert {"Deployment frequency", "Time to restore", "Deployments"} <= dora
    application = titles(HTTP_PROBE)["application"]
    assert {"Probes", "Probe status", "Probe duration"} <= application


@pytest.mark.parametrize(
    ("extra", "boards"),
    [
        ("", {"executive", "infrastructure", "alerts"}),
        (f"cost: {{sources: [{CE}]}}\n", {"executive", "cost", "infrastructure", "alerts"}),
        (f"dora: {{sources: [{GIT}]}}\n", {"executive", "dora", "infrastructure", "alerts"}),
        (
            "dora: {incidents: {alertmanager: {enabled: true}}}\n",
            {"executive", "dora", "infrastructure", "alerts"},
        ),
        (TARGET, {"executive", "application", "infrastructure", "alerts"}),
        (HTTP_PROBE, {"executive", "application", "infrastructure", "alerts"}),
    ],
    ids=["nothing", "cost", "dora", "incidents only", "targets", "probes"],
)
def test_dashboards_exist_only_with_their_feature(extra: str, boards: set[str]) -> None:
    config = parse(BASE + extra)
    assert set(dashboards(config)) == boards
    paths = {a.path for a in render_all(config, COMPOSE)}
    for name in ("executive", "cost", "dora", "application", "infrastructure", "alerts"):
        assert (dashboard_file(name) in paths) == (name in boards), name


def test_the_full_and_demo_configs_keep_all_six_dashboards(root: Path, tmp_path: Path) -> None:
    six = ["executive", "cost", "dora", "application", "infrastructure", "alerts"]
    assert list(dashboards(load(root / "opslens.yaml"))) == six
    demo = parse(demo_config_text(tmp_path, root), "demo.yaml")
    assert sorted(dashboards(demo)) == sorted(six)


def test_a_gated_board_still_reads_only_what_its_config_produces() -> None:
    """A cost board from a FOCUS-only config has no paid-API query left anywhere."""
    board = dashboards(parse(BASE + f"cost: {{sources: [{FOCUS}]}}\n"))["cost"]
    assert not [e for _, e in panel_queries(board) if "opslens_paid_api" in e]
    board = dashboards(parse(BASE + f"cost: {{sources: [{CE}]}}\n"))["cost"]
    assert not [e for _, e in panel_queries(board) if "rows_dropped" in e or "corrections" in e]
