"""FOCUS files → /metrics: reconciliation to the cent, quirks, corrupt files, caching."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from agent.runtime import Exposition
from exporters.base import Context, SourceError
from exporters.cost.exporter import CostExporter, build
from exporters.cost.focus import FocusPoller, FocusReader
from tests.conftest import SHARED_DATA

from . import support
from .support import (
    FIXTURES,
    FakeClock,
    at,
    config,
    focus_exporter,
    poll,
    scrape,
    total,
    value,
)

SAMPLE = SHARED_DATA / "focus" / "focus_1.0_sample_1000.csv"
needs_sample = pytest.mark.skipif(not SAMPLE.exists(), reason="shared FOCUS sample absent")


def reconcile(path: Path, tmp_path: Path, truth: Path | None = None) -> None:
    """Every day's, provider's and currency's exposed sums equal an independent computation."""
    result = support.reconcile(str(path), [truth or path], tmp_path)
    assert result.rows > 0 and result.max_cents < Decimal("0.5")


@needs_sample
def test_real_sample_csv_reconciles_to_the_cent(tmp_path: Path) -> None:
    reconcile(SAMPLE, tmp_path)


@needs_sample
def test_real_sample_gzip_reconciles_to_the_cent(tmp_path: Path) -> None:
    gz = tmp_path / "sample.csv.gz"
    gz.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    reconcile(gz, tmp_path)


@needs_sample
def test_real_sample_parquet_reconciles_to_the_cent(tmp_path: Path) -> None:
    # Typed columns (timestamps, doubles), as a real Parquet export has them.
    table = pacsv.read_csv(
        SAMPLE,
        convert_options=pacsv.ConvertOptions(null_values=["NULL", ""], strings_can_be_null=True),
    )
    assert str(table.schema.field("ChargePeriodStart").type).startswith("timestamp")
    parquet = tmp_path / "sample.parquet"
    pq.write_table(table, parquet)
    reconcile(parquet, tmp_path, truth=SAMPLE)


def test_own_fixture_reconciles_and_tolerates_quirks(tmp_path: Path) -> None:
    reconcile(FIXTURES / "focus_small.csv", tmp_path)


def test_quirks_map_to_labels(tmp_path: Path) -> None:
    clock = FakeClock(at(date(2024, 9, 4)))
    exporter = focus_exporter(
        str(FIXTURES / "focus_small.csv"),
        tmp_path,
        clock,
        "  labels_from_tags: {team: team}\n  settle_days: 0\n",
    )
    poll(exporter)
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    mtd = "cloudcost_month_to_date"
    ec2 = {"service": "Amazon Elastic Compute Cloud", "cost_type": "billed"}
    # 10.50 + 1.25 + 0.25 on the 1st, +2.00 on the 2nd (01:00-05:00 is 06:00 UTC), +6.00 on
    # the 3rd (22:00-05:00 is 03:00 UTC next day); the -2.00 credit is its own category.
    usage = {"team": "payments", "charge_category": "Usage", **ec2}
    assert value(samples, mtd, **usage) == pytest.approx(20.0)
    assert value(samples, mtd, team="payments", charge_category="Credit", **ec2) == -2.0
    assert value(samples, "cloudcost_daily", **usage) == pytest.approx(6.0)
    # NULL/null region and tags become empty labels; malformed JSON tags too, counted.
    s3 = {"service": "Amazon Simple Storage Service", "cost_type": "billed"}
    assert value(samples, mtd, region="", team="", **s3) == pytest.approx(8.0)
    assert value(samples, mtd, region="us-east-1", team="", **s3) == pytest.approx(4.0)
    # No SubAccountId: the billing account is the account.
    assert value(samples, mtd, account="/billingAccounts/42", cost_type="list") == 8.0
    # The row with an unreadable ChargePeriodStart is dropped, not counted anywhere but in
    # the drop counter.
    assert total(samples[mtd], cost_type="billed") == pytest.approx(18.0 + 12.0 + 7.77)
    dropped = "opslens_source_rows_dropped_total"
    assert value(samples, dropped, source="files", reason="unreadable_date") == 1
    assert value(samples, "opslens_source_rows_defaulted_total", reason="malformed_tags") == 1


def test_focus_1_3_service_provider_name(tmp_path: Path) -> None:
    clock = FakeClock(at(date(2024, 9, 3)))
    exporter = focus_exporter(
        str(FIXTURES / "focus_1.3_small.csv"), tmp_path, clock, "  settle_days: 0\n"
    )
    poll(exporter)
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    daily = value(
        samples,
        "cloudcost_daily",
        provider="Snowflake",
        service="Snowflake Compute",
        currency="EUR",
        cost_type="effective",
    )
    assert daily == 18.0


def test_corrupt_file_is_reported_and_skipped(tmp_path: Path) -> None:
    files = tmp_path / "focus"
    files.mkdir()
    shutil.copy(FIXTURES / "focus_small.csv", files / "good.csv")
    raw = (FIXTURES / "focus_small.csv").read_bytes()
    (files / "truncated.csv").write_bytes(raw[: len(raw) // 2])
    (files / "cut.csv.gz").write_bytes(gzip.compress(raw)[:200])
    clock = FakeClock(at(date(2024, 9, 4)))
    exporter = focus_exporter(str(files / "*.csv*"), tmp_path, clock, "  settle_days: 0\n")
    with pytest.raises(SourceError) as failed:
        poll(exporter)
    assert failed.value.reason == "corrupt_file"
    assert "truncated.csv" in str(failed.value) and "cut.csv.gz" in str(failed.value)
    assert "good.csv" not in str(failed.value)
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    assert total(samples["cloudcost_month_to_date"], cost_type="billed") == pytest.approx(37.77)
    # Fixing the file clears the failure on the next poll.
    shutil.copy(FIXTURES / "focus_small.csv", files / "truncated.csv")
    (files / "cut.csv.gz").unlink()
    poll(exporter)
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    assert total(samples["cloudcost_month_to_date"], cost_type="billed") == pytest.approx(75.54)


def test_no_matching_files_fails_visibly(tmp_path: Path) -> None:
    exporter = focus_exporter(
        str(tmp_path / "none" / "*.csv"), tmp_path, FakeClock(at(date.today()))
    )
    with pytest.raises(SourceError) as failed:
        poll(exporter)
    assert failed.value.reason == "no_files"


def test_unchanged_files_are_not_reread_and_generation_holds(tmp_path: Path) -> None:
    reads: list[str] = []

    class CountingReader(FocusReader):
        def read(self, path, tag_keys):  # type: ignore[no-untyped-def]
            reads.append(path)
            return super().read(path, tag_keys)

    path = tmp_path / "a.csv"
    shutil.copy(FIXTURES / "focus_small.csv", path)
    clock = FakeClock(at(date(2024, 9, 4)))
    exporter = CostExporter(config("  sources: []\n  settle_days: 0\n").cost, clock=clock)
    poller = FocusPoller("files", str(path), 3600, (), CountingReader(), exporter.publish_focus)
    poller.poll_sync()
    first = exporter.generation()
    poller.poll_sync()
    assert reads == [str(path)]
    assert exporter.generation() == first  # same data, same day: no re-render
    clock.set(at(date(2024, 9, 5)))
    poller.poll_sync()
    assert exporter.generation() == first + 1  # a new day moves the reference day


def test_relative_path_resolves_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "conf"
    (config_dir / "billing").mkdir(parents=True)
    shutil.copy(FIXTURES / "focus_small.csv", config_dir / "billing" / "x.csv")
    monkeypatch.chdir(tmp_path)  # the working directory has no billing/ folder
    cfg = config(
        "  sources: [{type: focus, name: files, path: 'billing/*.csv'}]\n  settle_days: 0\n"
    )
    ctx = Context(data_dir=tmp_path / "data", clock=FakeClock(at(date(2024, 9, 4))))
    exporter = build(cfg.cost, replace(ctx, config_dir=config_dir))
    poll(exporter)
    assert exporter.snapshot.sources["files"].summary.days[("AWS", "9999")] == date(2024, 9, 3)


def test_large_line_items_are_summed_exactly(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text(
        "ChargePeriodStart,BilledCost,ServiceName,ProviderName,BillingCurrency\n"
        "2024-09-02T00:00:00Z,5000000000.12,Big,AWS,USD\n"
        "2024-09-02T00:00:00Z,0.01,Big,AWS,USD\n"
    )
    exporter = focus_exporter(str(path), tmp_path, FakeClock(at(date(2024, 9, 4))))
    poll(exporter)
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    assert value(samples, "cloudcost_daily", service="Big", cost_type="billed") == 5000000000.13
