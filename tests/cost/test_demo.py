"""Demo FOCUS data: deterministic, and it trips the recommended budget and anomaly settings."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.app import create_app
from agent.settings import Settings
from exporters.base import Context
from exporters.cost.demo import write_demo_focus
from tests.support.procs import require
from tests.support.waiting import wait_ready

from .support import FakeClock, at, config, scrape, value

TODAY = date(2026, 11, 20)
# The snippet recommended for `opslens up --demo` (see the report / README).
DEMO_COST = """  poll_interval: 1h
  labels_from_tags: {{team: team}}
  sources: [{{type: focus, name: demo, path: "{path}"}}]
  budgets:
    - {{name: demo-daily, amount: 1200, period: daily, thresholds: [0.8, 1.0], severity: critical}}
    - {{name: demo-payments, amount: 6000, period: monthly, match: {{team: payments}},
       thresholds: [0.8, 1.0], severity: high}}
    - {{name: demo-total, amount: 30000, period: monthly, thresholds: [0.8, 1.0]}}
  anomaly: {{window_days: 14, min_daily_cost: 5, threshold: 4, severity: medium}}
"""


async def demo_scrape(tmp_path: Path, aiohttp_client: Any, today: date) -> str:
    write_demo_focus(tmp_path / "demo" / "focus", today)
    cfg = config(DEMO_COST.format(path=tmp_path / "demo" / "focus" / "*.csv.gz"))
    settings = Settings(
        config=cfg,
        exporters=("cost",),
        context=Context(data_dir=tmp_path / "data", clock=FakeClock(at(today, 8))),
    )
    client = await aiohttp_client(create_app(settings))
    await wait_ready(client)
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    await client.close()
    return text


def test_demo_files_are_deterministic(tmp_path: Path) -> None:
    first = write_demo_focus(tmp_path / "a", TODAY)
    second = write_demo_focus(tmp_path / "b", TODAY)
    assert [p.name for p in first] == ["focus-2026-10.csv.gz", "focus-2026-11.csv.gz"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


@pytest.mark.parametrize("today", [TODAY, date(2026, 12, 1), date(2027, 2, 28)])
async def test_demo_fires_budget_and_anomaly_alerts(
    tmp_path: Path, aiohttp_client: Any, today: date
) -> None:
    samples = scrape(await demo_scrape(tmp_path, aiohttp_client, today))
    assert value(samples, "opslens_source_up", source="demo") == 1
    daily = {"budget": "demo-daily", "period": "daily", "currency": "USD"}
    assert value(samples, "cloudcost_budget_spent", **daily) > 1200  # 100 % threshold
    payments = {"budget": "demo-payments", "period": "monthly", "currency": "USD"}
    assert value(samples, "cloudcost_budget_forecast", **payments) > 6000
    total = {"budget": "demo-total", "period": "monthly", "currency": "USD"}
    assert value(samples, "cloudcost_budget_forecast", **total) < 30000 * 0.8  # stays quiet
    scores = {labels["service"]: v for labels, v in samples["cloudcost_anomaly_score"]}
    assert scores.pop("Amazon CloudFront") > 4
    assert max(scores.values()) < 4  # weekly rhythm and noise do not fire
    stamp = at(date.fromordinal(today.toordinal() - 1), 0).timestamp()
    assert value(samples, "cloudcost_data_timestamp_seconds", source="demo") == stamp


async def test_demo_scrape_matches_golden_and_promtool(
    tmp_path: Path, aiohttp_client: Any, golden: Callable[[str, str], None]
) -> None:
    text = await demo_scrape(tmp_path, aiohttp_client, TODAY)
    # Only the cost exporter's families: self metrics carry timings and the version.
    cost = "".join(
        line + "\n"
        for line in text.splitlines()
        if line.split("{")[0].split(" ")[-1].startswith(("cloudcost_", "opslens_paid_api_"))
        or line.startswith(
            ("# HELP cloudcost_", "# TYPE cloudcost_", "# HELP opslens_paid", "# TYPE opslens_paid")
        )
    )
    golden("cost/demo_metrics.prom", cost)
    promtool = require("promtool")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
