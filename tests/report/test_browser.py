"""The HTML report laid out by a real browser: every section and chart there, nothing wider
than the page, at a desktop width and at a phone's mail client width."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from agent.report.model import (
    AlertsSection,
    CostSection,
    DeliverySection,
    ReliabilitySection,
    Report,
)
from agent.report.render import ReportRenderer
from tests.support.browser import measure, screenshot

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = ROOT / "docs" / "report.png"


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $OPSLENS_ARTEFACTS when CI keeps them, else a temp folder."""
    given = os.environ.get("OPSLENS_ARTEFACTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(weekly: Report, artefacts: Path) -> Path:
    path = artefacts / "report.html"
    path.write_text(ReportRenderer().html(weekly), encoding="utf-8")
    return path


def expected_charts(report: Report) -> dict[str, dict[str, int]]:
    """How many charts of each kind each section must show, from the model itself."""
    bodies = {s.name: s.body for s in report.sections}
    cost, delivery = bodies["cost"], bodies["delivery"]
    reliability, alerts = bodies["reliability"], bodies["alerts"]
    assert isinstance(cost, CostSection) and isinstance(delivery, DeliverySection)
    assert isinstance(reliability, ReliabilitySection) and isinstance(alerts, AlertsSection)
    return {
        "cost": {
            "gauge": len(cost.budgets),
            "bars": len({s.currency for s in cost.top}),
            "sparkline": len(cost.top),
        },
        "delivery": {"sparkline": len(delivery.services)},
        "reliability": {
            "budget": len(reliability.slos),
            "sparkline": len(reliability.slos) + len(reliability.probes),
        },
        "alerts": {"bars": 2},
    }


# 500 is the narrowest window headless Chromium lays out; mail panes are rarely narrower.
@pytest.mark.parametrize("width", [820, 500], ids=["desktop", "narrow"])
def test_every_section_and_chart_is_laid_out_within_the_page(
    weekly: Report, page: Path, width: int
) -> None:
    seen = measure(page, width)
    assert seen["scrollWidth"] <= seen["viewport"] == width
    assert seen["overflow"] == [], f"wider than {width}px: {seen['overflow'][:5]}"
    for name in ("cost", "delivery", "reliability", "alerts", "queries"):
        box = seen["sections"][name]
        assert box["height"] > 50 and box["right"] <= width, name
    counts: dict[str, dict[str, int]] = {}
    for chart in seen["charts"]:
        assert chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["right"] <= width, chart
        per = counts.setdefault(chart["section"], {})
        per[chart["kind"]] = per.get(chart["kind"], 0) + 1
    assert counts == expected_charts(weekly)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_screenshot_of_the_whole_report(
    page: Path, artefacts: Path, request: pytest.FixtureRequest
) -> None:
    width = 820
    seen = measure(page, width)
    full = screenshot(page, artefacts / "report.png", width, seen["height"])
    assert _png_size(full) == (width, seen["height"])
    print(f"report screenshot: {full}")
    # The README shows the report down to its queries appendix, regenerated on request.
    if request.config.getoption("--update-golden") or os.environ.get("UPDATE_GOLDEN") == "1":
        top = seen["sections"]["queries"]
        docs = screenshot(page, artefacts / "report-docs.png", width, int(top["top"]))
        shutil.copyfile(docs, DOCS_SCREENSHOT)
    assert DOCS_SCREENSHOT.exists(), "no docs/report.png: run pytest --update-golden"
    assert _png_size(DOCS_SCREENSHOT)[0] == width
