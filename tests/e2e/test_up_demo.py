"""`opslens up --demo` end to end: the real native stack on loopback, then a clean stop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from agent.cli.up import port_in_use
from tests.support.procs import require, unavailable

pytestmark = pytest.mark.integration

PORTS = (
    "127.0.0.1:9090",
    "127.0.0.1:9093",
    "127.0.0.1:10470",
    "127.0.0.1:10480",
    "127.0.0.1:10481",
    "127.0.0.1:10482",
    "127.0.0.1:10483",
    "127.0.0.1:10484",
)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_for(predicate, timeout: float, what: str) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


def test_demo_stack_runs_and_stops_cleanly(tmp_path: Path, root: Path) -> None:
    require("prometheus")
    require("prometheus-alertmanager")
    busy = [p for p in PORTS if port_in_use(p)]
    if busy:
        message = f"ports in use: {busy}"
        unavailable(message)
    out = tmp_path / "up.log"
    with out.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "up", "--demo", "--data-dir", str(tmp_path / "d")],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "OpsLens is up" in out.read_text(), 90, "the stack to start")
        prom = "http://127.0.0.1:9090"

        def targets_up() -> bool:
            targets = get_json(f"{prom}/api/v1/targets")["data"]["activeTargets"]
            jobs = {t["labels"]["job"]: t["health"] for t in targets}
            return jobs == {
                "opslens": "up",
                "prometheus": "up",
                "alertmanager": "up",
                "shop-api": "up",
            }

        wait_for(targets_up, 60, "all scrape targets up")
        groups = get_json(f"{prom}/api/v1/rules")["data"]["groups"]
        assert {g["name"] for g in groups} >= {"opslens-cost", "opslens-dora", "opslens-http"}
        # A group with its own, longer interval (the SLO period groups, 5m) waits up to
        # that interval for its first evaluation; every evaluated rule must be healthy.
        assert all(
            r["health"] == "ok"
            or (g["interval"] > 60 and g["lastEvaluation"].startswith("0001-01-01"))
            for g in groups
            for r in g["rules"]
        )

        def query(expr: str) -> list[Any]:
            q = urllib.parse.quote(expr)
            return get_json(f"{prom}/api/v1/query?query={q}")["data"]["result"]  # type: ignore[no-any-return]

        # Every exporter's data reaches Prometheus: cost from demo billing, DORA from
        # the posted history, app from the host and the instrumented demo service.
        wait_for(lambda: query("cloudcost_budget_spent"), 60, "cost metrics")
        assert query('dora_performance_level{window="30d"}')
        assert query("host_memory_total_bytes")
        wait_for(lambda: query('http_requests_total{job="shop-api"}'), 30, "demo traffic")
        # The demo data breaches a budget: its alert is at least pending within a minute.
        budget_alert = 'ALERTS{alertname="CloudCostBudgetThresholdReached",budget="demo-daily"}'
        wait_for(lambda: query(budget_alert), 60, "the demo budget alert")
        # The demo service's own probe is healthy (demo-gone is the one that fails).
        assert not query('ALERTS{alertname="ProbeDown",probe="demo-shop"}')
        status = get_json("http://127.0.0.1:9093/api/v2/status")
        assert "opslens-incidents" in status["config"]["original"]
        # Close the loop: a critical alert posted to Alertmanager reaches the agent's
        # webhook through the generated route and becomes an open DORA incident.
        alert = [
            {
                "labels": {
                    "alertname": "E2eOutage",
                    "severity": "critical",
                    "service": "e2e-checkout",
                    "environment": "production",
                },
                "annotations": {"summary": "e2e"},
            }
        ]
        request = urllib.request.Request(
            "http://127.0.0.1:9093/api/v2/alerts",
            data=json.dumps(alert).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=5).read()

        def incident_open() -> bool:
            with urllib.request.urlopen("http://127.0.0.1:10470/metrics", timeout=5) as r:
                text = r.read().decode()
            return (
                'dora_incidents_open{environment="production",service="e2e-checkout"} 1.0' in text
            )

        wait_for(incident_open, 60, "the alert to arrive as a DORA incident")
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(60)
    assert rc == 0, out.read_text()[-3000:]
    assert "stopped" in out.read_text()
    assert not any(port_in_use(p) for p in PORTS)
