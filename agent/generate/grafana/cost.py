"""Cost dashboard: latest day, month to date vs budget, forecast, breakdowns, anomalies."""

from __future__ import annotations

from typing import Any

from agent.config import Config

from .panels import (
    Panel,
    Query,
    Rows,
    Variable,
    assemble,
    bargauge,
    custom_variable,
    label_variable,
    stat,
    table,
    timeseries,
)

# Grafana's built-in currency units; anything else falls back to a suffix.
_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "SEK", "NOK", "DKK", "PLN", "INR", "BRL", "ZAR")


def currency_unit(config: Config) -> str:
    """Pick the Grafana unit for amounts: the budgets' currency when they agree, else USD."""
    codes = sorted({b.currency for b in config.cost.budgets}) or ["USD"]
    code = codes[0] if len(codes) == 1 else "USD"
    return f"currency{code}" if code in _CURRENCIES else f"suffix: {code}"


def cost_selector(config: Config) -> str:
    """Return the matchers for the cost_type and tag-label variables."""
    tags = "".join(f',{label}=~"${label}"' for label in config.cost.labels_from_tags)
    return f'cost_type="$cost_type"{tags}'


def budget_steps(config: Config) -> tuple[tuple[float | None, str], ...]:
    """Colour green below the lowest budget threshold, orange up to 100 %, red above."""
    below_one = sorted({t for b in config.cost.budgets for t in b.thresholds if t < 1})
    warn: tuple[tuple[float | None, str], ...] = ((below_one[0], "orange"),) if below_one else ()
    return ((None, "green"), *warn, (1.0, "red"))


def _breakdowns(config: Config, sel: str, unit: str) -> list[Panel]:
    panels: list[Panel] = [
        timeseries(
            "Daily cost by service (top 10)",
            Query(
                f"topk(10, sum by (service, currency) (cloudcost_daily{{{sel}}}))", "{{service}}"
            ),
            unit=unit,
            w=24,
            description="Cost of the latest complete UTC day, per service, as it is revised.",
        ),
        bargauge(
            "Month to date by service (top 10)",
            Query(
                f"topk(10, sum by (service, currency) (cloudcost_month_to_date{{{sel}}}))",
                "{{service}}",
            ),
            unit=unit,
        ),
        bargauge(
            "Month to date by account",
            Query(
                f"sum by (provider, account, currency) (cloudcost_month_to_date{{{sel}}})",
                "{{provider}} {{account}}",
            ),
            unit=unit,
        ),
        bargauge(
            "Month to date by region",
            Query(f"sum by (region, currency) (cloudcost_month_to_date{{{sel}}})", "{{region}}"),
            unit=unit,
        ),
    ]
    for label in config.cost.labels_from_tags:
        panels.append(
            bargauge(
                f"Month to date by {label}",
                Query(
                    f"sum by ({label}, currency) (cloudcost_month_to_date{{{sel}}})",
                    f"{{{{{label}}}}}",
                ),
                unit=unit,
                w=12,
                description=f"Series without a {label} tag are grouped under an empty name.",
            )
        )
        panels.append(
            bargauge(
                f"Forecast month end by {label}",
                Query(
                    f"sum by ({label}, currency) (cloudcost_forecast_month_end{{{sel}}})",
                    f"{{{{{label}}}}}",
                ),
                unit=unit,
                w=12,
            )
        )
    return panels


def _budgets(config: Config, unit: str) -> list[Panel]:
    b = 'budget=~"$budget"'
    return [
        bargauge(
            "Budget used",
            Query(f"cloudcost_budget_spent{{{b}}} / cloudcost_budget_limit{{{b}}}", "{{budget}}"),
            unit="percentunit",
            thresholds=budget_steps(config),
            max_value=1.2,
        ),
        bargauge(
            "Forecast vs budget",
            Query(
                f"cloudcost_budget_forecast{{{b}}} / cloudcost_budget_limit{{{b}}}", "{{budget}}"
            ),
            unit="percentunit",
            thresholds=budget_steps(config),
            max_value=1.2,
            description="Forecast spend at the end of the budget period, as a share of it.",
        ),
        table(
            "Budgets",
            Query(f"cloudcost_budget_limit{{{b}}}"),
            Query(f"cloudcost_budget_spent{{{b}}}"),
            Query(f"cloudcost_budget_forecast{{{b}}}"),
            unit=unit,
            w=8,
            rename={"Value #A": "Limit", "Value #B": "Spent", "Value #C": "Forecast"},
        ),
    ]


def build(config: Config) -> dict[str, Any]:
    """Return the cost dashboard."""
    sel = cost_selector(config)
    unit = currency_unit(config)
    stale = config.cost.stale_after.seconds_f + 86400  # the data is a day's *start*
    threshold = config.cost.anomaly.threshold
    overview = [
        stat(
            "Latest complete day",
            Query(f"sum by (currency) (cloudcost_daily{{{sel}}})", "{{currency}}"),
            unit=unit,
            description="Cost of the latest complete UTC day in the billing data.",
        ),
        stat(
            "Month to date",
            Query(f"sum by (currency) (cloudcost_month_to_date{{{sel}}})", "{{currency}}"),
            unit=unit,
        ),
        stat(
            "Forecast month end",
            Query(f"sum by (currency) (cloudcost_forecast_month_end{{{sel}}})", "{{currency}}"),
            unit=unit,
        ),
        stat(
            "Data age",
            Query("time() - min(cloudcost_data_timestamp_seconds)"),
            unit="s",
            thresholds=((None, "green"), (stale, "red")),
            description="Since the start of the oldest source's latest complete day.",
        ),
        stat(
            "Folded series",
            Query("sum(cloudcost_folded_series)"),
            thresholds=((None, "green"), (1, "orange")),
            description='Cheapest series folded into service="other" to stay under max_series.',
        ),
        stat(
            "Paid API cost (24h)",
            Query("sum(increase(opslens_paid_api_cost_usd_total[24h]))"),
            unit="currencyUSD",
            decimals=2,
        ),
    ]
    anomalies = [
        timeseries(
            "Anomaly score (top 10)",
            Query(
                "topk(10, max by (provider, account, service) (cloudcost_anomaly_score))",
                "{{provider}} {{account}} {{service}}",
            ),
            thresholds=((None, "green"), (threshold, "red")),
            description="Robust z-score of the latest day against the trailing window.",
        ),
        table(
            "Anomalies above threshold",
            Query(f"cloudcost_anomaly_score > {threshold:g}"),
            description="Empty while no service is anomalous.",
        ),
    ]
    api = [
        timeseries(
            "Paid API requests",
            Query(
                "sum by (source, operation) "
                "(increase(opslens_paid_api_requests_total[$__interval]))",
                "{{source}} {{operation}}",
            ),
            bars=True,
            w=8,
            min_interval="5m",
        ),
        bargauge(
            "Daily request cap used (24h)",
            Query(
                "sum by (source) (increase(opslens_paid_api_requests_total[24h]))"
                " / on (source) opslens_paid_api_daily_cap",
                "{{source}}",
            ),
            unit="percentunit",
            thresholds=((None, "green"), (0.8, "orange"), (1.0, "red")),
            max_value=1,
            description="Requests over the last 24 h against the daily cap (resets 00:00 UTC).",
        ),
        stat(
            "Daily cap",
            Query("max by (source) (opslens_paid_api_cap_reached)", "{{source}}"),
            mapping={0: ("Under cap", "green"), 1: ("Cap reached", "red")},
            w=8,
            h=8,
        ),
        timeseries(
            "Paid API spend",
            Query(
                "sum by (source) (increase(opslens_paid_api_cost_usd_total[$__interval]))",
                "{{source}}",
            ),
            unit="currencyUSD",
            bars=True,
            min_interval="5m",
        ),
        bargauge(
            "Data age by source",
            Query("time() - cloudcost_data_timestamp_seconds", "{{source}}"),
            unit="s",
            w=12,
            thresholds=((None, "green"), (stale, "red")),
        ),
    ]
    rows: Rows = [
        ("Overview", overview),
        *([("Budgets", _budgets(config, unit))] if config.cost.budgets else []),
        ("Breakdown", _breakdowns(config, sel, unit)),
        ("Anomalies", anomalies),
        ("Cost API spend and data freshness", api),
    ]
    variables: list[Variable] = [
        custom_variable("cost_type", ["billed", "effective", "list"], "billed"),
        *(
            label_variable(label, "cloudcost_month_to_date")
            for label in config.cost.labels_from_tags
        ),
    ]
    if config.cost.budgets:
        variables.append(label_variable("budget", "cloudcost_budget_limit"))
    return assemble(
        "cost",
        "OpsLens / Cost",
        "Cloud cost from Cost Explorer and FOCUS billing data: latest day, month to date against "
        "budgets, forecasts, breakdowns, anomalies and what the cost APIs themselves cost.",
        rows,
        variables,
        time_from="now-30d",
    )
