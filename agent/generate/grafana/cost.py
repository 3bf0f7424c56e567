"""Cost dashboard: latest day, month to date vs budget, forecast, breakdowns, anomalies."""

from __future__ import annotations

from typing import Any, TypeVar

from grafana_foundation_sdk.builders import bargauge as sdk_bargauge
from grafana_foundation_sdk.builders import stat as sdk_stat
from grafana_foundation_sdk.builders import timeseries as sdk_timeseries
from grafana_foundation_sdk.models import dashboard as dm

from agent.config import Config

from . import features
from .panels import (
    Panel,
    Query,
    Rows,
    Variable,
    assemble,
    bargauge,
    custom_variable,
    label_variable,
    or_zero,
    stat,
    table,
    timeseries,
)

# Grafana's built-in currency units. Amounts are shown one series per currency, the code
# ending the legend; a series whose code is listed gets that currency's symbol, any other
# a plain number next to its code. A fixed unit would print KRW sums with a dollar sign.
_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "SEK", "NOK", "DKK", "PLN", "INR", "BRL", "ZAR")
AMOUNT = "short"

_Amounts = TypeVar("_Amounts", sdk_stat.Panel, sdk_timeseries.Panel, sdk_bargauge.Panel)


def per_currency(panel: _Amounts) -> _Amounts:
    """Give each series the unit of the currency its legend ends with."""
    for code in _CURRENCIES:
        unit = dm.DynamicConfigValue(id_val="unit", value=f"currency{code}")
        panel.override_by_regexp(f"^(.* )?{code}$", [unit])
    return panel


def cost_selector(config: Config) -> str:
    """Return the matchers for the cost_type and tag-label variables."""
    tags = "".join(f',{label}=~"${label}"' for label in config.cost.labels_from_tags)
    return f'cost_type="$cost_type"{tags}'


def budget_steps(config: Config) -> tuple[tuple[float | None, str], ...]:
    """Colour green below the lowest budget threshold, orange up to 100 %, red above."""
    below_one = sorted({t for b in config.cost.budgets for t in b.thresholds if t < 1})
    warn: tuple[tuple[float | None, str], ...] = ((below_one[0], "orange"),) if below_one else ()
    return ((None, "green"), *warn, (1.0, "red"))


def _breakdowns(config: Config, sel: str) -> list[Panel]:
    panels: list[Panel] = [
        per_currency(
            timeseries(
                "Daily cost by service (top 10 per currency)",
                Query(
                    f"topk by (currency) (10, sum by (service, currency) "
                    f"(cloudcost_daily{{{sel}}}))",
                    "{{service}} {{currency}}",
                ),
                unit=AMOUNT,
                w=24,
                description="Cost of each provider's latest complete UTC day, per service, "
                "as it is revised.",
            )
        ),
        per_currency(
            bargauge(
                "Month to date by service (top 10 per currency)",
                Query(
                    f"topk by (currency) (10, sum by (service, currency) "
                    f"(cloudcost_month_to_date{{{sel}}}))",
                    "{{service}} {{currency}}",
                ),
                unit=AMOUNT,
                w=6,
            )
        ),
        per_currency(
            bargauge(
                "Month to date by account",
                Query(
                    f"sum by (provider, account, currency) (cloudcost_month_to_date{{{sel}}})",
                    "{{provider}} {{account}} {{currency}}",
                ),
                unit=AMOUNT,
                w=6,
            )
        ),
        per_currency(
            bargauge(
                "Month to date by charge category",
                Query(
                    f"sum by (charge_category, currency) (cloudcost_month_to_date{{{sel}}})",
                    "{{charge_category}} {{currency}}",
                ),
                unit=AMOUNT,
                w=6,
                description="Usage, purchases, tax, credits and adjustments (FOCUS "
                "ChargeCategory); empty for Cost Explorer, which does not split them.",
            )
        ),
        per_currency(
            bargauge(
                "Month to date by region",
                Query(
                    f"sum by (region, currency) (cloudcost_month_to_date{{{sel}}})",
                    "{{region}} {{currency}}",
                ),
                unit=AMOUNT,
                w=6,
            )
        ),
    ]
    for label in config.cost.labels_from_tags:
        panels.append(
            per_currency(
                bargauge(
                    f"Month to date by {label}",
                    Query(
                        f"sum by ({label}, currency) (cloudcost_month_to_date{{{sel}}})",
                        f"{{{{{label}}}}} {{{{currency}}}}",
                    ),
                    unit=AMOUNT,
                    w=12,
                    description=f"Series without a {label} tag are grouped under an empty name.",
                )
            )
        )
        panels.append(
            per_currency(
                bargauge(
                    f"Forecast month end by {label}",
                    Query(
                        f"sum by ({label}, currency) (cloudcost_forecast_month_end{{{sel}}})",
                        f"{{{{{label}}}}} {{{{currency}}}}",
                    ),
                    unit=AMOUNT,
                    w=12,
                )
            )
        )
    return panels


def _budgets(config: Config) -> list[Panel]:
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
            unit=AMOUNT,
            w=8,
            rename={"Value #A": "Limit", "Value #B": "Spent", "Value #C": "Forecast"},
            description="Amounts in each budget's own currency (the currency column).",
        ),
    ]


def build(config: Config) -> dict[str, Any]:
    """Return the cost dashboard."""
    sel = cost_selector(config)
    stale = config.cost.stale_after.seconds_f + 86400  # the data is a day's *start*
    threshold = config.cost.anomaly.threshold
    overview: list[Panel] = [
        per_currency(
            stat(
                "Latest complete day",
                Query(f"sum by (currency) (cloudcost_daily{{{sel}}})", "{{currency}}"),
                unit=AMOUNT,
                description="Cost of each provider's latest complete UTC day, one value per "
                "currency.",
            )
        ),
        per_currency(
            stat(
                "Month to date",
                Query(f"sum by (currency) (cloudcost_month_to_date{{{sel}}})", "{{currency}}"),
                unit=AMOUNT,
                description="Including corrections billed this month; one value per currency.",
            )
        ),
        per_currency(
            stat(
                "Forecast month end",
                Query(f"sum by (currency) (cloudcost_forecast_month_end{{{sel}}})", "{{currency}}"),
                unit=AMOUNT,
                description="Usage run out to month end; purchases and corrections once.",
            )
        ),
        stat(
            "Data age",
            Query("time() - min(cloudcost_data_timestamp_seconds)"),
            unit="s",
            w=3,
            thresholds=((None, "green"), (stale, "red")),
            description="Since the start of the stalest provider's latest complete day.",
        ),
        stat(
            "Folded series",
            Query("sum(cloudcost_folded_series)"),
            w=3,
            thresholds=((None, "green"), (1, "orange")),
            description='Cheapest series folded into service="other" to stay under max_series.',
        ),
    ]
    if features.focus(config):
        overview.append(
            stat(
                "Rows dropped (24h)",
                Query(
                    or_zero(
                        'sum(increase(opslens_source_rows_dropped_total{exporter="cost"}[24h]))'
                    )
                ),
                w=3,
                thresholds=((None, "green"), (1, "red")),
                description="Billing rows a reader could not use; the agent's status page "
                "names the first file and line.",
            )
        )
    if features.paid_api(config):
        overview.append(
            stat(
                "Paid API cost (24h)",
                # Cost Explorer bills in USD, whatever the currency of the account.
                Query(or_zero("sum(increase(opslens_paid_api_cost_usd_total[24h]))")),
                unit="currencyUSD",
                w=3,
                decimals=2,
            )
        )
    quality = [
        per_currency(
            bargauge(
                "Corrections by billing period",
                Query(
                    "sum by (provider, billing_period, currency) "
                    '(cloudcost_corrections{cost_type="$cost_type"})',
                    "{{provider}} {{billing_period}} {{currency}}",
                ),
                unit=AMOUNT,
                description="Corrections of earlier periods (ChargeClass Correction), counted "
                "in the month to date of the billing period that carries them.",
            )
        ),
        timeseries(
            "Rows dropped by reason",
            Query(
                or_zero(
                    "sum by (source, reason) "
                    '(increase(opslens_source_rows_dropped_total{exporter="cost"}[$__interval]))',
                    reason="none",
                ),
                "{{source}} {{reason}}",
            ),
            bars=True,
            w=8,
            min_interval="5m",
            description="Counted when a file is read; the status page names the first "
            "dropped row's file and line.",
        ),
        timeseries(
            "Rows with a placeholder label by reason",
            Query(
                or_zero(
                    "sum by (source, reason) "
                    '(increase(opslens_source_rows_defaulted_total{exporter="cost"}[$__interval]))',
                    reason="none",
                ),
                "{{source}} {{reason}}",
            ),
            bars=True,
            w=8,
            min_interval="5m",
            description='A missing ServiceName reads service="unknown"; malformed Tags give '
            "no tag labels.",
        ),
    ]
    anomalies = [
        timeseries(
            "Anomaly score (top 10)",
            Query(
                "topk(10, max by (provider, account, service, currency) (cloudcost_anomaly_score))",
                "{{provider}} {{account}} {{service}} {{currency}}",
            ),
            thresholds=((None, "green"), (threshold, "red")),
            description="Robust z-score of the latest day's usage against the trailing "
            "window, per currency.",
        ),
        table(
            "Anomalies above threshold",
            Query(f"cloudcost_anomaly_score > {threshold:g}"),
            description="Empty while no service is anomalous.",
        ),
    ]
    api: list[Panel] = [
        timeseries(
            "Paid API requests",
            Query(
                or_zero(
                    "sum by (source, operation) "
                    "(increase(opslens_paid_api_requests_total[$__interval]))",
                    operation="none",
                ),
                "{{source}} {{operation}}",
            ),
            bars=True,
            w=8,
            min_interval="5m",
        ),
        bargauge(
            "Daily request cap used (24h)",
            # A source that has made no request yet has used 0 of its cap.
            Query(
                "(sum by (source) (increase(opslens_paid_api_requests_total[24h]))"
                " or on (source) 0 * opslens_paid_api_daily_cap)"
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
                "{{source}} USD",
            ),
            unit="currencyUSD",
            bars=True,
            min_interval="5m",
        ),
    ]
    freshness = [
        bargauge(
            "Data age by source and provider",
            Query("time() - cloudcost_data_timestamp_seconds", "{{source}} {{provider}}"),
            unit="s",
            w=12,
            thresholds=((None, "green"), (stale, "red")),
            description="Each provider is on its own day: a lagging export shows here.",
        ),
    ]
    paid = features.paid_api(config)
    rows: Rows = [
        ("Overview", overview),
        *([("Budgets", _budgets(config))] if config.cost.budgets else []),
        ("Breakdown", _breakdowns(config, sel)),
        *([("Anomalies", anomalies)] if features.anomaly(config) else []),
        *([("Billing data quality", quality)] if features.focus(config) else []),
        (
            "Cost API spend and data freshness" if paid else "Data freshness",
            [*(api if paid else []), *freshness],
        ),
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
