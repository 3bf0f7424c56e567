"""Durability: flood the real agent, SIGKILL it mid-flood, restart, find every ack counted."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.support.procs import free_port, wait_http
from tests.support.waiting import wait_until_async

from .conftest import samples

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
version: 1
project: durability
dora:
  sources:
    - {type: events, name: events, allow_unauthenticated: true}
"""
SERVICES = ("alpha", "beta", "gamma", "delta")


def start(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    log = (tmp / "agent.log").open("ab")
    # This checkout's agent (python -m agent from its root), not the installed copy.
    argv = [
        sys.executable,
        "-m",
        "agent",
        "run",
        "dora",
        "-c",
        str(tmp / "opslens.yaml"),
        "--listen",
        f"127.0.0.1:{port}",
        "--data-dir",
        str(tmp / "data"),
    ]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    wait_http(f"http://127.0.0.1:{port}/-/healthy", 30, proc)
    return proc


async def flood(url: str, acked: list[str], stop: asyncio.Event, workers: int = 32) -> None:
    async def worker(w: int, session: aiohttp.ClientSession) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            event_id = f"w{w}-{n}"
            event = {
                "kind": "deployment",
                "id": event_id,
                "service": SERVICES[w % 4],
                "environment": "production",
                "status": "success",
                "finished_at": "2026-01-01T00:00:00Z",
                "commits": [{"sha": event_id, "committed_at": "2025-12-31T00:00:00Z"}],
            }
            try:
                async with session.post(url, json=event) as response:
                    if response.status == 200:
                        acked.append(event_id)
            except (TimeoutError, aiohttp.ClientError):
                return  # the agent is gone

    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(w, session) for w in range(workers)))


@pytest.mark.integration
async def test_sigkill_mid_flood_loses_no_acknowledged_event(tmp_path: Path) -> None:
    (tmp_path / "opslens.yaml").write_text(CONFIG)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp_path, port)
    acked: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(flood(f"{base}/api/v1/events", acked, stop))
    try:
        await wait_until_async(
            lambda: len(acked) >= 1500,
            timeout=20,
            what=lambda: f"1500 acknowledged events before the kill; got {len(acked)}",
        )
        os.kill(proc.pid, signal.SIGKILL)  # mid-flood: requests are in flight
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        stop.set()
        await asyncio.wait_for(task, 10)

    proc = start(tmp_path, port)
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
            scrape = samples(await response.text())
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0  # clean shutdown on SIGTERM

    per_service = Counter(SERVICES[int(e.split("-")[0][1:]) % 4] for e in acked)
    stored = sqlite3.connect(tmp_path / "data" / "dora" / "events.db")
    keys = {k for (k,) in stored.execute("SELECT key FROM deployments")}
    assert {f"events:{e}" for e in acked} <= keys, "an acknowledged event was lost"
    for service in SERVICES:
        labels = frozenset({"service": service, "environment": "production"}.items())
        counted = scrape[("dora_deployments_total", labels)]
        assert counted >= per_service[service]
        # /metrics agrees with the store exactly (at most the unacknowledged in-flight extra).
        in_store = sum(
            1 for k in keys if SERVICES[int(k.split(":")[1].split("-")[0][1:]) % 4] == service
        )
        assert counted == in_store
        # Every stored commit has a lead time or a counted reason why not (the first
        # deployment seen of a service ships a backlog no history covers).
        rejected = sum(
            value
            for (name, series), value in scrape.items()
            if name == "dora_lead_time_rejected_total" and labels <= series
        )
        assert scrape[("dora_lead_time_seconds_count", labels)] + rejected == in_store
