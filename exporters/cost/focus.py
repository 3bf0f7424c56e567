"""FOCUS billing files (CSV, CSV.gz, Parquet) → daily cost ledgers, via DuckDB.

DuckDB streams each file and aggregates it in SQL (UTC day × labels), so Python never
holds rows and memory stays bounded by the number of groups, not the file size.
FOCUS 1.0–1.3: the provider is `ServiceProviderName` (1.3) or `ProviderName`. Tolerated
quirks of real exports: literal `NULL`, `YYYY-MM-DD HH:MM:SS` or RFC 3339 timestamps,
JSON `Tags` (or NULL, or a MAP in Parquet), extra columns. A charge is attributed to the
UTC day its charge period starts on (periods are UTC, start inclusive, end exclusive).
"""

from __future__ import annotations

import asyncio
import csv
import glob
import gzip
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from exporters.base import Clock, SourceError

from .model import Ledger, merge

log = logging.getLogger("opslens.cost.focus")

# FOCUS cost column → `cost_type` label value.
COST_COLUMNS = {"BilledCost": "billed", "EffectiveCost": "effective", "ListCost": "list"}
NULLS = ["NULL", "null", "Null", ""]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(path: str) -> bytes:
    if path.endswith(".gz"):
        with gzip.open(path) as gz:
            return gz.readline(1 << 20)
    with open(path, "rb") as fh:
        return fh.readline(1 << 20)


def _header(path: str) -> list[str] | None:
    """The CSV header's column names, or None to let DuckDB sniff (unknown compression)."""
    if not path.endswith((".csv", ".gz")):
        return None
    try:
        line = _first_line(path)
    except (OSError, EOFError):
        return None  # DuckDB's own read then reports what is wrong with the file
    if not line.endswith(b"\n") or line.count(b'"') % 2:
        return None  # no newline within 1 MB, or a quoted name spanning lines: let DuckDB
    try:
        names = next(csv.reader([line.decode("utf-8-sig", "replace").rstrip("\r\n")]))
    except (csv.Error, StopIteration):
        return None
    if not names:
        return None
    # Our names, not the sniffer's: blank ones get a position, repeated ones a suffix.
    seen: dict[str, int] = {}
    columns = []
    for i, name in enumerate(names):
        name = name or f"column{i}"
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        columns.append(name if seen[key] == 1 else f"{name}_{seen[key] - 1}")
    return columns


def _relation(path: str, names: Sequence[str] | None = None) -> str:
    if path.endswith(".parquet"):
        return f"read_parquet({_literal(path)})"
    # All text: sniffed types break on the first odd value past the sample; we cast below.
    # A fixed dialect: sniffing a truncated file can silently read it as one text column.
    nulls = ", ".join(_literal(n) for n in NULLS)
    # Known column names skip DuckDB's sniffer (~60 ms a read, twice: DESCRIBE and query).
    columns = ""
    if names is not None:
        typed = ", ".join(f"{_literal(n)}: 'VARCHAR'" for n in names)
        columns = f" auto_detect = false, columns = {{{typed}}},"
    return (
        f"read_csv({_literal(path)}, header = true,{columns} all_varchar = true,"
        f" nullstr = [{nulls}], delim = ',', quote = '\"', escape = '\"', strict_mode = true)"
    )


def _day(column: str, kind: str) -> str:
    """The UTC day of a charge period start, for text or timestamp columns."""
    c = _ident(column)
    if kind.upper() != "VARCHAR":
        return f"CAST({c} AS DATE)"  # TIMESTAMP is UTC by FOCUS; TIMESTAMPTZ in a UTC session
    # The offset-aware cast costs ~2x; only strings ending in ±hh:mm / ±hhmm need it. The
    # length test (free) settles the common `YYYY-MM-DD HH:MM:SS` before any substring test.
    return (
        f"CASE WHEN strlen({c}) = 19"
        f" OR NOT (substr({c}, -6, 1) IN ('+', '-') OR substr({c}, -5, 1) IN ('+', '-'))"
        f" THEN CAST(TRY_CAST({c} AS TIMESTAMP) AS DATE)"
        f" ELSE CAST(TRY_CAST({c} AS TIMESTAMPTZ) AS DATE) END"
    )


def _tag(column: str, kind: str, key: str) -> str:
    c = _ident(column)
    if kind.upper().startswith("MAP"):
        return f"CAST(element_at({c}, {_literal(key)})[1] AS VARCHAR)"
    value = f"CAST({c} AS VARCHAR)"
    path = _literal("$." + '"' + key.replace('"', '\\"') + '"')
    # A cheap substring test first; json_valid keeps one malformed row from failing the file.
    return (
        f"CASE WHEN contains({value}, {_literal(chr(34) + key + chr(34))})"
        f" AND json_valid({value}) THEN json_extract_string({value}, {path}) END"
    )


def _clean(expr: str) -> str:
    return f"NULLIF(TRIM(CAST({expr} AS VARCHAR)), '')"


def focus_query(
    path: str,
    columns: Mapping[str, str],
    tag_keys: Sequence[str],
    names: Sequence[str] | None = None,
) -> tuple[str, list[str]]:
    """SQL aggregating one FOCUS file by UTC day and labels, and its cost types in order.

    Two stages: the per-row stage only casts and groups raw values (the hot loop); label
    clean-up (trim, NULL → "", account fallback) runs on the far fewer grouped rows.
    """
    by_lower = {name.lower(): name for name in columns}

    def col(*wanted: str) -> str | None:
        return next((by_lower[n.lower()] for n in wanted if n.lower() in by_lower), None)

    start = col("ChargePeriodStart")
    if start is None:
        raise ValueError("no ChargePeriodStart column: not a FOCUS file")
    costs = [(c, t) for name, t in COST_COLUMNS.items() if (c := col(name)) is not None]
    if not costs:
        raise ValueError("no BilledCost, EffectiveCost or ListCost column: not a FOCUS file")
    raw: dict[str, str] = {}
    for alias, candidates in {
        "sp": ("ServiceProviderName",),
        "pn": ("ProviderName",),
        "sa": ("SubAccountId",),
        "ba": ("BillingAccountId",),
        "sv": ("ServiceName",),
        "rg": ("RegionId", "Region"),
        "cu": ("BillingCurrency",),
    }.items():
        if (found := col(*candidates)) is not None:
            raw[alias] = _ident(found)
    tags = col("Tags")
    for i, key in enumerate(tag_keys):
        if tags is not None:
            raw[f"t{i}"] = _tag(tags, columns[tags], key)

    def first(*aliases: str) -> str:
        present = [_clean(a) for a in aliases if a in raw]
        return "COALESCE(" + ", ".join([*present, "''"]) + ")"

    labels = [
        first("sp", "pn"),
        first("sa", "ba"),
        first("sv"),
        first("rg"),
        first("cu"),
        *(first(f"t{i}") for i in range(len(tag_keys))),
    ]
    inner_cols = ",\n    ".join(f"{expr} AS {alias}" for alias, expr in raw.items())
    # Exact decimal sums: money reconciles to the cent and is identical run to run
    # (parallel float sums are not); one rounding to double at the very end. DECIMAL(18, 8)
    # parses into int64 (|cost| < 1e10 a row; 1e-8 steps, 0.005 cents over 1M rows).
    inner_sums = ",\n    ".join(
        f"SUM(TRY_CAST({_ident(c)} AS DECIMAL(18, 8))) AS {t}" for c, t in costs
    )
    outer_labels = ",\n  ".join(f"{expr} AS l{i}" for i, expr in enumerate(labels))
    outer_sums = ",\n  ".join(f"CAST(SUM({t}) AS DOUBLE) AS {t}" for _, t in costs)
    sql = (
        f"SELECT day,\n  {outer_labels},\n  {outer_sums},\n  SUM(n) AS n\nFROM (\n"
        f"  SELECT {_day(start, columns[start])} AS day,\n    "
        + (f"{inner_cols},\n    " if inner_cols else "")
        + f"{inner_sums},\n    COUNT(*) AS n\n  FROM {_relation(path, names)}\n  GROUP BY ALL\n)\n"
        "GROUP BY ALL\nORDER BY ALL"
    )
    return sql, [t for _, t in costs]


@dataclass(frozen=True)
class FileLedger:
    """One file's daily costs, plus rows it had to drop (unparseable charge period)."""

    ledger: Ledger
    rows: int
    dropped_rows: int


class FocusReader:
    """Read FOCUS files with one bounded DuckDB connection (one thread uses it at a time)."""

    def __init__(self, memory_limit: str = "192MB", threads: int = 2, temp_dir: Path | None = None):
        config: dict[str, str | bool | int | float | list[str]] = {
            "threads": threads,
            "memory_limit": memory_limit,
            "preserve_insertion_order": False,
        }
        if temp_dir is not None:
            temp_dir.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(temp_dir)
        self._con = duckdb.connect(":memory:", config=config)
        # Charge periods are UTC; timestamps without an offset are read as UTC.
        self._con.execute("SET TimeZone = 'UTC'")
        # Long reads would otherwise draw a progress bar on the agent's stdout.
        self._con.execute("SET enable_progress_bar = false")
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Close now, or as soon as a read still running in a poll thread finishes."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                self._con.close()
            finally:
                self._lock.release()

    def read(self, path: str, tag_keys: Sequence[str]) -> FileLedger:
        """Aggregate one file into a ledger; raises on a corrupt or truncated file."""
        with self._lock:
            if self._closed:
                raise OSError("FOCUS reader is closed")
            try:
                return self._read(path, tag_keys)
            finally:
                if self._closed:  # stop() came while we were reading
                    self._con.close()

    def _read(self, path: str, tag_keys: Sequence[str]) -> FileLedger:
        names = _header(path)
        if names is None:
            described = self._con.execute(f"DESCRIBE SELECT * FROM {_relation(path)}").fetchall()
            columns = {row[0]: str(row[1]) for row in described}
        else:
            columns = dict.fromkeys(names, "VARCHAR")
        sql, cost_types = focus_query(path, columns, tag_keys, names)
        ledger: Ledger = {}
        rows = dropped = 0
        width = 5 + len(tag_keys)
        for record in self._con.execute(sql).fetchall():
            day = record[0]
            labels = record[1 : 1 + width]
            amounts = record[1 + width : 1 + width + len(cost_types)]
            count = record[-1]
            rows += count
            if day is None:
                dropped += count
                continue
            for cost_type, amount in zip(cost_types, amounts, strict=True):
                if amount is None:
                    continue
                key = (*labels[:5], cost_type, *labels[5:])
                # The key order is BASE_LABELS then tags: provider, account, service,
                # region, currency, cost_type, tags.
                series = ledger.setdefault(key, {})
                series[day] = series.get(day, 0.0) + amount
        return FileLedger(ledger, rows, dropped)


FileId = tuple[str, int, int]


class FocusPoller:
    """The `focus` source: glob the files, re-read only changed ones, merge their ledgers.

    A relative `path` glob arrives resolved against the config file's folder. A file that
    cannot be read is logged, skipped and reported as a failed poll (reason
    `corrupt_file`), while the other files' data is still published.
    """

    def __init__(
        self,
        name: str,
        pattern: str,
        interval: float,
        tag_keys: Sequence[str],
        reader: FocusReader,
        publish: Callable[[str, Ledger], None],
        clock: Clock = time.time,
    ):
        self.exporter = "cost"
        self.name = name
        self._pattern = pattern
        self._interval = interval
        self._tag_keys = tuple(tag_keys)
        self._reader = reader
        self._publish = publish
        self._clock = clock
        self._files: dict[FileId, FileLedger] = {}
        self._bad: dict[FileId, str] = {}

    @property
    def interval(self) -> float:
        return self._interval

    async def poll(self) -> None:
        await asyncio.to_thread(self.poll_sync)

    def poll_sync(self) -> None:
        paths = sorted(glob.glob(os.path.expanduser(self._pattern), recursive=True))
        if not paths:
            raise SourceError("no_files", f"no files match {self._pattern!r}")
        files: dict[FileId, FileLedger] = {}
        bad: dict[FileId, str] = {}
        for path in paths:
            try:
                stat = os.stat(path)
            except OSError as exc:  # deleted between glob and stat
                log.warning("focus %s: cannot stat %s: %s", self.name, path, exc)
                continue
            fid = (path, stat.st_size, stat.st_mtime_ns)
            if fid in self._files:
                files[fid] = self._files[fid]
            elif fid in self._bad:
                bad[fid] = self._bad[fid]
            else:
                try:
                    started = time.perf_counter()
                    files[fid] = self._reader.read(path, self._tag_keys)
                    log.info(
                        "focus %s: read %s (%d rows) in %.2fs",
                        self.name,
                        path,
                        files[fid].rows,
                        time.perf_counter() - started,
                    )
                    if files[fid].dropped_rows:
                        log.warning(
                            "focus %s: %s: dropped %d rows with an unreadable ChargePeriodStart",
                            self.name,
                            path,
                            files[fid].dropped_rows,
                        )
                except (duckdb.Error, ValueError, OSError) as exc:
                    bad[fid] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    log.error("focus %s: skipping %s: %s", self.name, path, bad[fid])
        self._files, self._bad = files, bad
        ledger: Ledger = {}
        for file in files.values():
            merge(ledger, file.ledger)
        self._publish(self.name, ledger)
        if bad:
            names = "; ".join(f"{fid[0]}: {why}" for fid, why in sorted(bad.items()))
            raise SourceError("corrupt_file", f"{len(bad)} file(s) skipped: {names}")
