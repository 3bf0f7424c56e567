"""`PrometheusASGIMiddleware`: RED metrics for any ASGI app, and a `/metrics` endpoint.

The route label comes from `scope["route"]` once the app has handled the request:
Starlette and FastAPI routers set it to the matched route object (its `.path` is the
template); a bare ASGI app may set it to the template string itself. Without it the
request counts as `<unmatched>`, which keeps raw paths out of the labels.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from .instrument import DEFAULT_BUCKETS, UNMATCHED, HttpMetrics, exposition, method_label

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _mounted_template(scope: Scope, root_path: str) -> str | None:
    """Rebuild the template through Starlette mounts by matching from the top router."""
    routes = getattr(scope.get("router"), "routes", None)
    probe: dict[str, Any] = {**scope, "root_path": root_path, "path_params": {}}
    template = ""
    while routes:
        # Starlette's order: the first full match, else the first partial one (a 405).
        chosen = None
        for route in routes:
            match, child = route.matches(probe)
            if match.name == "FULL":
                chosen = (route, child)
                break
            if match.name == "PARTIAL" and chosen is None:
                chosen = (route, child)
        if chosen is None:
            return None
        route, child = chosen
        template += route.path
        probe.update(child)
        routes = getattr(route, "routes", None)
    return template or None


def route_label(scope: Scope, root_path: str) -> str:
    """The matched route template for a handled request, or `<unmatched>`."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    if isinstance(route, str):
        return route
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    if scope.get("root_path", "") != root_path:
        # Inside a Mount the router overwrote `route` with the inner one.
        return _mounted_template(scope, root_path) or path
    return path


class PrometheusASGIMiddleware:
    """Wrap an ASGI app: count and time its HTTP requests, serve `metrics_path`.

    `registry=None` uses prometheus_client's default registry. Exceptions count as 500;
    scrapes of `metrics_path` are not counted. Request durations are differences of
    `timer` readings.
    """

    def __init__(
        self,
        app: ASGIApp,
        registry: CollectorRegistry | None = None,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        metrics_path: str | None = "/metrics",
        timer: Callable[[], float] = time.perf_counter,
    ):
        self.app = app
        self.metrics = HttpMetrics(registry, buckets, timer=timer)
        self.registry = self.metrics.registry
        self.metrics_path = metrics_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.metrics_path and scope["method"] in ("GET", "HEAD"):
            await self._serve_metrics(scope, send)
            return
        metrics = self.metrics
        root_path = scope.get("root_path", "")
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        timer = metrics.timer
        metrics.started()
        start = timer()
        try:
            await self.app(scope, receive, send_status)
        except BaseException:
            status = 500
            raise
        finally:
            metrics.finished(
                method_label(scope["method"]),
                route_label(scope, root_path),
                status,
                timer() - start,
            )

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
        accept = None
        for name, value in scope.get("headers", ()):
            if name.lower() == b"accept":
                accept = value.decode("latin-1")
        body, content_type = exposition(self.registry, accept)
        headers = [
            (b"content-type", content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode("ascii")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
