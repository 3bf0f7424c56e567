"""HTTP services instrumented by `exporters.app`: 5xx ratio and p95 latency per service."""

from __future__ import annotations

from decimal import Decimal

from agent.config import Config

from ..naming import rule_group
from .common import Case, Check, Pack, Rule, alert, counter, fired, num, percent, selector

BY = "service, job"
WINDOW = "5m"


def build(config: Config) -> Pack | None:
    pack = config.alerts.packs.http
    if not pack.enabled:
        return None
    sev = pack.severity
    min_rate = num(pack.min_request_rate)
    total = f"sum by ({BY}) (rate(http_requests_total[{WINDOW}]))"
    errors = f'sum by ({BY}) (rate(http_requests_total{{status=~"5.."}}[{WINDOW}]))'
    count = f"sum by ({BY}) (rate(http_request_duration_seconds_count[{WINDOW}]))"
    buckets = f"sum by ({BY}, le) (rate(http_request_duration_seconds_bucket[{WINDOW}]))"
    p95 = num(pack.p95_latency_seconds)
    # The traffic guard keeps a handful of requests from paging anyone.
    error_ratio = alert(
        config,
        "HttpErrorRatioHigh",
        f"(\n  {errors}\n/\n  {total}\n) > {num(pack.error_ratio)}\nand\n{total} >= {min_rate}",
        "10m",
        sev,
        "{{ $labels.service }} answers more than " + percent(pack.error_ratio) + " with 5xx",
        "More than " + percent(pack.error_ratio) + " of the requests to {{ $labels.service }} "
        "(job {{ $labels.job }}) have failed with a 5xx status for 10 minutes "
        f"(at {min_rate} requests/s or more).",
    )
    latency = alert(
        config,
        "HttpLatencyP95High",
        f"histogram_quantile(0.95, {buckets}) > {p95}\nand\n{count} >= {min_rate}",
        "10m",
        sev,
        "p95 latency of {{ $labels.service }} is above " + f"{p95}s",
        "The 95th percentile latency of {{ $labels.service }} (job {{ $labels.job }}) has "
        f"been above {p95}s for 10 minutes (at {min_rate} requests/s or more).",
    )
    groups = [{"name": rule_group("http"), "rules": [error_ratio, latency]}]
    return Pack("http", groups, _cases(config, error_ratio, latency))


def _cases(config: Config, error_ratio: Rule, latency: Rule) -> list[Case]:
    pack = config.alerts.packs.http
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
    names = ("HttpErrorRatioHigh", "HttpLatencyP95High")
    cases = [
        Case(
            "http: 5xx ratio and p95 latency over their thresholds",
            requests(traffic, breach) + durations(traffic, slow=True),
            [
                Check("HttpErrorRatioHigh", "20m", [fired(error_ratio, labels)]),
                Check("HttpLatencyP95High", "20m", [fired(latency, labels)]),
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
