"""DORA dashboard: the four keys and rework with levels, trends, deployments and incidents."""

from __future__ import annotations

from typing import Any

from agent.config import Config

from .panels import (
    LEVELS,
    Query,
    Rows,
    Steps,
    Variable,
    assemble,
    bargauge,
    custom_variable,
    label_variable,
    stat,
    table,
    timeline,
    timeseries,
)

WINDOWS = ("7d", "30d", "90d")
SEL = 'service=~"$service",environment=~"$environment"'
WSEL = f'{SEL},window="$window"'
PER_DAY = "suffix:/day"


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


def _p90(metric: str) -> str:
    buckets = f"{metric}_bucket{{{SEL}}}"
    return f"histogram_quantile(0.9, sum by (le, service) (increase({buckets}[$__range])))"


def build(config: Config) -> dict[str, Any]:
    """Return the DORA dashboard."""
    steps = key_steps(config)
    keys = [
        stat(
            "Deployment frequency",
            Query(f"dora_deployment_frequency_per_day{{{WSEL}}}", "{{service}}"),
            unit=PER_DAY,
            decimals=2,
            thresholds=frequency_steps(config),
            description="Successful deployments per day over the window.",
        ),
        stat(
            "Lead time for changes",
            Query(f"dora_lead_time_median_seconds{{{WSEL}}}", "{{service}}"),
            unit="s",
            thresholds=steps["lead_time"],
            description="Median commit-to-deploy time of commits first shipped in the window.",
        ),
        stat(
            "Change failure ratio",
            Query(f"dora_change_failure_ratio{{{WSEL}}}", "{{service}}"),
            unit="percentunit",
            decimals=1,
            thresholds=steps["change_failure_ratio"],
        ),
        stat(
            "Time to restore",
            Query(f"dora_time_to_restore_median_seconds{{{WSEL}}}", "{{service}}"),
            unit="s",
            thresholds=steps["time_to_restore"],
            description="Median time to resolve incidents resolved in the window.",
        ),
        stat(
            "Rework ratio",
            Query(f"dora_rework_ratio{{{WSEL}}}", "{{service}}"),
            unit="percentunit",
            decimals=1,
            description="Share of deployments marked as rework (unplanned fixes).",
        ),
        stat(
            "Incidents open",
            Query(f"sum by (service) (dora_incidents_open{{{SEL}}})", "{{service}}"),
            thresholds=((None, "green"), (1, "red")),
        ),
    ]
    levels = [
        stat(
            "Performance level",
            Query(f"dora_performance_level{{{WSEL}}}", "{{service}} · {{metric}}"),
            mapping=LEVELS,
            w=12,
            h=8,
            description="3 elite, 2 high, 1 medium, 0 low (2023 State of DevOps clusters).",
        ),
        timeline(
            "Performance level over time",
            Query(f"dora_performance_level{{{WSEL}}}", "{{service}} · {{metric}}"),
            mapping=LEVELS,
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
            Query(f"dora_time_to_restore_median_seconds{{{WSEL}}}", "{{service}}"),
            unit="s",
            w=8,
        ),
        timeseries(
            "Rework ratio",
            Query(f"dora_rework_ratio{{{WSEL}}}", "{{service}}"),
            unit="percentunit",
            w=8,
        ),
        timeseries(
            "Incidents open",
            Query(f"sum by (service) (dora_incidents_open{{{SEL}}})", "{{service}}"),
            w=8,
        ),
    ]
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
        timeseries(
            "Incidents",
            Query(
                f"sum by (service) (increase(dora_incidents_total{{{SEL}}}[$__interval]))",
                "{{service}}",
            ),
            bars=True,
            w=8,
            min_interval="1h",
        ),
        bargauge(
            "Lead time p90 (time range)",
            Query(_p90("dora_lead_time_seconds"), "{{service}}"),
            unit="s",
            description="From the lead-time histogram; buckets 1h, 1d, 1w, 30d, 180d.",
        ),
        bargauge(
            "Time to restore p90 (time range)",
            Query(_p90("dora_time_to_restore_seconds"), "{{service}}"),
            unit="s",
            description="From the time-to-restore histogram; buckets 1h, 1d, 1w, 30d, 180d.",
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
            Query(
                f"sum(increase(dora_deployments_total{{{SEL}}}[$__range]))",
            ),
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
