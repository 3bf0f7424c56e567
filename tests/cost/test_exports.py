"""Export runs count once: manifests, run folders, overlapping runs (hazard: double counting)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from agent.runtime import Exposition
from exporters.base import SourceError
from exporters.cost.exports import Manifest, Run, combine, parse_manifest, plan, tail
from exporters.cost.focus import FocusPoller
from exporters.cost.model import Line

from .support import FIXTURES, FakeClock, at, focus_exporter, poll, scrape, total, value

EXPORTS = FIXTURES / "exports"
AZURE_RUNS = EXPORTS / "azure" / "finops" / "focus-daily" / "20261101-20261130"
AWS_EXPORT = EXPORTS / "aws" / "cur" / "focus-export"
NOV_7 = FakeClock(at(date(2026, 11, 7)))


def copy_exports(tmp_path: Path) -> Path:
    """The fixture tree with modification times as a sync leaves them: in run order."""
    root = tmp_path / "exports"
    shutil.copytree(EXPORTS, root)
    for i, path in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
    return root


def mtd(exporter_samples: dict, provider: str) -> float:
    return total(exporter_samples["cloudcost_month_to_date"], provider=provider, cost_type="billed")


def test_azure_manifest_is_read() -> None:
    path = next(AZURE_RUNS.glob("202611060709/*/manifest.json"))
    manifest = parse_manifest(str(path), path.read_text())
    assert manifest is not None
    assert manifest.run_id == "7c1d3e42-98ab-4b0e-8f61-5d2c9a7b4e02"
    assert manifest.period == "2026-11"
    assert manifest.submitted is not None and manifest.submitted.isoformat().startswith(
        "2026-11-06T07:09:41.765432"
    )
    assert manifest.export.endswith("/exports/focus-daily")
    assert [tail(f) for f, _ in manifest.files] == [
        ("7c1d3e42-98ab-4b0e-8f61-5d2c9a7b4e02", "part_0_0001.csv"),
        ("7c1d3e42-98ab-4b0e-8f61-5d2c9a7b4e02", "part_1_0001.csv"),
    ]


def test_aws_data_exports_manifest_is_read() -> None:
    path = next(AWS_EXPORT.glob("metadata/*/9f3e*/focus-export-Manifest.json"))
    manifest = parse_manifest(str(path), path.read_text())
    assert manifest is not None
    assert (manifest.run_id, manifest.period) == ("9f3e1a27-5b8c-4d6e-a2f1-7c0b3d4e5f22", "2026-11")
    assert manifest.export.startswith("arn:aws:bcm-data-exports:")
    assert manifest.submitted is None  # ordered by the manifest's modification time
    assert manifest.files[0][0].startswith("s3://acme-billing/cur/focus-export/data/")


def test_other_json_is_not_a_manifest_and_broken_json_is_an_error() -> None:
    assert parse_manifest("x/manifest.json", json.dumps({"name": "app"})) is None
    with pytest.raises(ValueError):
        parse_manifest("x/manifest.json", "{not json")


@pytest.mark.parametrize("provider, expected", [("Microsoft", 505.0), ("AWS", 260.0)])
def test_two_runs_of_one_billing_period_count_once(
    tmp_path: Path, provider: str, expected: float
) -> None:
    root = copy_exports(tmp_path)
    exporter = focus_exporter(str(root / "**" / "*.csv"), tmp_path, NOV_7)
    poll(exporter)
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    # Azure: only the 6 November run (5 days x 101.00), not + the 5 November run (400.00)
    # + the run still being written (204.00); AWS: the newer execution (5 x 52.00).
    assert mtd(samples, provider) == pytest.approx(expected)
    source = exporter.pollers[0]
    assert isinstance(source, FocusPoller) and source.detail is not None
    assert "not counted" in source.detail


def test_without_manifests_the_newer_run_folder_wins(tmp_path: Path) -> None:
    root = copy_exports(tmp_path)
    for manifest in root.rglob("*anifest.json"):
        manifest.unlink()
    exporter = focus_exporter(str(root / "azure" / "**" / "*.csv"), tmp_path, NOV_7)
    poll(exporter)
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    # The newest folder (the run still being written) is all there is to go by: 2 x 102.00.
    assert mtd(samples, "Microsoft") == pytest.approx(204.0)


def test_an_incomplete_run_leaves_the_previous_complete_run_counted(tmp_path: Path) -> None:
    root = copy_exports(tmp_path)
    # The 6 November run's second part has not been synced yet.
    next(root.rglob("7c1d*/part_1_0001.csv")).unlink()
    exporter = focus_exporter(str(root / "azure" / "**" / "*.csv"), tmp_path, NOV_7)
    poll(exporter)
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    assert mtd(samples, "Microsoft") == pytest.approx(400.0)  # the 5 November run
    source = exporter.pollers[0]
    assert isinstance(source, FocusPoller) and "incomplete run" in (source.detail or "")


def test_a_file_whose_size_differs_from_the_manifest_is_incomplete() -> None:
    manifest = Manifest("m/manifest.json", "e", "2026-11", "r1", None, (("x/r1/a.csv", 10),))
    runs = plan({"/d/x/r1/a.csv": (9, 1.0)}, [(manifest, 1.0)])
    assert runs.runs == ()
    assert "incomplete run r1" in runs.skipped["/d/x/r1/a.csv"]


def test_disjoint_days_in_separate_folders_both_count() -> None:
    day1 = {
        Line(("AWS", "1", "ec2", "", "USD", "billed", "Usage"), "b", "2026-11"): {
            date(2026, 11, 1): Decimal(10)
        }
    }
    day2 = {
        Line(("AWS", "1", "ec2", "", "USD", "billed", "Usage"), "b", "2026-11"): {
            date(2026, 11, 2): Decimal(20)
        }
    }
    runs = [Run("a", ("a/x.csv",), False, 1.0), Run("b", ("b/x.csv",), False, 2.0)]
    ledger, lost = combine(runs, {"a/x.csv": day1, "b/x.csv": day2})
    assert sum(sum(d.values()) for d in ledger.values()) == 30
    assert lost == {}
    # The same days in both: one run's (the newer) count.
    ledger, lost = combine(runs, {"a/x.csv": day1, "b/x.csv": day1})
    assert sum(sum(d.values()) for d in ledger.values()) == 10
    assert lost == {"a": ["AWS b 2026-11"]}


def test_a_broken_manifest_fails_visibly_but_keeps_data(tmp_path: Path) -> None:
    root = copy_exports(tmp_path)
    next(root.rglob("7c1d*/manifest.json")).write_text("{broken")
    exporter = focus_exporter(str(root / "azure" / "**" / "*.csv"), tmp_path, NOV_7)
    with pytest.raises(SourceError) as failed:
        poll(exporter)
    assert failed.value.reason == "bad_manifest"
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    assert value(samples, "cloudcost_data_timestamp_seconds", provider="Microsoft") > 0


def test_two_copies_of_an_export_are_told_apart_by_their_paths() -> None:
    uri = "s3://b/cur/focus-export/data/BILLING_PERIOD=2026-11/focus-export-00001.csv"
    manifest = Manifest("m.json", "arn", "2026-11", "e1", None, ((uri, None),))
    files = {
        "/sync/cur/focus-export/data/BILLING_PERIOD=2026-11/focus-export-00001.csv": (5, 1.0),
        "/old/other/data/BILLING_PERIOD=2026-11/focus-export-00001.csv": (5, 1.0),
    }
    runs = plan(files, [(manifest, 1.0)])
    (listed,) = [r for r in runs.runs if r.from_manifest]
    assert listed.files == (
        "/sync/cur/focus-export/data/BILLING_PERIOD=2026-11/focus-export-00001.csv",
    )
