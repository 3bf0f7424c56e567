"""The cost model: daily ledgers in, immutable summaries out; pure functions, no I/O.

A ledger maps a `Line` to its cost per UTC day. A line is a series key (provider, account,
service, region, currency, cost_type, charge_category, then one value per
`labels_from_tags` entry) plus what the exposed labels do not say but the rules need: the
billing account (each provider and billing account is on its own day), the billing period
(corrections count in the period they are billed in) and the kind of charge (only
usage-based charges are extrapolated). Amounts are exact `Decimal`s; every source turns
its data into a ledger and everything exposed is computed from ledgers here.
"""

from __future__ import annotations

import calendar
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

BASE_LABELS = (
    "provider",
    "account",
    "service",
    "region",
    "currency",
    "cost_type",
    "charge_category",
)
COST_TYPES = ("billed", "effective", "list")
# FOCUS ChargeCategory values, in the specification's order.
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
PROVIDER = BASE_LABELS.index("provider")
ACCOUNT = BASE_LABELS.index("account")
SERVICE = BASE_LABELS.index("service")
CURRENCY = BASE_LABELS.index("currency")
COST_TYPE = BASE_LABELS.index("cost_type")
CHARGE_CATEGORY = BASE_LABELS.index("charge_category")
OTHER = "other"

# Kinds of charge. Usage-based charges accrue day by day and are extrapolated to month end;
# recurring and one-time charges (purchases, fees, tax) count once, in the period they are
# billed; corrections of earlier periods count in the billing period that carries them.
USAGE = "usage"
ONCE = "once"
CORRECTION = "correction"
KINDS = (USAGE, ONCE, CORRECTION)

# Robust z-scores need some history; fewer days than this and a series is not scored.
MIN_HISTORY_DAYS = 7
# MAD is 0 for a flat series; flooring the scale keeps its score finite and meaningful.
MIN_SCALE_RATIO = 0.01
MIN_SCALE = 0.01
MAD_TO_SIGMA = 1.4826
ZERO = Decimal(0)

SeriesKey = tuple[str, ...]
Scope = tuple[str, str]  # provider, billing account: one reference day each


class Line(NamedTuple):
    """One series of a ledger: its exposed labels and the facts the rules need."""

    key: SeriesKey
    billing_account: str = ""
    # Billing period as "YYYY-MM"; "" when the data does not say (the charge's month applies).
    period: str = ""
    kind: str = USAGE

    @property
    def scope(self) -> Scope:
        return (self.key[PROVIDER], self.billing_account)


Ledger = dict[Line, dict[date, Decimal]]


def merge(into: Ledger, other: Mapping[Line, Mapping[date, Decimal]]) -> Ledger:
    """Add `other`'s amounts into `into` and return it."""
    for line, days in other.items():
        target = into.setdefault(line, {})
        for day, amount in days.items():
            target[day] = target.get(day, ZERO) + amount
    return into


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def reference_day(days: Iterable[date], today: date, settle_days: int) -> date | None:
    """The latest complete UTC day: before today, and not the newest day while it settles.

    The newest day with data is partial until a later day appears in the data or
    `settle_days` whole days have passed since it ended; days from today on are still
    accruing and never count.
    """
    past = sorted({d for d in days if d < today})
    if not past:
        return None
    newest = past[-1]
    later_data = any(d >= today for d in days)
    if later_data or (today - newest).days > settle_days:
        return newest
    return past[-2] if len(past) > 1 else None


def day_start(day: date) -> float:
    """Unix time of the start of a UTC day."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class SeriesSummary:
    """One cost series as exposed: reference day, month to date, month-end forecast."""

    key: SeriesKey
    daily: float
    month_to_date: float
    forecast: float
    # Mean daily usage-based cost over the 7 days up to the reference day (daily budgets).
    run_rate_7d: float
    # The reference day of the series' provider and billing account (None once folded).
    day: date | None = None


@dataclass(frozen=True)
class AnomalyScore:
    provider: str
    account: str
    service: str
    currency: str
    score: float


@dataclass(frozen=True)
class SourceSummary:
    """Everything one source contributes to a scrape, computed once per poll."""

    # Reference day per (provider, billing account) that has a complete day.
    days: Mapping[Scope, date] = field(default_factory=dict)
    series: tuple[SeriesSummary, ...] = ()
    anomalies: tuple[AnomalyScore, ...] = ()
    # (provider, account, currency, cost_type, billing period) → corrections billed in it.
    corrections: Mapping[tuple[str, ...], float] = field(default_factory=dict)

    def provider_days(self) -> dict[str, date]:
        """Each provider's reference day: the oldest of its billing accounts' days."""
        out: dict[str, date] = {}
        for (provider, _), day in self.days.items():
            out[provider] = min(out.get(provider, day), day)
        return out


def summarise(
    ledger: Mapping[Line, Mapping[date, Decimal]],
    today: date,
    *,
    settle_days: int = 1,
    anomaly_window_days: int = 14,
    anomaly_min_daily_cost: float = 1.0,
    anomaly_enabled: bool = True,
    forecast_remaining: Mapping[str, float] | None = None,
) -> SourceSummary:
    """Summarise a ledger as of `today` (UTC), each provider and billing account on its own day.

    Per scope (provider, billing account) the reference day is its latest complete day
    (`reference_day`). Month to date: the charges from the 1st of the reference day's month
    up to that day, plus the corrections billed in that month. Forecast: month to date +
    the usage-based month to date ÷ days elapsed × days left; recurring, one-time and
    correction charges count once. `forecast_remaining` (cost type → amount for the rest of
    the month, e.g. from Cost Explorer's GetCostForecast) replaces the projection, shared
    out by usage-based month to date.
    """
    by_scope: dict[Scope, set[date]] = defaultdict(set)
    for line, days in ledger.items():
        if line.kind != CORRECTION:
            by_scope[line.scope].update(days)
    ref_days = {
        scope: day
        for scope, days in by_scope.items()
        if (day := reference_day(days, today, settle_days)) is not None
    }
    # key, scope → [daily, month to date, usage-based month to date, usage-based cost of
    # the 7 days ending on the reference day]; only series with a charge in the month count.
    acc: dict[tuple[SeriesKey, Scope], list[Decimal]] = {}
    shown: set[tuple[SeriesKey, Scope]] = set()
    for line, days in ledger.items():
        day = ref_days.get(line.scope)
        if day is None:
            continue
        month_start = day.replace(day=1)
        week_start = day - timedelta(days=6)
        sums = acc.setdefault((line.key, line.scope), [ZERO, ZERO, ZERO, ZERO])
        for d, a in days.items():
            if line.kind == CORRECTION:
                # Counted in the billing period it is billed in, whatever day it corrects;
                # without a billing period, in the month of the charge it corrects.
                if (line.period or month_of(d)) == month_of(day):
                    sums[1] += a
                    shown.add((line.key, line.scope))
                continue
            if line.kind == USAGE and week_start <= d <= day:
                sums[3] += a
            if not month_start <= d <= day:
                continue
            shown.add((line.key, line.scope))
            sums[1] += a
            if d == day:
                sums[0] += a
            if line.kind == USAGE:
                sums[2] += a
    acc = {k: v for k, v in acc.items() if k in shown}
    usage_totals: dict[str, Decimal] = defaultdict(Decimal)
    for (key, _), sums in acc.items():
        usage_totals[key[COST_TYPE]] += sums[2]
    series = []
    for (key, scope), (daily, mtd, usage, week) in sorted(acc.items()):
        day = ref_days[scope]
        left = calendar.monthrange(day.year, day.month)[1] - day.day
        remaining = float(usage) / day.day * left
        if forecast_remaining and key[COST_TYPE] in forecast_remaining and left:
            total = usage_totals[key[COST_TYPE]]
            share = float(usage / total) if total else 0.0
            remaining = forecast_remaining[key[COST_TYPE]] * share
        series.append(
            SeriesSummary(
                key, float(daily), float(mtd), float(mtd) + remaining, float(week) / 7, day
            )
        )
    anomalies: tuple[AnomalyScore, ...] = ()
    if anomaly_enabled:
        anomalies = anomaly_scores(ledger, ref_days, anomaly_window_days, anomaly_min_daily_cost)
    return SourceSummary(ref_days, tuple(series), anomalies, corrections(ledger))


def corrections(ledger: Mapping[Line, Mapping[date, Decimal]]) -> dict[tuple[str, ...], float]:
    """Correction charges per provider, account, currency, cost type and billing period."""
    out: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    for line, days in ledger.items():
        if line.kind != CORRECTION:
            continue
        k = line.key
        for d, amount in days.items():
            period = line.period or month_of(d)
            out[(k[PROVIDER], k[ACCOUNT], k[CURRENCY], k[COST_TYPE], period)] += amount
    return {key: float(v) for key, v in sorted(out.items())}


def robust_z(value: float, history: Sequence[float]) -> float:
    """(value − median) ÷ (1.4826 × MAD), with the scale floored for flat histories."""
    median = statistics.median(history)
    mad = statistics.median(abs(h - median) for h in history)
    scale = max(MAD_TO_SIGMA * mad, MIN_SCALE_RATIO * abs(median), MIN_SCALE)
    return (value - median) / scale


def anomaly_scores(
    ledger: Mapping[Line, Mapping[date, Decimal]],
    ref_days: Mapping[Scope, date],
    window_days: int,
    min_daily_cost: float,
) -> tuple[AnomalyScore, ...]:
    """Score each provider/account/service/currency's usage on its reference day.

    Only usage-based charges are scored (a purchase or a tax line is expected, not an
    anomaly), on one cost type (billed, else effective, else list) so that the same spend
    is not counted three times, and never summed across currencies. Days without data
    inside the covered range count as zero; series whose latest day and typical day are
    both below `min_daily_cost` are skipped.
    """
    present = {line.key[COST_TYPE] for line in ledger}
    scored = next((c for c in COST_TYPES if c in present), None)
    first: dict[Scope, date] = {}
    for line, days in ledger.items():
        if line.kind != CORRECTION and days:
            first[line.scope] = min(first.get(line.scope, min(days)), min(days))
    totals: dict[tuple[Scope, tuple[str, str, str, str]], dict[date, float]] = defaultdict(
        lambda: defaultdict(float)
    )
    for line, days in ledger.items():
        day = ref_days.get(line.scope)
        if line.kind != USAGE or line.key[COST_TYPE] != scored or day is None:
            continue
        k = line.key
        target = totals[(line.scope, (k[PROVIDER], k[ACCOUNT], k[SERVICE], k[CURRENCY]))]
        start = max(first[line.scope], day - timedelta(days=window_days))
        for d, amount in days.items():
            if start <= d <= day:
                target[d] += float(amount)
    best: dict[tuple[str, str, str, str], float] = {}
    for (scope, who), costs in totals.items():
        day = ref_days[scope]
        start = max(first[scope], day - timedelta(days=window_days))
        history_days = [start + timedelta(days=i) for i in range((day - start).days)]
        if len(history_days) < MIN_HISTORY_DAYS:
            continue
        history = [costs.get(d, 0.0) for d in history_days]
        value = costs.get(day, 0.0)
        if max(value, statistics.median(history)) < min_daily_cost:
            continue
        score = robust_z(value, history)
        best[who] = max(best.get(who, score), score)
    return tuple(AnomalyScore(*who, score) for who, score in sorted(best.items()))


def fold(series: Sequence[SeriesSummary], max_series: int) -> tuple[tuple[SeriesSummary, ...], int]:
    """Keep at most `max_series` series: the cheapest tail is summed into service="other".

    Folded series keep their other labels where that fits under the cap; if even that is
    too many, the tail collapses further to one series per provider, currency, cost type
    and charge category, so no sum ever mixes currencies. Returns the series to expose and
    how many original series were folded.
    """
    if len(series) <= max_series:
        return tuple(series), 0
    ranked = sorted(series, key=lambda s: (-abs(s.month_to_date), s.key))

    def fine(key: SeriesKey) -> SeriesKey:
        return (*key[:SERVICE], OTHER, *key[SERVICE + 1 :])

    def coarse(key: SeriesKey) -> SeriesKey:
        out = [OTHER] * len(key)
        for i in (PROVIDER, CURRENCY, COST_TYPE, CHARGE_CATEGORY):
            out[i] = key[i]
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
        acc = sums.setdefault(bucket(s.key), [0.0, 0.0, 0.0, 0.0])
        acc[0] += s.daily
        acc[1] += s.month_to_date
        acc[2] += s.forecast
        acc[3] += s.run_rate_7d
    for key, (daily, mtd, forecast, rate) in sums.items():
        kept.append(SeriesSummary(key, daily, mtd, forecast, rate))
    # A bucket may coincide with a kept series already named "other", or one series may
    # come from two billing accounts: add them up.
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

    Monthly: the period is the month holding the newest reference day across sources and
    providers, so a lagging provider's old month never counts towards this month; spent =
    month to date, forecast = month-end forecast. Daily: each provider and billing account
    on its own complete day; spent = that day's cost, forecast = the 7-day average daily
    usage-based cost (the spend a typical day is heading for).
    """
    summaries = [s for s in summaries if s.days]
    if not summaries:
        return ()
    newest = max(d for s in summaries for d in s.days.values())
    index = {name: i for i, name in enumerate(labels)}
    out = []
    for rule in rules:
        spent = forecast = 0.0
        for summary in summaries:
            for s in summary.series:
                if s.key[COST_TYPE] != rule.cost_type or s.key[CURRENCY] != rule.currency:
                    continue
                if any(s.key[index[k]] != v for k, v in rule.match.items()):
                    continue
                if rule.period == "monthly":
                    if s.day is None or (s.day.year, s.day.month) != (newest.year, newest.month):
                        continue
                    spent += s.month_to_date
                    forecast += s.forecast
                else:
                    spent += s.daily
                    forecast += s.run_rate_7d
        out.append(
            BudgetStatus(rule.name, rule.period, rule.currency, rule.amount, spent, forecast)
        )
    return tuple(out)
