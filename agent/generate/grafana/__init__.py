"""`grafana/`: datasource and dashboard provisioning, and one JSON file per dashboard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.config import Config

from ..artefact import Artefact
from ..hosts import COMPOSE, Hosts
from ..naming import GRAFANA_DASHBOARD_PROVIDERS_FILE, GRAFANA_DATASOURCES_FILE, dashboard_file
from . import alerts, application, cost, dora, executive, features, infrastructure, provisioning
from .promql import metric_names

Builder = Callable[[Config], dict[str, Any]]

BUILDERS: dict[str, Builder] = {
    "executive": executive.build,
    "cost": cost.build,
    "dora": dora.build,
    "application": application.build,
    "infrastructure": infrastructure.build,
    "alerts": alerts.build,
}


def dashboards(config: Config) -> dict[str, dict[str, Any]]:
    """Build every dashboard the config asks for and has the feature of, in config order."""
    return {
        name: BUILDERS[name](config)
        for name in dict.fromkeys(config.dashboards)
        if features.has_dashboard(config, name)
    }


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (panel title, expr) for every target of every panel, rows included."""
    out = []
    stack = list(dashboard.get("panels", []))
    while stack:
        panel = stack.pop(0)
        stack[:0] = panel.get("panels", [])  # collapsed rows nest their panels
        for target in panel.get("targets", []):
            if target.get("expr"):
                out.append((panel.get("title", ""), target["expr"]))
    return out


def render(config: Config, hosts: Hosts = COMPOSE) -> list[Artefact]:
    out = [
        Artefact(GRAFANA_DATASOURCES_FILE, provisioning.datasource(config, hosts)),
        Artefact(GRAFANA_DASHBOARD_PROVIDERS_FILE, provisioning.dashboards()),
    ]
    for name, board in dashboards(config).items():
        out.append(Artefact(dashboard_file(name), board, "json"))
    return out


__all__ = ["BUILDERS", "dashboards", "metric_names", "panel_queries", "render"]
