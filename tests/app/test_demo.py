"""The demo shop-api: deterministic incidents, bounded loopback load, the real entry point."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporters.app.demo import FaultSchedule, LoadGenerator, create_app, load_url
from tests.support.procs import free_port, require, wait_http
from tests.support.waiting import wait_until


def test_schedule_is_three_minutes_in_every_ten_from_start() -> None:
    schedule = FaultSchedule(start=1000.0)
    assert schedule.in_incident(1000.0) and schedule.in_incident(1179.9)
    assert not schedule.in_incident(1180.0) and not schedule.in_incident(1599.9)
    assert schedule.in_incident(1600.0)


async def test_incident_fails_exactly_5_percent_and_slows_25_percent(aiohttp_client) -> None:
    now = [0.0]
    registry = CollectorRegistry()
    app = create_app(registry, FaultSchedule(start=0.0), clock=lambda: now[0], latency=False)
    client = await aiohttp_client(app)

    async def get(path: str) -> int:
        async with client.get(path) as response:
            await response.read()
            return response.status

    statuses = await asyncio.gather(*(get(f"/products/{i % 50 + 1}") for i in range(200)))
    assert statuses.count(500) == 10 and statuses.count(200) == 190
    route = {"method": "GET", "route": "/products/{id}"}
    value = registry.get_sample_value
    assert value("http_requests_total", {**route, "status": "500"}) == 10
    assert value("http_request_duration_seconds_count", route) == 200
    within = value("http_request_duration_seconds_bucket", {**route, "le": "0.2"})
    assert within == 150  # 50 of 200 took 250–350 ms
    assert value("circuit_breaker_state", {"breaker": "payments"}) == 1

    now[0] = 200.0  # the incident is over
    statuses = await asyncio.gather(*(get("/products") for _ in range(100)))
    assert set(statuses) == {200}
    assert value("circuit_breaker_state", {"breaker": "payments"}) == 0
    assert (value("cache_hits_total", {"cache": "products"}) or 0) > 0


async def test_demo_routes_and_helpers(aiohttp_client) -> None:
    registry = CollectorRegistry()
    schedule = FaultSchedule(start=0.0, incident=0.0)
    client = await aiohttp_client(create_app(registry, schedule, latency=False))
    assert (await client.post("/orders", json={"product_id": 3})).status == 201
    assert (await client.get("/orders/1")).status == 200
    assert (await client.get("/orders/99")).status == 404
    bad = await client.post("/orders", json={"nope": 1})
    assert bad.status == 400 and "product_id" in (await bad.json())["error"]
    assert (await client.get("/orders/abc")).status == 400
    assert (await client.get("/recommendations")).status == 200
    assert (await client.get("/healthz")).status == 200
    value = registry.get_sample_value
    assert value("ai_tokens_total", {"model": "demo-small", "kind": "output"}) == 120
    assert (value("ai_cost_usd_total", {"model": "demo-small"}) or 0) > 0
    routes = {"/orders", "/orders/{id}", "/recommendations", "/healthz"}
    text = (await (await client.get("/metrics")).text()).splitlines()
    seen = {line.split('route="')[1].split('"')[0] for line in text if 'route="' in line}
    assert seen == routes


def test_load_generator_is_loopback_only_and_bounded() -> None:
    assert load_url("127.0.0.1:10480") == "http://127.0.0.1:10480"
    assert load_url("0.0.0.0:10480") == "http://127.0.0.1:10480"
    assert load_url("[::1]:10480") == "http://[::1]:10480"
    with pytest.raises(ValueError, match="loopback"):
        load_url("10.0.0.5:10480")
    with pytest.raises(ValueError, match="loopback"):
        LoadGenerator("http://example.com:80")
    with pytest.raises(ValueError, match="rate"):
        LoadGenerator("http://127.0.0.1:1", rate=10_000)
    gen = LoadGenerator("http://127.0.0.1:1")
    paths = {gen.request(n)[1] for n in range(10_000)}
    assert len(paths) <= 2 * 55 + 3  # bounded ids: a bounded set of raw paths


@pytest.mark.integration
def test_demo_entry_point_serves_traffic_and_stops_cleanly(tmp_path: Path) -> None:
    promtool = require("promtool")
    port = free_port()
    argv = [sys.executable, "-m", "exporters.app.demo", "--listen", f"127.0.0.1:{port}"]
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen([*argv, "--rate", "50"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=15, proc=proc)
        scraped: list[bytes] = []

        def scrape_with_errors() -> bytes | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                scraped.append(r.read())
            return scraped[-1] if b'status="500"' in scraped[-1] else None

        body = wait_until(
            scrape_with_errors,
            timeout=15,
            what=lambda: f"a counted 5xx; last scrape:\n{scraped[-1].decode() if scraped else ''}",
        )
        text = body.decode()
        # The demo starts in an incident: load arrives and 5xx are already counted.
        assert 'route="/products/{id}"' in text and 'status="500"' in text
        check = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
        assert check.returncode == 0, check.stderr.decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        log.close()
