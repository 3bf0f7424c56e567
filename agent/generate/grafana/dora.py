"""DORA dashboard: the four keys and rework with levels, trends, deployments and incidents.

A key that cannot be computed shows N/A: its value panel has no series (`noValue`), and its
level comes from `dora_performance_level_unknown`, mapped from -1 to "N/A".
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import stat as sdk_stat

from agent.config import Config

from . import features
from .panels import (
    LEVELS,
    Panel,
    Query,
    Rows,
    Steps,
    Variable,
    assemble,
    bargauge,
    custom_variable,
    label_variable,
    or_zero,
    stat,
    table,
    timeline,
    timeseries,
)

WINDOWS = ("7d", "30d", "90d")
SEL = 'service=~"$service",environment=~"$environment"'
WSEL = f'{SEL},window="$window"'
PER_DAY = "suffix:/day"
NA = "N/A"
# A level, or -1 where `dora_performance_level_unknown` says it cannot be computed.
LEVEL = (
    f"dora_performance_level{{{WSEL}}}"
    f" or -1 * max without (reason) (dora_performance_level_unknown{{{WSEL}}})"
)
LEVELS_OR_NA = {**LEVELS, -1: (NA, "text")}
# A service appears once it has had an incident; with an incident source and none yet, 0.
OPEN_INCIDENTS = or_zero(f"sum by (service) (dora_incidents_open{{{SEL}}})", service="all services")


def frequency_steps(config: Config) -> Steps:
    """Colour deployment frequency by the configured levels (higher is better)."""
    f = config.dora.levels.deployment_frequency_per_day
    return ((None, "red"), (f.medium, "orange"), (f.high, "blue"), (f.elite, "green"))


def duration_steps(elite: float, high: float, medium: float) -> Steps:
    """Colour a duration or ratio where lower is better: elite green … low red."""
    return ((None, "green"), (elite, "blue"), (high, "orange"), (medium, "red"))


def key_steps(config: Config) -> dict[str, Steps]:
    levels = config.dora.levels
    return {
        "lead_time": duration_steps(
            levels.lead_time.elite.seconds_f,
            levels.lead_time.high.seconds_f,
            levels.lead_time.medium.seconds_f,
        ),
        "change_failure_ratio": duration_steps(
            levels.change_failure_ratio.elite,
            levels.change_failure_ratio.high,
            levels.change_failure_ratio.medium,
        ),
        "time_to_restore": duration_steps(
            levels.time_to_restore.elite.seconds_f,
            levels.time_to_restore.high.seconds_f,
            levels.time_to_restore.medium.seconds_f,
        ),
    }


def _na(panel: sdk_stat.Panel) -> sdk_stat.Panel:
    """Show N/A, not "No data", when the window has nothing to compute the value from."""
    return panel.no_value(NA)


def _p90(metric: str) -> str:
    buckets = f"{metric}_bucket{{{SEL}}}"
    return f"histogram_quantile(0.9, sum by (le, service) (increase({buckets}[$__range])))"


def _incident_history() -> list[Panel]:
    return [
        timeseries(
            "Incidents",
            Query(
                or_zero(
                    f"sum by (service) (increase(dora_incidents_total{{{SEL}}}[$__interval]))",
                    service="all services",
                ),
                "{{service}}",
            ),
            bars=True,
            w=8,
            min_interval="1h",
        ),
        bargauge(
            "Time to restore p90 (time range)",
            Query(_p90("dora_time_to_restore_seconds"), "{{service}}"),
            unit="s",
            description="From the time-to-restore histogram; buckets 1h, 1d, 1w, 30d, 180d.",
        ),
    ]


def build(config: Config) -> dict[str, Any]:
    """Return the DORA dashboard."""
    steps = key_steps(config)
    days = config.dora.levels.deployment_days
    keys: list[Panel] = [
        stat(
            "Deployment frequency",
            Query(f"dora_deployment_frequency_per_day{{{WSEL}}}", "{{service}}"),
            unit=PER_DAY,
            decimals=2,
            thresholds=frequency_steps(config),
            description="Successful deployments per day over the window.",
        ),
        _na(
            stat(
                "Lead time for changes",
                Query(f"dora_lead_time_median_seconds{{{WSEL}}}", "{{service}}"),
                unit="s",
                thresholds=steps["lead_time"],
                description="Median time from a change's first commit to the deployment "
                "that shipped it, for commits first shipped in the window.",
            )
        ),
        _na(
            stat(
                "Change failure ratio",
                Query(f"dora_change_failure_ratio{{{WSEL}}}", "{{service}}"),
                unit="percentunit",
                decimals=1,
                thresholds=steps["change_failure_ratio"],
                description="Deployments that failed or caused an incident. Without an "
                "incident source it counts failed deployments only; see the level.",
            )
        ),
        _na(
            stat(
                "Time to restore",
                Query(f"dora_time_to_restore_median_seconds{{{WSEL}}}", "{{service}}"),
                unit="s",
                thresholds=steps["time_to_restore"],
                description="Median duration of incidents resolved in the window.",
            )
        ),
        _na(
            stat(
                "Rework ratio",
                Query(f"dora_rework_ratio{{{WSEL}}}", "{{service}}"),
                unit="percentunit",
                decimals=1,
                description="Share of deployments marked as rework (unplanned fixes).",
            )
        ),
        stat(
            "Deployment days per week",
            Query(f"dora_deployment_day_count_per_week{{{WSEL}}}", "{{service}}"),
            thresholds=(
                (None, "orange"),
                (days.high_per_week, "blue"),
                (days.elite_per_week, "green"),
            ),
            description="Median over the window's weeks of the days with a successful "
            "deployment: the frequency level's measure (2023 State of DevOps).",
        ),
        _na(
            stat(
                "Deployment days per month",
                Query(f"dora_deployment_day_count_per_month{{{WSEL}}}", "{{service}}"),
                thresholds=((None, "red"), (days.medium_per_month, "orange")),
                description="Median over the window's 30-day months (30d and 90d only).",
            )
        ),
        _na(
            stat(
                "Failed deployment recovery",
                Query(f"dora_failed_deployment_recovery_median_seconds{{{WSEL}}}", "{{service}}"),
                unit="s",
                thresholds=steps["time_to_restore"],
                description="Median time from a failed deployment to the next success, "
                "and from an incident's deployment to the incident's resolution.",
            )
        ),
        stat(
            "Commits without a lead time",
            Query(
                or_zero(
                    f"sum by (reason) (increase(dora_lead_time_rejected_total{{{SEL}}}[$__range]))",
                    reason="none",
                ),
                "{{reason}}",
            ),
            decimals=0,
            thresholds=((None, "green"), (1, "orange")),
            description="Shipped commits left out of lead time in the time range: dated "
            "after their deployment, or the first deployment's backlog.",
        ),
        stat(
            "Lead times pending",
            Query(f"sum by (service) (dora_lead_time_pending{{{SEL}}})", "{{service}}"),
            thresholds=((None, "green"), (1, "orange")),
            description="Merge commits waiting for their pull request's first commit time "
            "(a webhook without the branch's pushes; the source's poller completes them).",
        ),
    ]
    if features.incidents(config):
        keys += [
            stat(
                "Incidents open",
                Query(OPEN_INCIDENTS, "{{service}}"),
                thresholds=((None, "green"), (1, "red")),
            ),
            stat(
                "Incidents tied to no deployment",
                Query(f"dora_incidents_unattributed{{{WSEL}}}", "{{service}}"),
                thresholds=((None, "green"), (1, "orange")),
                description="Incidents started in the window with no deployment to blame: "
                "they can hide change failures.",
            ),
        ]
    levels = [
        stat(
            "Performance level",
            Query(LEVEL, "{{service}} · {{metric}}"),
            mapping=LEVELS_OR_NA,
            w=12,
            h=8,
            description="3 elite, 2 high, 1 medium, 0 low (2023 State of DevOps clusters); "
            "N/A where the level cannot be computed (no incident source, no deployment "
            "in the window, incidents tied to no deployment).",
        ),
        timeline(
            "Performance level over time",
            Query(LEVEL, "{{service}} · {{metric}}"),
            mapping=LEVELS_OR_NA,
        ),
    ]
    trends = [
        timeseries(
            "Deployment frequency",
            Query(f"dora_deployment_frequency_per_day{{{WSEL}}}", "{{service}}"),
            unit=PER_DAY,
            w=8,
        ),
        timeseries(
            "Lead time for changes (median)",
            Query(f"dora_lead_time_median_seconds{{{WSEL}}}", "{{service}}"),
            unit="s",
            w=8,
        ),
        timeseries(
            "Change failure ratio",
            Query(f"dora_change_failure_ratio{{{WSEL}}}", "{{service}}"),
            unit="percentunit",
            w=8,
            thresholds=((None, "green"), (config.dora.change_failure_ratio_alert, "red")),
        ),
        timeseries(
            "Time to restore (median)",
            Query(f"dora_time_to_restore_median_seconds{{{WSEL}}}", "{{service}} incidents"),
            Query(
                f"dora_failed_deployment_recovery_median_seconds{{{WSEL}}}",
                "{{service}} failed deployments",
            ),
            unit="s",
            w=8,
        ),
        timeseries(
            "Rework ratio",
            Query(f"dora_rework_ratio{{{WSEL}}}", "{{service}}"),
            unit="percentunit",
            w=8,
        ),
    ]
    if features.incidents(config):
        trends.append(
            timeseries(
                "Incidents open",
                Query(OPEN_INCIDENTS, "{{service}}"),
                w=8,
            )
        )
    activity = [
        table(
            "Last deployment",
            Query(f"dora_last_deployment_timestamp_seconds{{{SEL}}} * 1000"),
            unit="dateTimeFromNow",
            w=8,
            rename={"Value": "Last deployment"},
        ),
        timeseries(
            "Deployments",
            *(
                Query(
                    f"sum by (service) (increase({metric}{{{SEL}}}[$__interval]))",
                    f"{{{{service}}}} {legend}",
                )
                for metric, legend in (
                    ("dora_deployments_total", "deployments"),
                    ("dora_failed_deployments_total", "failed"),
                    ("dora_change_failures_total", "caused failures"),
                    ("dora_rework_deployments_total", "rework"),
                )
            ),
            bars=True,
            w=16,
            min_interval="1h",
        ),
        *(_incident_history() if features.incidents(config) else []),
        bargauge(
            "Lead time p90 (time range)",
            Query(_p90("dora_lead_time_seconds"), "{{service}}"),
            unit="s",
            description="From the lead-time histogram; buckets 1h, 1d, 1w, 30d, 180d.",
        ),
        stat(
            "Mean lead time (time range)",
            Query(
                f"sum(increase(dora_lead_time_seconds_sum{{{SEL}}}[$__range]))"
                f" / sum(increase(dora_lead_time_seconds_count{{{SEL}}}[$__range]))"
            ),
            unit="s",
            w=8,
            h=4,
        ),
        stat(
            "Deployments (time range)",
            Query(or_zero(f"sum(increase(dora_deployments_total{{{SEL}}}[$__range]))")),
            decimals=0,
            w=8,
            h=4,
        ),
    ]
    rows: Rows = [
        ("Four keys and rework ($window)", keys),
        ("Performance levels ($window)", levels),
        ("Trends (trailing $window)", trends),
        ("Deployments and incidents", activity),
    ]
    variables: list[Variable] = [
        label_variable("service", "dora_deployment_frequency_per_day"),
        label_variable("environment", 'dora_deployment_frequency_per_day{service=~"$service"}'),
        custom_variable("window", WINDOWS, "30d"),
    ]
    return assemble(
        "dora",
        "OpsLens / DORA",
        "Delivery performance: deployment frequency, lead time, change failure ratio, time to "
        "restore and rework, with their levels, trends, deployments and incidents.",
        rows,
        variables,
        time_from="now-30d",
    )
