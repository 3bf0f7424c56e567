"""Shared fixtures: golden files with an update switch, the repository root."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
# The shared sample data sits beside the repository; tests fall back to the copy kept
# under tests/fixtures/shared so they never depend on the checkout's surroundings.
SHARED_ORIGINAL = ROOT.parent / "shared" / "data"
SHARED_COPY = Path(__file__).resolve().parent / "fixtures" / "shared"
SHARED_DATA = SHARED_ORIGINAL if SHARED_ORIGINAL.exists() else SHARED_COPY


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite golden files from current output"
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME; `--update-golden` (or UPDATE_GOLDEN=1) rewrites it."""
    update = request.config.getoption("--update-golden") or os.environ.get("UPDATE_GOLDEN") == "1"

    def check(name: str, actual: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"{name} differs from golden; run pytest --update-golden"

    return check


@pytest.fixture
def root() -> Path:
    return ROOT
