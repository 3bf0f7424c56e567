"""Cost metric families, built from the exporter's immutable snapshot; no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .model import day_start

if TYPE_CHECKING:
    from .exporter import CostSnapshot

ORIGIN = "opslens cost exporter: AWS Cost Explorer, FOCUS billing files"


class CostCollector:
    """`cloudcost_*`, `opslens_paid_api_*` and the row counters for every cost source.

    Sources share one family per metric (the exposition format allows one); identical
    label sets from overlapping sources are summed, anomaly scores take the maximum.
    """

    def __init__(self, snapshot: Callable[[], CostSnapshot]):
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        labels = list(snap.labels)
        daily = GaugeMetricFamily(
            "cloudcost_daily",
            "Cost of the latest complete UTC day of the series' provider and billing account "
            f"({ORIGIN}).",
            labels=labels,
        )
        mtd = GaugeMetricFamily(
            "cloudcost_month_to_date",
            "Cost from the 1st of the month up to the latest complete UTC day, plus "
            f"corrections billed in the month ({ORIGIN}).",
            labels=labels,
        )
        forecast = GaugeMetricFamily(
            "cloudcost_forecast_month_end",
            "Projected month-end cost: month to date + (usage-based month to date / days "
            "elapsed) x days left, or Cost Explorer's GetCostForecast shared by run rate "
            f"where enabled ({ORIGIN}).",
            labels=labels,
        )
        sums: dict[tuple[str, ...], list[float]] = {}
        anomalies: dict[tuple[str, ...], float] = {}
        for view in snap.sources.values():
            for s in view.series:
                acc = sums.setdefault(s.key, [0.0, 0.0, 0.0])
                acc[0] += s.daily
                acc[1] += s.month_to_date
                acc[2] += s.forecast
            for a in view.summary.anomalies:
                who = (a.provider, a.account, a.service, a.currency)
                anomalies[who] = max(anomalies.get(who, a.score), a.score)
        for key, (d, m, f) in sums.items():
            daily.add_metric(key, d)
            mtd.add_metric(key, m)
            forecast.add_metric(key, f)
        yield from (daily, mtd, forecast)

        budget_labels = ["budget", "period", "currency"]
        limit = GaugeMetricFamily(
            "cloudcost_budget_limit",
            f"Budget amount for its period ({ORIGIN}).",
            labels=budget_labels,
        )
        spent = GaugeMetricFamily(
            "cloudcost_budget_spent",
            "Spent against the budget: month to date (monthly) or the latest complete day "
            f"(daily) ({ORIGIN}).",
            labels=budget_labels,
        )
        projected = GaugeMetricFamily(
            "cloudcost_budget_forecast",
            "Forecast spend for the budget period: month-end forecast (monthly) or the 7-day "
            f"average daily cost (daily) ({ORIGIN}).",
            labels=budget_labels,
        )
        for b in snap.budgets:
            key3 = [b.name, b.period, b.currency]
            limit.add_metric(key3, b.limit)
            spent.add_metric(key3, b.spent)
            projected.add_metric(key3, b.forecast)
        yield from (limit, spent, projected)

        score = GaugeMetricFamily(
            "cloudcost_anomaly_score",
            "Robust z-score (median/MAD) of the latest complete day's usage-based cost "
            f"against the trailing anomaly window, per currency ({ORIGIN}).",
            labels=["provider", "account", "service", "currency"],
        )
        for key, value in sorted(anomalies.items()):
            score.add_metric(key, value)
        yield score

        age = GaugeMetricFamily(
            "cloudcost_data_timestamp_seconds",
            "Start of the latest complete UTC day of each provider in the source's data, "
            f"the oldest of its billing accounts ({ORIGIN}).",
            labels=["source", "provider"],
        )
        corrections = GaugeMetricFamily(
            "cloudcost_corrections",
            "Corrections of earlier periods (ChargeClass=Correction) billed in each billing "
            f"period; included in that period's month to date ({ORIGIN}).",
            labels=["provider", "account", "currency", "cost_type", "billing_period"],
        )
        dropped = CounterMetricFamily(
            "opslens_source_rows_dropped_total",
            f"Rows a reader could not use, by reason, counted each time a file is read ({ORIGIN}).",
            labels=["exporter", "source", "reason"],
        )
        defaulted = CounterMetricFamily(
            "opslens_source_rows_defaulted_total",
            "Rows used with a documented placeholder (a missing ServiceName reads "
            f"unknown, malformed Tags give no tag labels), by reason ({ORIGIN}).",
            labels=["exporter", "source", "reason"],
        )
        folded = GaugeMetricFamily(
            "cloudcost_folded_series",
            f'Series folded into service="other" to stay under max_series ({ORIGIN}).',
            labels=["source"],
        )
        requests = CounterMetricFamily(
            "opslens_paid_api_requests_total",
            f"Paid API requests made, counted before sending ({ORIGIN}).",
            labels=["source", "operation"],
        )
        cost = CounterMetricFamily(
            "opslens_paid_api_cost_usd_total",
            f"Cost of the paid API requests at $0.01 each ({ORIGIN}).",
            labels=["source"],
        )
        cap = GaugeMetricFamily(
            "opslens_paid_api_daily_cap",
            f"Configured daily cap on paid API requests (cost.daily_request_cap) ({ORIGIN}).",
            labels=["source"],
        )
        reached = GaugeMetricFamily(
            "opslens_paid_api_cap_reached",
            f"1 while today's (UTC) paid request cap is exhausted ({ORIGIN}).",
            labels=["source"],
        )
        corrected: dict[tuple[str, ...], float] = {}
        for name, view in sorted(snap.sources.items()):
            for provider, day in sorted(view.summary.provider_days().items()):
                age.add_metric([name, provider], day_start(day))
            folded.add_metric([name], view.folded)
            for key, amount in view.summary.corrections.items():
                corrected[key] = corrected.get(key, 0.0) + amount
            if view.rows is not None:
                for reason, count in sorted(view.rows.dropped_total.items()):
                    dropped.add_metric(["cost", name, reason], count)
                for reason, count in sorted(view.rows.defaulted_total.items()):
                    defaulted.add_metric(["cost", name, reason], count)
            if view.paid is not None:
                for operation, count in sorted(view.paid.requests.items()):
                    requests.add_metric([name, operation], count)
                cost.add_metric([name], view.paid.cost_usd)
                cap.add_metric([name], view.paid.daily_cap)
                reached.add_metric([name], 1.0 if view.paid.cap_reached else 0.0)
        for key, amount in sorted(corrected.items()):
            corrections.add_metric(list(key), amount)
        yield from (age, folded, corrections, dropped, defaulted, requests, cost, cap, reached)
