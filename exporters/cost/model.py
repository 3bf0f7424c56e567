"""The cost model: daily ledgers in, immutable summaries out; pure functions, no I/O.

A ledger maps a series key (provider, account, service, region, currency, cost_type,
then one value per `labels_from_tags` entry) to its cost per UTC day. Every source turns
its data into a ledger; everything exposed is computed from ledgers here.
"""

from __future__ import annotations

import calendar
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

BASE_LABELS = ("provider", "account", "service", "region", "currency", "cost_type")
COST_TYPES = ("billed", "effective", "list")
SERVICE = BASE_LABELS.index("service")
COST_TYPE = BASE_LABELS.index("cost_type")
CURRENCY = BASE_LABELS.index("currency")
OTHER = "other"
# Robust z-scores need some history; fewer days than this and a series is not scored.
MIN_HISTORY_DAYS = 7
# MAD is 0 for a flat series; flooring the scale keeps its score finite and meaningful.
MIN_SCALE_RATIO = 0.01
MIN_SCALE = 0.01
MAD_TO_SIGMA = 1.4826

SeriesKey = tuple[str, ...]
Ledger = dict[SeriesKey, dict[date, float]]


def merge(into: Ledger, other: Mapping[SeriesKey, Mapping[date, float]]) -> Ledger:
    """Add `other`'s amounts into `into` and return it."""
    for key, days in other.items():
        target = into.setdefault(key, {})
        for day, amount in days.items():
            target[day] = target.get(day, 0.0) + amount
    return into


def latest_complete_day(
    ledger: Mapping[SeriesKey, Mapping[date, float]], today: date
) -> date | None:
    """The latest UTC day before `today` that has any data: today itself is still accruing."""
    days = [d for series in ledger.values() for d in series if d < today]
    return max(days, default=None)


def day_start(day: date) -> float:
    """Unix time of the start of a UTC day."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class SeriesSummary:
    """One cost series as exposed: latest day, month to date, month-end forecast."""

    key: SeriesKey
    daily: float
    month_to_date: float
    forecast: float
    # Mean daily cost over the last 7 days up to the reference day (daily-budget forecast).
    run_rate_7d: float


@dataclass(frozen=True)
class AnomalyScore:
    provider: str
    account: str
    service: str
    score: float


@dataclass(frozen=True)
class SourceSummary:
    """Everything one source contributes to a scrape, computed once per poll."""

    day: date | None
    series: tuple[SeriesSummary, ...] = ()
    anomalies: tuple[AnomalyScore, ...] = ()

    @property
    def month(self) -> tuple[int, int] | None:
        return None if self.day is None else (self.day.year, self.day.month)


def summarise(
    ledger: Mapping[SeriesKey, Mapping[date, float]],
    today: date,
    *,
    anomaly_window_days: int = 14,
    anomaly_min_daily_cost: float = 1.0,
    anomaly_enabled: bool = True,
    forecast_remaining: Mapping[str, float] | None = None,
) -> SourceSummary:
    """Summarise a ledger as of `today` (UTC): the reference day is the latest complete one.

    Forecast: month to date + daily run rate × days left in the month, where the run rate
    is month to date ÷ days elapsed up to the reference day. Days elapsed count from the
    calendar, so a series missing on some day is not inflated, and a missing latest day
    (Cost Explorer lags) moves the reference day back instead of reading as zero spend.
    `forecast_remaining` (cost type → amount for the rest of the month, e.g. from Cost
    Explorer's GetCostForecast) replaces the projection, shared out by run rate.
    """
    day = latest_complete_day(ledger, today)
    if day is None:
        return SourceSummary(day=None)
    month_start = day.replace(day=1)
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    left = days_in_month - day.day
    week = [day - timedelta(days=i) for i in range(7)]
    rows: list[tuple[SeriesKey, float, float, float]] = []
    for key, days in ledger.items():
        in_month = [a for d, a in days.items() if month_start <= d <= day]
        if not in_month:
            continue
        rows.append(
            (key, days.get(day, 0.0), sum(in_month), sum(days.get(d, 0.0) for d in week) / 7)
        )
    rate_totals: dict[str, float] = defaultdict(float)
    for key, _, mtd, _ in rows:
        rate_totals[key[COST_TYPE]] += mtd
    series = []
    for key, daily, mtd, run_rate in sorted(rows):
        remaining = mtd / day.day * left
        if forecast_remaining and key[COST_TYPE] in forecast_remaining and left:
            total = rate_totals[key[COST_TYPE]]
            share = mtd / total if total else 0.0
            remaining = forecast_remaining[key[COST_TYPE]] * share
        series.append(SeriesSummary(key, daily, mtd, mtd + remaining, run_rate))
    anomalies: tuple[AnomalyScore, ...] = ()
    if anomaly_enabled:
        anomalies = anomaly_scores(ledger, day, anomaly_window_days, anomaly_min_daily_cost)
    return SourceSummary(day=day, series=tuple(series), anomalies=anomalies)


def robust_z(value: float, history: Sequence[float]) -> float:
    """(value − median) ÷ (1.4826 × MAD), with the scale floored for flat histories."""
    median = statistics.median(history)
    mad = statistics.median(abs(h - median) for h in history)
    scale = max(MAD_TO_SIGMA * mad, MIN_SCALE_RATIO * abs(median), MIN_SCALE)
    return (value - median) / scale


def anomaly_scores(
    ledger: Mapping[SeriesKey, Mapping[date, float]],
    day: date,
    window_days: int,
    min_daily_cost: float,
) -> tuple[AnomalyScore, ...]:
    """Score each provider/account/service's cost on `day` against the trailing window.

    One cost type is scored (billed, else effective, else list) so that the same spend is
    not counted three times. Days without data inside the covered range count as zero;
    series whose latest day and typical day are both below `min_daily_cost` are skipped.
    """
    first = min((d for series in ledger.values() for d in series), default=day)
    start = max(first, day - timedelta(days=window_days))
    history_days = [start + timedelta(days=i) for i in range((day - start).days)]
    if len(history_days) < MIN_HISTORY_DAYS:
        return ()
    present = {key[COST_TYPE] for key in ledger}
    scored = next((c for c in COST_TYPES if c in present), None)
    totals: dict[tuple[str, str, str], dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for key, days in ledger.items():
        if key[COST_TYPE] != scored:
            continue
        target = totals[(key[0], key[1], key[SERVICE])]
        for d, amount in days.items():
            if start <= d <= day:
                target[d] += amount
    scores = []
    for (provider, account, service), days in sorted(totals.items()):
        history = [days.get(d, 0.0) for d in history_days]
        value = days.get(day, 0.0)
        if max(value, statistics.median(history)) < min_daily_cost:
            continue
        scores.append(AnomalyScore(provider, account, service, robust_z(value, history)))
    return tuple(scores)


def fold(series: Sequence[SeriesSummary], max_series: int) -> tuple[tuple[SeriesSummary, ...], int]:
    """Keep at most `max_series` series: the cheapest tail is summed into service="other".

    Folded series keep their other labels where that fits under the cap; if even that is
    too many, the tail collapses further to one series per provider, currency and cost
    type. Returns the series to expose and how many original series were folded.
    """
    if len(series) <= max_series:
        return tuple(series), 0
    ranked = sorted(series, key=lambda s: (-abs(s.month_to_date), s.key))

    def fine(key: SeriesKey) -> SeriesKey:
        return (*key[:SERVICE], OTHER, *key[SERVICE + 1 :])

    def coarse(key: SeriesKey) -> SeriesKey:
        out = [OTHER] * len(key)
        out[0], out[CURRENCY], out[COST_TYPE] = key[0], key[CURRENCY], key[COST_TYPE]
        return tuple(out)

    for bucket in (fine, coarse):
        # k kept + buckets(tail) never decreases as k grows, so binary search the largest k.
        lo, hi = 0, max_series
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if mid + len({bucket(s.key) for s in ranked[mid:]}) <= max_series:
                lo = mid
            else:
                hi = mid - 1
        kept = ranked[:lo]
        tail = ranked[lo:]
        if lo + len({bucket(s.key) for s in tail}) <= max_series:
            break
    sums: dict[SeriesKey, list[float]] = {}
    for s in tail:
        key = bucket(s.key)
        acc = sums.setdefault(key, [0.0, 0.0, 0.0, 0.0])
        acc[0] += s.daily
        acc[1] += s.month_to_date
        acc[2] += s.forecast
        acc[3] += s.run_rate_7d
    for key, (daily, mtd, forecast, rate) in sums.items():
        kept.append(SeriesSummary(key, daily, mtd, forecast, rate))
    # A bucket may coincide with a kept series already named "other": add them up.
    merged: dict[SeriesKey, SeriesSummary] = {}
    for s in kept:
        if s.key in merged:
            m = merged[s.key]
            s = SeriesSummary(
                s.key,
                m.daily + s.daily,
                m.month_to_date + s.month_to_date,
                m.forecast + s.forecast,
                m.run_rate_7d + s.run_rate_7d,
            )
        merged[s.key] = s
    return tuple(sorted(merged.values(), key=lambda s: s.key)), len(tail)


@dataclass(frozen=True)
class BudgetStatus:
    """A budget as exposed: limit, spent so far in the period, forecast for the period."""

    name: str
    period: str
    currency: str
    limit: float
    spent: float
    forecast: float


@dataclass(frozen=True)
class BudgetRule:
    """What a YAML budget selects: its period, cost type, currency and label matchers."""

    name: str
    amount: float
    period: str
    currency: str
    cost_type: str
    match: Mapping[str, str] = field(default_factory=dict)


def budget_statuses(
    rules: Iterable[BudgetRule], summaries: Iterable[SourceSummary], labels: Sequence[str]
) -> tuple[BudgetStatus, ...]:
    """Evaluate budgets over every source's (unfolded) series.

    The period is the one holding the latest reference day across sources, so a stale
    source's old month never counts towards this month. Monthly: spent = month to date,
    forecast = month-end forecast. Daily: spent = the latest complete day, forecast = the
    7-day average daily cost (the spend a typical day is heading for).
    """
    summaries = [s for s in summaries if s.day is not None]
    if not summaries:
        return ()
    day = max(s.day for s in summaries if s.day is not None)
    index = {name: i for i, name in enumerate(labels)}
    out = []
    for rule in rules:
        spent = forecast = 0.0
        for summary in summaries:
            if rule.period == "monthly" and summary.month != (day.year, day.month):
                continue
            if rule.period == "daily" and summary.day != day:
                continue
            for s in summary.series:
                if s.key[COST_TYPE] != rule.cost_type or s.key[CURRENCY] != rule.currency:
                    continue
                if any(s.key[index[k]] != v for k, v in rule.match.items()):
                    continue
                if rule.period == "monthly":
                    spent += s.month_to_date
                    forecast += s.forecast
                else:
                    spent += s.daily
                    forecast += s.run_rate_7d
        out.append(
            BudgetStatus(rule.name, rule.period, rule.currency, rule.amount, spent, forecast)
        )
    return tuple(out)
