"""How long `opslens generate` takes for a large config: 100 services, 100 SLOs.

Prints wall time for render (pure) and write, against a baseline of rendering the
reference config in the same run, so the ratio is comparable across noisy machines.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import yaml

from agent.config import load, parse
from agent.generate import render_all, serialise, write

ROOT = Path(__file__).resolve().parent.parent


def big_config(services: int = 100) -> str:
    doc = yaml.safe_load((ROOT / "opslens.yaml").read_text())
    doc["targets"] = [
        {"job": f"svc-{i:03d}", "static": [f"svc-{i:03d}:8000"], "service": f"svc-{i:03d}"}
        for i in range(services)
    ]
    doc["slos"] = [
        {
            "name": "availability",
            "service": f"svc-{i:03d}",
            "objective": 99.9,
            "window": "30d",
            "errors": f'http_requests_total{{job="svc-{i:03d}",status=~"5.."}}',
            "total": f'http_requests_total{{job="svc-{i:03d}"}}',
        }
        for i in range(services)
    ]
    doc["app"]["probes"] = [
        {"name": f"probe-{i:03d}", "url": f"https://svc-{i:03d}.example.com/healthz"}
        for i in range(services)
    ]
    return yaml.safe_dump(doc, sort_keys=False)


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    reference = load(ROOT / "opslens.yaml")
    big = parse(big_config(), "big.yaml")

    def gen(config):  # type: ignore[no-untyped-def]
        return lambda: [serialise(a) for a in render_all(config)]

    base = timed(gen(reference))
    large = timed(gen(big))
    artefacts = render_all(big)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write(artefacts, Path(tmp))
        write_s = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    print(f"reference config: render+serialise {base * 1000:.1f} ms")
    print(
        f"100 services / 100 SLOs / 100 probes: render+serialise {large * 1000:.1f} ms, "
        f"write {write_s * 1000:.1f} ms, {len(artefacts)} files, {size / 1024:.0f} KiB"
    )
    print(f"ratio big/reference: {large / base:.1f}x")


if __name__ == "__main__":
    main()
