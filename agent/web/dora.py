"""The DORA exporter's HTTP routes: a thin adapter from aiohttp to `Ingestor`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from agent.web.keys import SETTINGS
from exporters.dora.exporter import DoraExporter
from exporters.dora.ingest import Reply

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _route(ingest: Callable[..., Awaitable[Reply]], limit: int) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > limit:
            return web.json_response({"error": f"body over {limit} bytes"}, status=413)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": f"body over {limit} bytes"}, status=413)
        reply = await ingest(request.headers, body)
        return web.json_response(reply.body, status=reply.status)

    return handle


def setup(app: web.Application, exporter: DoraExporter) -> None:
    """Add the webhook and event routes (docs/http-api.md#routes)."""
    ingest = exporter.ingestor
    limit = app[SETTINGS].config.agent.max_body_bytes
    app.router.add_post("/webhooks/github", _route(ingest.github, limit))
    app.router.add_post("/webhooks/gitlab", _route(ingest.gitlab, limit))
    app.router.add_post("/webhooks/alertmanager", _route(ingest.alertmanager, limit))
    app.router.add_post("/api/v1/events", _route(ingest.events, limit))
