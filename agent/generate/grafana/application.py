"""Application dashboard: RED per route, latency quantiles, SLOs, probes, dependencies, AI."""

from __future__ import annotations

from typing import Any

from agent.config import Config

from ..naming import SLO_ERROR_BUDGET, SLO_ERROR_BUDGET_REMAINING, SLO_OBJECTIVE, slo_error_ratio
from .panels import (
    UP,
    Panel,
    Query,
    Rows,
    assemble,
    bargauge,
    label_variable,
    stat,
    timeline,
    timeseries,
)

SEL = 'service=~"$service"'
RATE = "[$__rate_interval]"
BREAKER = {0: ("Closed", "green"), 1: ("Half-open", "orange"), 2: ("Open", "red")}


def _rate(metric: str, by: str, extra: str = "") -> str:
    return f"sum by ({by}) (rate({metric}{{{SEL}{extra}}}{RATE}))"


def _quantile(q: float, by: str) -> str:
    return (
        f"histogram_quantile({q:g}, {_rate('http_request_duration_seconds_bucket', f'le, {by}')})"
    )


def _red(config: Config) -> list[Panel]:
    http = config.alerts.packs.http
    errors = f'sum(rate(http_requests_total{{{SEL},status=~"5.."}}{RATE}))'
    total = f"sum(rate(http_requests_total{{{SEL}}}{RATE}))"
    return [
        stat("Request rate", Query(total), unit="reqps", w=6),
        stat(
            "Error ratio (5xx)",
            # No 5xx series at all is a ratio of 0, not "no data".
            Query(f"({errors} or vector(0)) / {total}"),
            unit="percentunit",
            decimals=3,
            w=6,
            thresholds=((None, "green"), (http.error_ratio, "red")),
        ),
        stat(
            "Latency p95",
            Query(
                "histogram_quantile(0.95, sum by (le) "
                f"(rate(http_request_duration_seconds_bucket{{{SEL}}}{RATE})))"
            ),
            unit="s",
            w=6,
            thresholds=((None, "green"), (http.p95_latency_seconds, "red")),
        ),
        stat("Requests in flight", Query(f"sum(http_requests_in_flight{{{SEL}}})"), w=6),
        timeseries(
            "Requests per route",
            Query(
                _rate("http_requests_total", "service, method, route"),
                "{{service}} {{method}} {{route}}",
            ),
            unit="reqps",
        ),
        timeseries(
            "Requests by status",
            Query(_rate("http_requests_total", "service, status"), "{{service}} {{status}}"),
            unit="reqps",
            stacked=True,
        ),
        timeseries(
            "Error ratio per route (5xx)",
            Query(
                _rate("http_requests_total", "service, route", ',status=~"5.."')
                + " / "
                + _rate("http_requests_total", "service, route"),
                "{{service}} {{route}}",
            ),
            unit="percentunit",
            thresholds=((None, "green"), (http.error_ratio, "red")),
        ),
        timeseries(
            "Latency per route (p50, p95, p99)",
            Query(_quantile(0.5, "service, route"), "p50 {{service}} {{route}}"),
            Query(_quantile(0.95, "service, route"), "p95 {{service}} {{route}}"),
            Query(_quantile(0.99, "service, route"), "p99 {{service}} {{route}}"),
            unit="s",
            thresholds=((None, "green"), (http.p95_latency_seconds, "red")),
        ),
        timeseries(
            "Requests in flight",
            Query(f"sum by (service) (http_requests_in_flight{{{SEL}}})", "{{service}}"),
            w=24,
            h=6,
        ),
    ]


def _burn(windows: tuple[str, ...]) -> list[Query]:
    return [
        Query(
            f"{slo_error_ratio(w)}{{{SEL}}} / on (slo, service) {SLO_ERROR_BUDGET}",
            f"{{{{service}}}} {{{{slo}}}} {w}",
        )
        for w in windows
    ]


def _slos(config: Config) -> list[Panel]:
    return [
        bargauge(
            "Error budget remaining",
            Query(f"{SLO_ERROR_BUDGET_REMAINING}{{{SEL}}}", "{{service}} {{slo}}"),
            unit="percentunit",
            max_value=1,
            thresholds=((None, "red"), (0.25, "orange"), (0.5, "green")),
            description="1 − errors over the SLO window ÷ error budget; below 0 it is spent.",
        ),
        stat(
            "SLI over the SLO window",
            # remaining = 1 − error ratio ÷ budget, so this needs no per-window rule name.
            Query(
                f"1 - (1 - {SLO_ERROR_BUDGET_REMAINING}{{{SEL}}})"
                f" * on (slo, service) {SLO_ERROR_BUDGET}",
                "{{service}} {{slo}}",
            ),
            unit="percentunit",
            decimals=3,
            w=8,
            h=8,
        ),
        stat(
            "Objective",
            Query(f"{SLO_OBJECTIVE}{{{SEL}}}", "{{service}} {{slo}}"),
            unit="percentunit",
            decimals=3,
            w=8,
            h=8,
        ),
        timeseries(
            "Burn rate, fast windows (page)",
            *_burn(("5m", "1h", "6h")),
            description="Error rate ÷ error budget; 1 spends the budget exactly over the window.",
        ),
        timeseries(
            "Burn rate, slow windows (ticket)",
            *_burn(("30m", "2h", "1d", "3d")),
        ),
    ]


def _probes(config: Config) -> list[Panel]:
    probes = config.alerts.packs.probes
    return [
        stat("Probe status", Query(f"probe_success{{{SEL}}}", "{{probe}}"), mapping=UP, w=6),
        stat(
            "HTTP status",
            Query(f"probe_http_status_code{{{SEL}}}", "{{probe}}"),
            w=6,
            thresholds=((None, "red"), (200, "green"), (400, "red")),
        ),
        stat(
            "Certificate expires in",
            Query(f"probe_ssl_earliest_cert_expiry{{{SEL}}} - time()", "{{probe}}"),
            unit="s",
            w=6,
            thresholds=((None, "red"), (probes.cert_expiry_days * 86400, "green")),
        ),
        timeseries(
            "Probe duration",
            Query(f"probe_duration_seconds{{{SEL}}}", "{{probe}}"),
            unit="s",
            w=6,
            h=4,
            thresholds=((None, "green"), (probes.slow_seconds, "red")),
        ),
    ]


def _dependencies() -> list[Panel]:
    hits = _rate("cache_hits_total", "service, cache")
    misses = _rate("cache_misses_total", "service, cache")
    return [
        timeseries(
            "Cache hit ratio",
            Query(f"{hits} / ({hits} + {misses})", "{{service}} {{cache}}"),
            unit="percentunit",
        ),
        timeline(
            "Circuit breakers",
            Query(
                f"max by (service, breaker) (circuit_breaker_state{{{SEL}}})",
                "{{service}} {{breaker}}",
            ),
            mapping=BREAKER,
        ),
        timeseries(
            "AI tokens per second",
            Query(_rate("ai_tokens_total", "model, kind"), "{{model}} {{kind}}"),
            w=8,
        ),
        timeseries(
            "AI cost per hour",
            Query(f"{_rate('ai_cost_usd_total', 'model')} * 3600", "{{model}}"),
            unit="currencyUSD",
            w=8,
        ),
        bargauge(
            "AI cost (time range)",
            Query(f"sum by (model) (increase(ai_cost_usd_total{{{SEL}}}[$__range]))", "{{model}}"),
            unit="currencyUSD",
        ),
    ]


def build(config: Config) -> dict[str, Any]:
    """Return the application dashboard."""
    rows: Rows = [
        ("Rate, errors, duration", _red(config)),
        *([("SLOs", _slos(config))] if config.slos else []),
        *([("Probes", _probes(config))] if config.app.probes else []),
        ("Caches, circuit breakers, AI", _dependencies()),
    ]
    return assemble(
        "application",
        "OpsLens / Application",
        "Request rate, errors and duration per route, SLO error budgets and burn rates, "
        "probes, caches, circuit breakers and AI usage.",
        rows,
        [label_variable("service", "http_requests_total")],
        time_from="now-6h",
    )
