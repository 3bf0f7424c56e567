"""The agent's aiohttp application: `/metrics`, health, status page, exporter routes."""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from agent import __version__
from agent.exporters_table import build_exporter, web_setup
from agent.runtime import Runtime
from agent.settings import Settings
from agent.web.keys import METRICS_TOKEN, RUNTIME, SETTINGS
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
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/", status_page)
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


def _ago(then: float | None, now: float) -> str:
    return "never" if then is None else f"{now - then:.0f}s ago"


async def status_page(request: web.Request) -> web.Response:
    # The page shows upstream errors (URLs, paths): as private as /metrics.
    if not _authorized(request, request.app[METRICS_TOKEN]):
        return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    runtime = request.app[RUNTIME]
    settings = request.app[SETTINGS]
    now = time.time()
    row = "<tr><td>{}</td><td>{}</td><td class={}>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"
    rows = "".join(
        row.format(
            html.escape(s.exporter),
            html.escape(s.name),
            "up" if s.up else "down",
            "up" if s.up else ("pending" if not s.polls else "down"),
            _ago(s.last_success, now),
            html.escape(s.last_error or ""),
            # A poller may say more than up/down (FOCUS: the first row it had to drop).
            html.escape(getattr(loop.source, "detail", None) or ""),
        )
        for loop in runtime.loops
        for s in (loop.state,)
    )
    exporters = ", ".join(e.name for e in runtime.exporters) or "none"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>OpsLens agent</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 12px;text-align:left}}
.up{{color:#1a7f37}}.down{{color:#cf222e}}</style></head><body>
<h1>OpsLens agent {html.escape(__version__)}</h1>
<p>Project <b>{html.escape(settings.config.project)}</b>; exporters: {html.escape(exporters)}.
<a href="/metrics">/metrics</a> · <a href="/-/ready">/-/ready</a></p>
<table>
<tr><th>exporter</th><th>source</th><th>state</th><th>last success</th><th>last error</th>
<th>detail</th></tr>
{rows}</table></body></html>"""
    return web.Response(text=page, content_type="text/html")
