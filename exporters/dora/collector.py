"""DoraCollector: metric families from the latest store snapshot, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from .metrics import SOURCE, of_kind
from .schema import BUCKETS
from .snapshot import Snapshot


class DoraCollector:
    """Expose the DORA families of `metrics.py` from `snapshot()` (docs/metrics.md#dora)."""

    def __init__(self, snapshot: Callable[[], Snapshot]):
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
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
