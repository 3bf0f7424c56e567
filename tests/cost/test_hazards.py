"""One test per way real exports made the numbers silently wrong (see the cost README)."""

from __future__ import annotations

import asyncio
import csv
import gzip
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from agent.app import create_app
from agent.runtime import Exposition, Runtime
from agent.settings import Settings
from exporters.base import Context, SourceError
from exporters.cost.focus import FocusPoller, FocusReader
from tests.conftest import SHARED_DATA

from .support import (
    FakeClock,
    at,
    config,
    focus_exporter,
    independent_charges,
    poll,
    scrape,
    sums,
    total,
    value,
)

SAMPLE = SHARED_DATA / "focus" / "focus_1.0_sample_1000.csv"
CORRECTIONS = SHARED_DATA / "focus" / "focus_spec_corrections.csv"
COLUMNS = [
    "ChargePeriodStart",
    "BilledCost",
    "EffectiveCost",
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "ServiceName",
    "BillingCurrency",
    "ChargeCategory",
    "ChargeFrequency",
    "Tags",
]


def row(start: str, billed: str, **over: str) -> dict[str, str]:
    base = {
        "ChargePeriodStart": start,
        "BilledCost": billed,
        "EffectiveCost": billed,
        "ProviderName": "AWS",
        "BillingAccountId": "999",
        "SubAccountId": "111",
        "ServiceName": "Amazon EC2",
        "BillingCurrency": "USD",
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "Tags": "",
    }
    return base | over


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def daily_rows(first: date, days: int, amount: str, **over: str) -> list[dict[str, str]]:
    return [row(f"{first + timedelta(days=i)}T00:00:00Z", amount, **over) for i in range(days)]


def render(exporter: Any) -> dict[str, list[tuple[dict[str, str], float]]]:
    return scrape(Exposition(exporter.collectors(), exporter.generation).render(False))


# --- Whole files disappear; rows with unreadable numbers vanish -------------------------


async def test_a_resaved_file_fails_the_source_and_every_row_is_counted(tmp_path: Path) -> None:
    files = tmp_path / "focus"
    write(files / "good.csv", daily_rows(date(2026, 11, 25), 3, "10.00"))
    # A spreadsheet re-saved the dates as M/D/YYYY: nothing in it can be used.
    resaved = [row(f"11/{d}/2026 0:00", "7.00") for d in (25, 26, 27, 28)]
    write(files / "resaved.csv", resaved)
    exporter = focus_exporter(str(files / "*.csv"), tmp_path, FakeClock(at(date(2026, 11, 29))))
    runtime = Runtime([exporter])
    (loop,) = runtime.loops
    await loop.poll_once()
    samples = scrape(runtime.endpoint.body(openmetrics=False, compress=False))
    assert value(samples, "opslens_source_up", source="files") == 0
    assert value(samples, "opslens_source_errors_total", reason="unparseable") == 1
    dropped = "opslens_source_rows_dropped_total"
    assert value(samples, dropped, exporter="cost", source="files", reason="ambiguous_date") == 4
    # The good file is still published.
    assert total(samples["cloudcost_month_to_date"], cost_type="billed") == 30.0
    # The first offending file and line are in the error, the log line and the detail.
    assert f"{files / 'resaved.csv'}:2: ambiguous_date" in (loop.state.last_error or "")
    assert isinstance(loop.source, FocusPoller)
    assert f"{files / 'resaved.csv'}:2: ambiguous_date" in (loop.source.detail or "")


def test_unreadable_and_out_of_range_amounts_are_counted_with_the_first_line(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "amounts.csv",
        [
            row("2026-11-01T00:00:00Z", "1.50"),
            row("2026-11-01T00:00:00Z", "1,50"),  # decimal comma: refused, never guessed
            row("2026-11-01T00:00:00Z", "abc"),
            row("2026-11-01T00:00:00Z", "1e30"),  # beyond 28 integer digits
            row("2026-11-01T00:00:00Z", "2.00", EffectiveCost="NaN"),
            row("2026-11-01T00:00:00Z", "", EffectiveCost="3.00"),  # empty: adds nothing
        ],
    )
    read = FocusReader().read(str(path), [])
    assert read.rows == 6
    assert read.dropped == {"unreadable_amount": 2, "amount_out_of_range": 2}
    assert read.defaulted == {"missing_amount": 1}
    assert read.problem is not None
    assert (read.problem.line, read.problem.reason) == (3, "unreadable_amount")
    assert "'1,50'" in read.problem.detail
    billed = sum(a for ln, d in read.ledger.items() if ln.key[5] == "billed" for a in d.values())
    effective = sum(
        a for ln, d in read.ledger.items() if ln.key[5] == "effective" for a in d.values()
    )
    assert (billed, effective) == (Decimal("1.5"), Decimal("4.5"))


def test_a_file_without_a_required_column_is_unparseable(tmp_path: Path) -> None:
    path = tmp_path / "nocurrency.csv"
    path.write_text(
        "ChargePeriodStart,BilledCost,ProviderName\n2026-11-01,5,AWS\n2026-11-02,6,AWS\n"
    )
    exporter = focus_exporter(str(path), tmp_path, FakeClock(at(date(2026, 11, 5))))
    with pytest.raises(SourceError) as failed:
        poll(exporter)
    assert failed.value.reason == "unparseable"
    assert "nocurrency.csv:1: missing_column (no BillingCurrency column)" in str(failed.value)
    samples = render(exporter)
    assert value(samples, "opslens_source_rows_dropped_total", reason="missing_column") == 2


def test_a_corrupt_file_keeps_the_last_good_data_published(tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", daily_rows(date(2026, 11, 1), 4, "10.00"))
    exporter = focus_exporter(str(path), tmp_path, FakeClock(at(date(2026, 11, 6))))
    poll(exporter)
    before = render(exporter)["cloudcost_month_to_date"]
    path.write_bytes(path.read_bytes()[:-9])  # truncated mid-row by a failed copy
    with pytest.raises(SourceError) as failed:
        poll(exporter)
    assert failed.value.reason == "corrupt_file"
    assert render(exporter)["cloudcost_month_to_date"] == before


def _garbage_parquet(path: Path) -> None:
    path.write_bytes(b"PAR1" + bytes(range(256)) * 8 + b"PAR1")


def _truncated_gzip(path: Path) -> None:
    path.write_bytes(gzip.compress(path.read_bytes())[:-40])


def _garbage_header(path: Path) -> None:
    path.write_bytes(b"\x8b\x00qz*&^%$#,@@!!\n")


def _garbage_header_with_rows(path: Path) -> None:
    rows = path.read_text().splitlines()[1:]
    path.write_text("\n".join(["\x8b\x00qz*&^%$#,@@!!", *rows]) + "\n")


@pytest.mark.parametrize(
    ("suffix", "corrupt", "reason"),
    [
        (".csv.gz", _truncated_gzip, "corrupt_file"),
        (".parquet", _garbage_parquet, "corrupt_file"),
        (".csv", _garbage_header, "unparseable"),
        (".csv", _garbage_header_with_rows, "corrupt_file"),  # rows wider than it
    ],
    ids=["truncated-gzip", "garbage-parquet", "garbage-header-only", "garbage-header"],
)
async def test_a_corrupt_file_keeps_its_last_good_read_served_and_counted(
    tmp_path: Path, suffix: str, corrupt: Callable[[Path], None], reason: str
) -> None:
    files = tmp_path / "focus"
    write(files / "other.csv", daily_rows(date(2026, 11, 1), 4, "1.00", ProviderName="GCP"))
    source = write(tmp_path / "f.csv", daily_rows(date(2026, 11, 1), 4, "10.00"))
    path = files / f"f{suffix}"
    if suffix == ".parquet":
        pq.write_table(pacsv.read_csv(source), path)
    elif suffix == ".csv.gz":
        path.write_bytes(gzip.compress(source.read_bytes()))
    else:
        path.write_bytes(source.read_bytes())
    exporter = focus_exporter(str(files / "*"), tmp_path, FakeClock(at(date(2026, 11, 6))))
    runtime = Runtime([exporter])
    (loop,) = runtime.loops
    await loop.poll_once()
    good = scrape(runtime.endpoint.body(openmetrics=False, compress=False))
    assert value(good, "opslens_source_up", source="files") == 1
    assert total(good["cloudcost_month_to_date"], cost_type="billed") == 44.0
    if suffix == ".csv.gz":
        path.write_bytes(gzip.compress(source.read_bytes()))  # the bytes _truncated_gzip cuts
    corrupt(path)
    for polls in (1, 2):  # the broken file is not re-read, and still not forgotten
        await loop.poll_once()
        samples = scrape(runtime.endpoint.body(openmetrics=False, compress=False))
        assert value(samples, "opslens_source_up", source="files") == 0
        assert value(samples, "opslens_source_errors_total", reason=reason) == polls
        assert str(path) in (loop.state.last_error or "")
        # The last good read of the broken file and the other file: served unchanged.
        assert samples["cloudcost_month_to_date"] == good["cloudcost_month_to_date"]
        assert samples["cloudcost_daily"] == good["cloudcost_daily"]
    # Fixed: read again, the error clears.
    path.unlink()
    write(files / "f.csv", daily_rows(date(2026, 11, 1), 4, "20.00"))
    await loop.poll_once()
    samples = scrape(runtime.endpoint.body(openmetrics=False, compress=False))
    assert value(samples, "opslens_source_up", source="files") == 1
    assert total(samples["cloudcost_month_to_date"], cost_type="billed") == 84.0


@pytest.mark.parametrize(
    "start", ["10000-01-01T00:00:00Z", "0000-06-01", "-0001-01-01", "99999-12-31 00:00:00"]
)
def test_a_day_outside_years_1_to_9999_is_refused_and_counted(tmp_path: Path, start: str) -> None:
    path = write(
        tmp_path / "years.csv",
        [row("2026-11-01T00:00:00Z", "1.50"), row(start, "7.00"), row("9999-12-31", "2.00")],
    )
    read = FocusReader().read(str(path), [])
    assert (read.rows, read.dropped) == (3, {"unreadable_date": 1})
    assert read.problem is not None
    assert (read.problem.line, read.problem.reason) == (3, "unreadable_date")
    assert repr(start) in read.problem.detail
    days = {day for series in read.ledger.values() for day in series}
    assert days == {date(2026, 11, 1), date(9999, 12, 31)}
    assert all(type(day) is date for day in days)
    # A billing period outside those years is no period (the charge still counts).
    odd = tmp_path / "period.csv"
    odd.write_text(
        "ChargePeriodStart,BilledCost,BillingCurrency,BillingPeriodStart\n"
        f"2026-11-01,3.00,USD,{start}\n"
    )
    read = FocusReader().read(str(odd), [])
    assert (read.rows, read.dropped) == (1, {})
    assert [ln.period for ln in read.ledger] == [""]


# --- Large amounts vanish ---------------------------------------------------------------


def test_a_krw_commitment_beyond_64_bits_is_summed_exactly(tmp_path: Path) -> None:
    path = write(
        tmp_path / "krw.csv",
        [
            row("2026-11-02T00:00:00Z", "12345678901.50", BillingCurrency="KRW"),
            row("2026-11-02T00:00:00Z", "0.25", BillingCurrency="KRW"),
            # Exact far past what a double holds to the unit.
            row("2026-11-02T00:00:00Z", "99999999999999999999.99", BillingCurrency="VND"),
            row("2026-11-02T00:00:00Z", "0.01", BillingCurrency="VND"),
        ],
    )
    read = FocusReader().read(str(path), [])
    assert read.dropped == {}
    by_currency = {
        ln.key[4]: d[date(2026, 11, 2)] for ln, d in read.ledger.items() if ln.key[5] == "billed"
    }
    assert by_currency == {
        "KRW": Decimal("12345678901.75"),
        "VND": Decimal("100000000000000000000.00"),
    }
    exporter = focus_exporter(str(path), tmp_path, FakeClock(at(date(2026, 11, 4))))
    poll(exporter)
    samples = render(exporter)
    assert value(samples, "cloudcost_daily", currency="KRW", cost_type="billed") == 12345678901.75


# --- Hour-only offsets, and every other ISO 8601 form ----------------------------------


@pytest.mark.parametrize(
    "start, day",
    [
        ("2026-11-10T23:30:00-02", date(2026, 11, 11)),
        ("2026-11-10T23:30:00-0200", date(2026, 11, 11)),
        ("2026-11-10T23:30:00-02:00", date(2026, 11, 11)),
        ("2026-11-10T23:30-02:00", date(2026, 11, 11)),
        ("2026-11-11T00:30:00+02", date(2026, 11, 10)),
        ("2026-11-10T23:30:00.5+05:30", date(2026, 11, 10)),
        ("2026-11-10T23:30:00Z", date(2026, 11, 10)),
        ("2026-11-10T23:30:00.1234567Z", date(2026, 11, 10)),
        ("2026-11-10 23:30:00", date(2026, 11, 10)),
        ("2026-11-10T23:30:00", date(2026, 11, 10)),
        ("2026-11-10", date(2026, 11, 10)),
        ("20261110T233000Z", date(2026, 11, 10)),
        ("20261110T233000-0200", date(2026, 11, 11)),
        ("20261110", date(2026, 11, 10)),
        (" 2026-11-10T23:30:00Z ", date(2026, 11, 10)),
    ],
)
def test_every_iso_8601_form_lands_on_its_utc_day(tmp_path: Path, start: str, day: date) -> None:
    read = FocusReader().read(str(write(tmp_path / "t.csv", [row(start, "1.00")])), [])
    assert read.dropped == {}
    assert {d for days in read.ledger.values() for d in days} == {day}


@pytest.mark.parametrize(
    "start, reason",
    [
        ("11/28/2026 0:00", "ambiguous_date"),
        ("28/11/2026", "ambiguous_date"),
        ("2026-11-10T23:30:00 +02:00", "unreadable_date"),  # a blank before the offset
        ("yesterday", "unreadable_date"),
        ("", "missing_date"),
    ],
)
def test_dates_that_are_not_iso_8601_are_refused_and_counted(
    tmp_path: Path, start: str, reason: str
) -> None:
    read = FocusReader().read(str(write(tmp_path / "t.csv", [row(start, "1.00")])), [])
    assert read.dropped == {reason: 1}
    assert read.unparseable


# --- A lagging provider reads zero; a partial newest day is taken as complete ------------


def test_a_lagging_provider_keeps_its_own_day_in_the_real_sample(tmp_path: Path) -> None:
    # In the real sample Microsoft's rows stop on 19 September while AWS runs to the 30th.
    charges = independent_charges(SAMPLE)
    by_day = sums(charges, "day", "provider", "cost_type")
    exporter = focus_exporter(
        str(SAMPLE),
        tmp_path,
        FakeClock(at(date(2024, 9, 21))),
        "  budgets: [{name: day, amount: 1000, period: daily}]\n",
    )
    poll(exporter)
    samples = render(exporter)
    # AWS has data on the 21st, so the 20th is complete; Microsoft's 19th has settled;
    # Oracle bills on a few days only, its latest before the 21st being the 12th.
    stamps = {labels["provider"]: v for labels, v in samples["cloudcost_data_timestamp_seconds"]}
    ref = {
        p: max(c.day for c in charges if c.provider == p and c.day < date(2024, 9, 21))
        for p in ("AWS", "Microsoft", "Oracle")
    }
    assert ref == {
        "AWS": date(2024, 9, 20),
        "Microsoft": date(2024, 9, 19),
        "Oracle": date(2024, 9, 12),
    }
    assert stamps == {p: at(d, 0).timestamp() for p, d in ref.items()}
    microsoft = total(samples["cloudcost_daily"], provider="Microsoft", cost_type="billed")
    assert microsoft == pytest.approx(float(by_day[(date(2024, 9, 19), "Microsoft", "billed")]))
    assert microsoft > 0  # one reference day for the whole source read 0 here
    # The daily budget takes each provider on its own complete day.
    expected = sum(by_day[(d, p, "billed")] for p, d in ref.items())
    spent = value(samples, "cloudcost_budget_spent", budget="day")
    assert spent == pytest.approx(float(expected))


def test_a_partial_newest_day_waits_for_settle_days(tmp_path: Path) -> None:
    # GCP's export of the 19th is about two-thirds written when the 20th begins.
    path = write(
        tmp_path / "gcp.csv",
        [
            *daily_rows(date(2026, 11, 1), 18, "30.00", ProviderName="Google Cloud"),
            row("2026-11-19T00:00:00Z", "20.00", ProviderName="Google Cloud"),
        ],
    )
    clock = FakeClock(at(date(2026, 11, 20)))
    exporter = focus_exporter(str(path), tmp_path, clock)
    poll(exporter)
    samples = render(exporter)
    assert value(samples, "cloudcost_daily", cost_type="billed") == 30.0  # the 18th
    assert value(samples, "cloudcost_month_to_date", cost_type="billed") == 540.0
    clock.set(at(date(2026, 11, 21)))  # settle_days (1) whole day has passed
    poll(exporter)
    assert value(render(exporter), "cloudcost_daily", cost_type="billed") == 20.0
    # With settle_days 0 the partial day counts at once.
    eager = focus_exporter(
        str(path), tmp_path / "eager", FakeClock(at(date(2026, 11, 20))), "  settle_days: 0\n"
    )
    poll(eager)
    assert value(render(eager), "cloudcost_daily", cost_type="billed") == 20.0


# --- Corrections land on a closed month --------------------------------------------------


def test_spec_corrections_count_in_the_billing_period_they_are_billed_in(tmp_path: Path) -> None:
    invoices: dict[str, Decimal] = {}
    with CORRECTIONS.open(newline="") as fh:
        for r in csv.DictReader(fh):
            invoices[r["InvoiceId"]] = invoices.get(r["InvoiceId"], Decimal(0)) + Decimal(
                r["BilledCost"]
            )
    june = focus_exporter(str(CORRECTIONS), tmp_path / "june", FakeClock(at(date(2025, 6, 12))))
    poll(june)
    samples = render(june)
    # June's month to date is June's invoice: 100 of usage + 1,500 of corrections.
    june_mtd = value(samples, "cloudcost_month_to_date", cost_type="billed")
    assert june_mtd == float(invoices["INV-20250601-20250701"]) == 1600.0
    assert value(samples, "cloudcost_corrections", cost_type="billed") == 1500.0
    assert value(samples, "cloudcost_corrections", cost_type="list") == 2000.0
    (labels, _), *_ = samples["cloudcost_corrections"]
    assert labels["billing_period"] == "2025-06"
    # In May, before the corrections were billed, May's invoice was the month to date.
    may = focus_exporter(str(CORRECTIONS), tmp_path / "may", FakeClock(at(date(2025, 5, 20))))
    poll(may)
    may_mtd = value(render(may), "cloudcost_month_to_date", cost_type="billed")
    assert may_mtd == float(invoices["INV-20250501-20250601"]) == 1500.0


# --- One-time charges are extrapolated -------------------------------------------------


def test_one_time_purchases_are_not_extrapolated(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        [
            *daily_rows(date(2026, 11, 1), 3, "100.00"),
            row(
                "2026-11-01T00:00:00Z",
                "3000.00",
                ServiceName="Savings Plans",
                ChargeCategory="Purchase",
                ChargeFrequency="One-Time",
            ),
            row(
                "2026-11-01T00:00:00Z",
                "300.00",
                ServiceName="Support",
                ChargeCategory="Purchase",
                ChargeFrequency="Recurring",
            ),
        ],
    )
    exporter = focus_exporter(str(path), tmp_path, FakeClock(at(date(2026, 11, 3))))
    poll(exporter)
    samples = render(exporter)
    forecast = total(samples["cloudcost_forecast_month_end"], cost_type="billed")
    # 3,300 once + 200 of usage in 2 days run out over 30: not 3,500 / 2 x 30 = 52,500.
    assert forecast == pytest.approx(3300 + 100 * 30)
    purchases = value(
        samples, "cloudcost_forecast_month_end", service="Savings Plans", cost_type="billed"
    )
    assert purchases == value(
        samples, "cloudcost_month_to_date", service="Savings Plans", cost_type="billed"
    )


# --- The anomaly score mixes currencies -----------------------------------------------


def test_anomaly_scores_never_mix_currencies(tmp_path: Path) -> None:
    rows = [
        *daily_rows(date(2026, 11, 1), 14, "100.00"),
        row("2026-11-15T00:00:00Z", "200.00"),
        row("2026-11-16T00:00:00Z", "100.00"),
        *daily_rows(date(2026, 11, 1), 16, "130000", BillingCurrency="KRW"),
    ]
    exporter = focus_exporter(
        str(write(tmp_path / "a.csv", rows)), tmp_path, FakeClock(at(date(2026, 11, 16)))
    )
    poll(exporter)
    samples = render(exporter)
    score = "cloudcost_anomaly_score"
    assert value(samples, score, currency="USD") == pytest.approx(100.0)
    assert value(samples, score, currency="KRW") == pytest.approx(0.0)


# --- Labels never empty without a trace; charge categories --------------------------------


def test_missing_service_and_malformed_tags_are_counted(tmp_path: Path) -> None:
    path = write(
        tmp_path / "l.csv",
        [
            row("2026-11-01T00:00:00Z", "1.00", ServiceName=""),
            row("2026-11-01T00:00:00Z", "2.00", Tags='{"team": "payments"'),
            row("2026-11-01T00:00:00Z", "3.00", Tags='{"team": "search"}'),
        ],
    )
    exporter = focus_exporter(
        str(path),
        tmp_path,
        FakeClock(at(date(2026, 11, 3))),
        "  labels_from_tags: {team: team}\n",
    )
    poll(exporter)
    samples = render(exporter)
    assert value(samples, "cloudcost_daily", service="unknown", cost_type="billed") == 1.0
    assert value(samples, "cloudcost_daily", team="search", cost_type="billed") == 3.0
    defaulted = "opslens_source_rows_defaulted_total"
    assert value(samples, defaulted, reason="missing_service") == 1
    assert value(samples, defaulted, reason="malformed_tags") == 1


def test_charge_categories_are_labels_and_tax_can_be_left_out(tmp_path: Path) -> None:
    rows = [
        *daily_rows(date(2026, 11, 1), 3, "100.00"),
        *daily_rows(date(2026, 11, 1), 3, "8.00", ChargeCategory="Tax", ChargeFrequency="One-Time"),
    ]
    path = write(tmp_path / "t.csv", rows)
    budget = "  budgets: [{name: m, amount: 1000}]\n"
    both = focus_exporter(str(path), tmp_path / "a", FakeClock(at(date(2026, 11, 5))), budget)
    poll(both)
    samples = render(both)
    assert value(samples, "cloudcost_daily", charge_category="Tax", cost_type="billed") == 8.0
    assert value(samples, "cloudcost_budget_spent", budget="m") == 324.0
    no_tax = focus_exporter(
        str(path),
        tmp_path / "b",
        FakeClock(at(date(2026, 11, 5))),
        budget + "  include_charge_categories: [Usage, Purchase, Credit, Adjustment]\n",
    )
    poll(no_tax)
    samples = render(no_tax)
    assert {lb["charge_category"] for lb, _ in samples["cloudcost_daily"]} == {"Usage"}
    assert value(samples, "cloudcost_budget_spent", budget="m") == 300.0


# --- The status page shows the first dropped row ---------------------------------------


async def test_the_status_page_names_the_first_dropped_row(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    path = write(
        tmp_path / "focus" / "mixed.csv",
        [row("2026-11-01T00:00:00Z", "1.00"), row("11/28/2026 0:00", "2.00")],
    )
    cfg = config(f"  sources: [{{type: focus, name: files, path: '{path}'}}]\n")
    settings = Settings(
        config=cfg,
        exporters=("cost",),
        context=Context(data_dir=tmp_path / "data", clock=FakeClock(at(date(2026, 11, 3)))),
    )
    client = await aiohttp_client(create_app(settings))
    for _ in range(200):
        if (await client.get("/-/ready")).status == 200:
            break
        await asyncio.sleep(0.05)
    page = await (await client.get("/")).text()
    assert f"first dropped row: {path}:3: ambiguous_date" in page
    samples = scrape(await (await client.get("/metrics")).text())
    assert value(samples, "opslens_source_up", source="files") == 1  # one usable row of two
    assert value(samples, "opslens_source_rows_dropped_total", reason="ambiguous_date") == 1


def test_the_readme_worked_example(tmp_path: Path) -> None:
    """The example in exporters/cost/README.md, number for number."""
    correction = row(
        "2026-10-12T00:00:00Z", "-50.00", ChargeCategory="Usage", ChargeFrequency="Usage-Based"
    )
    aws = [
        *daily_rows(date(2026, 11, 1), 20, "100.00"),
        row(
            "2026-11-01T00:00:00Z",
            "3000.00",
            ChargeCategory="Purchase",
            ChargeFrequency="One-Time",
        ),
    ]
    microsoft = daily_rows(date(2026, 11, 1), 17, "40.00", ProviderName="Microsoft")
    google = [
        *daily_rows(date(2026, 11, 1), 18, "30.00", ProviderName="Google Cloud"),
        row("2026-11-19T00:00:00Z", "20.00", ProviderName="Google Cloud"),
    ]
    folder = tmp_path / "focus"
    write(folder / "aws.csv", aws)
    write(folder / "microsoft.csv", microsoft)
    write(folder / "google.csv", google)
    # The correction needs ChargeClass and BillingPeriodStart, so it has its own file.
    path = folder / "aws-corrections.csv"
    columns = [*COLUMNS, "ChargeClass", "BillingPeriodStart"]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerow(
            correction | {"ChargeClass": "Correction", "BillingPeriodStart": "2026-11-01T00:00:00Z"}
        )
    exporter = focus_exporter(
        str(folder / "*.csv"),
        tmp_path,
        FakeClock(at(date(2026, 11, 20))),
        "  budgets: [{name: d, amount: 1000, period: daily}, {name: m, amount: 9000}]\n",
    )
    poll(exporter)
    samples = render(exporter)

    def by(name: str, provider: str) -> float:
        return total(samples[name], provider=provider, cost_type="billed")

    assert [by("cloudcost_daily", p) for p in ("AWS", "Microsoft", "Google Cloud")] == [
        100.0,
        40.0,
        30.0,
    ]
    assert by("cloudcost_month_to_date", "AWS") == pytest.approx(4850.0)
    assert by("cloudcost_forecast_month_end", "AWS") == pytest.approx(5950.0)
    assert by("cloudcost_month_to_date", "Microsoft") == pytest.approx(680.0)
    assert by("cloudcost_forecast_month_end", "Microsoft") == pytest.approx(1200.0)
    assert by("cloudcost_month_to_date", "Google Cloud") == pytest.approx(540.0)
    stamps = {lb["provider"]: v for lb, v in samples["cloudcost_data_timestamp_seconds"]}
    assert stamps == {
        "AWS": at(date(2026, 11, 19), 0).timestamp(),
        "Microsoft": at(date(2026, 11, 17), 0).timestamp(),
        "Google Cloud": at(date(2026, 11, 18), 0).timestamp(),
    }
    assert value(samples, "cloudcost_budget_spent", budget="d") == pytest.approx(170.0)
    assert value(samples, "cloudcost_budget_spent", budget="m") == pytest.approx(6070.0)
