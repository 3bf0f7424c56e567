"""RED metrics for HTTP services: the store both middlewares (aiohttp, ASGI) feed.

Values live in plain dicts behind one lock and are turned into metric families only at
scrape time: a request costs a couple of dict updates, not prometheus_client's per-child
locks and label validation, and no `_created` series are exposed.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder

# 0.2 is a bucket so a 200 ms latency objective is an exact `le` boundary.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
UNMATCHED = "<unmatched>"
OTHER_METHOD = "OTHER"
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))


def method_label(method: str) -> str:
    """Bound the method label: clients may send any token as a method."""
    return method if method in METHODS else OTHER_METHOD


def _float_str(value: float) -> str:
    return repr(float(value)) if value != float("inf") else "+Inf"


class HttpMetrics:
    """`http_requests_total`, `http_request_duration_seconds`, `http_requests_in_flight`.

    `timer` is the monotonic clock the middlewares read at a request's start and end;
    tests pass a fake one so a duration, and so its bucket, is exact.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        *,
        timer: Callable[[], float] = time.perf_counter,
    ):
        bounds = [float(b) for b in buckets if b != float("inf")]
        if not bounds or any(b <= a for a, b in pairwise(bounds)):
            raise ValueError("buckets must be a non-empty, strictly increasing sequence")
        self.buckets: tuple[float, ...] = tuple(bounds)
        self.timer = timer
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        # Per (method, route): non-cumulative bucket counts (+Inf last), then the sum.
        self._histograms: dict[tuple[str, str], list[float]] = {}
        self._in_flight = 0
        self.registry = REGISTRY if registry is None else registry
        self.registry.register(self)

    def started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def finished(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request; `method` must already be bounded."""
        key = (method, route, str(status))
        index = bisect_left(self.buckets, seconds)
        with self._lock:
            self._in_flight -= 1
            self._requests[key] = self._requests.get(key, 0) + 1
            hist = self._histograms.get(key[:2])
            if hist is None:
                hist = self._histograms[key[:2]] = [0.0] * (len(self.buckets) + 2)
            hist[index] += 1
            hist[-1] += seconds

    def describe(self) -> Iterator[Metric]:
        # Lets the registry reject a second HttpMetrics on the same registry.
        yield from self._families({}, {}, 0)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            requests = dict(self._requests)
            histograms = {k: list(v) for k, v in self._histograms.items()}
            in_flight = self._in_flight
        yield from self._families(requests, histograms, in_flight)

    def _families(
        self,
        requests: dict[tuple[str, str, str], int],
        histograms: dict[tuple[str, str], list[float]],
        in_flight: int,
    ) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "http_requests_total",
            "HTTP requests by method, route template and status (opslens middleware).",
            labels=["method", "route", "status"],
        )
        for labels, requested in sorted(requests.items()):
            total.add_metric(list(labels), requested)
        duration = HistogramMetricFamily(
            "http_request_duration_seconds",
            "HTTP request duration by method and route template (opslens middleware).",
            labels=["method", "route"],
        )
        bounds = [*map(_float_str, self.buckets), "+Inf"]
        for pair, hist in sorted(histograms.items()):
            cumulative: list[tuple[str, float]] = []
            running = 0.0
            for bound, observed in zip(bounds, hist[:-1], strict=True):
                running += observed
                cumulative.append((bound, running))
            duration.add_metric(list(pair), cumulative, sum_value=hist[-1])
        flight = GaugeMetricFamily(
            "http_requests_in_flight",
            "HTTP requests being served now (opslens middleware).",
            value=in_flight,
        )
        yield from (total, duration, flight)


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """Render `registry` in the format the scraper asked for; return body and content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
