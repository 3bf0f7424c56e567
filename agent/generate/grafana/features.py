"""Which features a config uses, so dashboards only show panels that can have data.

A panel for a feature the config does not use would read "No data" forever and look
broken (docs/dashboards.md#which-panels-are-generated).
"""

from __future__ import annotations

from agent.config import Config
from exporters.cost.config import AwsCostExplorerSource, FocusSource
from exporters.dora.config import has_incident_source


def cost(config: Config) -> bool:
    """Any billing source: without one there is no cost series at all."""
    return bool(config.cost.sources)


def paid_api(config: Config) -> bool:
    """A Cost Explorer source: the only one whose requests are paid for."""
    return any(isinstance(s, AwsCostExplorerSource) for s in config.cost.sources)


def focus(config: Config) -> bool:
    """A FOCUS source: the only one with billing rows to drop, default or correct."""
    return any(isinstance(s, FocusSource) for s in config.cost.sources)


def anomaly(config: Config) -> bool:
    return cost(config) and config.cost.anomaly.enabled


def dora(config: Config) -> bool:
    """Any deployment or incident source."""
    return bool(config.dora.sources) or has_incident_source(config.dora)


def incidents(config: Config) -> bool:
    """Alertmanager's webhook or a generic events source can report incidents."""
    return has_incident_source(config.dora)


def app_targets(config: Config) -> bool:
    """Scraped application targets: the only source of the HTTP and dependency series."""
    return bool(config.targets)


def https_probe(config: Config) -> bool:
    """A probe over TLS: the only kind with a certificate expiry."""
    return any(p.url.lower().startswith("https://") for p in config.app.probes)


def application(config: Config) -> bool:
    return app_targets(config) or bool(config.slos) or bool(config.app.probes)


# Dashboards generated only when the config has their feature; the others (executive,
# infrastructure, alerts) always have data: the agent's own health and Prometheus' ALERTS.
DASHBOARD_FEATURES = {"cost": cost, "dora": dora, "application": application}


def has_dashboard(config: Config, name: str) -> bool:
    """Whether dashboard `name` is generated: listed in `dashboards` and its feature used."""
    feature = DASHBOARD_FEATURES.get(name)
    return name in config.dashboards and (feature is None or feature(config))
