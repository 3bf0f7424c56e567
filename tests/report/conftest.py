"""A real Prometheus serving a known fortnight of history, backfilled with promtool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from agent.config import Config, parse
from agent.report.collect import make_report
from agent.report.model import Report
from agent.report.prometheus import PrometheusClient
from tests.report import history
from tests.support.procs import prometheus, require


@dataclass(frozen=True)
class History:
    url: str
    end: float  # the last sample of the history: a report "now"
    workdir: Path

    def config(self, smarthost: str = "127.0.0.1:25") -> Config:
        return parse(history.config_text(self.url, smarthost), "report-test.yaml")

    def config_file(self, directory: Path, smarthost: str = "127.0.0.1:25") -> Path:
        path = directory / "opslens.yaml"
        path.write_text(history.config_text(self.url, smarthost), encoding="utf-8")
        return path


@pytest.fixture(scope="session")
def loaded_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    workdir = tmp_path_factory.mktemp("report-prometheus")
    # A few minutes before now: the CLI's own clock then still lands inside the history.
    end = float(int(time.time()) // 60 * 60 - 120)
    history.backfill(workdir, end, require("promtool"))
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n", encoding="utf-8")
    extra = (
        # Backfilled blocks are judged by the newest block, not the clock; keep them all.
        "--storage.tsdb.retention.time=100y",
        # The history has a sample every 15m: a longer lookback than the default 5m.
        "--query.lookback-delta=30m",
    )
    with prometheus(config, workdir, extra) as url:
        yield History(url, end, workdir)


async def make(config: Config, url: str, end: float, kind: str = "review") -> Report:
    """The report of `kind` ending at `end`, read from the Prometheus at `url`."""
    async with aiohttp.ClientSession() as session:
        return await make_report(
            config,
            PrometheusClient(session, url),
            kind=kind,
            period="1d" if kind == "daily_digest" else "7d",
            now=end,
            zone=ZoneInfo("UTC"),
        )


@pytest.fixture(scope="session")
def weekly(loaded_prometheus: History) -> Report:
    config = loaded_prometheus.config()
    return asyncio.run(make(config, loaded_prometheus.url, loaded_prometheus.end))
