"""Requests that are not valid HTTP: a JSON 400 and one log line, not text and a traceback.

aiohttp's parser refuses them (a header line over 8190 bytes, too many headers, control
characters in a header, a bad Content-Length or chunk size) before the application or its
middlewares see anything, and answers in text/plain while logging a full traceback, so a
client sending garbage could flood the log. The parser's message quotes the offending
bytes, which may hold a credential: only its first clause is kept.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

log = logging.getLogger("opslens.http")


def problem(status: int, message: str | None) -> str:
    """The parser's complaint without the bytes it quotes: "Invalid header value char"."""
    first = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    return first.split(":", 1)[0].strip() or HTTPStatus(status).phrase


class _JsonErrorHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not 400 <= status < 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        what = problem(status, message)
        log.info("refused a malformed HTTP request from %s: %s", request.remote, what)
        response = web.json_response({"error": f"malformed HTTP request: {what}"}, status=status)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class AgentRunner(web.AppRunner):
    """An AppRunner whose connections answer malformed HTTP as the routes answer bad input."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _JsonErrorServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )
