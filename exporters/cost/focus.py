"""FOCUS billing files (CSV, CSV.gz, Parquet) → daily cost ledgers, via DuckDB.

DuckDB streams each file and aggregates it in SQL (UTC day × labels), so Python never
holds rows and memory stays bounded by the number of groups, not the file size.
FOCUS 1.0–1.3: the provider is `ServiceProviderName` (1.3) or `ProviderName`. Tolerated
quirks of real exports: literal `NULL`, `YYYY-MM-DD HH:MM:SS` or any ISO 8601 timestamp,
JSON `Tags` (or NULL, or a MAP in Parquet), extra columns. A charge is attributed to the
UTC day its charge period starts on (periods are UTC, start inclusive, end exclusive).

No row is lost without a trace: a row the reader cannot use is counted under a reason
(`DROP_REASONS`) with the first offending file and line; a row used with a documented
placeholder is counted under `DEFAULT_REASONS`.
"""

from __future__ import annotations

import csv
import glob
import gzip
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from exporters.base import OneThread, SourceError

from . import exports
from .exports import Manifest, parse_manifest
from .model import CHARGE_CATEGORIES, CORRECTION, ONCE, USAGE, Ledger, Line, month_of

log = logging.getLogger("opslens.cost.focus")

# FOCUS cost column → `cost_type` label value.
COST_COLUMNS = {"BilledCost": "billed", "EffectiveCost": "effective", "ListCost": "list"}
NULLS = ["NULL", "null", "Null", ""]
# Label value for a provider, service or charge category the row does not name.
UNKNOWN = "unknown"

# Why a row is dropped, by the code the SQL computes (0: the row is used).
DROP_REASONS = {
    1: "missing_date",  # ChargePeriodStart is empty
    2: "ambiguous_date",  # D/M/YYYY or M/D/YYYY, e.g. a spreadsheet re-save: never guessed
    3: "unreadable_date",  # not an ISO 8601 date or timestamp
    4: "unreadable_amount",  # a cost column holds something that is not a number
    5: "amount_out_of_range",  # a number beyond 28 integer digits (or NaN, infinity)
    6: "missing_currency",  # no BillingCurrency: an amount without a currency means nothing
    7: "missing_column",  # the file lacks ChargePeriodStart, BillingCurrency or every cost
}
# Rows that are used, with a documented placeholder.
DEFAULT_REASONS = (
    "missing_provider",  # no ServiceProviderName/ProviderName: provider="unknown"
    "missing_service",  # no ServiceName: service="unknown"
    "missing_charge_category",  # no ChargeCategory: charge_category="unknown"
    "missing_amount",  # an empty cost column: the row adds nothing to that cost type
    "malformed_tags",  # Tags names a tag label's key but is not JSON: no tag labels
)


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


# The days a charge may fall on: a FOCUS date outside years 1–9999 is unreadable, never
# a day the model (Python dates) cannot hold.
FIRST_DAY, LAST_DAY = "DATE '0001-01-01'", "DATE '9999-12-31'"


def _in_range(day: str) -> str:
    return f"CASE WHEN {day} BETWEEN {FIRST_DAY} AND {LAST_DAY} THEN {day} END"


def _plain_form(c: str) -> str:
    # `YYYY-MM-DD?HH:MM:SS` and the same with `Z`: the common forms, with no offset.
    return (
        f"(strlen({c}) = 19 OR (strlen({c}) = 20 AND suffix({c}, 'Z')))"
        f" AND substr({c}, 17, 1) = ':'"
    )


def day_sql(c: str, kind: str, strict: bool = False) -> str:
    """The UTC day of an ISO 8601 timestamp (text) or a timestamp column; NULL if neither.

    `strict` (the fast read) raises instead of trying the rarer forms: the file is then
    read again by the checking query, which gives the same day wherever this one succeeds.
    """
    cast = "CAST" if strict else "TRY_CAST"
    if kind.upper() != "VARCHAR":
        return f"{cast}({c} AS DATE)"  # TIMESTAMP is UTC by FOCUS; TIMESTAMPTZ in a UTC session
    # The offset-aware cast costs ~2x, so the plain forms take the plain cast. Everything
    # else goes through TIMESTAMPTZ, which honours `Z`, `±hh`, `±hhmm`, `±hh:mm`,
    # fractions and date-only strings; then stray blanks; then the basic format
    # (`20240901T000000Z`, `20240901`). A plain TIMESTAMP cast would silently drop an
    # offset, so it never sees one.
    plain = f"CASE WHEN {_plain_form(c)} THEN CAST({cast}({c} AS TIMESTAMP) AS DATE)"
    if strict:
        return f"{plain} ELSE CAST(CAST({c} AS TIMESTAMPTZ) AS DATE) END"
    basic = (
        r"'^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(\.\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$'"
    )
    return (
        f"{plain} ELSE CAST(COALESCE(TRY_CAST({c} AS TIMESTAMPTZ),"
        f" TRY_CAST(trim({c}) AS TIMESTAMPTZ),"
        f" TRY_CAST(regexp_replace(trim({c}), {basic}, '\\1-\\2-\\3 \\4:\\5:\\6\\7\\8')"
        " AS TIMESTAMPTZ),"
        f" TRY_CAST(regexp_replace(trim({c}), '^(\\d{{4}})(\\d{{2}})(\\d{{2}})$', '\\1-\\2-\\3')"
        " AS TIMESTAMPTZ)) AS DATE) END"
    )


def _tag(column: str, kind: str, key: str, strict: bool = False) -> str:
    c = _ident(column)
    if kind.upper().startswith("MAP"):
        return f"CAST(element_at({c}, {_literal(key)})[1] AS VARCHAR)"
    value = f"CAST({c} AS VARCHAR)"
    path = _literal("$." + '"' + key.replace('"', '\\"') + '"')
    # A cheap substring test first: only Tags naming the key are parsed, for that key.
    # json_extract_string raises on malformed JSON: the fast read lets it (the file is
    # then read by the checking query); there json_valid keeps one malformed row from
    # failing the file, and the same two tests decide `malformed_tags` (`_row_stage`).
    valid = "" if strict else f" AND json_valid({value})"
    return (
        f"CASE WHEN contains({value}, {_literal(key)}){valid}"
        f" THEN json_extract_string({value}, {path}) END"
    )


def _clean(expr: str) -> str:
    return f"NULLIF(TRIM(CAST({expr} AS VARCHAR)), '')"


@dataclass(frozen=True)
class FocusColumns:
    """Which columns of one file the query reads, by role."""

    start: str | None
    costs: tuple[tuple[str, str], ...]  # (column, cost_type)
    labels: Mapping[str, str]  # alias → column
    tags: str | None
    kinds: Mapping[str, str]

    @classmethod
    def find(cls, columns: Mapping[str, str]) -> FocusColumns:
        by_lower = {name.lower(): name for name in columns}

        def col(*wanted: str) -> str | None:
            return next((by_lower[n.lower()] for n in wanted if n.lower() in by_lower), None)

        labels = {}
        for alias, candidates in {
            "sp": ("ServiceProviderName",),
            "pn": ("ProviderName",),
            "sa": ("SubAccountId",),
            "ba": ("BillingAccountId",),
            "sv": ("ServiceName",),
            "rg": ("RegionId", "Region"),
            "cu": ("BillingCurrency",),
            "cat": ("ChargeCategory",),
            "freq": ("ChargeFrequency",),
            "cls": ("ChargeClass",),
            "bp": ("BillingPeriodStart",),
        }.items():
            if (found := col(*candidates)) is not None:
                labels[alias] = found
        costs = tuple((c, t) for name, t in COST_COLUMNS.items() if (c := col(name)) is not None)
        return cls(col("ChargePeriodStart"), costs, labels, col("Tags"), dict(columns))

    def missing(self) -> str | None:
        """Why the file cannot be read as FOCUS cost rows, or None."""
        if self.start is None:
            return "no ChargePeriodStart column"
        if not self.costs:
            return "no BilledCost, EffectiveCost or ListCost column"
        if "cu" not in self.labels:
            return "no BillingCurrency column"
        return None


def _row_stage(cols: FocusColumns, tag_keys: Sequence[str], relation: str) -> tuple[str, str, bool]:
    """The checking query's per-row projections, its drop reason, whether `tb` exists.

    Each amount is cast to a 64-bit exact decimal (|x| < 1e8, 10 decimals: the fast path
    for nearly every line item) and, only where that fails, to a 128-bit one (|x| < 1e28),
    so a 12,345,678,901.50 KRW commitment is summed exactly instead of lost.
    """
    assert cols.start is not None
    start = _ident(cols.start)
    parts = [f"{day_sql(start, cols.kinds[cols.start])} AS day0", f"{_in_range('day0')} AS day"]
    parts += [f"{start} AS start"]
    parts += [f"{_ident(c)} AS {alias}" for alias, c in cols.labels.items()]
    ok_amounts = []
    failed = []
    for i, (c, _) in enumerate(cols.costs):
        raw = _ident(c)
        parts.append(f"{raw} AS a{i}")
        parts.append(f"TRY_CAST({raw} AS DECIMAL(18, 10)) AS x{i}")
        parts.append(f"CASE WHEN x{i} IS NULL THEN TRY_CAST({raw} AS DECIMAL(38, 10)) END AS y{i}")
        ok_amounts.append(f"(a{i} IS NULL OR x{i} IS NOT NULL OR y{i} IS NOT NULL)")
        failed.append(f"(a{i} IS NOT NULL AND x{i} IS NULL AND y{i} IS NULL)")
        failed[-1] = f"({failed[-1]} AND TRY_CAST(a{i} AS DOUBLE) IS NOT NULL)"
    checks_tags = False
    if cols.tags is not None:
        kind = cols.kinds[cols.tags]
        for i, key in enumerate(tag_keys):
            parts.append(f"{_tag(cols.tags, kind, key)} AS t{i}")
        # A malformed Tags value matters where it names a tag label's key: that row's label
        # reads empty. Validating only those rows keeps json_valid off the hot path.
        if tag_keys and not kind.upper().startswith("MAP"):
            tags = f"CAST({_ident(cols.tags)} AS VARCHAR)"
            named = " OR ".join(f"contains({tags}, {_literal(key)})" for key in tag_keys)
            parts.append(f"(({named}) AND NOT json_valid({tags})) AS tb")
            checks_tags = True
    inner = f"SELECT {', '.join(parts)} FROM {relation}"
    # Nearly every row has a day and every amount in 64 bits: 0 after four null tests.
    fast = " AND ".join(["day IS NOT NULL", *(f"x{i} IS NOT NULL" for i in range(len(cols.costs)))])
    reason = (
        f"CASE WHEN {fast} THEN 0"
        f" WHEN day IS NOT NULL AND {' AND '.join(ok_amounts)} THEN 0"
        " WHEN start IS NULL THEN 1"
        r" WHEN day IS NULL AND regexp_matches(CAST(start AS VARCHAR),"
        r" '^\s*\d{1,2}/\d{1,2}/\d{2,4}') THEN 2"
        " WHEN day IS NULL THEN 3"
        f" WHEN {' OR '.join(failed)} THEN 5"
        " ELSE 4 END"
    )
    return inner, reason, checks_tags


def _checked_stage(cols: FocusColumns, tag_keys: Sequence[str], relation: str) -> str:
    """The checking query's grouped rows: every row typed with TRY_CAST and a drop reason."""
    inner, reason, checks_tags = _row_stage(cols, tag_keys, relation)
    raw = [*cols.labels, *(f"t{i}" for i in range(len(tag_keys)) if cols.tags is not None)]
    nulls = " OR ".join(f"a{i} IS NULL" for i in range(len(cols.costs)))
    flags = [f"({nulls}) AS na", "tb" if checks_tags else "false AS tb"]
    sums = []
    for i in range(len(cols.costs)):
        sums += [f"SUM(x{i}) AS x{i}", f"SUM(y{i}) AS y{i}"]
    return (
        f"SELECT day, {', '.join([*raw, *flags])}, {reason} AS reason,"
        f" {', '.join(sums)}, COUNT(*) AS n FROM ({inner}) GROUP BY ALL"
    )


def _fast_stage(cols: FocusColumns, tag_keys: Sequence[str], relation: str) -> str:
    """The fast query's grouped rows: strict casts that raise on any value not typed.

    Fewer per-row expressions and group keys than the checking query: no drop reason (a
    row the checking query would drop makes this query raise, except an empty date), the
    missing-amount flag counted instead of grouped on, amounts cast once where they fit
    64 bits.
    """
    assert cols.start is not None
    start = _ident(cols.start)
    parts = [f"{day_sql(start, cols.kinds[cols.start], strict=True)} AS day"]
    parts += [f"{_ident(c)} AS {alias}" for alias, c in cols.labels.items()]
    keys = ["day", *cols.labels]
    sums = []
    for i, (c, _) in enumerate(cols.costs):
        raw = _ident(c)
        parts.append(f"TRY_CAST({raw} AS DECIMAL(18, 10)) AS x{i}")
        # CAST, not TRY_CAST: a value that is not a number beyond 64 bits raises.
        parts.append(f"CASE WHEN x{i} IS NULL THEN CAST({raw} AS DECIMAL(38, 10)) END AS y{i}")
        sums += [f"SUM(x{i}) AS x{i}", f"SUM(y{i}) AS y{i}"]
    if cols.tags is not None:
        kind = cols.kinds[cols.tags]
        for i, key in enumerate(tag_keys):
            parts.append(f"{_tag(cols.tags, kind, key, strict=True)} AS t{i}")
            keys.append(f"t{i}")
    missing = " OR ".join(f"(x{i} IS NULL AND y{i} IS NULL)" for i in range(len(cols.costs)))
    return (
        f"SELECT {', '.join(keys)}, COUNT_IF({missing}) AS na, 0 AS tb,"
        f" {', '.join(sums)}, COUNT(*) AS n"
        f" FROM (SELECT {', '.join(parts)} FROM {relation}) GROUP BY {', '.join(keys)}"
    )


def focus_query(
    path: str,
    columns: Mapping[str, str],
    tag_keys: Sequence[str],
    names: Sequence[str] | None = None,
    fast: bool = False,
) -> tuple[str, list[str]]:
    """SQL aggregating one FOCUS file by UTC day, labels and drop reason; its cost types.

    Two stages: the per-row stage only casts and groups raw values (the hot loop); label
    clean-up (trim, NULL → "", account fallback), the day's range and the row counts run
    on the far fewer grouped rows. `fast` builds the fast query (`_fast_stage`), else the
    checking one (`_checked_stage`); both give the same rows where the fast one succeeds.
    """
    cols = FocusColumns.find(columns)
    if (why := cols.missing()) is not None:
        raise ValueError(why)
    relation = _relation(path, names)
    if fast:
        grouped = _fast_stage(cols, tag_keys, relation)
        # An empty date is the only drop the fast query lets through; a year outside
        # 1–9999 is unreadable.
        reason = f"CASE WHEN day IS NULL THEN 1 WHEN ({_in_range('day')}) IS NULL THEN 3 ELSE 0 END"
    else:
        grouped = _checked_stage(cols, tag_keys, relation)
        reason = "reason"
    raw = [*cols.labels, *(f"t{i}" for i in range(len(tag_keys)) if cols.tags is not None)]

    def first(*aliases: str) -> str:
        present = [_clean(a) for a in aliases if a in raw]
        return "COALESCE(" + ", ".join([*present, "''"]) + ")"

    # The billing period is parsed once per group, not per row.
    bp_day = day_sql("bp", cols.kinds[cols.labels["bp"]]) if "bp" in cols.labels else "NULL"
    outer = [
        "day",
        f"{_in_range(bp_day)} AS period",
        f"{first('sp', 'pn')} AS provider",
        f"{first('sa', 'ba')} AS account",
        f"{first('sv')} AS service",
        f"{first('rg')} AS region",
        f"{first('cu')} AS currency",
        f"{first('cat')} AS category",
        f"lower({first('freq')}) AS frequency",
        f"lower({first('cls')}) AS class",
        f"{first('ba')} AS billing_account",
        *(f"{first(f't{i}')} AS t{i}" for i in range(len(tag_keys))),
        f"{reason} AS reason",
    ]
    # Rows with an empty amount and with malformed Tags: counts, not group keys.
    counts = [
        f"COALESCE(SUM({flag}), 0)"
        for flag in (
            ("na", "tb") if fast else ("CASE WHEN na THEN n END", "CASE WHEN tb THEN n END")
        )
    ]
    # One exact sum per cost type (NULL when no row had an amount): half the Decimals to
    # convert to Python.
    for i in range(len(cols.costs)):
        counts.append(f"COALESCE(SUM(x{i}) + SUM(y{i}), SUM(x{i}), SUM(y{i}))")
    sql = (
        f"SELECT {', '.join(outer)}, {', '.join(counts)}, SUM(n) AS n\n"
        f"FROM ({grouped})\nGROUP BY ALL ORDER BY ALL"
    )
    return sql, [t for _, t in cols.costs]


def first_problem_query(
    path: str,
    columns: Mapping[str, str],
    names: Sequence[str] | None = None,
) -> str:
    """SQL for the first row (in file order) the reader drops: row number, reason, values."""
    cols = FocusColumns.find(columns)
    inner, reason, _ = _row_stage(cols, (), _relation(path, names))
    amounts = ", ".join(f"CAST(a{i} AS VARCHAR)" for i in range(len(cols.costs)))
    # A date or amount problem is reported before a missing currency, as the read counts it.
    code = (
        f"CASE WHEN ({reason}) <> 0 THEN ({reason}) WHEN {_clean('cu')} IS NULL THEN 6 ELSE 0 END"
    )
    return (
        f"SELECT rn, code, CAST(start AS VARCHAR), [{amounts}] FROM ("
        f"SELECT row_number() OVER () AS rn, {code} AS code, start, "
        f"{', '.join(f'a{i}' for i in range(len(cols.costs)))} FROM ({inner})"
        ") WHERE code <> 0 ORDER BY rn LIMIT 1"
    )


@dataclass(frozen=True)
class Problem:
    """The first row of a file the reader could not use."""

    path: str
    line: int  # 1 is the header; data row n is line n + 1 when no field spans lines
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason} ({self.detail})"


@dataclass(frozen=True)
class FileLedger:
    """One file's daily costs and the rows it could not use or had to default."""

    ledger: Ledger
    rows: int
    dropped: Mapping[str, int] = field(default_factory=dict)
    defaulted: Mapping[str, int] = field(default_factory=dict)
    problem: Problem | None = None
    # Read by the checking query: the fast one met a value it could not type.
    checked: bool = False

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped.values())

    @property
    def unparseable(self) -> bool:
        """Rows, none usable, or no FOCUS header: a source error, not an empty file."""
        if self.problem is not None and self.problem.reason == DROP_REASONS[7]:
            return True
        return self.rows > 0 and self.dropped_rows == self.rows


def charge_category(raw: str) -> str:
    """The FOCUS spelling of a ChargeCategory value; other values as given."""
    for known in CHARGE_CATEGORIES:
        if raw.lower() == known.lower():
            return known
    return raw or UNKNOWN


def charge_kind(frequency: str, category: str, charge_class: str) -> str:
    """Usage-based (extrapolated), once (recurring, one-time) or a correction."""
    if charge_class == "correction":
        return CORRECTION
    if frequency == "usage-based":
        return USAGE
    if frequency in ("recurring", "one-time"):
        return ONCE
    # No ChargeFrequency (older exports): usage is usage, anything else is billed once.
    return USAGE if category in ("", "Usage", UNKNOWN) else ONCE


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

    def read(self, path: str, tag_keys: Sequence[str], checked: bool = False) -> FileLedger:
        """Aggregate one file into a ledger; raises on a corrupt or truncated file.

        The fast query first; the checking one where it meets a value it cannot type, or
        always with `checked` (the tests compare both).
        """
        with self._lock:
            if self._closed:
                raise OSError("FOCUS reader is closed")
            try:
                return self._read(path, tag_keys, checked)
            finally:
                if self._closed:  # stop() came while we were reading
                    self._con.close()

    def _read(self, path: str, tag_keys: Sequence[str], checked: bool) -> FileLedger:
        names = _header(path)
        if names is None:
            described = self._con.execute(f"DESCRIBE SELECT * FROM {_relation(path)}").fetchall()
            columns = {row[0]: str(row[1]) for row in described}
        else:
            columns = dict.fromkeys(names, "VARCHAR")
        why = FocusColumns.find(columns).missing()
        if why is not None:
            found = self._con.execute(f"SELECT COUNT(*) FROM {_relation(path, names)}").fetchone()
            rows = int(found[0]) if found else 0
            # Even without rows: a header that is not FOCUS (garbage, a wrong file) is no
            # empty day of charges.
            missing = Problem(path, 1, DROP_REASONS[7], why)
            return FileLedger({}, rows, {DROP_REASONS[7]: rows} if rows else {}, {}, missing)
        records = None
        if not checked:
            try:
                sql, cost_types = focus_query(path, columns, tag_keys, names, fast=True)
                records = self._con.execute(sql).fetchall()
            except duckdb.Error as exc:
                # A value the fast query cannot type (or a broken file): read every row
                # with the checking query, which counts what it drops (or raises again).
                log.debug("focus: %s: checked read (%s)", path, str(exc).splitlines()[0])
                checked = True
        if records is None:
            sql, cost_types = focus_query(path, columns, tag_keys, names)
            records = self._con.execute(sql).fetchall()
        ledger: Ledger = {}
        dropped: Counter[str] = Counter()
        defaulted: Counter[str] = Counter()
        rows = 0
        width = 11 + len(tag_keys)
        months: dict[object, str] = {None: ""}
        for record in records:
            day, period, provider, account, service, region, currency = record[:7]
            category, frequency, charge_class, billing_account = record[7:11]
            tags = record[11:width]
            reason, na, tb = record[width : width + 3]
            amounts = record[width + 3 : -1]
            count = int(record[-1])
            rows += count
            if reason:
                dropped[DROP_REASONS[reason]] += count
                continue
            if not currency:
                dropped[DROP_REASONS[6]] += count
                continue
            for n, why in (
                (not provider and count, "missing_provider"),
                (not service and count, "missing_service"),
                (not category and count, "missing_charge_category"),
                (na, "missing_amount"),
                (tb, "malformed_tags"),
            ):
                if n:
                    defaulted[why] += int(n)
            category = charge_category(category)
            kind = charge_kind(frequency, category, charge_class)
            labels = (provider or UNKNOWN, account, service or UNKNOWN, region, currency)
            if period not in months:
                months[period] = month_of(period)
            for cost_type, amount in zip(cost_types, amounts, strict=True):
                if amount is None:
                    continue
                # The key order is BASE_LABELS then tags.
                key = (*labels, cost_type, category, *tags)
                line = Line(key, billing_account, months[period], kind)
                series = ledger.setdefault(line, {})
                series[day] = series.get(day, Decimal(0)) + amount
        problem = None
        if dropped:
            problem = self._first_problem(path, columns, names)
        return FileLedger(ledger, rows, dict(dropped), dict(defaulted), problem, checked)

    def _first_problem(
        self, path: str, columns: Mapping[str, str], names: Sequence[str] | None
    ) -> Problem | None:
        # File order needs insertion order; only this rare second pass pays for it.
        self._con.execute("SET preserve_insertion_order = true")
        try:
            found = self._con.execute(first_problem_query(path, columns, names)).fetchone()
        finally:
            self._con.execute("SET preserve_insertion_order = false")
        if found is None:
            return None
        rn, code, start, amounts = found
        detail = f"ChargePeriodStart={start!r}"
        if code in (4, 5):
            detail = "amounts " + ", ".join(repr(a) for a in amounts if a is not None)
        elif code == 6:
            detail = "BillingCurrency is empty"
        return Problem(path, int(rn) + 1, DROP_REASONS[code], detail)


@dataclass(frozen=True)
class FocusData:
    """What a FOCUS poll publishes: the counted ledger and the trace of what was not."""

    ledger: Ledger
    # Since the agent started, per reason: rows dropped / used with a placeholder, counted
    # each time a file is read (a file is re-read only when it changes).
    dropped_total: Mapping[str, int] = field(default_factory=dict)
    defaulted_total: Mapping[str, int] = field(default_factory=dict)
    # The first dropped row among the files counted now, and what the run rules set aside.
    problem: Problem | None = None
    notes: tuple[str, ...] = ()


FileId = tuple[str, int, int]


class FocusPoller:
    """The `focus` source: glob the files, re-read only changed ones, merge their ledgers.

    A relative `path` glob arrives resolved against the config file's folder. Export
    manifests under the glob's fixed prefix decide which runs count (`exports.py`). A file
    that cannot be read is logged, skipped and reported as a failed poll (reason
    `corrupt_file`); a file with rows but none usable fails it with `unparseable`, an
    unreadable manifest with `bad_manifest`; the other files' data is still published.
    `detail` is the status page's line.
    """

    def __init__(
        self,
        name: str,
        pattern: str,
        interval: float,
        tag_keys: Sequence[str],
        reader: FocusReader,
        publish: Callable[[str, FocusData], None],
    ):
        self.exporter = "cost"
        self.name = name
        self._pattern = pattern
        self._interval = interval
        self._tag_keys = tuple(tag_keys)
        self._reader = reader
        self._publish = publish
        self._files: dict[FileId, FileLedger] = {}
        self._bad: dict[FileId, str] = {}
        self._good: dict[str, FileLedger] = {}  # path → its last successful read
        self._manifests: dict[FileId, Manifest | None] = {}
        # Every reason from zero, so the first drop is an increase a rule can see.
        self._dropped: Counter[str] = Counter(dict.fromkeys(DROP_REASONS.values(), 0))
        self._defaulted: Counter[str] = Counter(dict.fromkeys(DEFAULT_REASONS, 0))
        self.detail: str | None = None
        self._thread = OneThread()

    @property
    def interval(self) -> float:
        return self._interval

    async def poll(self) -> None:
        await self._thread.run(self.poll_sync)

    def _manifest_files(self) -> list[str]:
        base = os.path.expanduser(self._pattern)
        while glob.has_magic(base):
            base = os.path.dirname(base)
        return sorted(glob.glob(os.path.join(base, "**", "*[Mm]anifest.json"), recursive=True))

    def _read_manifests(self) -> tuple[list[tuple[Manifest, float]], list[str]]:
        found: dict[FileId, Manifest | None] = {}
        broken = []
        for path in self._manifest_files():
            try:
                stat = os.stat(path)
                fid = (path, stat.st_size, stat.st_mtime_ns)
                if fid not in self._manifests:
                    with open(path, encoding="utf-8") as fh:
                        self._manifests[fid] = parse_manifest(path, fh.read())
                found[fid] = self._manifests[fid]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                broken.append(f"{path}: {exc}")
                log.error("focus %s: unreadable export manifest %s: %s", self.name, path, exc)
        self._manifests = found
        return [(m, fid[2] / 1e9) for fid, m in found.items() if m is not None], broken

    def poll_sync(self) -> None:
        paths = sorted(
            p
            for p in glob.glob(os.path.expanduser(self._pattern), recursive=True)
            if not p.endswith(".json") and os.path.isfile(p)
        )
        if not paths:
            raise SourceError("no_files", f"no files match {self._pattern!r}")
        stats: dict[str, os.stat_result] = {}
        for path in paths:
            try:
                stats[path] = os.stat(path)
            except OSError as exc:  # deleted between glob and stat
                log.warning("focus %s: cannot stat %s: %s", self.name, path, exc)
        manifests, broken = self._read_manifests()
        runs = exports.plan({p: (s.st_size, s.st_mtime) for p, s in stats.items()}, manifests)
        for path, why in sorted(runs.skipped.items()):
            log.info("focus %s: not counting %s: %s", self.name, path, why)
        files: dict[FileId, FileLedger] = {}
        bad: dict[FileId, str] = {}
        for run in runs.runs:
            for path in run.files:
                stat = stats[path]
                fid = (path, stat.st_size, stat.st_mtime_ns)
                if fid in self._files:
                    files[fid] = self._files[fid]
                elif fid in self._bad:
                    bad[fid] = self._bad[fid]
                else:
                    try:
                        files[fid] = self._read(path)
                    except (duckdb.Error, ValueError, OSError) as exc:
                        bad[fid] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                        log.error("focus %s: skipping %s: %s", self.name, path, bad[fid])
        self._files, self._bad = files, bad
        read = {fid[0]: f for fid, f in files.items()}
        unparseable = sorted(p for p, f in read.items() if f.unparseable)
        problem = next((f.problem for _, f in sorted(read.items()) if f.problem), None)
        by_path = dict(read)
        # A file that turned corrupt or unparseable (a half-finished copy, garbage written
        # over it) keeps its last good data: a broken copy is not a refund.
        self._good.update((p, f) for p, f in by_path.items() if not f.unparseable)
        self._good = {p: f for p, f in self._good.items() if p in stats}
        for path in [fid[0] for fid in bad] + unparseable:
            if path in self._good:
                by_path[path] = self._good[path]
                log.warning("focus %s: %s: serving its last good read", self.name, path)
        ledger, lost = exports.combine(runs.runs, {p: f.ledger for p, f in by_path.items()})
        notes = [f"{len(runs.skipped)} file(s) of superseded or incomplete runs not counted"]
        notes = notes if runs.skipped else []
        notes += [
            f"run {name}: not counted for {', '.join(s)} (a better run)" for name, s in lost.items()
        ]
        notes += [f"unreadable manifest {b}" for b in broken]
        for name, slices in lost.items():
            log.info("focus %s: run %s not counted for %s", self.name, name, ", ".join(slices))
        self.detail = "; ".join([*([f"first dropped row: {problem}"] if problem else []), *notes])
        self._publish(
            self.name,
            FocusData(ledger, dict(self._dropped), dict(self._defaulted), problem, tuple(notes)),
        )
        if bad:
            names = "; ".join(f"{fid[0]}: {why}" for fid, why in sorted(bad.items()))
            raise SourceError("corrupt_file", f"{len(bad)} file(s) skipped: {names}")
        if unparseable:
            raise SourceError(
                "unparseable",
                f"{len(unparseable)} file(s) without a usable row: "
                + "; ".join(str(read[p].problem or p) for p in unparseable),
            )
        if broken:
            # Its run's files were counted as a folder run: right only by luck.
            raise SourceError("bad_manifest", f"unreadable export manifest {'; '.join(broken)}")

    def _read(self, path: str) -> FileLedger:
        started = time.perf_counter()
        file = self._reader.read(path, self._tag_keys)
        self._dropped.update(file.dropped)
        self._defaulted.update(file.defaulted)
        log.info(
            "focus %s: read %s (%d rows%s) in %.2fs",
            self.name,
            path,
            file.rows,
            ", checked read" if file.checked else "",
            time.perf_counter() - started,
        )
        if file.dropped:
            counts = ", ".join(f"{n} {why}" for why, n in sorted(file.dropped.items()))
            log.warning(
                "focus %s: %s: dropped %d of %d rows (%s); first: %s",
                self.name,
                path,
                file.dropped_rows,
                file.rows,
                counts,
                file.problem,
            )
        elif file.problem is not None:
            log.warning("focus %s: %s: not a FOCUS file: %s", self.name, path, file.problem)
        if file.defaulted:
            counts = ", ".join(f"{n} {why}" for why, n in sorted(file.defaulted.items()))
            log.warning("focus %s: %s: rows with placeholder labels: %s", self.name, path, counts)
        return file
