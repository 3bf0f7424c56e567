"""The demo proves the product: every alert class fires and reaches its receivers, the
critical one opens and closes a DORA incident, and every dashboard panel has data.

One `opslens up --demo` stack (real agent, Prometheus and Alertmanager binaries, the
demo's local TLS, Cost Explorer and notification sinks) serves the whole module.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.cli.up import (
    DEMO_CE_LISTEN,
    DEMO_INBOX_LISTEN,
    DEMO_SMTP_LISTEN,
    DEMO_TLS_LISTEN,
    port_in_use,
)
from agent.config import Config, load
from agent.generate import naming
from tests.e2e import panels
from tests.support.procs import require, unavailable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PROM = "http://127.0.0.1:9090"
ALERTMANAGER = "http://127.0.0.1:9093"
AGENT = "http://127.0.0.1:10470"
INBOX = f"http://{DEMO_INBOX_LISTEN}"
PORTS = (
    "127.0.0.1:9090",
    "127.0.0.1:9093",
    "127.0.0.1:10470",
    "127.0.0.1:10480",
    DEMO_TLS_LISTEN,
    DEMO_CE_LISTEN,
    DEMO_INBOX_LISTEN,
    DEMO_SMTP_LISTEN,
    "127.0.0.1:10489",  # must stay unused: the demo's probe-down target
)
# Each alert class of the issue, as the alert and labels the demo makes it fire with.
CLASSES: dict[str, tuple[str, dict[str, str]]] = {
    "budget threshold": (naming.COST_BUDGET_THRESHOLD_REACHED, {"budget": "demo-daily"}),
    "forecast over budget": (naming.COST_BUDGET_FORECAST_EXCEEDED, {"budget": "demo-payments"}),
    "cost anomaly": (naming.COST_ANOMALY, {"cloud_service": "Amazon CloudFront"}),
    "SLO fast burn": (naming.slo_alert("shop-api", "availability", "fast"), {}),
    "SLO slow burn": (naming.slo_alert("shop-api", "availability", "slow"), {}),
    "HTTP error ratio": (naming.HTTP_ERROR_RATIO_HIGH, {"job": "shop-api"}),
    "probe down": (naming.PROBE_DOWN, {"probe": "demo-gone"}),
    "certificate expiry": (naming.PROBE_CERTIFICATE_EXPIRING, {"probe": "demo-tls"}),
    "stale cost data": (naming.COST_DATA_STALE, {"source": "demo-aws"}),
    "source down": (naming.SOURCE_DOWN, {"source": "demo-sandbox"}),
}
INCIDENT = 'dora_incidents_open{environment="production",service="opslens"}'


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def query(expr: str) -> list[dict[str, Any]]:
    q = urllib.parse.quote(expr)
    return get_json(f"{PROM}/api/v1/query?query={q}")["data"]["result"]  # type: ignore[no-any-return]


def agent_sample(series: str) -> float | None:
    with urllib.request.urlopen(f"{AGENT}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
    return None


@dataclass
class Stack:
    started: float
    data_dir: Path
    config: Config
    log: Path
    # alert class → seconds after start when Prometheus first showed it firing
    fired: dict[str, float]
    # alert class → seconds after start when every receiver had it
    delivered: dict[str, float]
    # class → the severities it fired with
    severities: dict[str, set[str]]
    # seconds after start when the agent first counted the incident open
    incident_open: float | None = None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require("prometheus")
    require("prometheus-alertmanager")
    busy = [p for p in PORTS if port_in_use(p)]
    if busy:
        message = f"ports in use: {busy}"
        unavailable(message)
    root = Path(__file__).resolve().parents[2]
    data_dir = tmp_path_factory.mktemp("demo")
    log = data_dir / "up.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "up", "--demo", "--data-dir", str(data_dir)],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "OpsLens is up" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the demo stack did not start in 120s"
            time.sleep(0.5)
        config = load(data_dir / "demo" / "opslens.yaml")
        yield Stack(started, data_dir, config, log, {}, {}, {})
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(90)
    assert rc == 0, log.read_text()[-3000:]


def firing() -> dict[str, set[str]]:
    """Alert class → severities of its firing alerts in Prometheus right now."""
    alerts = get_json(f"{PROM}/api/v1/alerts")["data"]["alerts"]
    out: dict[str, set[str]] = {}
    for kind, (name, labels) in CLASSES.items():
        for a in alerts:
            lab = a["labels"]
            if (
                a["state"] == "firing"
                and lab["alertname"] == name
                and all(lab.get(k) == v for k, v in labels.items())
            ):
                out.setdefault(kind, set()).add(lab["severity"])
    return out


def inbox() -> list[dict[str, Any]]:
    return get_json(f"{INBOX}/messages")["messages"]  # type: ignore[no-any-return]


def receivers_of(config: Config, severities: set[str]) -> set[str]:
    """The receiver kinds (slack, pagerduty, email) the escalation names for severities."""
    notify = config.notify
    return {notify.receivers[n].kind for s in severities for n in notify.escalation[s]}  # type: ignore[index]


def got(messages: list[dict[str, Any]], name: str) -> set[str]:
    """The receiver kinds that received a firing notification of alert `name`."""
    return {
        m["receiver"]
        for m in messages
        # The title is `[FIRING:n] SEVERITY AlertName …`: the name as a whole word.
        if "FIRING" in m["text"] and f" {name}" in m["text"]
    }


def test_every_alert_class_fires_and_reaches_its_receivers(stack: Stack) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        now = time.monotonic() - stack.started
        for kind, severities in firing().items():
            stack.fired.setdefault(kind, now)
            stack.severities.setdefault(kind, set()).update(severities)
        messages = inbox()
        for kind in stack.fired:
            want = receivers_of(stack.config, stack.severities[kind])
            if want <= got(messages, CLASSES[kind][0]):
                stack.delivered.setdefault(kind, now)
        if stack.incident_open is None and (agent_sample(INCIDENT) or 0) >= 1:
            stack.incident_open = now
        if len(stack.delivered) == len(CLASSES):
            break
        time.sleep(2)
    missing = sorted(set(CLASSES) - set(stack.fired))
    assert not missing, f"never fired: {missing}; fired: {stack.fired}"
    undelivered = sorted(set(CLASSES) - set(stack.delivered))
    assert not undelivered, f"fired but not delivered: {undelivered}; inbox: {inbox()}"
    # Nothing reached a receiver its severity does not escalate to.
    messages = inbox()
    for kind, (name, _) in CLASSES.items():
        want = receivers_of(stack.config, stack.severities[kind])
        assert got(messages, name) <= want, (kind, got(messages, name), want)
    # Each receiver kind was exercised.
    assert {m["receiver"] for m in messages} == {"slack", "pagerduty", "email"}
    print(
        f"\nall {len(CLASSES)} alert classes fired by {max(stack.fired.values()):.0f}s and "
        f"were delivered by {max(stack.delivered.values()):.0f}s after `opslens up --demo`"
    )
    for kind in CLASSES:
        print(
            f"  {kind:<22} fired {stack.fired[kind]:5.0f}s  delivered {stack.delivered[kind]:5.0f}s"
        )


def test_the_critical_alert_opens_an_incident_and_its_resolution_closes_it(
    stack: Stack,
) -> None:
    # The failing source's alert is critical: it pages and becomes a DORA incident of the
    # agent's job through /webhooks/alertmanager; the demo heals the source once the page
    # went out, the alert resolves, and Alertmanager's resolved notification closes it.
    assert stack.severities.get("source down") == {"critical"}, stack.severities
    deadline = time.monotonic() + 180
    closed = None
    while time.monotonic() < deadline and closed is None:
        now = time.monotonic() - stack.started
        still_open = agent_sample(INCIDENT)
        if stack.incident_open is None and (still_open or 0) >= 1:
            stack.incident_open = now
        if stack.incident_open is not None and still_open == 0:
            closed = now
        time.sleep(1)
    assert stack.incident_open is not None, "the source-down alert never became a DORA incident"
    assert closed is not None, "the incident stayed open after the source healed"
    assert agent_sample(INCIDENT.replace("_open", "_total")) == 1
    assert not query('ALERTS{alertname="OpslensSourceDown",alertstate="firing"}')
    assert query('opslens_source_up{source="demo-sandbox"} == 1')
    with urllib.request.urlopen(f"{ALERTMANAGER}/metrics", timeout=10) as response:
        text = response.read().decode()
    webhook = {
        line.split("{")[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if 'integration="webhook"' in line and not line.startswith("#")
    }
    assert webhook["alertmanager_notifications_total"] >= 2  # firing, then resolved
    assert webhook["alertmanager_notifications_failed_total"] == 0
    print(f"\nincident open by {stack.incident_open:.0f}s, closed by {closed:.0f}s after start")


def test_every_panel_of_every_dashboard_has_data(stack: Stack) -> None:
    dashboards = stack.data_dir / "generated" / "grafana" / "dashboards"
    assert len(list(dashboards.glob("*.json"))) == len(stack.config.dashboards)
    # The SLO period groups run every 5 minutes, so their first evaluation (and the
    # budget-remaining panels) can come up to that long after Prometheus started.
    groups = get_json(f"{PROM}/api/v1/rules")["data"]["groups"]
    longest = max(g["interval"] for g in groups)
    deadline = stack.started + longest + 60
    while any(g["lastEvaluation"].startswith("0001-") for g in groups):
        assert time.monotonic() < deadline, "a rule group was never evaluated"
        time.sleep(5)
        groups = get_json(f"{PROM}/api/v1/rules")["data"]["groups"]
    deadline = time.monotonic() + 60
    while True:
        results = panels.evaluate(PROM, dashboards)
        full, total, empty = panels.panels_with_data(results)
        if full == total or time.monotonic() > deadline:
            break
        time.sleep(5)
    waited = time.monotonic() - stack.started
    print(f"\n{full} of {total} dashboard panels have data in the demo ({waited:.0f}s)")
    assert total >= 100
    assert full == total, "panels without data:\n" + "\n".join(empty)
