"""The DORA exporter's HTTP routes: a thin adapter from aiohttp to `Ingestor`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from agent.web.keys import AGENT
from exporters.dora.exporter import DoraExporter
from exporters.dora.ingest import Ingestor, Reply

Handler = Callable[[web.Request], Awaitable[web.Response]]

log = logging.getLogger("opslens.web")
Route = Callable[[Ingestor], Callable[..., Awaitable[Reply]]]


def _route(pick: Route) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        state = request.app[AGENT]
        limit = state.settings.config.agent.max_body_bytes
        timeout = state.settings.config.agent.body_timeout.total_seconds()
        if request.content_length is not None and request.content_length > limit:
            return web.json_response({"error": f"body over {limit} bytes"}, status=413)
        try:
            # A sender that stops half-way must not hold a connection (and a file
            # descriptor) for ever.
            body = await asyncio.wait_for(request.read(), timeout)
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": f"body over {limit} bytes"}, status=413)
        except TimeoutError:
            log.info("%s %s: body not received within %gs", request.method, request.path, timeout)
            return web.json_response(
                {"error": f"body not received within {timeout:g}s"}, status=408
            )
        except ConnectionError as exc:  # the sender went away: one line, not a traceback
            log.info(
                "%s %s: client disconnected while sending (%s)", request.method, request.path, exc
            )
            raise web.HTTPBadRequest() from None
        await state.serving.wait()  # never hand a batch to a store a reload is closing
        exporter = state.exporter("dora")
        assert isinstance(exporter, DoraExporter)
        reply = await pick(exporter.ingestor)(request.headers, body)
        return web.json_response(reply.body, status=reply.status)

    return handle


def setup(app: web.Application) -> None:
    """Add the webhook and event routes (docs/http-api.md#routes).

    Each request finds the exporter of the moment, so a reload's new ingest config (a new
    source, a rotated secret) applies to the next delivery.
    """
    app.router.add_post("/webhooks/github", _route(lambda i: i.github))
    app.router.add_post("/webhooks/gitlab", _route(lambda i: i.gitlab))
    app.router.add_post("/webhooks/alertmanager", _route(lambda i: i.alertmanager))
    app.router.add_post("/api/v1/events", _route(lambda i: i.events))
