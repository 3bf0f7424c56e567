"""The RED metrics store and the service helpers, on their own registries."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporters.app import (
    DEFAULT_BUCKETS,
    AiUsageMetrics,
    CacheMetrics,
    CircuitBreakerMetrics,
    HttpMetrics,
    ModelPrice,
)
from exporters.app.instrument import method_label


def test_histogram_is_cumulative_with_le_boundaries_inclusive() -> None:
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    for seconds in (0.004, 0.2, 0.2000001, 0.7, 12.0):
        metrics.started()
        metrics.finished("GET", "/a", 200, seconds)
    labels = {"method": "GET", "route": "/a"}

    def bucket(le: str) -> float | None:
        return registry.get_sample_value(
            "http_request_duration_seconds_bucket", {**labels, "le": le}
        )

    assert bucket("0.005") == 1
    assert bucket("0.1") == 1
    assert bucket("0.2") == 2  # 0.2 itself is within the 200 ms objective
    assert bucket("0.3") == 3
    assert bucket("1.0") == 4
    assert bucket("10.0") == 4
    assert bucket("+Inf") == 5
    assert registry.get_sample_value("http_request_duration_seconds_count", labels) == 5
    total = registry.get_sample_value("http_request_duration_seconds_sum", labels)
    assert total == pytest.approx(0.004 + 0.2 + 0.2000001 + 0.7 + 12.0)
    assert registry.get_sample_value("http_requests_in_flight") == 0


def test_requests_are_timed_with_perf_counter_unless_a_timer_is_given() -> None:
    assert HttpMetrics(CollectorRegistry()).timer is time.perf_counter

    def timer() -> float:
        return 0.0

    assert HttpMetrics(CollectorRegistry(), timer=timer).timer is timer


def test_default_buckets_include_the_200ms_objective() -> None:
    assert 0.2 in DEFAULT_BUCKETS
    assert list(DEFAULT_BUCKETS) == sorted(DEFAULT_BUCKETS)


def test_custom_buckets_and_bad_buckets() -> None:
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry, buckets=[0.05, 0.25])
    metrics.started()
    metrics.finished("GET", "/a", 200, 0.1)
    text = generate_latest(registry).decode()
    assert 'le="0.05"' in text and 'le="0.25"' in text and 'le="0.2"' not in text
    with pytest.raises(ValueError, match="strictly increasing"):
        HttpMetrics(CollectorRegistry(), buckets=[0.5, 0.1])
    with pytest.raises(ValueError, match="strictly increasing"):
        HttpMetrics(CollectorRegistry(), buckets=[])


def test_methods_are_bounded() -> None:
    assert method_label("GET") == "GET"
    assert method_label("PROPFIND") == "OTHER"
    assert method_label("get") == "OTHER"


def test_no_created_series_and_help_names_the_source() -> None:
    registry = CollectorRegistry()
    HttpMetrics(registry).finished("GET", "/a", 200, 0.01)
    CacheMetrics(registry).hit("products")
    text = generate_latest(registry).decode()
    assert "_created" not in text
    assert "# HELP http_requests_total HTTP requests" in text
    assert "# HELP cache_hits_total" in text


def test_cache_and_breaker_helpers() -> None:
    registry = CollectorRegistry()
    cache = CacheMetrics(registry)
    breakers = CircuitBreakerMetrics(registry)
    cache.hit("products")
    cache.hit("products", 2)
    cache.miss("products")
    cache.miss("sessions")
    assert registry.get_sample_value("cache_hits_total", {"cache": "products"}) == 3
    assert registry.get_sample_value("cache_misses_total", {"cache": "products"}) == 1
    assert registry.get_sample_value("cache_misses_total", {"cache": "sessions"}) == 1
    breakers.set_state("payments", "open")
    assert registry.get_sample_value("circuit_breaker_state", {"breaker": "payments"}) == 2
    breakers.set_state("payments", "half_open")
    assert registry.get_sample_value("circuit_breaker_state", {"breaker": "payments"}) == 1
    breakers.set_state("payments", "closed")
    assert registry.get_sample_value("circuit_breaker_state", {"breaker": "payments"}) == 0
    with pytest.raises(ValueError, match="closed, half_open, open"):
        breakers.set_state("payments", "broken")  # type: ignore[arg-type]


def test_ai_usage_costs_from_the_pricing_table(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    ai = AiUsageMetrics({"small": ModelPrice(0.15, 0.60)}, registry)
    assert ai.record("small", input_tokens=1_000_000, output_tokens=500_000) == pytest.approx(0.45)
    ai.record("small", input_tokens=2_000, output_tokens=0)
    value = registry.get_sample_value
    assert value("ai_tokens_total", {"model": "small", "kind": "input"}) == 1_002_000
    assert value("ai_tokens_total", {"model": "small", "kind": "output"}) == 500_000
    assert value("ai_cost_usd_total", {"model": "small"}) == pytest.approx(0.45 + 0.0003)
    with caplog.at_level(logging.WARNING):
        assert ai.record("mystery", 10, 10) == 0.0
        ai.record("mystery", 10, 10)
    assert value("ai_tokens_total", {"model": "mystery", "kind": "input"}) == 20
    assert value("ai_cost_usd_total", {"model": "mystery"}) is None
    assert [r.message for r in caplog.records].count(
        "no price for AI model 'mystery': its tokens are counted, not its cost"
    ) == 1
    with pytest.raises(ValueError):
        ai.record("small", -1, 0)


def test_package_import_is_light() -> None:
    code = (
        "import sys, exporters.app; "
        "print(sorted(m for m in ('aiohttp', 'psutil', 'agent', 'prometheus_client') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = (
        "import sys; from exporters.app import PrometheusASGIMiddleware; "
        "print('agent' in sys.modules, 'aiohttp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
