"""DoraCollector: metric families from the latest store snapshot, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from .snapshot import Snapshot
from .store import BUCKETS

SERIES = ["service", "environment"]
WINDOWED = [*SERIES, "window"]
SOURCE = "(opslens DORA store)"

COUNTERS = {
    "dora_deployments": "Finished deployments, successful or failed",
    "dora_failed_deployments": "Deployments that failed",
    "dora_change_failures": "Deployments that failed or caused an incident",
    "dora_rework_deployments": "Deployments marked as rework (flag, revert, hotfix)",
    "dora_incidents": "Incidents opened",
}
HISTOGRAMS = {
    "dora_lead_time_seconds": "Lead time for changes per commit, commit to first deployment",
    "dora_time_to_restore_seconds": "Time to restore service per resolved incident",
}
GAUGES = {
    "dora_incidents_open": ("Incidents not yet resolved", SERIES),
    "dora_last_deployment_timestamp_seconds": (
        "Unix time of the last successful deployment",
        SERIES,
    ),
    "dora_deployment_frequency_per_day": (
        "Successful deployments per day over the window",
        WINDOWED,
    ),
    "dora_lead_time_median_seconds": (
        "Median lead time of commits shipped in the window",
        WINDOWED,
    ),
    "dora_change_failure_ratio": ("Change failure ratio of deployments in the window", WINDOWED),
    "dora_time_to_restore_median_seconds": (
        "Median restore time of incidents resolved in the window",
        WINDOWED,
    ),
    "dora_rework_ratio": ("Share of deployments in the window that were rework", WINDOWED),
    "dora_performance_level": (
        "DORA level per key metric: 3 elite, 2 high, 1 medium, 0 low",
        [*WINDOWED, "metric"],
    ),
}


class DoraCollector:
    """Expose the DORA metrics of DESIGN §6 from `snapshot()`."""

    def __init__(self, snapshot: Callable[[], Snapshot]):
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        for name, help_text in COUNTERS.items():
            counter = CounterMetricFamily(name, f"{help_text} {SOURCE}.", labels=SERIES)
            for labels, value in sorted(snap.counters.get(name, {}).items()):
                counter.add_metric(list(labels), value)
            yield counter
        for name, help_text in HISTOGRAMS.items():
            hist = HistogramMetricFamily(name, f"{help_text} {SOURCE}.", labels=SERIES)
            for labels, h in sorted(snap.histograms.get(name, {}).items()):
                buckets = [(_le(b), float(n)) for b, n in zip(BUCKETS, h.buckets, strict=True)]
                buckets.append(("+Inf", float(h.count)))
                hist.add_metric(list(labels), buckets, h.sum)
            yield hist
        for name, (help_text, label_names) in GAUGES.items():
            gauge = GaugeMetricFamily(name, f"{help_text} {SOURCE}.", labels=label_names)
            for gauge_labels, value in sorted(snap.gauges.get(name, {}).items()):
                gauge.add_metric(list(gauge_labels), value)
            yield gauge


def _le(bound: float) -> str:
    return f"{bound:.1f}"
