"""Alerts dashboard: what fires now, by severity and service, and its history.

Reads Prometheus' own ALERTS series rather than Alertmanager's metrics, which are only
there when Alertmanager is scraped and know nothing of severities or services.
"""

from __future__ import annotations

from typing import Any

from agent.config import SEVERITIES, Config

from .panels import (
    Panel,
    Query,
    Rows,
    assemble,
    bargauge,
    label_variable,
    or_zero,
    stat,
    table,
    timeline,
    timeseries,
)

FILTER = 'severity=~"$severity",service=~"$service"'
FIRING = f'alertstate="firing",{FILTER}'
COLOURS = {"critical": "red", "high": "orange", "medium": "yellow", "low": "blue"}


def _now() -> list[Panel]:
    counts: list[Panel] = [
        stat(
            f"Firing: {severity}",
            Query(
                f'count(ALERTS{{alertstate="firing",severity="{severity}",service=~"$service"}})'
                " or vector(0)"
            ),
            thresholds=((None, "green"), (1, COLOURS[severity])),
        )
        for severity in SEVERITIES
    ]
    return [
        *counts,
        stat(
            "Pending",
            Query(f'count(ALERTS{{alertstate="pending",{FILTER}}}) or vector(0)'),
            thresholds=((None, "green"), (1, "yellow")),
        ),
        stat(
            "Sources failing",
            Query(or_zero("count(opslens_source_up == 0)")),
            thresholds=((None, "green"), (1, "red")),
        ),
        table(
            "Firing alerts",
            Query(f"ALERTS{{{FIRING}}}"),
            w=24,
            hide=("Time", "__name__", "alertstate", "Value"),
        ),
        table(
            "Active since",
            Query(f"ALERTS_FOR_STATE{{{FILTER}}} * 1000"),
            unit="dateTimeFromNow",
            w=24,
            rename={"Value": "Active since"},
            description="When each alert with a `for` duration became active (pending).",
        ),
    ]


def _history() -> list[Panel]:
    return [
        timeseries(
            "Firing alerts by severity",
            Query(f"count by (severity) (ALERTS{{{FIRING}}})", "{{severity}}"),
            stacked=True,
        ),
        bargauge(
            "Firing alerts by service",
            Query(f"count by (service) (ALERTS{{{FIRING}}})", "{{service}}"),
            w=12,
        ),
        timeline(
            "Alert timeline",
            Query(f"max by (alertname, service) (ALERTS{{{FIRING}}})", "{{alertname}} {{service}}"),
            mapping={1: ("Firing", "red")},
            w=24,
        ),
        timeseries(
            "Exporter source errors",
            Query(
                or_zero(
                    "sum by (exporter, source, reason) "
                    "(increase(opslens_source_errors_total[$__interval]))",
                    reason="none",
                ),
                "{{exporter}}/{{source}} {{reason}}",
            ),
            bars=True,
            w=24,
            min_interval="1m",
        ),
    ]


def build(config: Config) -> dict[str, Any]:
    """Return the alerts dashboard."""
    rows: Rows = [("Now", _now()), ("History", _history())]
    return assemble(
        "alerts",
        "OpsLens / Alerts",
        "Alerts firing and pending by severity and service, how long they have been active, "
        "their history, and exporter source errors.",
        rows,
        [label_variable("severity", "ALERTS"), label_variable("service", "ALERTS")],
        time_from="now-24h",
    )
