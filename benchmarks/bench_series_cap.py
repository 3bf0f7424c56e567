"""`dora.max_services`: what 10,000 distinct service names do to /metrics, with and without the cap.

Stores 2 real services (two deployments each), then 10,000 one-off service names in one
batch, as a hostile or buggy sender would. For each setting it reports the DORA
exposition's series and bytes before and after the flood, the snapshot refresh time and
the render time. Baseline in the same run: the cap raised past the number of services
(100,000), i.e. what the agent did before the cap.

Usage: .venv/bin/python benchmarks/bench_series_cap.py [--services 10000] [--cap 500]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout

from agent.config import parse
from agent.runtime import Exposition
from exporters.base import Context
from exporters.dora.exporter import build
from exporters.dora.parse_events import parse_events

NOW = datetime(2026, 11, 30, tzinfo=UTC).timestamp()


def event(n: int, service: str) -> dict[str, object]:
    at = datetime.fromtimestamp(NOW - 3600 - n, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "deployment",
        "id": f"e{n}",
        "service": service,
        "environment": "production",
        "status": "success",
        "finished_at": at,
    }


def measure(exposition: Exposition) -> tuple[int, int, float]:
    """Series, bytes and render seconds of one fresh rendering."""
    started = time.perf_counter()
    body = exposition.render(False)
    seconds = time.perf_counter() - started
    series = sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))
    return series, len(body), seconds


async def run(cap: int, services: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        text = f"version: 1\nproject: b\ndora:\n  max_services: {cap}\n"
        exporter = build(parse(text).dora, Context(data_dir=Path(tmp), clock=lambda: NOW))
        await exporter.start()
        try:
            exposition = Exposition(exporter.collectors(), exporter.generation)
            real = [event(n, name) for n, name in enumerate(["checkout", "search"] * 2)]
            exporter.store.write([parse_events(real, {"production"})])
            await exporter.refresh()
            before = measure(exposition)
            flood = [event(100 + n, f"flood-{n:05d}") for n in range(services)]
            exporter.store.write([parse_events(flood, {"production"})])
            started = time.perf_counter()
            await exporter.refresh()
            refresh = time.perf_counter() - started
            after = measure(exposition)
        finally:
            await exporter.stop()
    return {
        "series_before": before[0],
        "bytes_before": before[1],
        "series_after": after[0],
        "bytes_after": after[1],
        "refresh_s": refresh,
        "render_s": after[2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--cap", type=int, default=500)
    args = parser.parse_args()
    capped = asyncio.run(run(args.cap, args.services))
    baseline = asyncio.run(run(100_000, args.services))
    print(f"{args.services} one-off services after 2 real ones (DORA exposition only)")
    print(f"{'measure':<16}{'cap ' + str(args.cap):>16}{'no cap (baseline)':>20}{'ratio':>10}")
    for key in capped:
        ratio = capped[key] / baseline[key] if baseline[key] else float("nan")
        print(f"{key:<16}{capped[key]:>16,.2f}{baseline[key]:>20,.2f}{ratio:>10.3f}")


if __name__ == "__main__":
    main()
