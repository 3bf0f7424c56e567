"""Executive dashboard: delivery, cost against budget, reliability, on one screen."""

from __future__ import annotations

from typing import Any

from agent.config import SEVERITIES, Config

from ..naming import SLO_ERROR_BUDGET_REMAINING
from . import features
from .cost import AMOUNT, budget_steps, per_currency
from .dora import PER_DAY, frequency_steps, key_steps
from .panels import LEVELS, Panel, Query, Rows, assemble, bargauge, or_zero, stat

WINDOW = "30d"


def _delivery(config: Config) -> list[Panel]:
    envs = "|".join(config.dora.environments)
    sel = f'environment=~"{envs}",window="{WINDOW}"'
    steps = key_steps(config)
    worst = "Worst service; medians and ratios do not add up across services."
    return [
        stat(
            "Deployment frequency",
            Query(f"sum(dora_deployment_frequency_per_day{{{sel}}})"),
            unit=PER_DAY,
            decimals=2,
            thresholds=frequency_steps(config),
            description="All services together.",
        ),
        stat(
            "Lead time for changes",
            Query(f"max(dora_lead_time_median_seconds{{{sel}}})"),
            unit="s",
            thresholds=steps["lead_time"],
            description=worst,
        ),
        stat(
            "Change failure ratio",
            Query(f"max(dora_change_failure_ratio{{{sel}}})"),
            unit="percentunit",
            decimals=1,
            thresholds=steps["change_failure_ratio"],
            description=worst,
        ),
        stat(
            "Time to restore",
            Query(f"max(dora_time_to_restore_median_seconds{{{sel}}})"),
            unit="s",
            thresholds=steps["time_to_restore"],
            description=worst,
        ),
        stat(
            "Rework ratio",
            Query(f"max(dora_rework_ratio{{{sel}}})"),
            unit="percentunit",
            decimals=1,
            description=worst,
        ),
        *(
            [
                stat(
                    "Incidents open",
                    Query(or_zero(f'sum(dora_incidents_open{{environment=~"{envs}"}})')),
                    thresholds=((None, "green"), (1, "red")),
                )
            ]
            if features.incidents(config)
            else []
        ),
        stat(
            "Performance level (worst service)",
            Query(f"min by (metric) (dora_performance_level{{{sel}}})", "{{metric}}"),
            mapping=LEVELS,
            w=24,
        ),
    ]


def _cost(config: Config) -> list[Panel]:
    billed = 'cost_type="billed"'
    panels: list[Panel] = [
        per_currency(
            stat(
                "Month to date",
                Query(f"sum by (currency) (cloudcost_month_to_date{{{billed}}})", "{{currency}}"),
                unit=AMOUNT,
                w=6,
                h=6,
                description="One value per billing currency, never summed across them.",
            )
        ),
        per_currency(
            stat(
                "Forecast month end",
                Query(
                    f"sum by (currency) (cloudcost_forecast_month_end{{{billed}}})",
                    "{{currency}}",
                ),
                unit=AMOUNT,
                w=6,
                h=6,
            )
        ),
    ]
    if config.cost.budgets:
        panels += [
            bargauge(
                "Budget used",
                Query("cloudcost_budget_spent / cloudcost_budget_limit", "{{budget}}"),
                unit="percentunit",
                w=6,
                h=6,
                max_value=1.2,
                thresholds=budget_steps(config),
            ),
            bargauge(
                "Forecast vs budget",
                Query("cloudcost_budget_forecast / cloudcost_budget_limit", "{{budget}}"),
                unit="percentunit",
                w=6,
                h=6,
                max_value=1.2,
                thresholds=budget_steps(config),
            ),
        ]
    return panels


def _reliability(config: Config) -> list[Panel]:
    panels: list[Panel] = []
    if config.slos:
        panels.append(
            bargauge(
                "SLO error budget remaining",
                # Only our series: another SLO tool's may share the Prometheus.
                Query(
                    f'{SLO_ERROR_BUDGET_REMAINING}{{slo!="",service!=""}}', "{{service}} {{slo}}"
                ),
                unit="percentunit",
                w=12,
                max_value=1,
                thresholds=((None, "red"), (0.25, "orange"), (0.5, "green")),
            )
        )
    panels.append(
        stat(
            "Firing alerts",
            *(
                Query(f'count(ALERTS{{alertstate="firing",severity="{s}"}}) or vector(0)', s)
                for s in SEVERITIES
            ),
            w=8,
            h=8,
            thresholds=((None, "green"), (1, "red")),
        )
    )
    panels.append(
        stat(
            "Sources down",
            Query(or_zero("count(opslens_source_up == 0)")),
            w=4,
            h=8,
            thresholds=((None, "green"), (1, "red")),
        )
    )
    return panels


def build(config: Config) -> dict[str, Any]:
    """Return the executive dashboard."""
    rows: Rows = [
        *([(f"Delivery (DORA, {WINDOW})", _delivery(config))] if features.dora(config) else []),
        *([("Cloud cost (billed)", _cost(config))] if features.cost(config) else []),
        ("Reliability", _reliability(config)),
    ]
    return assemble(
        "executive",
        "OpsLens / Executive",
        "Delivery performance, cloud cost against budget and forecast, SLO error budgets and "
        "firing alerts at a glance.",
        rows,
        time_from="now-7d",
    )
