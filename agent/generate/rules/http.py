"""HTTP services instrumented by `exporters.app`: 5xx ratio and p95 latency per service."""

from __future__ import annotations

from decimal import Decimal

from agent.config import Config

from ..naming import HTTP_ERROR_RATIO_HIGH, HTTP_LATENCY_P95_HIGH, rule_group
from .common import Case, Check, Group, Rule, alert, counter, fired, lasting, num, percent, selector

NAME = "http"
BY = "service, job"
WINDOW = "5m"
TOTAL = f"sum by ({BY}) (rate(http_requests_total[{WINDOW}]))"
ERRORS = f'sum by ({BY}) (rate(http_requests_total{{status=~"5.."}}[{WINDOW}]))'
COUNT = f"sum by ({BY}) (rate(http_request_duration_seconds_count[{WINDOW}]))"
BUCKETS = f"sum by ({BY}, le) (rate(http_request_duration_seconds_bucket[{WINDOW}]))"


def alerts(config: Config) -> tuple[Rule, Rule]:
    """Build the 5xx-ratio and p95-latency alerts."""
    pack = config.alerts.packs.http
    sev = pack.severity
    min_rate = num(pack.min_request_rate)
    p95 = num(pack.p95_latency_seconds)
    # The traffic guard keeps a handful of requests from paging anyone.
    error_ratio = alert(
        config,
        HTTP_ERROR_RATIO_HIGH,
        f"(\n  {ERRORS}\n/\n  {TOTAL}\n) > {num(pack.error_ratio)}\nand\n{TOTAL} >= {min_rate}",
        "10m",
        sev,
        "{{ $labels.service }} answers more than " + percent(pack.error_ratio) + " with 5xx",
        "More than " + percent(pack.error_ratio) + " of the requests to {{ $labels.service }} "
        "(job {{ $labels.job }}) have failed with a 5xx status for "
        f"{lasting(config, '10m')} (at {min_rate} requests/s or more).",
    )
    latency = alert(
        config,
        HTTP_LATENCY_P95_HIGH,
        f"histogram_quantile(0.95, {BUCKETS}) > {p95}\nand\n{COUNT} >= {min_rate}",
        "10m",
        sev,
        "p95 latency of {{ $labels.service }} is above " + f"{p95}s",
        "The 95th percentile latency of {{ $labels.service }} (job {{ $labels.job }}) has "
        f"been above {p95}s for {lasting(config, '10m')} (at {min_rate} requests/s or more).",
    )
    return error_ratio, latency


def groups(config: Config) -> list[Group]:
    """Build the pack's rule group; none when the pack is off."""
    if not config.alerts.packs.http.enabled:
        return []
    return [{"name": rule_group(NAME), "rules": list(alerts(config))}]


def cases(config: Config) -> list[Case]:
    """Build the promtool cases: both alerts fire on a breach, not on health or low traffic."""
    pack = config.alerts.packs.http
    error_ratio, latency = alerts(config)
    target = next((t for t in config.targets if t.service), None)
    labels = {"job": "web", "service": "web"}
    if target is not None:
        labels = {"job": target.job, "service": target.service or target.job}
    series = {**labels, "instance": "web:8000", "method": "GET", "route": "/orders/{id}"}
    # Requests per minute: comfortably above the traffic guard.
    traffic = max(60.0, pack.min_request_rate * 120)
    t = Decimal(repr(pack.p95_latency_seconds))
    les = [num(t / 2), num(t), num(t * 3), "+Inf"]

    def requests(per_minute: float, ratio: float) -> list[tuple[str, str]]:
        return [
            (
                selector("http_requests_total", {**series, "status": "500"}),
                counter(per_minute * ratio, 30),
            ),
            (
                selector("http_requests_total", {**series, "status": "200"}),
                counter(per_minute * (1 - ratio), 30),
            ),
        ]

    def durations(per_minute: float, slow: bool) -> list[tuple[str, str]]:
        # Slow: every request between the threshold and 3× it; fast: all under half of it.
        fast_share = 0.0 if slow else 1.0
        out = [
            (
                selector("http_request_duration_seconds_bucket", {**series, "le": les[0]}),
                counter(per_minute * fast_share, 30),
            ),
            (
                selector("http_request_duration_seconds_bucket", {**series, "le": les[1]}),
                counter(per_minute * fast_share, 30),
            ),
        ]
        for le in les[2:]:
            out.append(
                (
                    selector("http_request_duration_seconds_bucket", {**series, "le": le}),
                    counter(per_minute, 30),
                )
            )
        out.append(
            (selector("http_request_duration_seconds_count", series), counter(per_minute, 30))
        )
        return out

    breach = 0.5 if pack.error_ratio < 0.5 else 1.0
    names = (HTTP_ERROR_RATIO_HIGH, HTTP_LATENCY_P95_HIGH)
    cases = [
        Case(
            "http: 5xx ratio and p95 latency over their thresholds",
            requests(traffic, breach) + durations(traffic, slow=True),
            [
                Check(HTTP_ERROR_RATIO_HIGH, "20m", [fired(error_ratio, labels)]),
                Check(HTTP_LATENCY_P95_HIGH, "20m", [fired(latency, labels)]),
            ],
        ),
        Case(
            "http: errors and latency under half the thresholds stay silent",
            requests(traffic, pack.error_ratio / 2) + durations(traffic, slow=False),
            [Check(name, "20m") for name in names],
        ),
    ]
    if pack.min_request_rate > 0:
        low = pack.min_request_rate * 30  # per minute: half the guard
        cases.append(
            Case(
                "http: all failing and slow below the traffic guard stays silent",
                requests(low, 1.0) + durations(low, slow=True),
                [Check(name, "20m") for name in names],
            )
        )
    return cases
