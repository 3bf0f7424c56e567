"""How long `opslens report` takes on demo-sized data, and how big its HTML is.

A real Prometheus is started on a fortnight of backfilled history (the report tests'
history: 7 cost services in two currencies, 3 budgets, 2 DORA services, 3 SLOs,
2 probes, 12 alert episodes). Timed, median of several runs:

- raw queries: the report's PromQL plan run against Prometheus, nothing else (baseline);
- build: plan, queries, links to the generated dashboards and the model;
- render: HTML, Markdown and text from the model.

The ratio build ÷ raw queries shows what the report adds on top of asking Prometheus.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.config import parse  # noqa: E402
from agent.report.collect import make_report  # noqa: E402
from agent.report.period import resolve  # noqa: E402
from agent.report.prometheus import PrometheusClient  # noqa: E402
from agent.report.queries import review_plan  # noqa: E402
from agent.report.render import ReportRenderer  # noqa: E402
from tests.report import history  # noqa: E402
from tests.support.procs import prometheus  # noqa: E402

RUNS = 7


async def timed_pair(
    first: Callable[[], Awaitable[object]], second: Callable[[], Awaitable[object]]
) -> tuple[float, float]:
    """Median seconds of each, runs interleaved so Prometheus' caches favour neither."""
    await first()  # warm Prometheus' caches and the connection pool
    await second()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(RUNS):
        for fn, out in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            await fn()
            out.append(time.perf_counter() - start)
    return statistics.median(samples[0]), statistics.median(samples[1])


async def measure(url: str, end: float) -> None:
    config = parse(history.config_text(url), "bench.yaml")
    zone = ZoneInfo("UTC")
    plan = review_plan(config, resolve("7d", end, zone))
    async with aiohttp.ClientSession() as session:
        client = PrometheusClient(session, url)

        async def raw() -> object:
            return await client.run_all(plan.queries())

        async def build() -> object:
            return await make_report(config, client, kind="review", period="7d", now=end, zone=zone)

        raw_s, build_s = await timed_pair(raw, build)
        report = await make_report(config, client, kind="review", period="7d", now=end, zone=zone)
    assert not report.missing, [s.error for s in report.missing]
    renderer = ReportRenderer()
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        html = renderer.html(report)
        renderer.render(report, "md")
        renderer.text(report)
        samples.append(time.perf_counter() - start)
    render_s = statistics.median(samples)
    kib = {
        "html": len(html.encode()) / 1024,
        "gzip": len(gzip.compress(html.encode())) / 1024,
        "md": len(renderer.render(report, "md").encode()) / 1024,
        "txt": len(renderer.text(report).encode()) / 1024,
    }
    total = build_s + render_s
    print(f"queries in the plan     {len(plan.queries())}")
    print(f"raw queries (baseline)  {raw_s * 1000:8.1f} ms")
    print(f"build (queries + model) {build_s * 1000:8.1f} ms  ({build_s / raw_s:.2f}× raw)")
    print(f"render html+md+txt      {render_s * 1000:8.1f} ms")
    print(f"report, end to end      {total * 1000:8.1f} ms  ({total / raw_s:.2f}× raw)")
    print(f"HTML size               {kib['html']:8.1f} KiB ({kib['gzip']:.1f} KiB gzipped)")
    print(f"Markdown / text size    {kib['md']:8.1f} KiB / {kib['txt']:.1f} KiB")


def main() -> None:
    promtool = shutil.which("promtool")
    if promtool is None or shutil.which("prometheus") is None:
        sys.exit("prometheus and promtool are needed: sh scripts/install-tools.sh")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        workdir = Path(tmp)
        end = float(int(time.time()) // 60 * 60 - 120)
        start = time.perf_counter()
        history.backfill(workdir, end, promtool)
        print(f"backfill (promtool)     {time.perf_counter() - start:8.1f} s")
        (workdir / "prometheus.yml").write_text("global: {}\n", encoding="utf-8")
        flags = ("--storage.tsdb.retention.time=100y", "--query.lookback-delta=30m")
        with prometheus(workdir / "prometheus.yml", workdir, flags) as url:
            asyncio.run(measure(url, end))


if __name__ == "__main__":
    main()
