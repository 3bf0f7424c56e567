"""The DORA metric families, defined once: the snapshot fills them, the collector exposes
them, and the catalogue (so the README and docs/metrics.md) lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SERIES = ("service", "environment")
WINDOWED = (*SERIES, "window")
SOURCE = "(opslens DORA store)"


@dataclass(frozen=True)
class Family:
    name: str  # counters without `_total`, as prometheus_client names their families
    kind: Literal["counter", "histogram", "gauge"]
    help: str
    labels: tuple[str, ...] = SERIES

    @property
    def exposed(self) -> str:
        """The name as scraped (and as the catalogue lists it)."""
        return f"{self.name}_total" if self.kind == "counter" else self.name


DEPLOYMENTS = Family("dora_deployments", "counter", "Finished deployments, successful or failed")
FAILED_DEPLOYMENTS = Family("dora_failed_deployments", "counter", "Deployments that failed")
CHANGE_FAILURES = Family(
    "dora_change_failures", "counter", "Deployments that failed or caused an incident"
)
REWORK_DEPLOYMENTS = Family(
    "dora_rework_deployments", "counter", "Deployments marked as rework (flag, revert, hotfix)"
)
INCIDENTS = Family("dora_incidents", "counter", "Incidents opened")
LEAD_TIME_REJECTED = Family(
    "dora_lead_time_rejected",
    "counter",
    "Shipped commits given no lead time, by reason (after_deployment, before_history)",
    (*SERIES, "reason"),
)
LEAD_TIME = Family(
    "dora_lead_time_seconds",
    "histogram",
    "Lead time for changes per commit, commit to first deployment",
)
TIME_TO_RESTORE = Family(
    "dora_time_to_restore_seconds", "histogram", "Time to restore service per resolved incident"
)
INCIDENTS_OPEN = Family("dora_incidents_open", "gauge", "Incidents not yet resolved")
LEAD_TIME_PENDING = Family(
    "dora_lead_time_pending",
    "gauge",
    "Shipped commits whose pull request's first commit time is not known yet",
)
LAST_DEPLOYMENT = Family(
    "dora_last_deployment_timestamp_seconds", "gauge", "Unix time of the last successful deployment"
)
DEPLOYMENT_FREQUENCY = Family(
    "dora_deployment_frequency_per_day",
    "gauge",
    "Successful deployments per day over the window",
    WINDOWED,
)
DEPLOYMENT_DAYS_PER_WEEK = Family(
    "dora_deployment_day_count_per_week",
    "gauge",
    "Median over the window's weeks of the days with a successful deployment",
    WINDOWED,
)
DEPLOYMENT_DAYS_PER_MONTH = Family(
    "dora_deployment_day_count_per_month",
    "gauge",
    "Median over the window's 30-day months of the days with a successful deployment",
    WINDOWED,
)
LEAD_TIME_MEDIAN = Family(
    "dora_lead_time_median_seconds",
    "gauge",
    "Median lead time of commits shipped in the window",
    WINDOWED,
)
CHANGE_FAILURE_RATIO = Family(
    "dora_change_failure_ratio",
    "gauge",
    "Change failure ratio of deployments in the window",
    WINDOWED,
)
TIME_TO_RESTORE_MEDIAN = Family(
    "dora_time_to_restore_median_seconds",
    "gauge",
    "Median restore time of incidents resolved in the window",
    WINDOWED,
)
FAILED_DEPLOYMENT_RECOVERY_MEDIAN = Family(
    "dora_failed_deployment_recovery_median_seconds",
    "gauge",
    "Median time from a failed or incident-causing deployment to its recovery in the window",
    WINDOWED,
)
INCIDENTS_UNATTRIBUTED = Family(
    "dora_incidents_unattributed",
    "gauge",
    "Incidents started in the window and tied to no deployment",
    WINDOWED,
)
REWORK_RATIO = Family(
    "dora_rework_ratio", "gauge", "Share of deployments in the window that were rework", WINDOWED
)
PERFORMANCE_LEVEL = Family(
    "dora_performance_level",
    "gauge",
    "DORA level per key metric: 3 elite, 2 high, 1 medium, 0 low",
    (*WINDOWED, "metric"),
)
PERFORMANCE_LEVEL_UNKNOWN = Family(
    "dora_performance_level_unknown",
    "gauge",
    "1 where a DORA level cannot be computed, with the reason; the level is then absent",
    (*WINDOWED, "metric", "reason"),
)

# Exposition order: counters, histograms, gauges.
FAMILIES = (
    DEPLOYMENTS,
    FAILED_DEPLOYMENTS,
    CHANGE_FAILURES,
    REWORK_DEPLOYMENTS,
    INCIDENTS,
    LEAD_TIME_REJECTED,
    LEAD_TIME,
    TIME_TO_RESTORE,
    INCIDENTS_OPEN,
    LEAD_TIME_PENDING,
    LAST_DEPLOYMENT,
    DEPLOYMENT_FREQUENCY,
    DEPLOYMENT_DAYS_PER_WEEK,
    DEPLOYMENT_DAYS_PER_MONTH,
    LEAD_TIME_MEDIAN,
    CHANGE_FAILURE_RATIO,
    TIME_TO_RESTORE_MEDIAN,
    FAILED_DEPLOYMENT_RECOVERY_MEDIAN,
    INCIDENTS_UNATTRIBUTED,
    REWORK_RATIO,
    PERFORMANCE_LEVEL,
    PERFORMANCE_LEVEL_UNKNOWN,
)


def of_kind(kind: str) -> tuple[Family, ...]:
    """The families of one kind, in exposition order."""
    return tuple(f for f in FAMILIES if f.kind == kind)
