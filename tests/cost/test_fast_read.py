"""The fast query and the checking one read the same numbers; the checking one only for bad files.

`FocusReader` reads a file with a fast query (strict casts, fewer group keys) and, where
that meets a value it cannot type, again with the checking query that counts every row it
drops. Both are run here on every file the cost tests know (hazard-shaped files, the
fixtures, the shared real sample, the third-party toolkit's FOCUS 1.2 and 1.3 files as CSV,
gzip and Parquet): ledgers equal to the cent (exactly, as Decimals), the same counts and
the same first problem; and which query the reader took is asserted per file.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from exporters.cost.focus import FileLedger, FocusReader
from tests.conftest import SHARED_DATA

from .support import FIXTURES
from .test_third_party import generate

COLUMNS = [
    "ChargePeriodStart",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "ServiceName",
    "BillingCurrency",
    "ChargeCategory",
    "ChargeFrequency",
    "ChargeClass",
    "BillingPeriodStart",
    "Tags",
]
TAGS = '{"team": "core", "env": "prod"}'


def row(start: str, amount: str, **over: str) -> dict[str, str]:
    base = dict.fromkeys(COLUMNS, "")
    base |= {
        "ChargePeriodStart": start,
        "BilledCost": amount,
        "EffectiveCost": amount,
        "ListCost": amount,
        "ProviderName": "AWS",
        "BillingAccountId": "999",
        "SubAccountId": "111",
        "ServiceName": "Amazon EC2",
        "BillingCurrency": "USD",
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "BillingPeriodStart": "2026-11-01T00:00:00Z",
        "Tags": TAGS,
    }
    return base | over


def good_rows() -> list[dict[str, str]]:
    return [row(f"2026-11-{d:02d}T0{d % 10}:00:00Z", f"{d}.25") for d in range(1, 11)]


# Files whose every value the fast query types: it must read them alone.
CLEAN = {
    "plain": good_rows(),
    "offsets": [
        row("2026-11-10T23:30:00-02", "1.00"),
        row("2026-11-10T23:30:00-0200", "2.00"),
        row("2026-11-10T23:30:00-02:00", "3.00"),
        row("2026-11-10T23:30:00.123456Z", "4.00"),
        row("2026-11-11T01:30:00+05:30", "5.00"),
        row("2026-11-10", "6.00"),
        row("2026-11-10 23:59:59", "7.00"),
        row("NULL", "8.00"),  # an empty date: counted as missing_date by both queries
    ],
    "krw-beyond-64-bits": [
        row("2026-11-01", "12345678901.50", BillingCurrency="KRW", ChargeFrequency="One-Time"),
        row("2026-11-01", "99999999.9999999999", BillingCurrency="KRW"),
        row("2026-11-02", "-12345678901234567890.0000000001", BillingCurrency="KRW"),
        row("2026-11-02", "0.00000000005", BillingCurrency="KRW"),  # rounds to 1e-10
    ],
    "placeholders": [
        row("2026-11-01", "1.00", ServiceName="", ProviderName="NULL", ChargeCategory="null"),
        row("2026-11-01", "", EffectiveCost="2.00"),  # an empty amount adds nothing
        row("2026-11-02", "3.00", BillingCurrency=""),  # missing_currency
        row("2026-11-02", "4.00", Tags="not json, no key"),  # malformed but names no key
        row("2026-11-02", "5.00", Tags='{"team": {"nested": 1}}'),
        row("2026-11-03", "6.00", ChargeClass="Correction", BillingPeriodStart="2026-12-01"),
        row("2026-11-03", "7.00", BillingPeriodStart="not a date"),
    ],
    "year-10000": [row("2026-11-01", "1.00"), row("10000-01-01", "2.00")],
}
# Files with a value the fast query cannot type: the checking query reads them.
BAD = {
    "resaved-dates": [row(f"11/{d}/2026 0:00", "7.00") for d in (25, 26)] + good_rows(),
    "unreadable-amounts": [
        *good_rows(),
        row("2026-11-01", "1,50"),
        row("2026-11-01", "abc"),
        row("2026-11-01", "1e30"),
        row("2026-11-01", "2.00", EffectiveCost="NaN"),
    ],
    "unreadable-date": [*good_rows(), row("2026-13-45T00:00:00Z", "1.00")],
    "malformed-tags": [*good_rows(), row("2026-11-01", "1.00", Tags='{"team": core')],
    "basic-format": [*good_rows(), row("20261110T233000Z", "1.00"), row(" 2026-11-10 ", "2.00")],
}


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def reader() -> Iterator[FocusReader]:
    shared = FocusReader()
    yield shared
    shared.close()


def both(reader: FocusReader, path: Path, keys: tuple[str, ...] = ("team",)) -> FileLedger:
    """Read `path` both ways; assert the same result; return the default (fast-first) read."""
    fast = reader.read(str(path), keys)
    checked = reader.read(str(path), keys, checked=True)
    assert checked.checked
    assert fast.ledger == checked.ledger  # exact Decimals: equal to the cent and beyond
    assert (fast.rows, fast.dropped, fast.defaulted) == (
        checked.rows,
        checked.dropped,
        checked.defaulted,
    )
    assert fast.problem == checked.problem
    return fast


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_files_take_the_fast_query_alone(
    reader: FocusReader, tmp_path: Path, name: str
) -> None:
    read = both(reader, write(tmp_path / f"{name}.csv", CLEAN[name]))
    assert not read.checked
    assert read.rows == len(CLEAN[name])
    assert read.ledger


def test_the_fast_query_counts_what_it_lets_through(reader: FocusReader, tmp_path: Path) -> None:
    offsets = both(reader, write(tmp_path / "offsets.csv", CLEAN["offsets"]))
    assert offsets.dropped == {"missing_date": 1}
    days = {day for series in offsets.ledger.values() for day in series}
    assert {d.isoformat() for d in days} == {"2026-11-10", "2026-11-11"}
    krw = both(reader, write(tmp_path / "krw.csv", CLEAN["krw-beyond-64-bits"]))
    billed = sum(a for ln, s in krw.ledger.items() if ln.key[5] == "billed" for a in s.values())
    assert billed == Decimal("12345678901.50") + Decimal("99999999.9999999999") + Decimal(
        "-12345678901234567890.0000000001"
    ) + Decimal("0.0000000001")
    placeholders = both(reader, write(tmp_path / "p.csv", CLEAN["placeholders"]))
    assert placeholders.dropped == {"missing_currency": 1}
    assert placeholders.defaulted == {
        "missing_service": 1,
        "missing_provider": 1,
        "missing_charge_category": 1,
        "missing_amount": 1,
    }
    years = both(reader, write(tmp_path / "years.csv", CLEAN["year-10000"]))
    assert years.dropped == {"unreadable_date": 1}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_take_the_checking_query(reader: FocusReader, tmp_path: Path, name: str) -> None:
    read = both(reader, write(tmp_path / f"{name}.csv", BAD[name]))
    assert read.checked
    assert read.dropped or read.defaulted.get("malformed_tags") or name == "basic-format"
    # The good rows are all there.
    assert read.rows - read.dropped_rows >= len(good_rows())
    assert read.ledger


def own_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*.csv")) + sorted(
        (SHARED_DATA / "focus").glob("*.csv")
    )


@pytest.mark.parametrize("path", own_files(), ids=lambda p: p.name)
def test_fixtures_and_the_real_sample_read_alike_and_fast(
    reader: FocusReader, path: Path, tmp_path: Path
) -> None:
    # focus_small.csv holds a `not-a-date` row on purpose (see test_focus.py).
    bad = path.name == "focus_small.csv"
    assert both(reader, path).checked == bad
    gz = tmp_path / f"{path.name}.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert both(reader, gz).checked == bad


@pytest.fixture(scope="module")
def third_party(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("toolkit")
    files = []
    for version in ("1.2", "1.3"):
        for path in generate(root / version, version):
            files.append(path)
            table = pacsv.read_csv(path)
            pq.write_table(table, path.with_suffix(".parquet"))
            files.append(path.with_suffix(".parquet"))
    return files


def test_third_party_files_read_alike_and_fast(
    reader: FocusReader, third_party: list[Path]
) -> None:
    assert len(third_party) == 12
    for path in third_party:
        read = both(reader, path, ("team", "environment"))
        assert not read.checked, path
        assert read.rows == 2000 and not read.dropped, path
