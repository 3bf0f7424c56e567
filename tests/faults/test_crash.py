"""SIGKILL mid-work: nothing acknowledged is lost or counted twice, no paid call repeated.

`tests/dora/test_durability.py` floods the agent and kills it; here the sender also does
what real senders do after a crash — retries every delivery it is unsure of — and the
counts must still match the distinct events. For Cost Explorer, a kill during a poll must
not make the restarted agent pay again for data it already stored.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.agent import Agent, pick
from tests.support.waiting import wait_until

from .rigs import ENV, FakeCostExplorer

pytestmark = pytest.mark.integration

TOKEN = "crash-test-token"
EVENTS_CONFIG = """\
version: 1
project: crash
dora:
  sources:
    - {type: events, name: events, token_env: CRASH_EVENTS_TOKEN}
"""
SERVICES = ("alpha", "beta", "gamma")


def event(n: int) -> dict[str, object]:
    return {
        "kind": "deployment",
        "id": f"e{n}",
        "service": SERVICES[n % len(SERVICES)],
        "environment": "production",
        "status": "success",
        "finished_at": "2026-11-01T10:00:00Z",
        "commits": [{"sha": f"{n:040x}", "committed_at": "2026-11-01T08:00:00Z"}],
    }


def post(url: str, body: object) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0  # the agent is gone: not acknowledged


def test_sigkill_during_ingest_then_redelivery_counts_each_event_once(tmp_path: Path) -> None:
    agent = Agent(tmp_path, EVENTS_CONFIG, exporters="dora", env={"CRASH_EVENTS_TOKEN": TOKEN})
    agent.start()
    url = f"{agent.url}/api/v1/events"
    acked: set[int] = set()
    sent: set[int] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def sender(worker: int) -> None:
        n = worker
        while not stop.is_set():
            with lock:
                sent.add(n)
            if post(url, event(n)) == 200:
                with lock:
                    acked.add(n)
            elif not agent.alive:
                return
            n += 16

    with ThreadPoolExecutor(16) as pool:
        for w in range(16):
            pool.submit(sender, w)
        try:
            wait_until(lambda: len(acked) >= 800, 30, lambda: f"800 acks, got {len(acked)}")
            agent.kill()  # requests are in flight
        finally:
            stop.set()
    assert len(sent) > len(acked)  # some deliveries were in flight: their fate is unknown

    agent.start()
    try:
        store = sqlite3.connect(agent.data_dir / "dora" / "events.db")
        keys = {k for (k,) in store.execute("SELECT key FROM deployments")}
        store.close()
        assert {f"events:e{n}" for n in acked} <= keys, "an acknowledged event was lost"
        # The sender retries everything it sent, acknowledged or not, as after a timeout.
        for n in sorted(sent):
            assert post(url, event(n)) == 200
        for service in SERVICES:
            expected = sum(1 for n in sent if SERVICES[n % len(SERVICES)] == service)
            agent.wait_for(
                "dora_deployments_total",
                float(expected),
                service=service,
                environment="production",
            )
    finally:
        assert agent.stop() == 0
    store = sqlite3.connect(agent.data_dir / "dora" / "events.db")
    assert store.execute("SELECT count(*) FROM deployments").fetchone() == (len(sent),)
    store.close()


def ce_config(url: str) -> str:
    return f"""\
version: 1
project: crash
cost:
  poll_interval: 1h
  settle_days: 0
  sources:
    - {{type: aws_cost_explorer, name: aws, endpoint_url: '{url}', cost_types: [UnblendedCost]}}
"""


def paid(agent: Agent) -> float | None:
    return pick(
        agent.scrape(), "opslens_paid_api_requests_total", source="aws", operation="GetCostAndUsage"
    )


def test_sigkill_during_cost_poll_repeats_no_paid_call(tmp_path: Path) -> None:
    with FakeCostExplorer("svc-aws") as fake:
        agent = Agent(tmp_path, ce_config(fake.url), exporters="cost", env=ENV)
        # 1. Killed while its first paid request is in flight: nothing was stored, the
        #    request was counted (AWS bills it) before it was sent.
        fake.fault = "hang"
        agent.start(ready=False)
        wait_until(lambda: fake.calls["GetCostAndUsage"] == 1, 20, "the first paid call")
        agent.kill()
        fake.fault = None

        # 2. Restarted: it must fetch (nothing stored), once, and count both requests.
        agent.start()
        samples = agent.wait_for("opslens_source_up", 1.0, exporter="cost", source="aws")
        daily = pick(samples, "cloudcost_daily", service="svc-aws", cost_type="billed")
        assert daily is not None and daily > 0
        assert fake.calls["GetCostAndUsage"] == 2
        assert paid(agent) == 2.0

        # 3. Killed again right after the fetch was stored: the next start serves it from
        #    the cache within the poll interval and pays nothing.
        agent.kill()
        agent.start()
        samples = agent.wait_for("opslens_source_up", 1.0, exporter="cost", source="aws")
        assert pick(samples, "cloudcost_daily", service="svc-aws", cost_type="billed") == daily
        assert fake.calls["GetCostAndUsage"] == 2, "a paid call was repeated after restart"
        assert paid(agent) == 2.0
        assert agent.stop() == 0
