"""The agent's aiohttp application: `/metrics`, health, status page, exporter routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from agent.exporters_table import build_exporter, web_setup
from agent.report import scheduler as report_scheduler
from agent.runtime import Runtime
from agent.settings import Settings
from agent.web.keys import METRICS_TOKEN, RUNTIME, SETTINGS
from agent.web.status import status_handler
from exporters.auth import bearer_ok
from exporters.base import Exporter

log = logging.getLogger("opslens.agent")

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def create_app(settings: Settings, exporters: Sequence[Exporter] | None = None) -> web.Application:
    """Build the agent: exporters from the config (or given), poll loops, routes."""
    config = settings.config
    app = web.Application(client_max_size=config.agent.max_body_bytes)
    if exporters is None:
        exporters = [build_exporter(name, config, settings.context) for name in settings.exporters]
    app[SETTINGS] = settings
    app[METRICS_TOKEN] = _metrics_token(settings)
    app[RUNTIME] = Runtime(exporters, clock=settings.context.clock)
    app.cleanup_ctx.append(_runtime_ctx)
    report_scheduler.install(app)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/", status_handler(lambda r: _authorized(r, r.app[METRICS_TOKEN])))
    for exporter in exporters:
        if setup := web_setup(exporter.name):
            setup(app, exporter)
    return app


async def _runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    await runtime.start()
    yield
    await runtime.stop()


def _metrics_token(settings: Settings) -> str | None:
    """The bearer token for /metrics and /, read once; "" (deny all) when unreadable."""
    env_name = settings.config.agent.metrics_token_env
    if env_name is None:
        return None
    token = settings.context.secret(env_name)
    if not token:
        log.error("%s is set in the config but not in the environment: denying /metrics", env_name)
        return ""
    return token


def _authorized(request: web.Request, token: str | None) -> bool:
    return bearer_ok(request.headers.get("Authorization", ""), token)


async def metrics(request: web.Request) -> web.Response:
    if not _authorized(request, request.app[METRICS_TOKEN]):
        return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    openmetrics = "application/openmetrics-text" in request.headers.get("Accept", "")
    compress = "gzip" in request.headers.get("Accept-Encoding", "")
    # Rendering after a poll can take seconds for large cost exports: keep it off the
    # event loop so webhooks are still answered; cached scrapes return at once anyway.
    endpoint = request.app[RUNTIME].endpoint
    body = await asyncio.to_thread(endpoint.body, openmetrics, compress)
    response = web.Response(body=body)
    response.headers["Content-Type"] = OPENMETRICS_TYPE if openmetrics else TEXT_TYPE
    if compress:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept, Accept-Encoding"
    return response


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OpsLens agent is healthy.\n")


async def ready(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if runtime.ready:
        return web.Response(text="OpsLens agent is ready.\n")
    waiting = [f"{s.exporter}/{s.name}" for s in runtime.states() if not s.settled]
    return web.Response(status=503, text=f"waiting for first poll of: {', '.join(waiting)}\n")
