"""The PromQL behind every figure of a report, with the Grafana panel showing the same data.

Names are the ones the exporters expose (`agent/catalogue.py`) and the generated rules
record (`opslens_slo:*`), so a report never shows a number the dashboards cannot show too.
Building the plan is pure: no Prometheus is asked anything here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.config import Config
from agent.config.models import Slo
from agent.generate.naming import (
    SLO_ERROR_BUDGET_REMAINING,
    slo_interval_errors,
    slo_interval_events,
)
from agent.generate.rules.slo import STEP, sli_exprs

from .period import DAY, Period

# Budgets count billed cost unless configured otherwise; the overview figures follow suit.
COST_TYPE = "billed"
SECTIONS = ("cost", "delivery", "reliability", "alerts")
DORA_KEYS = ("deployment_frequency", "lead_time", "change_failure_ratio", "time_to_restore")
DORA_GAUGES = {
    "deployment_frequency": "dora_deployment_frequency_per_day",
    "lead_time": "dora_lead_time_median_seconds",
    "change_failure_ratio": "dora_change_failure_ratio",
    "time_to_restore": "dora_time_to_restore_median_seconds",
    "rework": "dora_rework_ratio",
}
DORA_PANELS = {
    "deployment_frequency": "Deployment frequency",
    "lead_time": "Lead time for changes",
    "change_failure_ratio": "Change failure ratio",
    "time_to_restore": "Time to restore",
    "rework": "Rework ratio",
}
# Certificates expiring within this many days are listed; the alert threshold is marked.
CERT_HORIZON_DAYS = 30


@dataclass(frozen=True)
class Panel:
    """A Grafana panel by dashboard name and title; uid and id come from the generator."""

    dashboard: str
    title: str


@dataclass(frozen=True)
class Query:
    key: str
    title: str
    expr: str
    at: float  # evaluation time (the end of a range query)
    start: float | None = None  # set for range queries
    step: float | None = None
    panels: tuple[Panel, ...] = ()

    @property
    def is_range(self) -> bool:
        return self.start is not None


@dataclass(frozen=True)
class Plan:
    """Every query of a report, grouped by section."""

    sections: dict[str, tuple[Query, ...]] = field(default_factory=dict)

    def queries(self) -> list[Query]:
        return [q for qs in self.sections.values() for q in qs]


def _daily(key: str, title: str, expr: str, end: float, days: int, panel: Panel) -> Query:
    # One point per day, the last one at the period's end: `days` daily figures.
    return Query(key, title, expr, end, start=end - (days - 1) * DAY, step=DAY, panels=(panel,))


def cost_queries(config: Config, period: Period) -> tuple[Query, ...]:
    end, prev_end = period.end.timestamp(), period.previous_end.timestamp()
    billed = f'cost_type="{COST_TYPE}"'
    daily = f"sum by (service, currency) (cloudcost_daily{{{billed}}})"
    threshold = config.cost.anomaly.threshold
    return (
        Query(
            "cost.month_to_date",
            "Month to date by provider and currency",
            f"sum by (provider, currency) (cloudcost_month_to_date{{{billed}}})",
            end,
            panels=(Panel("cost", "Month to date"),),
        ),
        Query(
            "cost.forecast",
            "Month-end forecast by provider and currency",
            f"sum by (provider, currency) (cloudcost_forecast_month_end{{{billed}}})",
            end,
            panels=(Panel("cost", "Forecast month end"),),
        ),
        Query(
            "cost.budget_limit",
            "Budget limits",
            "cloudcost_budget_limit",
            end,
            panels=(Panel("cost", "Budgets"),),
        ),
        Query(
            "cost.budget_spent",
            "Spent against each budget",
            "cloudcost_budget_spent",
            end,
            panels=(Panel("cost", "Budget used"),),
        ),
        Query(
            "cost.budget_forecast",
            "Forecast against each budget",
            "cloudcost_budget_forecast",
            end,
            panels=(Panel("cost", "Forecast vs budget"),),
        ),
        _daily(
            "cost.daily",
            "Daily cost by service in the period",
            daily,
            end,
            period.days,
            Panel("cost", "Daily cost by service (top 10 per currency)"),
        ),
        _daily(
            "cost.daily_previous",
            "Daily cost by service in the previous period",
            daily,
            prev_end,
            period.previous_days,
            Panel("cost", "Daily cost by service (top 10 per currency)"),
        ),
        Query(
            "cost.anomalies",
            f"Highest anomaly score in the period, above {threshold:g}",
            f"max_over_time(cloudcost_anomaly_score[{period.range}]) > {threshold:g}",
            end,
            panels=(
                Panel("cost", "Anomalies above threshold"),
                Panel("cost", "Anomaly score (top 10)"),
            ),
        ),
    )


def _environments(config: Config) -> str:
    return "|".join(config.dora.environments) or ".*"


def delivery_queries(config: Config, period: Period) -> tuple[Query, ...]:
    end, prev_end = period.end.timestamp(), period.previous_end.timestamp()
    sel = f'window="{period.dora_window}",environment=~"{_environments(config)}"'
    out: list[Query] = []
    for key, metric in DORA_GAUGES.items():
        panel = Panel("dora", DORA_PANELS[key])
        title = DORA_PANELS[key]
        out.append(Query(f"dora.{key}", title, f"{metric}{{{sel}}}", end, panels=(panel,)))
        out.append(
            Query(
                f"dora.{key}.previous",
                f"{title}, previous period",
                f"{metric}{{{sel}}}",
                prev_end,
                panels=(panel,),
            )
        )
    level = Panel("dora", "Performance level")
    out.append(
        Query(
            "dora.level",
            "Performance level",
            f"dora_performance_level{{{sel}}}",
            end,
            panels=(level,),
        )
    )
    out.append(
        Query(
            "dora.level.previous",
            "Performance level, previous period",
            f"dora_performance_level{{{sel}}}",
            prev_end,
            panels=(level,),
        )
    )
    # Successful deployments in the exporter's window, from its store: right after a
    # backfill too, unlike an increase() of the counter over what Prometheus has seen.
    days = 7 if period.dora_window == "7d" else 30
    out.append(
        Query(
            "dora.deployments",
            f"Successful deployments in the trailing {period.dora_window}",
            f"dora_deployment_frequency_per_day{{{sel}}} * {days}",
            end,
            panels=(Panel("dora", "Deployments (time range)"),),
        )
    )
    out.append(
        _daily(
            "dora.frequency_daily",
            "Deployment frequency, day by day",
            f"dora_deployment_frequency_per_day{{{sel}}}",
            end,
            period.days,
            Panel("dora", "Deployment frequency"),
        )
    )
    return tuple(out)


def slo_key(slo: Slo) -> str:
    return f"slo.{slo.service}.{slo.name}"


def _day_ratio(ids: str) -> str:
    """Bad events ÷ events of the last day, from the 5-minute increases the rules record."""
    errors = f"sum_over_time({slo_interval_errors(STEP)}{{{ids}}}[1d])"
    events = f"sum_over_time({slo_interval_events(STEP)}{{{ids}}}[1d])"
    return f"{errors} / ({events} > 0) or ({events} == 0)"


def reliability_queries(config: Config, period: Period) -> tuple[Query, ...]:
    end = period.end.timestamp()
    out: list[Query] = []
    for slo in config.slos:
        key = slo_key(slo)
        ids = f'slo="{slo.name}",service="{slo.service}"'
        # The SLI's own selectors over exactly the period: traffic-weighted, like the rules.
        errors, total = sli_exprs(slo, period.range)
        out += [
            Query(f"{key}.errors", f"{slo.service} {slo.name}: bad events", errors, end),
            Query(f"{key}.total", f"{slo.service} {slo.name}: all events", total, end),
            Query(
                f"{key}.remaining",
                f"{slo.service} {slo.name}: error budget remaining over {slo.window}",
                f"{SLO_ERROR_BUDGET_REMAINING}{{{ids}}}",
                end,
                panels=(Panel("application", "Error budget remaining"),),
            ),
            _daily(
                f"{key}.daily",
                f"{slo.service} {slo.name}: error ratio of each day",
                _day_ratio(ids),
                end,
                period.days,
                Panel("application", "Burn rate, ticket windows"),
            ),
        ]
    probe_panel = Panel("application", "Probe status")
    out += [
        Query(
            "probes.availability",
            "Probe availability in the period",
            f"avg by (probe, service) (avg_over_time(probe_success[{period.range}]))",
            end,
            panels=(probe_panel,),
        ),
        _daily(
            "probes.daily",
            "Probe availability of each day",
            "avg by (probe, service) (avg_over_time(probe_success[1d]))",
            end,
            period.days,
            probe_panel,
        ),
        Query(
            "probes.certificates",
            f"Certificates expiring within {CERT_HORIZON_DAYS} days",
            "min by (probe, service) (probe_ssl_earliest_cert_expiry > 0)"
            f" - time() < {CERT_HORIZON_DAYS * 86400}",
            end,
            panels=(Panel("application", "Certificate expires in"),),
        ),
    ]
    return tuple(out)


def alerts_queries(
    config: Config, period: Period, severity: str | None = None
) -> tuple[Query, ...]:
    # Raw samples, not a resampled range query: episode starts and ends are then exact
    # to one rule evaluation, and a resolved alert does not linger for the lookback delta.
    sel = 'alertstate="firing"' + (f',severity="{severity}"' if severity else "")
    return (
        Query(
            "alerts.firing",
            "Firing alert samples in the period",
            f"ALERTS{{{sel}}}[{period.range}]",
            period.end.timestamp(),
            panels=(
                Panel("alerts", "Firing alerts by severity"),
                Panel("alerts", "Firing alerts by service"),
                Panel("alerts", "Alert timeline"),
            ),
        ),
    )


def review_plan(config: Config, period: Period) -> Plan:
    """Plan every query of the review: cost, delivery, reliability and alerts."""
    return Plan(
        {
            "cost": cost_queries(config, period),
            "delivery": delivery_queries(config, period),
            "reliability": reliability_queries(config, period),
            "alerts": alerts_queries(config, period),
        }
    )


def digest_plan(config: Config, period: Period) -> Plan:
    """Plan the daily digest: the period's low-severity alerts, which page nobody."""
    return Plan({"alerts": alerts_queries(config, period, severity="low")})
