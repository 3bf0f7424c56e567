"""Compute every DORA metric from the store: one immutable snapshot per refresh.

Counters and histograms are aggregates over all stored records, so they never reset on a
restart and a redelivery cannot double count. Windowed gauges (7d, 30d, 90d) and levels
follow docs/metrics.md#dora-definitions. Medians are exact (SQLite window functions, no sampling).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from . import metrics as m
from .config import Levels

DAY = 86400.0
WINDOWS: dict[str, float] = {"7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}
# DORA-aligned buckets: 1 hour, 1 day, 1 week, 30 days, 180 days.
LEVEL_METRICS = ("deployment_frequency", "lead_time", "change_failure_ratio", "time_to_restore")

Series = tuple[str, str]  # (service, environment)

# Counter → column of the TOTALS row.
COUNTER_COLUMNS = {
    m.DEPLOYMENTS.name: 2,
    m.FAILED_DEPLOYMENTS.name: 3,
    m.CHANGE_FAILURES.name: 4,
    m.REWORK_DEPLOYMENTS.name: 5,
    m.INCIDENTS.name: 7,
}


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts (same order as BUCKETS), count and sum."""

    buckets: tuple[int, ...]
    count: int
    sum: float


@dataclass(frozen=True)
class Snapshot:
    """Everything the collector exposes, keyed by metric name then label values."""

    counters: Mapping[str, Mapping[Series, float]] = field(default_factory=dict)
    histograms: Mapping[str, Mapping[Series, Histogram]] = field(default_factory=dict)
    gauges: Mapping[str, Mapping[tuple[str, ...], float]] = field(default_factory=dict)
    computed_at: float = 0.0


def _median(
    conn: sqlite3.Connection, table: str, value: str, time_col: str, series: Series, since: float
) -> float | None:
    """Exact median of `value` over rows of a series with `time_col >= since`.

    Counts by the time index, then walks the value-ordered index to the middle: no sort,
    at most half the series' rows read, all inside SQLite.
    """
    env_service = (series[1], series[0], since)
    (n,) = conn.execute(
        f"SELECT count(*) FROM {table} INDEXED BY {table}_window "
        f"WHERE environment = ? AND service = ? AND {time_col} >= ?",
        env_service,
    ).fetchone()
    if not n:
        return None
    middle = conn.execute(
        f"SELECT {value} FROM {table} INDEXED BY {table}_value "
        f"WHERE environment = ? AND service = ? AND {time_col} >= ? AND {value} IS NOT NULL "
        f"ORDER BY {value} LIMIT ? OFFSET ?",
        (*env_service, 2 - n % 2, (n - 1) // 2),
    ).fetchall()
    return sum(v for (v,) in middle) / len(middle)


def level_higher_better(value: float, elite: float, high: float, medium: float) -> int:
    return 3 if value >= elite else 2 if value >= high else 1 if value >= medium else 0


def level_lower_better(value: float, elite: float, high: float, medium: float, strict: bool) -> int:
    def ok(limit: float) -> bool:
        return value < limit if strict else value <= limit

    return 3 if ok(elite) else 2 if ok(high) else 1 if ok(medium) else 0


TOTALS = f"""
SELECT service, environment, deployments, failed, change_failures, rework, last_deployment,
       incidents, open, lead_count, lead_sum, {", ".join(f"lead_b{i}" for i in range(1, 6))},
       restore_count, restore_sum, {", ".join(f"restore_b{i}" for i in range(1, 6))}
FROM series_totals
"""


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


def compute(
    conn: sqlite3.Connection, now: float, environments: Collection[str], levels: Levels
) -> Snapshot:
    """Read the store once and build the snapshot (a read transaction: one consistent view)."""
    envs = set(environments)
    conn.execute("BEGIN")
    try:
        totals = [row for row in conn.execute(TOTALS) if row[1] in envs]
        windowed = {(r[0], r[1]): _windowed_counts(conn, now, (r[0], r[1])) for r in totals if r[2]}
        lead_medians: dict[str, dict[Series, float]] = {w: {} for w in WINDOWS}
        restore_medians: dict[str, dict[Series, float]] = {w: {} for w in WINDOWS}
        for row in totals:
            series = (row[0], row[1])
            for w, length in WINDOWS.items():
                if row[9]:
                    lead = _median(
                        conn, "lead_times", "seconds", "shipped_at", series, now - length
                    )
                    if lead is not None:
                        lead_medians[w][series] = lead
                if row[7]:
                    restore = _median(
                        conn, "incidents", "restored", "resolved_at", series, now - length
                    )
                    if restore is not None:
                        restore_medians[w][series] = restore
    finally:
        conn.execute("COMMIT")
    return _assemble(now, totals, windowed, lead_medians, restore_medians, levels)


def _assemble(
    now: float,
    totals: list[tuple],  # type: ignore[type-arg]
    windowed: dict[Series, list[int]],
    lead_medians: dict[str, dict[Series, float]],
    restore_medians: dict[str, dict[Series, float]],
    levels: Levels,
) -> Snapshot:
    counters: dict[str, dict[Series, float]] = {name: {} for name in COUNTER_COLUMNS}
    gauges: dict[str, dict[tuple[str, ...], float]] = {f.name: {} for f in m.of_kind("gauge")}
    histograms: dict[str, dict[Series, Histogram]] = {f.name: {} for f in m.of_kind("histogram")}
    perf = gauges[m.PERFORMANCE_LEVEL.name]
    lv = levels
    for row in totals:
        series: Series = (row[0], row[1])
        deployed, incidents = row[2], row[7]
        if deployed:
            for name, column in COUNTER_COLUMNS.items():
                if name != m.INCIDENTS.name:
                    counters[name][series] = row[column]
            if row[6] is not None:
                gauges[m.LAST_DEPLOYMENT.name][series] = row[6]
        if incidents:
            counters[m.INCIDENTS.name][series] = incidents
            gauges[m.INCIDENTS_OPEN.name][series] = row[8]
            histograms[m.TIME_TO_RESTORE.name][series] = Histogram(
                tuple(row[18:23]), row[16], row[17]
            )
        if row[9]:
            histograms[m.LEAD_TIME.name][series] = Histogram(tuple(row[11:16]), row[9], row[10])
        counts = windowed.get(series, [0] * 12)
        for i, (window, length) in enumerate(WINDOWS.items()):
            key = (*series, window)
            if deployed:
                ok, all_, cf, rw = counts[4 * i : 4 * i + 4]
                frequency = ok / (length / DAY)
                gauges[m.DEPLOYMENT_FREQUENCY.name][key] = frequency
                f = lv.deployment_frequency_per_day
                perf[(*key, "deployment_frequency")] = level_higher_better(
                    frequency, f.elite, f.high, f.medium
                )
                if all_:
                    ratio = cf / all_
                    gauges[m.CHANGE_FAILURE_RATIO.name][key] = ratio
                    gauges[m.REWORK_RATIO.name][key] = rw / all_
                    c = lv.change_failure_ratio
                    perf[(*key, "change_failure_ratio")] = level_lower_better(
                        ratio, c.elite, c.high, c.medium, strict=False
                    )
            if (median := lead_medians[window].get(series)) is not None:
                gauges[m.LEAD_TIME_MEDIAN.name][key] = median
                t = lv.lead_time
                perf[(*key, "lead_time")] = level_lower_better(
                    median, t.elite.seconds_f, t.high.seconds_f, t.medium.seconds_f, strict=True
                )
            if (median := restore_medians[window].get(series)) is not None:
                gauges[m.TIME_TO_RESTORE_MEDIAN.name][key] = median
                r = lv.time_to_restore
                perf[(*key, "time_to_restore")] = level_lower_better(
                    median, r.elite.seconds_f, r.high.seconds_f, r.medium.seconds_f, strict=True
                )
    return Snapshot(counters, histograms, gauges, now)
