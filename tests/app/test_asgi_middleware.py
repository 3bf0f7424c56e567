"""The ASGI middleware on a real Starlette app and on bare ASGI callables."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from exporters.app import UNMATCHED, PrometheusASGIMiddleware
from tests.support.clocks import FakeTimer

TOTAL = "http_requests_total"
DURATION = "http_request_duration_seconds"
SLOW_SECONDS = 0.25  # between the 0.2 and 0.3 bounds, and exact in binary


async def order(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.path_params["id"]})


async def slow(request: Request) -> PlainTextResponse:
    request.app.state.timer.advance(SLOW_SECONDS)
    return PlainTextResponse("slow")


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("handler bug")


async def item(request: Request) -> JSONResponse:
    return JSONResponse(request.path_params)


def starlette_app(timer: FakeTimer | None = None) -> Starlette:
    items = [Route("/items/{item_id}", item)]
    app = Starlette(
        routes=[
            Route("/orders/{id}", order, methods=["GET"]),
            Route("/slow", slow),
            Route("/boom", boom),
            Mount("/api/{version}", routes=items),
        ]
    )
    app.state.timer = timer or FakeTimer()
    return app


async def call(app: PrometheusASGIMiddleware, method: str, path: str) -> int:
    """Drive one request through the ASGI interface directly (no HTTP client overhead)."""
    sent: list[dict] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"shop")],
        "server": ("shop", 80),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    return int(sent[0]["status"])


def client(app: PrometheusASGIMiddleware) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://shop")


async def test_starlette_counts_by_template_status_and_exception() -> None:
    registry = CollectorRegistry()
    app = PrometheusASGIMiddleware(starlette_app(), registry)
    async with client(app) as c:
        for i in range(3):
            assert (await c.get(f"/orders/{i}")).status_code == 200
        assert (await c.post("/orders/1")).status_code == 405
        assert (await c.get("/no/such/page")).status_code == 404
        assert (await c.get("/boom")).status_code == 500
        assert (await c.get("/api/v2/items/9")).status_code == 200

    def count(method: str, route: str, status: str) -> float | None:
        return registry.get_sample_value(
            TOTAL, {"method": method, "route": route, "status": status}
        )

    assert count("GET", "/orders/{id}", "200") == 3
    assert count("POST", "/orders/{id}", "405") == 1
    assert count("GET", UNMATCHED, "404") == 1
    assert count("GET", "/boom", "500") == 1
    assert count("GET", "/api/{version}/items/{item_id}", "200") == 1
    series = [s for f in registry.collect() if f.name == "http_requests" for s in f.samples]
    assert len(series) == 5


async def test_histogram_exact_counts() -> None:
    registry = CollectorRegistry()
    timer = FakeTimer(start=100.0)
    app = PrometheusASGIMiddleware(starlette_app(timer), registry, timer=timer)
    async with client(app) as c:
        await c.get("/slow")
        await c.get("/orders/1")
    value = registry.get_sample_value
    slow = {"method": "GET", "route": "/slow"}
    # The slow request took exactly what its handler advanced the timer by.
    assert value(f"{DURATION}_bucket", {**slow, "le": "0.2"}) == 0
    assert value(f"{DURATION}_bucket", {**slow, "le": "0.3"}) == 1
    assert value(f"{DURATION}_count", slow) == 1
    assert value(f"{DURATION}_sum", slow) == SLOW_SECONDS
    # The timer stood still through the fast one: 0 s, in the lowest bucket.
    fast = {"method": "GET", "route": "/orders/{id}"}
    assert value(f"{DURATION}_bucket", {**fast, "le": "0.005"}) == 1
    assert value(f"{DURATION}_sum", fast) == 0.0
    assert value("http_requests_in_flight") == 0


async def test_ten_thousand_raw_paths_make_one_route_series() -> None:
    registry = CollectorRegistry()
    app = PrometheusASGIMiddleware(starlette_app(), registry)
    for i in range(10_000):
        assert await call(app, "GET", f"/orders/{i}") == 200
    series = [s for f in registry.collect() if f.name == "http_requests" for s in f.samples]
    assert [(s.labels["route"], s.value) for s in series] == [("/orders/{id}", 10_000)]


async def test_bare_asgi_app_names_its_route_in_scope() -> None:
    async def bare(scope, receive, send) -> None:
        if scope["path"].startswith("/hello/"):
            scope["route"] = "/hello/{name}"
            status = 200
        else:
            status = 404  # no route: stays <unmatched>
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"hi"})

    registry = CollectorRegistry()
    app = PrometheusASGIMiddleware(bare, registry)
    async with client(app) as c:
        await c.get("/hello/ada")
        await c.get("/hello/grace")
        await c.get("/elsewhere")
        metrics = await c.get("/metrics")
    labels = {"method": "GET", "route": "/hello/{name}", "status": "200"}
    assert registry.get_sample_value(TOTAL, labels) == 2
    labels = {"method": "GET", "route": UNMATCHED, "status": "404"}
    assert registry.get_sample_value(TOTAL, labels) == 1
    assert metrics.status_code == 200
    assert 'route="/hello/{name}"' in metrics.text
    assert "/metrics" not in metrics.text  # scrapes are not counted


async def test_exception_before_response_counts_500_and_propagates() -> None:
    async def broken(scope, receive, send) -> None:
        scope["route"] = "/broken"
        raise ValueError("bug")

    registry = CollectorRegistry()
    app = PrometheusASGIMiddleware(broken, registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as c:
        with pytest.raises(ValueError, match="bug"):
            await c.get("/broken")
    labels = {"method": "GET", "route": "/broken", "status": "500"}
    assert registry.get_sample_value(TOTAL, labels) == 1
    assert registry.get_sample_value("http_requests_in_flight") == 0


async def test_lifespan_and_websocket_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["type"])

    registry = CollectorRegistry()
    wrapped = PrometheusASGIMiddleware(app, registry)

    async def receive() -> dict:
        return {}

    async def send(message) -> None:
        pass

    await wrapped({"type": "lifespan"}, receive, send)
    await wrapped({"type": "websocket", "path": "/ws"}, receive, send)
    assert seen == ["lifespan", "websocket"]
    assert registry.get_sample_value("http_requests_in_flight") == 0
