"""`instrument_aiohttp`: RED metrics middleware and a `/metrics` route for aiohttp apps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry

from .instrument import DEFAULT_BUCKETS, UNMATCHED, HttpMetrics, exposition, method_label

HTTP_METRICS: web.AppKey[HttpMetrics] = web.AppKey("opslens_http_metrics", HttpMetrics)
# nginx's code for a client that went away before the answer: not the server's fault.
CLIENT_CLOSED = 499

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_label(request: web.Request) -> str:
    """The matched route template (`/orders/{id}`), never the raw path."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def instrument_aiohttp(
    app: web.Application,
    registry: CollectorRegistry | None = None,
    *,
    buckets: Sequence[float] = DEFAULT_BUCKETS,
    metrics_path: str | None = "/metrics",
    timer: Callable[[], float] = time.perf_counter,
) -> HttpMetrics:
    """Add the middleware and a `metrics_path` route serving `registry` to `app`.

    `registry=None` uses prometheus_client's default registry, so the service's own
    metrics appear on the same page. Scrapes of `metrics_path` are not counted.
    Request durations are differences of `timer` readings.
    """
    metrics = HttpMetrics(registry, buckets, timer=timer)
    app[HTTP_METRICS] = metrics
    finished = metrics.finished

    async def serve_metrics(request: web.Request) -> web.Response:
        body, content_type = exposition(metrics.registry, request.headers.get("Accept"))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.handler is serve_metrics:
            return await handler(request)
        metrics.started()
        start = timer()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            finished(method_label(request.method), route_label(request), status, timer() - start)

    app.middlewares.append(middleware)
    if metrics_path:
        app.router.add_get(metrics_path, serve_metrics, name="opslens_metrics")
    return metrics
