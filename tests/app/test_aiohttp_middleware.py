"""The aiohttp middleware on a real aiohttp app served over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporters.app import UNMATCHED, instrument_aiohttp
from exporters.app.aiohttp_middleware import HTTP_METRICS
from tests.support.clocks import FakeTimer

SLOW_SECONDS = 0.25  # between the 0.2 and 0.3 bounds, and exact in binary


class Gate:
    """Holds `/held` requests inside the handler until the test lets them go."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def make_app(
    registry: CollectorRegistry, timer: FakeTimer | None = None, gate: Gate | None = None
) -> web.Application:
    app = web.Application()
    timer = timer or FakeTimer()
    gate = gate or Gate()

    async def order(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"]})

    async def slow(request: web.Request) -> web.Response:
        timer.advance(SLOW_SECONDS)
        return web.Response(text="slow")

    async def held(request: web.Request) -> web.Response:
        gate.entered.set()
        await gate.release.wait()
        return web.Response(text="released")

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("handler bug")

    async def gone(request: web.Request) -> web.Response:
        raise web.HTTPGone()

    app.router.add_get("/orders/{id}", order)
    app.router.add_post("/orders", order)
    app.router.add_get("/slow", slow)
    app.router.add_get("/held", held)
    app.router.add_get("/boom", boom)
    app.router.add_get("/gone", gone)
    instrument_aiohttp(app, registry, timer=timer)
    return app


async def test_counts_by_route_template_and_status(aiohttp_client) -> None:
    registry = CollectorRegistry()
    client = await aiohttp_client(make_app(registry))
    for i in range(3):
        assert (await client.get(f"/orders/{i}")).status == 200
    assert (await client.get("/nowhere/at/all")).status == 404
    assert (await client.get("/boom")).status == 500
    assert (await client.get("/gone")).status == 410
    assert (await client.post("/orders/7")).status == 405
    assert (await client.request("PROPFIND", "/orders/1")).status == 405

    total = "http_requests_total"
    assert value(registry, total, method="GET", route="/orders/{id}", status="200") == 3
    assert value(registry, total, method="GET", route=UNMATCHED, status="404") == 1
    assert value(registry, total, method="GET", route="/boom", status="500") == 1
    assert value(registry, total, method="GET", route="/gone", status="410") == 1
    assert value(registry, total, method="POST", route=UNMATCHED, status="405") == 1
    # Unknown methods cannot create label values.
    assert value(registry, total, method="OTHER", route=UNMATCHED, status="405") == 1
    samples = [s for f in registry.collect() if f.name == "http_requests" for s in f.samples]
    assert sum(s.value for s in samples) == 8


async def test_histogram_buckets_and_sum(aiohttp_client) -> None:
    registry = CollectorRegistry()
    timer = FakeTimer(start=100.0)
    client = await aiohttp_client(make_app(registry, timer))
    for _ in range(2):
        await client.get("/orders/1")
    await client.get("/slow")
    await client.get("/slow")
    fast = {"method": "GET", "route": "/orders/{id}"}
    slow = {"method": "GET", "route": "/slow"}
    h = "http_request_duration_seconds"

    def bucket(labels: dict[str, str], le: str) -> float | None:
        return registry.get_sample_value(f"{h}_bucket", {**labels, "le": le})

    # The fake timer stood still through the fast requests: they took exactly 0 s.
    assert registry.get_sample_value(f"{h}_count", fast) == 2
    assert bucket(fast, "0.005") == 2
    assert registry.get_sample_value(f"{h}_sum", fast) == 0.0
    # Each slow request took what its handler advanced the timer by, and nothing else.
    assert bucket(slow, "0.2") == 0
    assert bucket(slow, "0.3") == 2
    assert bucket(slow, "+Inf") == 2
    assert registry.get_sample_value(f"{h}_sum", slow) == 2 * SLOW_SECONDS


async def pipelined(port: int, paths: list[str]) -> list[int]:
    """Send HTTP/1.1 requests pipelined on one connection (fast); return the statuses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses: list[int] = []
    for start in range(0, len(paths), 200):
        batch = paths[start : start + 200]
        writer.write(b"".join(f"GET {p} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for p in batch))
        await writer.drain()
        for _ in batch:
            statuses.append(int((await reader.readline()).split()[1]))
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()
    return statuses


async def test_ten_thousand_raw_paths_make_one_route_series(aiohttp_client) -> None:
    registry = CollectorRegistry()
    client = await aiohttp_client(make_app(registry))
    paths = [f"/orders/{i}" if i % 2 else f"/scan/{i}/wp-login.php" for i in range(10_000)]
    statuses = await pipelined(client.port, paths)
    assert statuses.count(200) == 5000 and statuses.count(404) == 5000
    totals = [s for f in registry.collect() if f.name == "http_requests" for s in f.samples]
    assert {(s.labels["route"], s.labels["status"]): s.value for s in totals} == {
        ("/orders/{id}", "200"): 5000,
        (UNMATCHED, "404"): 5000,
    }
    buckets = {
        s.labels["route"]
        for f in registry.collect()
        if f.name == "http_request_duration_seconds"
        for s in f.samples
    }
    assert buckets == {"/orders/{id}", UNMATCHED}


async def test_in_flight_gauge(aiohttp_client) -> None:
    registry = CollectorRegistry()
    gate = Gate()
    client = await aiohttp_client(make_app(registry, gate=gate))
    assert value(registry, "http_requests_in_flight") == 0
    task = asyncio.create_task(client.get("/held"))
    await asyncio.wait_for(gate.entered.wait(), timeout=10)
    assert value(registry, "http_requests_in_flight") == 1
    gate.release.set()
    assert (await task).status == 200
    assert value(registry, "http_requests_in_flight") == 0


async def test_metrics_route_serves_text_and_openmetrics_and_is_not_counted(aiohttp_client) -> None:
    registry = CollectorRegistry()
    app = make_app(registry)
    client = await aiohttp_client(app)
    await client.get("/orders/1")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) >= {"http_requests", "http_request_duration_seconds"}
    assert "_created" not in text
    assert 'route="/metrics"' not in text
    om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await om.text()).endswith("# EOF\n")
    assert app[HTTP_METRICS].registry is registry


async def test_sub_app_routes_carry_their_prefix(aiohttp_client) -> None:
    registry = CollectorRegistry()
    app = web.Application()
    api = web.Application()

    async def item(request: web.Request) -> web.Response:
        return web.Response(text="item")

    api.router.add_get("/items/{item_id}", item)
    app.add_subapp("/api/", api)
    instrument_aiohttp(app, registry)
    client = await aiohttp_client(app)
    assert (await client.get("/api/items/42")).status == 200
    labels = {"method": "GET", "route": "/api/items/{item_id}", "status": "200"}
    assert registry.get_sample_value("http_requests_total", labels) == 1


def test_second_instrumentation_on_one_registry_is_refused() -> None:
    registry = CollectorRegistry()
    instrument_aiohttp(web.Application(), registry)
    with pytest.raises(ValueError, match="Duplicated"):
        instrument_aiohttp(web.Application(), registry)
