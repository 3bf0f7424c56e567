"""On-disk cache of paid API responses and request counts (SQLite, WAL mode).

A restart reads everything back from here, so it makes no paid call for data it already
has, and the daily request cap and the paid-request counters survive it too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from .model import Ledger, Line

# Amounts are decimal text: REAL would round a large invoice line. `costs` held floats and
# series keys without charge_category; its rows cannot be reused, so it is dropped.
SCHEMA = """
DROP TABLE IF EXISTS costs;
CREATE TABLE IF NOT EXISTS cost_lines (
    source TEXT NOT NULL, day TEXT NOT NULL, line TEXT NOT NULL, amount TEXT NOT NULL,
    PRIMARY KEY (source, day, line));
CREATE TABLE IF NOT EXISTS fetches (
    source TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, fetched_at REAL NOT NULL,
    extras TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS paid_requests (
    source TEXT NOT NULL, day TEXT NOT NULL, operation TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (source, day, operation));
"""


@dataclass(frozen=True)
class CachedFetch:
    """What the last successful fetch of a source left on disk."""

    fetched_at: float
    ledger: Ledger
    extras: Mapping[str, Any] = field(default_factory=dict)


class CostCacheStore:
    """Persist fetched cost rows, fetch times and paid request counts per source."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Sources poll from worker threads, one at a time each; the lock serialises them.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def load(self, source: str, fingerprint: str) -> CachedFetch | None:
        """The cached fetch of `source`, or None if absent or made under another config."""
        with self._lock:
            row = self._db.execute(
                "SELECT fingerprint, fetched_at, extras FROM fetches WHERE source = ?", (source,)
            ).fetchone()
            if row is None or row[0] != fingerprint:
                return None
            ledger: Ledger = {}
            for day, key, amount in self._db.execute(
                "SELECT day, line, amount FROM cost_lines WHERE source = ?", (source,)
            ):
                labels, billing_account, period, kind = json.loads(key)
                line = Line(tuple(labels), billing_account, period, kind)
                ledger.setdefault(line, {})[date.fromisoformat(day)] = Decimal(amount)
        return CachedFetch(row[1], ledger, json.loads(row[2]))

    def save(
        self,
        source: str,
        fingerprint: str,
        fetched_at: float,
        window: tuple[date, date],
        ledger: Ledger,
        keep_from: date,
        extras: Mapping[str, Any],
    ) -> None:
        """Replace the days in `window` [start, end) with `ledger`, drop days before `keep_from`."""
        start, end = (d.isoformat() for d in window)
        rows = [
            (source, day.isoformat(), json.dumps([list(line.key), *line[1:]]), str(amount))
            for line, days in ledger.items()
            for day, amount in days.items()
            if window[0] <= day < window[1]
        ]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            old = self._db.execute("SELECT fingerprint FROM fetches WHERE source = ?", (source,))
            previous = old.fetchone()
            if previous is not None and previous[0] != fingerprint:
                self._db.execute("DELETE FROM cost_lines WHERE source = ?", (source,))
            self._db.execute(
                "DELETE FROM cost_lines WHERE source = ? AND ((day >= ? AND day < ?) OR day < ?)",
                (source, start, end, keep_from.isoformat()),
            )
            self._db.executemany("INSERT INTO cost_lines VALUES (?, ?, ?, ?)", rows)
            self._db.execute(
                "INSERT OR REPLACE INTO fetches VALUES (?, ?, ?, ?)",
                (source, fingerprint, fetched_at, json.dumps(extras)),
            )

    def count_request(self, source: str, day: date, operation: str) -> None:
        """Record one paid request, durably, before it is made."""
        with self._lock:
            self._db.execute(
                "INSERT INTO paid_requests VALUES (?, ?, ?, 1) ON CONFLICT (source, day, operation)"
                " DO UPDATE SET count = count + 1",
                (source, day.isoformat(), operation),
            )

    def requests_on(self, source: str, day: date) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(count), 0) FROM paid_requests WHERE source = ? AND day = ?",
                (source, day.isoformat()),
            ).fetchone()
        return int(row[0])

    def request_totals(self, source: str) -> dict[str, int]:
        """Paid requests per operation since the cache was created."""
        with self._lock:
            rows = self._db.execute(
                "SELECT operation, SUM(count) FROM paid_requests WHERE source = ?"
                " GROUP BY operation",
                (source,),
            ).fetchall()
        return {op: int(n) for op, n in rows}
