"""DoraCollector: metric families from the latest store snapshot, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from .metrics import SOURCE, of_kind
from .schema import BUCKETS
from .snapshot import Snapshot

# (source, reason, count) of the items each poller could not use.
Dropped = Callable[[], Iterable[tuple[str, str, int]]]


class DoraCollector:
    """Expose the DORA families of `metrics.py` from `snapshot()` (docs/metrics.md#dora)."""

    def __init__(self, snapshot: Callable[[], Snapshot], dropped: Dropped = lambda: ()):
        self._snapshot = snapshot
        self._dropped = dropped

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        series = CounterMetricFamily(
            "opslens_series_dropped_total",
            "Series left out of the exposition by a cap, by reason; their data is still "
            f"stored (max_services: services over dora.max_services) {SOURCE}.",
            labels=["exporter", "reason"],
        )
        series.add_metric(["dora", "max_services"], snap.services_dropped)
        yield series
        events = CounterMetricFamily(
            "opslens_source_events_dropped_total",
            "Items a poller could not use, by reason (out_of_range: a timestamp before "
            f"2000 or over a day ahead), counted each time they are read {SOURCE}.",
            labels=["exporter", "source", "reason"],
        )
        for source, reason, count in sorted(self._dropped()):
            events.add_metric(["dora", source, reason], count)
        yield events
        for family in of_kind("counter"):
            counter = CounterMetricFamily(
                family.name, f"{family.help} {SOURCE}.", labels=family.labels
            )
            for labels, value in sorted(snap.counters.get(family.name, {}).items()):
                counter.add_metric(list(labels), value)
            yield counter
        for family in of_kind("histogram"):
            hist = HistogramMetricFamily(
                family.name, f"{family.help} {SOURCE}.", labels=family.labels
            )
            for labels, h in sorted(snap.histograms.get(family.name, {}).items()):
                buckets = [(_le(b), float(n)) for b, n in zip(BUCKETS, h.buckets, strict=True)]
                buckets.append(("+Inf", float(h.count)))
                hist.add_metric(list(labels), buckets, h.sum)
            yield hist
        for family in of_kind("gauge"):
            gauge = GaugeMetricFamily(family.name, f"{family.help} {SOURCE}.", labels=family.labels)
            for gauge_labels, value in sorted(snap.gauges.get(family.name, {}).items()):
                gauge.add_metric(list(gauge_labels), value)
            yield gauge


def _le(bound: float) -> str:
    return f"{bound:.1f}"
