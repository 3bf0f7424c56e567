"""DORA exporter benchmarks: durable ingest throughput/latency, and snapshot recompute time.

1. Ingest: the real agent (`opslens run dora`, uvloop) takes generic events from 32
   concurrent clients for 15 s; every 2xx means committed with synchronous=FULL. Baseline in
   the same run: an aiohttp+uvloop endpoint that parses the same JSON and answers without
   storing, driven by the same client. The servers run side by side and take the load in
   turns (5 slices of 3 s each), so load from other work on a shared machine falls on all
   of them alike; `--compare DIR` adds the agent of another checkout (before/after in one
   run). Targets: >= 3,000 events/s, p99 <= 50 ms.
2. Recompute: the windowed gauges, counters and histograms over 1,000,000 stored events
   (700k deployments with one commit each, 300k incidents; 20 services x 2 environments).
   Baseline: one GROUP BY scan of the deployments table. Target: <= 1 s.

The agent runs this checkout's code (`python -m agent` with the checkout first on the
path), not whatever copy the interpreter has installed, so a worktree measures itself.

Usage: .venv/bin/python benchmarks/bench_dora.py [--seconds 15] [--events 1000000]
       [--rounds 5] [--only ingest|recompute] [--compare ../main]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporters.dora.config import Levels  # noqa: E402
from exporters.dora.snapshot import compute  # noqa: E402
from exporters.dora.store import connect, migrate  # noqa: E402

CONCURRENCY = 32
ECHO = textwrap.dedent(
    """
    import json, sys, uvloop
    from aiohttp import web
    async def handle(request):
        json.loads(await request.read())
        return web.json_response({"stored": 1, "duplicate": False})
    app = web.Application()
    app.router.add_post("/api/v1/events", handle)
    app.router.add_get("/-/healthy", lambda r: web.Response(text="ok"))
    port = int(sys.argv[1])
    uvloop.run(web._run_app(app, host="127.0.0.1", port=port, print=None, access_log=None))
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


async def load(url: str, seconds: float) -> tuple[int, list[float]]:
    """Post unique events from CONCURRENCY clients; return acks and latencies (s)."""
    latencies: list[float] = []
    acked = 0
    end = time.perf_counter() + seconds

    async def client(w: int, session: aiohttp.ClientSession) -> None:
        nonlocal acked
        n = 0
        while time.perf_counter() < end:
            n += 1
            event = {
                "kind": "deployment",
                "id": f"b{w}-{n}-{random.random()}",
                "service": f"svc{w % 8}",
                "environment": "production",
                "status": "success",
                "finished_at": "2026-01-01T00:00:00Z",
                "commits": [{"sha": f"{w}-{n}", "committed_at": "2025-12-31T00:00:00Z"}],
            }
            started = time.perf_counter()
            async with session.post(url, json=event) as response:
                await response.read()
                if response.status == 200:
                    acked += 1
                    latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(w, session) for w in range(CONCURRENCY)))
    return acked, latencies


@dataclass
class Server:
    """One server under load: its command, the checkout it runs, what it answered."""

    label: str
    argv: list[str]
    port: int
    root: Path
    acked: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(self.root)}
        return subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root, env=env
        )

    def line(self, unit: str, note: str) -> str:
        q = statistics.quantiles(self.latencies, n=100)
        return (
            f"  {self.label:<16}{self.acked / self.seconds:8.0f} {unit:<9}"
            f"  p50 {q[49] * 1000:6.1f} ms  p99 {q[98] * 1000:6.1f} ms  ({note})"
        )


def agent_server(label: str, root: Path, workdir: Path) -> Server:
    config = workdir / "opslens.yaml"
    config.write_text(
        "version: 1\nproject: bench\ndora:\n  sources:\n"
        "    - {type: events, name: ev, allow_unauthenticated: true}\n"
    )
    port = free_port()
    argv = [sys.executable, "-m", "agent", "--log-level", "WARNING", "run", "dora"]
    argv += ["-c", str(config), "--listen", f"127.0.0.1:{port}", "--data-dir", f"{workdir}/data"]
    return Server(label, argv, port, root)


def bench_ingest(seconds: float, rounds: int = 5, compare: Path | None = None) -> None:
    """Load each server in turn, `rounds` slices each, so a shared machine's load swings
    hit all of them alike; the ratio is total acks over total load time."""
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / "agent", Path(tmp) / "compare"]
        for d in dirs:
            d.mkdir()
        servers = [agent_server("opslens agent", ROOT, dirs[0])]
        if compare is not None:
            servers.append(agent_server("compared agent", compare.resolve(), dirs[1]))
        port = free_port()
        echo = Server("baseline echo", [sys.executable, "-c", ECHO, str(port)], port, ROOT)
        servers.append(echo)
        procs = [s.start() for s in servers]
        try:
            for server, proc in zip(servers, procs, strict=True):
                wait(f"{server.url}/-/healthy", proc)
            for r in range(rounds):
                for server in servers[r % len(servers) :] + servers[: r % len(servers)]:
                    acked, latencies = asyncio.run(
                        load(f"{server.url}/api/v1/events", seconds / rounds)
                    )
                    server.acked += acked
                    server.seconds += seconds / rounds
                    server.latencies += latencies
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
        rows = [
            sqlite3.connect(d / "data" / "dora" / "events.db")
            .execute("SELECT count(*) FROM deployments")
            .fetchone()[0]
            for d in dirs[: len(servers) - 1]
        ]
    print(
        f"ingest, concurrency {CONCURRENCY}, {seconds:.0f}s per server in {rounds} interleaved "
        "slices, durable (WAL, synchronous=FULL, group commit):"
    )
    for server, stored in zip(servers, rows, strict=False):
        print(server.line("events/s", f"{stored} rows stored, code at {server.root}"))
    print(echo.line("req/s", "no storage"))
    for server in servers[:-1]:
        ratio = (server.acked / server.seconds) / (echo.acked / echo.seconds)
        print(f"  ratio           {ratio:8.2f} of the echo baseline ({server.label})")


def fill(path: Path, events: int) -> None:
    """Bulk-load a store with the real schema (the write path is measured by the ingest part)."""
    conn = connect(path)
    migrate(conn)
    conn.execute("PRAGMA synchronous=OFF")
    rng = random.Random(7)
    now = time.time()
    deployments = int(events * 0.7)
    conn.execute("BEGIN")
    series = [(f"svc{s:02d}", env) for s in range(20) for env in ("production", "staging")]
    dep_rows, lead_rows = [], []
    for i in range(deployments):
        service, env = series[i % len(series)]
        finished = now - rng.random() * 120 * 86400
        failed = rng.random() < 0.08
        dep_rows.append(
            (
                i + 1,
                f"k{i}",
                service,
                env,
                "failure" if failed else "success",
                finished,
                None,
                int(rng.random() < 0.05),
                0,
            )
        )
        if not failed:
            lead = rng.expovariate(1 / 86400)
            lead_rows.append((service, env, f"c{i}", i + 1, finished, lead, None))
    conn.executemany("INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", dep_rows)
    conn.executemany("INSERT INTO lead_times VALUES (?, ?, ?, ?, ?, ?, ?)", lead_rows)
    inc_rows = []
    for i in range(events - deployments):
        service, env = series[i % len(series)]
        started = now - rng.random() * 120 * 86400
        resolved = None if rng.random() < 0.01 else started + rng.expovariate(1 / 7200)
        restored = None if resolved is None else resolved - started
        inc_rows.append(
            (f"i{i}", service, env, started, resolved, restored, rng.randint(1, deployments))
        )
    conn.executemany(
        "INSERT INTO incidents (key, service, environment, started_at, resolved_at, restored, "
        "deployment_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        inc_rows,
    )
    conn.execute("COMMIT")
    conn.close()


def bench_recompute(events: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.db"
        started = time.perf_counter()
        fill(path, events)
        loaded = time.perf_counter() - started
        reader = connect(path, readonly=True)
        compute(reader, time.time(), {"production"}, Levels())  # warm the page cache
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            snapshot = compute(reader, time.time(), {"production"}, Levels())
            runs.append(time.perf_counter() - started)
        base = []
        for _ in range(5):
            started = time.perf_counter()
            reader.execute(
                "SELECT service, environment, count(*) FROM deployments GROUP BY 1, 2"
            ).fetchall()
            base.append(time.perf_counter() - started)
    series = len(snapshot.gauges["dora_performance_level"])
    print(f"recompute over {events:,} stored events (loaded in {loaded:.1f}s), median of 5:")
    print(f"  snapshot        {statistics.median(runs) * 1000:8.0f} ms  ({series} level series)")
    print(
        f"  baseline scan   {statistics.median(base) * 1000:8.0f} ms"
        "  (one GROUP BY over deployments)"
    )
    print(
        f"  ratio           {statistics.median(runs) / statistics.median(base):8.2f}"
        " x the baseline scan"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved load slices")
    parser.add_argument("--only", choices=("ingest", "recompute"))
    parser.add_argument(
        "--compare", type=Path, help="another checkout whose agent is loaded in the same run"
    )
    args = parser.parse_args()
    if args.only != "ingest":
        bench_recompute(args.events)
    if args.only != "recompute":
        bench_ingest(args.seconds, args.rounds, args.compare)


if __name__ == "__main__":
    main()
