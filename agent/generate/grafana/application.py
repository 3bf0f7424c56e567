"""Application dashboard: RED per route, latency quantiles, SLOs, probes, dependencies, AI."""

from __future__ import annotations

from typing import Any

from agent.config import Config

from ..naming import (
    SLO_ERROR_BUDGET_REMAINING,
    SLO_INFO,
    SLO_OBJECTIVE,
    SLO_PERIOD_ERROR_RATIO,
    slo_burn_rate,
    window,
)
from ..rules.slo import conditions
from . import features
from .panels import (
    UP,
    Panel,
    Query,
    Rows,
    assemble,
    bargauge,
    label_variable,
    stat,
    table,
    timeline,
    timeseries,
)

SEL = 'service=~"$service"'
# Every SLO series of ours carries slo and service; other SLO tools' series (Sloth's have
# neither) may share the Prometheus, and "All" (.*) also matches a missing label.
SLO_SEL = 'slo!="",service=~"$service"'
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


def _burn(config: Config, speed: str) -> list[Query]:
    """Each SLO's burn rate over the windows of its page (`fast`) or ticket conditions."""
    out = []
    for slo in config.slos:
        own = f'slo="{slo.name}",service="{slo.service}",{SEL}'
        spans = sorted({w for c in conditions(slo) if c.speed == speed for w in (c.long, c.short)})
        out += [
            Query(f"{slo_burn_rate(window(w))}{{{own}}}", f"{slo.service} {slo.name} {window(w)}")
            for w in spans
        ]
    return out


def _slos(config: Config) -> list[Panel]:
    return [
        table(
            "SLOs",
            Query(f"{SLO_INFO}{{{SLO_SEL}}}"),
            hide=("Time", "__name__", "Value"),
            description="Objective (percent) and period of each SLO.",
        ),
        bargauge(
            "Error budget remaining",
            Query(f"{SLO_ERROR_BUDGET_REMAINING}{{{SLO_SEL}}}", "{{service}} {{slo}}"),
            unit="percentunit",
            w=12,
            max_value=1,
            thresholds=((None, "red"), (0.25, "orange"), (0.5, "green")),
            description="1 − error ratio over the SLO period ÷ error budget; below 0 it is spent.",
        ),
        stat(
            "SLI over the SLO period",
            Query(f"1 - {SLO_PERIOD_ERROR_RATIO}{{{SLO_SEL}}}", "{{service}} {{slo}}"),
            unit="percentunit",
            decimals=3,
            w=12,
            h=6,
        ),
        stat(
            "Objective",
            Query(f"{SLO_OBJECTIVE}{{{SLO_SEL}}}", "{{service}} {{slo}}"),
            unit="percentunit",
            decimals=3,
            w=12,
            h=6,
        ),
        timeseries(
            "Burn rate, page windows",
            *_burn(config, "fast"),
            # The factors are the same for every period: only the windows scale.
            thresholds=((None, "green"), (6, "orange"), (14.4, "red")),
            description="Error ratio ÷ error budget over each page condition's windows; "
            "1 spends the budget exactly over the SLO period. A page needs both windows of "
            "a pair above its factor (14.4× or 6×).",
        ),
        timeseries(
            "Burn rate, ticket windows",
            *_burn(config, "slow"),
            thresholds=((None, "green"), (1, "orange"), (3, "red")),
            description="As for pages, over the ticket conditions' windows (3× and 1×).",
        ),
    ]


def _probes(config: Config) -> list[Panel]:
    probes = config.alerts.packs.probes
    panels: list[Panel] = [
        stat("Probe status", Query(f"probe_success{{{SEL}}}", "{{probe}}"), mapping=UP, w=6),
        stat(
            "HTTP status",
            Query(f"probe_http_status_code{{{SEL}}}", "{{probe}}"),
            w=6,
            thresholds=((None, "red"), (200, "green"), (400, "red")),
        ),
        timeseries(
            "Probe duration",
            Query(f"probe_duration_seconds{{{SEL}}}", "{{probe}}"),
            unit="s",
            w=6,
            h=4,
            thresholds=((None, "green"), (probes.slow_seconds, "red")),
        ),
        stat(
            "Failing probes and why",
            Query(f"opslens_probe_failure{{{SEL}}}", "{{probe}}: {{reason}}"),
            w=24,
            thresholds=((None, "red"),),
            names=True,
            no_value="every probe succeeds",
            description="Why each failing probe failed: timeout, refused, tls, dns, connection "
            "or status (docs/metrics.md).",
        ),
    ]
    if features.https_probe(config):
        # Plain-HTTP probes have no certificate to expire.
        panels.insert(
            2,
            stat(
                "Certificate expires in",
                Query(f"probe_ssl_earliest_cert_expiry{{{SEL}}} - time()", "{{probe}}"),
                unit="s",
                w=6,
                thresholds=((None, "red"), (probes.cert_expiry_days * 86400, "green")),
            ),
        )
    return panels


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
    # The HTTP and dependency series come from scraped application targets only.
    targets = features.app_targets(config)
    rows: Rows = [
        *([("Rate, errors, duration", _red(config))] if targets else []),
        *([("SLOs", _slos(config))] if config.slos else []),
        *([("Probes", _probes(config))] if config.app.probes else []),
        *([("Caches, circuit breakers, AI", _dependencies())] if targets else []),
    ]
    # The service variable lists services from the first series the config guarantees.
    services = "http_requests_total" if targets else SLO_INFO if config.slos else "probe_success"
    return assemble(
        "application",
        "OpsLens / Application",
        "Request rate, errors and duration per route, SLO error budgets and burn rates, "
        "probes, caches, circuit breakers and AI usage.",
        rows,
        [label_variable("service", services)],
        time_from="now-6h",
    )
