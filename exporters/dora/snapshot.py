"""Compute every DORA metric from the store: one immutable snapshot per refresh.

Counters and histograms are aggregates over all stored records, so they never reset on a
restart and a redelivery cannot double count. Windowed gauges (7d, 30d, 90d) and levels
follow docs/metrics.md#dora-definitions. Medians of durations are exact (the mean of the
two middle values); medians of day counts are the lower median, a whole number of days.
A level that cannot be computed is absent and `dora_performance_level_unknown` says why.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import metrics as m
from .config import Levels
from .schema import AFTER_DEPLOYMENT, BEFORE_HISTORY

DAY = 86400.0
WINDOWS: dict[str, float] = {"7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}
WEEK_DAYS, MONTH_DAYS = 7, 30
LEVEL_METRICS = ("deployment_frequency", "lead_time", "change_failure_ratio", "time_to_restore")

# Why a level is unknown (the `reason` label of dora_performance_level_unknown).
NO_INCIDENT_SOURCE = "no_incident_source"
NO_DEPLOYMENTS = "no_deployments"
NO_LEAD_TIMES = "no_lead_times"
NO_RESOLVED_INCIDENTS = "no_resolved_incidents"
UNATTRIBUTED_INCIDENTS = "unattributed_incidents"

Series = tuple[str, str]  # (service, environment)
Labels = tuple[str, ...]

# Counter → column of series_totals.
COUNTER_COLUMNS = {
    m.DEPLOYMENTS.name: "deployments",
    m.FAILED_DEPLOYMENTS.name: "failed",
    m.CHANGE_FAILURES.name: "change_failures",
    m.REWORK_DEPLOYMENTS.name: "rework",
}
REJECTED_COLUMNS = {AFTER_DEPLOYMENT: "rejected_after", BEFORE_HISTORY: "rejected_history"}


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts (same order as BUCKETS), count and sum."""

    buckets: tuple[int, ...]
    count: int
    sum: float


@dataclass(frozen=True)
class Snapshot:
    """Everything the collector exposes, keyed by metric name then label values."""

    counters: Mapping[str, Mapping[Labels, float]] = field(default_factory=dict)
    histograms: Mapping[str, Mapping[Series, Histogram]] = field(default_factory=dict)
    gauges: Mapping[str, Mapping[Labels, float]] = field(default_factory=dict)
    computed_at: float = 0.0
    # Services stored but not exported because of `dora.max_services`, and the first few.
    services_dropped: int = 0
    dropped_examples: tuple[str, ...] = ()


def _median(
    conn: sqlite3.Connection,
    table: str,
    value: str,
    time_col: str,
    series: Series,
    since: float,
    where: str = "",
) -> float | None:
    """Exact median of `value` over rows of a series with `time_col >= since`.

    Counts by the time index, then walks the value-ordered index to the middle: no sort,
    at most half the series' rows read, all inside SQLite. `where` must imply the
    condition of the indexes when they are partial.
    """
    env_service = (series[1], series[0], since)
    (n,) = conn.execute(
        f"SELECT count(*) FROM {table} INDEXED BY {table}_window "
        f"WHERE environment = ? AND service = ? AND {time_col} >= ? {where}",
        env_service,
    ).fetchone()
    if not n:
        return None
    middle = conn.execute(
        f"SELECT {value} FROM {table} INDEXED BY {table}_value "
        f"WHERE environment = ? AND service = ? AND {time_col} >= ? AND {value} IS NOT NULL "
        f"{where} ORDER BY {value} LIMIT ? OFFSET ?",
        (*env_service, 2 - n % 2, (n - 1) // 2),
    ).fetchall()
    return sum(v for (v,) in middle) / len(middle)


def level_higher_better(value: float, elite: float, high: float, medium: float) -> int:
    return 3 if value >= elite else 2 if value >= high else 1 if value >= medium else 0


def level_lower_better(value: float, elite: float, high: float, medium: float, strict: bool) -> int:
    def ok(limit: float) -> bool:
        return value < limit if strict else value <= limit

    return 3 if ok(elite) else 2 if ok(high) else 1 if ok(medium) else 0


def lower_median(values: list[int]) -> int:
    """The lower median (DevLake's: the largest value ranked at or below the middle)."""
    return sorted(values)[(len(values) - 1) // 2]


@dataclass(frozen=True)
class DeploymentDays:
    """Days with a successful deployment over a window's whole UTC days."""

    days: int  # days with a deployment in the window
    per_week: int  # lower median over the window's 7-day blocks
    per_month: int | None  # lower median over its 30-day blocks; None for 7d


def deployment_days(deployed: Collection[int], today: int, window_days: int) -> DeploymentDays:
    """Count deployment days per 7- and 30-day block, counting back from yesterday.

    `deployed` holds UTC day numbers with a successful deployment. Today is left out so
    the value does not change with the hour; blocks that do not fit whole are left out.
    """

    def blocks(size: int) -> list[int]:
        return [
            sum(1 for d in range(today - size * (b + 1), today - size * b) if d in deployed)
            for b in range(window_days // size)
        ]

    days = sum(1 for d in range(today - window_days, today) if d in deployed)
    months = blocks(MONTH_DAYS)
    return DeploymentDays(
        days, lower_median(blocks(WEEK_DAYS)), lower_median(months) if months else None
    )


def frequency_level(d: DeploymentDays, window_days: int, levels: Levels) -> int:
    """2023 clusters: on demand, daily to weekly, weekly to monthly, less than monthly."""
    t = levels.deployment_days
    if d.per_week >= t.elite_per_week:
        return 3
    if d.per_week >= t.high_per_week:
        return 2
    # A window shorter than a month (7d) scales its days to 30.
    per_month = d.per_month if d.per_month is not None else d.days * MONTH_DAYS / window_days
    return 1 if per_month >= t.medium_per_month else 0


TOTALS = "SELECT * FROM series_totals"


WHOLE_DAYS = """
SELECT sum(succeeded), sum(deployments), sum(change_failures), sum(rework)
FROM deployment_days WHERE environment = ? AND service = ? AND day > ?
"""
PARTIAL_DAY = """
SELECT sum(status = 'success'), count(*), sum(status = 'failure' OR incidents > 0), sum(rework)
FROM deployments
WHERE service = ? AND environment = ? AND status IN ('success', 'failure')
  AND finished_at >= ? AND finished_at < ?
"""
DEPLOYED_DAYS = """
SELECT day FROM deployment_days
WHERE environment = ? AND service = ? AND day >= ? AND day < ? AND succeeded > 0
"""
UNATTRIBUTED = """
SELECT count(*) FROM incidents INDEXED BY incidents_unattributed
WHERE environment = ? AND service = ? AND deployment_id IS NULL AND started_at >= ?
"""


def _windowed_counts(conn: sqlite3.Connection, now: float, series: Series) -> list[int]:
    """Per window: successes, deployments, change failures, rework (exact).

    Whole UTC days after the window start come from `deployment_days`; the day the window
    starts in is counted from the deployments themselves, from the exact start time.
    """
    service, env = series
    counts: list[int] = []
    for length in WINDOWS.values():
        since = now - length
        first_day = int(since // DAY)
        whole = conn.execute(WHOLE_DAYS, (env, service, first_day)).fetchone()
        part = conn.execute(PARTIAL_DAY, (service, env, since, (first_day + 1) * DAY)).fetchone()
        counts += [(a or 0) + (b or 0) for a, b in zip(whole, part, strict=True)]
    return counts


@dataclass
class SeriesReads:
    """What one refresh reads for a series besides its totals row."""

    counts: list[int] = field(default_factory=lambda: [0] * 4 * len(WINDOWS))
    days: dict[str, DeploymentDays] = field(default_factory=dict)
    lead: dict[str, float] = field(default_factory=dict)
    restore: dict[str, float] = field(default_factory=dict)
    recovery: dict[str, float] = field(default_factory=dict)
    unattributed: dict[str, int] = field(default_factory=dict)


def _read_series(
    conn: sqlite3.Connection, now: float, series: Series, row: Mapping[str, Any]
) -> SeriesReads:
    reads = SeriesReads()
    if row["deployments"]:
        reads.counts = _windowed_counts(conn, now, series)
        today = int(now // DAY)
        longest = int(max(WINDOWS.values()) // DAY)
        deployed = {
            d
            for (d,) in conn.execute(DEPLOYED_DAYS, (series[1], series[0], today - longest, today))
        }
        for w, length in WINDOWS.items():
            reads.days[w] = deployment_days(deployed, today, int(length // DAY))
    for w, length in WINDOWS.items():
        since = now - length
        if row["lead_count"]:
            lead = _median(
                conn, "lead_times", "seconds", "shipped_at", series, since, "AND reason IS NULL"
            )
            if lead is not None:
                reads.lead[w] = lead
        if row["incidents"]:
            restore = _median(conn, "incidents", "restored", "resolved_at", series, since)
            if restore is not None:
                reads.restore[w] = restore
            (reads.unattributed[w],) = conn.execute(
                UNATTRIBUTED, (series[1], series[0], since)
            ).fetchone()
        recovery = _median(conn, "recoveries", "seconds", "recovered_at", series, since)
        if recovery is not None:
            reads.recovery[w] = recovery
    return reads


def busiest(totals: list[dict[str, Any]], limit: int) -> tuple[set[str], list[str]]:
    """The `limit` services with the most deployments and incidents (ties by name), the rest.

    Ranking by activity keeps the services that matter when a sender floods new names.
    """
    events: Counter[str] = Counter()
    for row in totals:
        events[row["service"]] += row["deployments"] + row["incidents"]
    ranked = sorted(events, key=lambda s: (-events[s], s))
    return set(ranked[:limit]), ranked[limit:]


def compute(
    conn: sqlite3.Connection,
    now: float,
    environments: Collection[str],
    levels: Levels,
    incident_source: bool = True,
    max_services: int | None = None,
) -> Snapshot:
    """Read the store once and build the snapshot (a read transaction: one consistent view).

    `incident_source` says whether any source can report incidents (Alertmanager or
    generic events); without one, change failure ratio and time to restore have no level.
    Only the `max_services` busiest services are read and exported.
    """
    envs = set(environments)
    conn.execute("BEGIN")
    try:
        cursor = conn.execute(TOTALS)
        columns = [d[0] for d in cursor.description]
        totals = [dict(zip(columns, r, strict=True)) for r in cursor if r[1] in envs]
        left_out: list[str] = []
        if max_services is not None:
            kept, left_out = busiest(totals, max_services)
            if left_out:
                totals = [r for r in totals if r["service"] in kept]
        reads = {
            (r["service"], r["environment"]): _read_series(
                conn, now, (r["service"], r["environment"]), r
            )
            for r in totals
        }
    finally:
        conn.execute("COMMIT")
    snapshot = _assemble(now, totals, reads, levels, incident_source)
    if not left_out:
        return snapshot
    return replace(snapshot, services_dropped=len(left_out), dropped_examples=tuple(left_out[:3]))


@dataclass(frozen=True)
class _Levels:
    """Record one window's level per key metric, or why it has none."""

    perf: dict[Labels, float]
    unknown: dict[Labels, float]
    key: Labels

    def __call__(self, metric: str, value: int | None, reason: str | None) -> None:
        if value is not None:
            self.perf[(*self.key, metric)] = value
        else:
            self.unknown[(*self.key, metric, str(reason))] = 1


def _assemble(
    now: float,
    totals: list[dict[str, Any]],
    reads: Mapping[Series, SeriesReads],
    levels: Levels,
    incident_source: bool,
) -> Snapshot:
    counter_names = [*COUNTER_COLUMNS, m.INCIDENTS.name, m.LEAD_TIME_REJECTED.name]
    counters: dict[str, dict[Labels, float]] = {name: {} for name in counter_names}
    gauges: dict[str, dict[Labels, float]] = {f.name: {} for f in m.of_kind("gauge")}
    histograms: dict[str, dict[Series, Histogram]] = {f.name: {} for f in m.of_kind("histogram")}
    perf = gauges[m.PERFORMANCE_LEVEL.name]
    unknown = gauges[m.PERFORMANCE_LEVEL_UNKNOWN.name]
    lv = levels
    for row in totals:
        series: Series = (row["service"], row["environment"])
        r = reads[series]
        deployed, incidents = row["deployments"], row["incidents"]
        if deployed:
            for name, column in COUNTER_COLUMNS.items():
                counters[name][series] = row[column]
            for reason, column in REJECTED_COLUMNS.items():
                counters[m.LEAD_TIME_REJECTED.name][(*series, reason)] = row[column]
            gauges[m.LEAD_TIME_PENDING.name][series] = row["pending"]
            if row["last_deployment"] is not None:
                gauges[m.LAST_DEPLOYMENT.name][series] = row["last_deployment"]
        if incidents:
            counters[m.INCIDENTS.name][series] = incidents
            gauges[m.INCIDENTS_OPEN.name][series] = row["open"]
            histograms[m.TIME_TO_RESTORE.name][series] = Histogram(
                tuple(row[f"restore_b{i}"] for i in range(1, 6)),
                row["restore_count"],
                row["restore_sum"],
            )
        if row["lead_count"]:
            histograms[m.LEAD_TIME.name][series] = Histogram(
                tuple(row[f"lead_b{i}"] for i in range(1, 6)), row["lead_count"], row["lead_sum"]
            )
        for i, (window, length) in enumerate(WINDOWS.items()):
            key = (*series, window)
            level = _Levels(perf, unknown, key)

            ok, all_, cf, rw = r.counts[4 * i : 4 * i + 4]
            days = r.days.get(window)
            if deployed:
                gauges[m.DEPLOYMENT_FREQUENCY.name][key] = ok / (length / DAY)
            if days is not None:
                gauges[m.DEPLOYMENT_DAYS_PER_WEEK.name][key] = days.per_week
                if days.per_month is not None:
                    gauges[m.DEPLOYMENT_DAYS_PER_MONTH.name][key] = days.per_month
            if days is not None and days.days:
                level("deployment_frequency", frequency_level(days, int(length // DAY), lv), None)
            else:
                level("deployment_frequency", None, NO_DEPLOYMENTS)

            if (median := r.lead.get(window)) is not None:
                gauges[m.LEAD_TIME_MEDIAN.name][key] = median
                t = lv.lead_time
                level(
                    "lead_time",
                    level_lower_better(
                        median, t.elite.seconds_f, t.high.seconds_f, t.medium.seconds_f, True
                    ),
                    None,
                )
            else:
                level("lead_time", None, NO_LEAD_TIMES if ok else NO_DEPLOYMENTS)

            unattributed = r.unattributed.get(window)
            if unattributed is not None:
                gauges[m.INCIDENTS_UNATTRIBUTED.name][key] = unattributed
            if all_:
                gauges[m.CHANGE_FAILURE_RATIO.name][key] = cf / all_
                gauges[m.REWORK_RATIO.name][key] = rw / all_
            c = lv.change_failure_ratio
            if not incident_source:
                level("change_failure_ratio", None, NO_INCIDENT_SOURCE)
            elif not all_:
                level("change_failure_ratio", None, NO_DEPLOYMENTS)
            else:
                # Each incident tied to no deployment could be one more change failure: the
                # level stands only if the worst case gives the same level.
                low = level_lower_better(cf / all_, c.elite, c.high, c.medium, strict=False)
                worst = min(all_, cf + (unattributed or 0)) / all_
                high = level_lower_better(worst, c.elite, c.high, c.medium, strict=False)
                level("change_failure_ratio", low if low == high else None, UNATTRIBUTED_INCIDENTS)

            if (median := r.recovery.get(window)) is not None:
                gauges[m.FAILED_DEPLOYMENT_RECOVERY_MEDIAN.name][key] = median
            if (median := r.restore.get(window)) is not None:
                gauges[m.TIME_TO_RESTORE_MEDIAN.name][key] = median
            if not incident_source:
                level("time_to_restore", None, NO_INCIDENT_SOURCE)
            elif median is not None:
                t = lv.time_to_restore
                level(
                    "time_to_restore",
                    level_lower_better(
                        median, t.elite.seconds_f, t.high.seconds_f, t.medium.seconds_f, True
                    ),
                    None,
                )
            else:
                level("time_to_restore", None, NO_RESOLVED_INCIDENTS)
    return Snapshot(counters, histograms, gauges, now)
