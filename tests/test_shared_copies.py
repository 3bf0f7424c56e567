"""The checked-in copies of the shared sample data match the originals."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_COPY, SHARED_ORIGINAL


def test_copies_match_shared_data() -> None:
    if not SHARED_ORIGINAL.exists():
        pytest.skip("shared/ is not beside this checkout; the copies are what tests use")
    originals = sorted(
        p.relative_to(SHARED_ORIGINAL) for p in SHARED_ORIGINAL.rglob("*") if p.is_file()
    )
    assert originals
    for rel in originals:
        assert (SHARED_COPY / rel).read_bytes() == (SHARED_ORIGINAL / rel).read_bytes(), rel
