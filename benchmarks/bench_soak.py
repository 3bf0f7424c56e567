"""Soak: the agent with every exporter under steady scrapes and webhooks for N minutes.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 10] [--warmup 2] [--rate 25]

Runs `python -m agent run all` on the demo config (FOCUS billing, the repository's git
tags, generic events seeded with the 90-day demo history, host and process metrics, a
probe) with the cost source polled every 10 s. Three clients scrape `/metrics` every
second and one posts generic deployment events at `--rate` per second. Every 5 s the
agent's RSS is sampled. Figures, each against a baseline from the same run:

- RSS growth from the end of the warm-up to the end (and the peak after warm-up);
- scrape latency p50/p99 under load against p99 of the idle agent measured first;
- errors: any scrape or webhook that is not a 200, or fails to connect.

Targets: RSS growth ≤ 10 % after warm-up, zero errors. Exit 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.cli.up import prepare_demo  # noqa: E402
from exporters.dora.demo import demo_events  # noqa: E402

TOKEN = "soak-events-token"
SERVICES = ("checkout", "search", "payments", "catalog", "accounts")
RSS_GROWTH_TARGET = 0.10


@dataclass
class Figures:
    scrape_seconds: list[float] = field(default_factory=list)
    scrape_errors: list[str] = field(default_factory=list)
    webhooks: int = 0
    webhook_errors: list[str] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, bytes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def soak_config(work: Path) -> Path:
    """The demo config, with a token on the events route and a faster cost poll."""
    path = prepare_demo(work / "data", ROOT)
    text = path.read_text()
    text = text.replace(
        "{type: events, name: demo-events}",
        "{type: events, name: demo-events, token_env: SOAK_EVENTS_TOKEN}",
    ).replace("poll_interval: 1m", "poll_interval: 10s")
    path.write_text(text)
    return path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def scraper(
    session: aiohttp.ClientSession, url: str, until: float, out: Figures, record: bool
) -> list[float]:
    seen: list[float] = []
    while (now := time.monotonic()) < until:
        started = time.perf_counter()
        try:
            async with session.get(url) as response:
                await response.read()
                if response.status != 200:
                    out.scrape_errors.append(f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            out.scrape_errors.append(f"{type(exc).__name__}: {exc}")
        seen.append(time.perf_counter() - started)
        if record:
            out.scrape_seconds.append(seen[-1])
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
    return seen


async def webhooks(
    session: aiohttp.ClientSession,
    url: str,
    until: float,
    rate: float,
    out: Figures,
    ids: int | None,
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    n = 0
    next_at = time.monotonic()
    # Each id gets one fixed time, so a repeated delivery restates it (a duplicate, 200).
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    while next_at < until:
        n += 1
        # With `ids`, deliveries repeat: the store stops growing, the ingest path does not.
        key = n % ids if ids else n
        finished = t0 + dt.timedelta(seconds=key / rate)
        event = {
            "kind": "deployment",
            "id": f"soak-{key}",
            "service": SERVICES[key % len(SERVICES)],
            "environment": "production",
            "status": "success" if key % 10 else "failure",
            "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commits": [
                {
                    "sha": f"{key:040x}",
                    "committed_at": (finished - dt.timedelta(hours=2)).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                }
            ],
        }
        try:
            async with session.post(url, json=event, headers=headers) as response:
                await response.read()
                out.webhooks += 1
                if response.status != 200:
                    out.webhook_errors.append(f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            out.webhook_errors.append(f"{type(exc).__name__}: {exc}")
        next_at += 1.0 / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def sampler(pid: int, started: float, until: float, out: Figures) -> None:
    while time.monotonic() < until:
        out.rss.append((time.monotonic() - started, rss_bytes(pid)))
        await asyncio.sleep(5)


async def seed(session: aiohttp.ClientSession, url: str) -> int:
    """Post the demo's 90-day history so the DORA windows hold realistic data."""
    events = demo_events(dt.datetime.now(dt.UTC))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for i in range(0, len(events), 500):
        async with session.post(url, json=events[i : i + 500], headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(
                    f"seeding failed: HTTP {response.status} {await response.text()}"
                )
    return len(events)


async def drive(base: str, pid: int, minutes: float, rate: float, ids: int | None) -> Figures:
    out = Figures()
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        seeded = await seed(session, f"{base}/api/v1/events")
        print(f"seeded {seeded} demo events")
        idle_until = time.monotonic() + 20
        idle = await scraper(session, f"{base}/metrics", idle_until, Figures(), record=False)
        print(f"idle baseline: {len(idle)} scrapes, p99 {pct(idle, 0.99) * 1000:.1f} ms")
        started = time.monotonic()
        until = started + minutes * 60
        await asyncio.gather(
            *(scraper(session, f"{base}/metrics", until, out, record=True) for _ in range(3)),
            webhooks(session, f"{base}/api/v1/events", until, rate, out, ids),
            sampler(pid, started, until, out),
        )
    out.idle_p99 = pct(idle, 0.99)  # type: ignore[attr-defined]
    return out


def report(out: Figures, minutes: float, warmup: float) -> bool:
    warm = [b for t, b in out.rss if t >= warmup * 60]
    if not warm:
        raise SystemExit("the run ended before the warm-up did: use more --minutes")
    base_rss, end_rss, peak = warm[0], warm[-1], max(warm)
    growth = (end_rss - base_rss) / base_rss
    mib = 1024 * 1024
    p50, p99 = pct(out.scrape_seconds, 0.5), pct(out.scrape_seconds, 0.99)
    idle_p99: float = out.idle_p99  # type: ignore[attr-defined]
    errors = len(out.scrape_errors) + len(out.webhook_errors)
    print(f"duration: {minutes:g} min under load, warm-up {warmup:g} min")
    print(f"RSS: start {out.rss[0][1] / mib:.1f} MiB, after warm-up {base_rss / mib:.1f} MiB,")
    print(f"     end {end_rss / mib:.1f} MiB, peak after warm-up {peak / mib:.1f} MiB")
    print(f"RSS growth after warm-up: {growth * 100:+.1f} % (target <= +10 %)")
    per_minute = {int(t // 60): b for t, b in out.rss}
    print(
        "RSS by minute (MiB): " + " ".join(f"{b / mib:.1f}" for _, b in sorted(per_minute.items()))
    )
    print(
        f"scrapes: {len(out.scrape_seconds)}, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"(idle p99 {idle_p99 * 1000:.1f} ms, ratio {p99 / idle_p99:.2f})"
    )
    print(f"webhooks: {out.webhooks} posted")
    print(f"errors: {len(out.scrape_errors)} scrape, {len(out.webhook_errors)} webhook")
    for error in (out.scrape_errors + out.webhook_errors)[:5]:
        print(f"  e.g. {error}")
    ok = growth <= RSS_GROWTH_TARGET and errors == 0
    print("PASS" if ok else "FAIL")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes before RSS counts")
    parser.add_argument("--rate", type=float, default=25.0, help="webhook events per second")
    parser.add_argument(
        "--ids", type=int, default=None, help="cycle through this many event ids (no growth)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="opslens-soak-"))
    config = soak_config(work)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SOAK_EVENTS_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "agent", "run", "all", "-c", str(config)]
    argv += ["--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "data")]
    log = (work / "agent.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the agent exited: {(work / 'agent.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the agent did not get ready in 60 s")
            time.sleep(0.2)
        print(f"agent pid {proc.pid} on {base}; {os.cpu_count()} CPUs")
        out = asyncio.run(drive(base, proc.pid, args.minutes, args.rate, args.ids))
        ok = report(out, args.minutes, args.warmup)
        if proc.poll() is not None:
            print(f"the agent died with {proc.returncode}")
            ok = False
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        tracebacks = (work / "agent.log").read_text(errors="replace").count("Traceback")
        print(f"agent log: {tracebacks} tracebacks")
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok and tracebacks == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
