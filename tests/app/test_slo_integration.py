"""SLO burn-rate rules generated from config, evaluated on real data from the middleware.

1. A real Prometheus scrapes two instrumented aiohttp apps, one failing 5 % of requests
   (50× a 99.9 % budget), one failing 0.1 % (1×), and evaluates the generated SLO rules,
   unmodified (the page alerts have no `for`: the short window is the confirmation).
2. `promtool test rules` runs the unmodified rules over an hour and more of series whose
   labels and per-minute increments are read from a real instrumented app's counters.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from agent.config.loader import parse
from agent.generate.hosts import COMPOSE
from agent.generate.naming import slo_alert, slo_pack
from agent.generate.rules import render as render_rules
from agent.generate.rules.slo import VALUE
from exporters.app import instrument_aiohttp
from tests.support.procs import free_port, prometheus, require
from tests.support.waiting import wait_until_async

PAGE_FAST = slo_alert("burning", "availability", "fast")
PAGE_HEALTHY = slo_alert("healthy", "availability", "fast")
CONFIG = """
version: 1
project: slo-test
targets:
  - {{job: burning, static: ["127.0.0.1:{burning}"], service: burning}}
  - {{job: healthy, static: ["127.0.0.1:{healthy}"], service: healthy}}
slos:
  - name: availability
    service: burning
    objective: 99.9
    window: 30d
    errors: 'http_requests_total{{job="burning",status=~"5.."}}'
    total: 'http_requests_total{{job="burning"}}'
  - name: availability
    service: healthy
    objective: 99.9
    window: 30d
    errors: 'http_requests_total{{job="healthy",status=~"5.."}}'
    total: 'http_requests_total{{job="healthy"}}'
prometheus:
  retention: 30d
"""


def shop(fail_every: int, registry: CollectorRegistry) -> web.Application:
    """An instrumented app failing exactly one request in `fail_every`."""
    served = 0

    async def order(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        if served % fail_every == 0:
            raise web.HTTPServiceUnavailable()
        return web.json_response({"id": request.match_info["id"]})

    app = web.Application()
    app.router.add_get("/orders/{id}", order)
    instrument_aiohttp(app, registry)
    return app


def slo_rules(ports: dict[str, int]) -> dict[str, Any]:
    """Both SLOs' rule groups, as one rules file."""
    config = parse(CONFIG.format(**ports))
    artefacts = {a.path: a.content for a in render_rules(config, COMPOSE)}
    groups = []
    for job in ("burning", "healthy"):
        content = artefacts[f"rules/{slo_pack(job, 'availability')}.rules.yml"]
        assert isinstance(content, dict)
        groups += content["groups"]
    return {"groups": groups}


def page_alerts(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r
        for g in rules["groups"]
        for r in g["rules"]
        if r.get("alert") in (PAGE_FAST, PAGE_HEALTHY)
    ]


async def traffic(base: str, session: aiohttp.ClientSession, rate: float) -> None:
    n = 0
    while True:
        n += 1
        async with session.get(f"{base}/orders/{n}") as response:
            await response.read()
        await asyncio.sleep(1 / rate)


@pytest.mark.integration
async def test_prometheus_pages_on_fast_burn_and_not_on_healthy_rate(tmp_path: Path) -> None:
    require("prometheus")
    ports = {"burning": free_port(), "healthy": free_port()}
    rules = slo_rules(ports)
    pages = page_alerts(rules)
    assert {r["alert"] for r in pages} == {PAGE_FAST, PAGE_HEALTHY}
    assert all(r["for"] == "0s" and r["labels"]["severity"] == "critical" for r in pages)
    (tmp_path / "slo.rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    prom_config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "slo.rules.yml")],
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"service": job}}],
            }
            for job, port in ports.items()
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom_config), encoding="utf-8")

    runners = []
    for job, fail_every in (("burning", 20), ("healthy", 1000)):
        runner = web.AppRunner(shop(fail_every, CollectorRegistry()), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", ports[job]).start()
        runners.append(runner)
    session = aiohttp.ClientSession()
    load = [
        asyncio.create_task(traffic(f"http://127.0.0.1:{port}", session, rate=60))
        for port in ports.values()
    ]
    try:
        with prometheus(tmp_path / "prometheus.yml", tmp_path) as url:
            alerts = await wait_for_firing(session, url, PAGE_FAST, timeout=90)
            burning = [a for a in alerts if a["labels"]["alertname"] == PAGE_FAST]
            assert burning[0]["labels"]["service"] == "burning"
            assert burning[0]["labels"]["severity"] == "critical"
            # No page or ticket for the healthy service (SLIAbsent may be pending for the
            # first seconds, until its 5m window holds two scrapes).
            healthy = [a for a in alerts if a["labels"].get("service") == "healthy"]
            assert not [a for a in healthy if "ErrorBudgetBurn" in a["labels"]["alertname"]]

            # The healthy service's first burn rate may come an evaluation after the page.
            async def both() -> dict[str, float] | None:
                burn = await query(session, url, "opslens_slo:burn_rate:ratio_rate5m")
                return burn if len(burn) == 2 else None

            burn = await wait_until_async(both, 30, "both services' burn rates", interval=0.5)
            assert 30 < burn["burning"] < 70
            assert burn["healthy"] < 14.4
    finally:
        for task in load:
            task.cancel()
        await asyncio.gather(*load, return_exceptions=True)
        await session.close()
        for runner in runners:
            await runner.cleanup()


async def wait_for_firing(
    session: aiohttp.ClientSession, url: str, name: str, timeout: float
) -> list[dict[str, Any]]:
    seen: list[list[dict[str, Any]]] = [[]]

    async def firing() -> list[dict[str, Any]] | None:
        async with session.get(f"{url}/api/v1/alerts") as response:
            seen[0] = alerts = (await response.json())["data"]["alerts"]
        if any(a["labels"]["alertname"] == name and a["state"] == "firing" for a in alerts):
            return alerts
        return None

    # Prometheus evaluates once a second: asking more often would only repeat answers.
    return await wait_until_async(
        firing, timeout, what=lambda: f"{name} to fire; alerts: {seen[0]}", interval=0.5
    )


async def query(session: aiohttp.ClientSession, url: str, expr: str) -> dict[str, float]:
    async with session.get(f"{url}/api/v1/query", params={"query": expr}) as response:
        result = (await response.json())["data"]["result"]
    return {r["metric"]["service"]: float(r["value"][1]) for r in result}


@pytest.mark.integration
async def test_promtool_unmodified_rules_on_series_from_the_real_app(
    aiohttp_client, tmp_path: Path
) -> None:
    promtool = require("promtool")
    rules = slo_rules({"burning": 8001, "healthy": 8002})
    (tmp_path / "slo.rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    fast = [r for r in page_alerts(rules) if r["alert"] == PAGE_FAST]
    assert [r["labels"]["long"] for r in fast] == ["1h", "6h"]

    # One minute of traffic as the real app counts it: 1000 requests per job.
    series: list[dict[str, str]] = []
    for job, fail_every in (("burning", 20), ("healthy", 1000)):
        registry = CollectorRegistry()
        client = await aiohttp_client(shop(fail_every, registry))
        for n in range(1000):
            await (await client.get(f"/orders/{n}")).read()
        family = next(f for f in registry.collect() if f.name == "http_requests")
        for sample in family.samples:
            labels = {**sample.labels, "job": job, "instance": f"{job}:8000", "service": job}
            body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            series.append({"series": f"http_requests_total{{{body}}}", "values": ""})
            series[-1]["values"] = f"0+{int(sample.value)}x90"
    statuses = sorted(s["series"].split('status="')[1][:3] for s in series)
    assert statuses == ["200", "200", "503", "503"]

    # The recorded SLI carries `slo`; the rule adds severity, service and the window pair.
    # Both pairs fire: 5 % errors is a burn rate of 50 over 1h and over the 70m of data
    # the 6h window holds, and the description quotes it.
    expected = [
        {
            "exp_labels": {**rule["labels"], "slo": "availability"},
            "exp_annotations": {
                **rule["annotations"],
                "description": rule["annotations"]["description"].replace(VALUE, "50.0"),
            },
        }
        for rule in fast
    ]
    tests = {
        "rule_files": ["slo.rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "70m", "alertname": PAGE_FAST, "exp_alerts": expected},
                    {"eval_time": "70m", "alertname": PAGE_HEALTHY, "exp_alerts": []},
                    # At 0m every window holds one sample: no increase, so nothing fires.
                    {"eval_time": "0m", "alertname": PAGE_FAST, "exp_alerts": []},
                ],
            }
        ],
    }
    (tmp_path / "slo.test.yml").write_text(yaml.safe_dump(tests), encoding="utf-8")
    run = subprocess.run(
        [promtool, "test", "rules", "slo.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
