"""A known fortnight of OpsLens metrics, as OpenMetrics with timestamps, and its figures.

Every series is what the exporters expose or the generated rules record
(`opslens_slo:*`, `ALERTS`), written the way Prometheus would have stored it. The report
tests backfill this history with `promtool tsdb create-blocks-from openmetrics`, start
Prometheus on it and compare the report with the figures computed here from the same
constants.

Time runs backwards from `end`: day k is the day whose middle is `end - k days`, so the
report's daily samples (taken at `end - k days`) each land in the middle of one day.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

DAY = 86400
HOUR = 3600
MINUTE = 60
STEP = 15 * MINUTE  # Prometheus runs with a 30m lookback delta, so 15m samples are dense
ALERT_STEP = MINUTE  # the rule evaluation interval of the config below
DAYS = 16  # the 7-day period, the previous one, and margin for the first daily sample
ACCOUNT = "123456789012"

# Daily cost per (provider, currency, service, team) on day k (0 = the latest).
SERVICES: dict[tuple[str, str, str, str], Callable[[int], float]] = {
    ("aws", "USD", "AmazonEC2", "platform"): lambda k: 410.0 + 10 * (k % 3),
    ("aws", "USD", "AmazonRDS", "payments"): lambda k: 180.0 if k < 7 else 120.0,
    ("aws", "USD", "AmazonS3", "platform"): lambda k: 65.0,
    ("aws", "USD", "AWSDataTransfer", "platform"): lambda k: 240.0 if k == 2 else 40.0,
    ("aws", "USD", "AmazonCloudWatch", "platform"): lambda k: 22.5 if k < 7 else 0.0,
    ("aws", "USD", "AWSLambda", "payments"): lambda k: 0.0 if k < 7 else 30.0,
    ("gcp", "EUR", "BigQuery", "data"): lambda k: 95.0 + k,
}
MONTH_TO_DATE = {("aws", "USD"): 14_250.0, ("gcp", "EUR"): 1_930.0}
FORECAST = {("aws", "USD"): 27_400.0, ("gcp", "EUR"): 3_050.0}
# name → (period, currency, limit, spent, forecast)
BUDGETS = {
    "total-monthly": ("monthly", "USD", 25_000.0, 21_000.0, 27_500.0),
    "payments-monthly": ("monthly", "USD", 4_000.0, 2_000.0, 3_600.0),
    "daily-guardrail": ("daily", "USD", 1_200.0, 1_300.0, 980.0),
}
# (provider, service, day) → anomaly score; every other day scores 1.0
ANOMALIES = {("aws", "AWSDataTransfer", 2): 6.2, ("aws", "AmazonS3", 9): 8.0}

# DORA gauges: (service, key) → (value in the period, value in the previous one); absent
# keys are absent series, as the exporter leaves them when they cannot be computed.
DORA = {
    ("shop-api", "deployment_frequency"): (2.0, 1.5),
    ("shop-api", "lead_time"): (20 * HOUR, 30 * HOUR),
    ("shop-api", "change_failure_ratio"): (0.04, 0.08),
    ("shop-api", "time_to_restore"): (30 * MINUTE, 90 * MINUTE),
    ("shop-api", "rework"): (0.1, 0.1),
    ("checkout", "deployment_frequency"): (2 / 7, 3 / 7),
    ("checkout", "lead_time"): (3 * DAY, 2 * DAY),
    ("checkout", "change_failure_ratio"): (0.5, 0.0),
    ("checkout", "rework"): (0.0, 0.0),
}
LEVELS = {
    ("shop-api", "deployment_frequency"): (3, 3),
    ("shop-api", "lead_time"): (3, 2),
    ("shop-api", "change_failure_ratio"): (3, 2),
    ("shop-api", "time_to_restore"): (3, 2),
    ("checkout", "deployment_frequency"): (2, 2),
    ("checkout", "lead_time"): (2, 2),
    ("checkout", "change_failure_ratio"): (0, 3),
}
GAUGE_NAMES = {
    "deployment_frequency": "dora_deployment_frequency_per_day",
    "lead_time": "dora_lead_time_median_seconds",
    "change_failure_ratio": "dora_change_failure_ratio",
    "time_to_restore": "dora_time_to_restore_median_seconds",
    "rework": "dora_rework_ratio",
}
DEPLOYS_PER_DAY = {"shop-api": 2, "checkout": 2 / 7}

# shop-api traffic, per second, over the whole history.
OK_RATE, ERROR_RATE = 10.0, 0.004
FAST_RATE, ALL_RATE = 9.5, 10.0  # requests under 0.2s, and all requests
REMAINING = {"availability": 0.62, "latency": -0.8}

PROBE_OUTAGE = (3, 2 * HOUR)  # shop-home is down for 2h starting at the start of day 3's noon
CERT_DAYS = {"shop-home": 10.0, "checkout-api": 90.0}

# (alertname, severity, labels, day, start hour offset within that day, minutes firing)
ALERTS = [
    ("SloShopApiLatencyErrorBudgetBurnSlow", "high", {"service": "shop-api"}, 1, -3, 45),
    ("SloShopApiLatencyErrorBudgetBurnSlow", "high", {"service": "shop-api"}, 4, 2, 120),
    ("ProbeDown", "high", {"probe": "shop-home", "service": "shop-api"}, 3, 0, 120),
    ("HostDiskFillingUp", "medium", {"service": "opslens", "mountpoint": "/"}, 2, -6, 10),
    ("HostDiskFillingUp", "medium", {"service": "opslens", "mountpoint": "/"}, 3, 5, 20),
    ("HostDiskFillingUp", "medium", {"service": "opslens", "mountpoint": "/"}, 5, 1, 30),
    ("CloudCostApiCapReached", "low", {"source": "aws-main"}, 0, -9, 60),
    ("CloudCostApiCapReached", "low", {"source": "aws-main"}, 0, -4, 60),
    ("CloudCostDataStale", "low", {"source": "focus-exports"}, 2, 3, 60),
    ("SloShopApiAvailabilityErrorBudgetBurnFast", "critical", {"service": "shop-api"}, 5, 4, 15),
    ("SloShopApiAvailabilityErrorBudgetBurnFast", "critical", {"service": "shop-api"}, 10, 0, 30),
]
# Fired two days ago and still firing at the end.
STILL_FIRING = ("CloudCostBudgetThresholdReached", "high", {"budget": "total-monthly"}, 2 * DAY)

CONFIG = """\
version: 1
project: acme
cost:
  # The report links to the cost dashboard, which a config without a cost source lacks.
  sources: [{{type: focus, name: bills, path: "bills/*.csv"}}]
  budgets:
    - {{name: total-monthly, amount: 25000, period: monthly, thresholds: [0.8, 1.0]}}
    - {{name: payments-monthly, amount: 4000, match: {{team: payments}}, thresholds: [0.8, 1.0]}}
    - {{name: daily-guardrail, amount: 1200, period: daily, thresholds: [1.0]}}
  labels_from_tags: {{team: team}}
  anomaly: {{window_days: 14, threshold: 4}}
dora:
  environments: [production]
app:
  probes:
    - {{name: shop-home, url: "https://shop.example.com/", service: shop-api}}
    - {{name: checkout-api, url: "https://checkout.example.com/healthz", service: checkout}}
targets:
  - {{job: shop-api, static: ["shop-api:8000"], service: shop-api}}
  - {{job: checkout, static: ["checkout:8000"], service: checkout}}
slos:
  - name: availability
    service: shop-api
    objective: 99.9
    errors: 'http_requests_total{{job="shop-api",status=~"5.."}}'
    total: 'http_requests_total{{job="shop-api"}}'
  - name: latency
    service: shop-api
    objective: 99
    latency: {{metric: http_request_duration_seconds, threshold: 0.2, selector: 'job="shop-api"'}}
  - name: availability
    service: checkout
    objective: 99.95
    window: 28d
    errors: 'http_requests_total{{job="checkout",status=~"5.."}}'
    total: 'http_requests_total{{job="checkout"}}'
alerts:
  packs:
    probes: {{cert_expiry_days: 14}}
notify:
  smtp: {{smarthost: "{smarthost}", from: "opslens@example.com", require_tls: false}}
prometheus:
  scrape_interval: 1m
  retention: 30d
reports:
  prometheus_url: "{prometheus}"
  grafana_url: "https://grafana.example.com"
  timezone: UTC
  scheduled:
    - {{name: weekly-review, period: 7d, schedule: {{weekly: friday 09:00}},
       recipients: [finance@example.com, eng-leads@example.com]}}
    - {{name: low-alerts, kind: daily_digest, schedule: {{daily: "08:00"}},
       recipients: [ops@example.com]}}
"""


def config_text(prometheus: str = "http://127.0.0.1:9090", smarthost: str = "127.0.0.1:25") -> str:
    return CONFIG.format(prometheus=prometheus, smarthost=smarthost)


def day_of(t: float, end: float) -> int:
    """Which day (0 = the latest) `t` falls in; days are centred on `end - k days`."""
    return math.floor((end + DAY / 2 - t) / DAY)


@dataclass
class _Families:
    """Samples per family and series, written out family by family as OpenMetrics wants."""

    series: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)

    def add(self, name: str, labels: dict[str, str], t: float, value: float) -> None:
        text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        self.series.setdefault(name, {}).setdefault(text, []).append((t, value))

    def lines(self, low: float = -math.inf, high: float = math.inf) -> Iterator[str]:
        """The samples with low <= t < high."""
        for name, by_labels in self.series.items():
            yield f"# TYPE {name} unknown"
            for labels, points in by_labels.items():
                for t, v in points:
                    if low <= t < high:
                        yield f"{name}{{{labels}}} {v!r} {t:.3f}"
        yield "# EOF"


def times(end: float, step: float = STEP, days: int = DAYS) -> list[float]:
    """The sample grid: every `step` up to and including `end`."""
    n = days * DAY // step
    return [end - i * step for i in range(int(n), -1, -1)]


def openmetrics(end: float) -> str:
    """The whole history ending at `end` (a multiple of 60 seconds)."""
    return "\n".join(_history(end).lines()) + "\n"


def openmetrics_days(end: float) -> Iterator[str]:
    """The history as one OpenMetrics text per UTC day.

    promtool (2.42) reads its whole input once per 2h block it writes, so one file per
    day keeps a fortnight's backfill to seconds instead of a minute.
    """
    f = _history(end)
    first = min(t for by in f.series.values() for pts in by.values() for t, _ in pts)
    day = first // DAY * DAY
    while day <= end:
        yield "\n".join(f.lines(day, day + DAY)) + "\n"
        day += DAY


def _history(end: float) -> _Families:
    f = _Families()
    grid = times(end)
    for t in grid:
        k = day_of(t, end)
        before = k >= 7  # the previous period's values
        for (provider, currency, service, team), cost in SERVICES.items():
            labels = {
                "provider": provider,
                "account": ACCOUNT,
                "service": service,
                "region": "eu-west-1",
                "currency": currency,
                "cost_type": "billed",
                "team": team,
            }
            # The exporter drops a zero day; a service with no cost has no series then.
            if cost(k):
                f.add("cloudcost_daily", labels, t, cost(k))
        for (provider, currency), mtd in MONTH_TO_DATE.items():
            labels = {
                "provider": provider,
                "account": ACCOUNT,
                "service": "all",
                "region": "eu-west-1",
                "currency": currency,
                "cost_type": "billed",
                "team": "platform",
            }
            f.add("cloudcost_month_to_date", labels, t, mtd - 400 * k)
            f.add("cloudcost_forecast_month_end", labels, t, FORECAST[(provider, currency)])
        for name, (period, currency, limit, spent, projected) in BUDGETS.items():
            labels = {"budget": name, "period": period, "currency": currency}
            f.add("cloudcost_budget_limit", labels, t, limit)
            f.add("cloudcost_budget_spent", labels, t, spent if k == 0 else spent * 0.9)
            f.add("cloudcost_budget_forecast", labels, t, projected)
        for provider, _currency, service, _ in SERVICES:
            score = ANOMALIES.get((provider, service, k), 1.0)
            f.add(
                "cloudcost_anomaly_score",
                {"provider": provider, "account": ACCOUNT, "service": service},
                t,
                score,
            )
        for (service, key), (now_value, previous) in DORA.items():
            for window in ("7d", "30d"):
                labels = {"service": service, "environment": "production", "window": window}
                f.add(GAUGE_NAMES[key], labels, t, previous if before else now_value)
        for (service, metric), (now_level, previous_level) in LEVELS.items():
            for window in ("7d", "30d"):
                labels = {
                    "service": service,
                    "environment": "production",
                    "window": window,
                    "metric": metric,
                }
                f.add("dora_performance_level", labels, t, previous_level if before else now_level)
        elapsed = t - grid[0]
        for service, per_day in DEPLOYS_PER_DAY.items():
            labels = {"service": service, "environment": "production"}
            f.add("dora_deployments_total", labels, t, float(int(per_day * elapsed / DAY)))
        shop = {"job": "shop-api", "service": "shop-api", "method": "GET", "route": "/"}
        f.add("http_requests_total", {**shop, "status": "200"}, t, OK_RATE * elapsed)
        f.add("http_requests_total", {**shop, "status": "500"}, t, ERROR_RATE * elapsed)
        hist = {"job": "shop-api", "service": "shop-api", "method": "GET", "route": "/"}
        f.add("http_request_duration_seconds_bucket", {**hist, "le": "0.2"}, t, FAST_RATE * elapsed)
        f.add("http_request_duration_seconds_bucket", {**hist, "le": "+Inf"}, t, ALL_RATE * elapsed)
        f.add("http_request_duration_seconds_count", hist, t, ALL_RATE * elapsed)
        for slo, remaining in REMAINING.items():
            ids = {"slo": slo, "service": "shop-api"}
            f.add("opslens_slo:error_budget_remaining:ratio", ids, t, remaining)
            # The period group's 5-minute increases, which the daily error ratio sums.
            ratio = ERROR_RATE / (OK_RATE + ERROR_RATE) if slo == "availability" else 0.05
            events = (OK_RATE + ERROR_RATE if slo == "availability" else ALL_RATE) * 300
            f.add("opslens_slo:interval_events:increase5m", ids, t, events)
            bad = events * ratio * (1 + 0.1 * (k % 4))
            f.add("opslens_slo:interval_errors:increase5m", ids, t, bad)
        for probe, service in (("shop-home", "shop-api"), ("checkout-api", "checkout")):
            labels = {"probe": probe, "service": service}
            f.add("probe_success", labels, t, 0.0 if probe_down(probe, t, end) else 1.0)
            f.add("probe_ssl_earliest_cert_expiry", labels, t, end + CERT_DAYS[probe] * DAY)
    for alertname, severity, labels, start, stop in episodes(end):
        full = {"alertname": alertname, "alertstate": "firing", "severity": severity, **labels}
        at = start
        while at <= stop:
            f.add("ALERTS", full, at, 1.0)
            at += ALERT_STEP
    return f


def probe_down(probe: str, t: float, end: float) -> bool:
    day, length = PROBE_OUTAGE
    start = end - day * DAY
    return probe == "shop-home" and start <= t < start + length


def episodes(end: float) -> list[tuple[str, str, dict[str, str], float, float]]:
    """Every firing episode: (alertname, severity, labels, first sample, last sample)."""
    out = []
    for alertname, severity, labels, day, hour, minutes in ALERTS:
        start = end - day * DAY + hour * HOUR
        out.append((alertname, severity, labels, start, start + minutes * MINUTE))
    name, severity, labels, ago = STILL_FIRING
    out.append((name, severity, labels, end - ago, end))
    return out


def backfill(workdir: Path, end: float, promtool: str) -> Path:
    """Write the history as OpenMetrics and turn it into TSDB blocks; return the data dir."""
    data = workdir / "prom-data"
    data.mkdir(parents=True, exist_ok=True)
    sources = []
    for i, text in enumerate(openmetrics_days(end)):
        sources.append(workdir / f"history-{i:02d}.om")
        sources[-1].write_text(text, encoding="utf-8")

    def create(source: Path) -> None:
        argv = [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet"]
        done = subprocess.run([*argv, str(source), str(data)], capture_output=True, text=True)
        assert done.returncode == 0, f"promtool backfill of {source} failed: {done.stderr}"
        source.unlink()

    # Each 2h block costs promtool a fixed ~70ms of writing: use both cores.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(create, sources))
    return data


# --- the figures a 7-day report ending at `end` must show ---------------------------------


def spend(service: str, previous: bool = False) -> float:
    cost = next(c for (_, _, s, _), c in SERVICES.items() if s == service)
    days = range(7, 14) if previous else range(7)
    return sum(cost(k) for k in days)


def probe_availability(probe: str, end: float, seconds: float = 7 * DAY) -> float:
    """What `avg_over_time(probe_success[7d])` sees: the mean of the samples in the range."""
    inside = [t for t in times(end) if end - seconds <= t <= end]
    return sum(0.0 if probe_down(probe, t, end) else 1.0 for t in inside) / len(inside)


def episodes_in(end: float, seconds: float = 7 * DAY, severity: str | None = None) -> list[tuple]:
    return [
        e for e in episodes(end) if e[3] >= end - seconds and (severity is None or e[1] == severity)
    ]
