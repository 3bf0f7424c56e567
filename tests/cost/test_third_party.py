"""Reconciliation to the cent on FOCUS data no one here wrote.

FOCUS 1.2 and 1.3 cost and usage files for AWS, Azure and GCP from `focus-data-toolkit`
(PyPI, MIT and CC BY 4.0), generated in the test (2,000 rows each, 28 days of May 2026,
usage, recurring and one-time purchases, tax), read as CSV, gzip and Parquet. Each day's,
month to date's and forecast's totals per provider and currency must equal a sum made
with csv and Decimal alone.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from types import ModuleType

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.support.procs import unavailable

from . import support

PROVIDERS = ("aws", "azure", "gcp")
ROWS = 2000


def toolkit() -> ModuleType:
    """The generator package; fail under CI, skip elsewhere, when it is missing."""
    try:
        from focus_data_toolkit import generators
    except ImportError:
        message = "focus-data-toolkit not installed: pip install -e '.[dev]'"
        unavailable(message)
    return generators


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The toolkit's files per FOCUS version, generated once for the module."""
    root = tmp_path_factory.mktemp("focus-data-toolkit")
    return {version: generate(root / version, version) for version in ("1.2", "1.3")}


def generate(folder: Path, version: str) -> list[Path]:
    generators = toolkit()
    folder.mkdir(parents=True)
    paths = []
    for provider in PROVIDERS:
        data = generators.get_generator(provider, version).generate_csv_bytes(ROWS, 1202)
        path = folder / f"focus_{version.replace('.', '_')}_{provider}.csv"
        path.write_bytes(data)
        paths.append(path)
    return paths


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("form", ["csv", "gzip", "parquet"])
def test_toolkit_data_reconciles_per_day_provider_and_currency(
    tmp_path: Path, generated: dict[str, list[Path]], version: str, form: str
) -> None:
    truth = generated[version]
    read = tmp_path / "read"
    read.mkdir()
    for path in truth:
        if form == "csv":
            (read / path.name).write_bytes(path.read_bytes())
        elif form == "gzip":
            (read / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
        else:
            # Typed columns (UTC timestamps, doubles), as a Parquet export has them.
            table = pacsv.read_csv(path)
            assert str(table.schema.field("ChargePeriodStart").type).startswith("timestamp")
            pq.write_table(table, read / f"{path.stem}.parquet")
    # Every day once, on CSV; the other forms read the same rows through other code paths.
    result = support.reconcile(str(read / "*"), truth, tmp_path, every_day=form == "csv")
    print(f"FOCUS {version} {form}: {result}")
    assert (result.rows, result.days, result.providers) == (3 * ROWS, 28, 3)
    assert result.max_cents < 1
