"""Local sinks that record what real notifiers send: an HTTP sink and an SMTP sink.

Each runs its own event loop in a thread, so plain synchronous tests can drive a real
Alertmanager while the sinks answer it. Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web

# What the real services answer, as far as Alertmanager's notifiers look at it.
SNS_PUBLISH_RESPONSE = (
    '<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/">'
    "<PublishResult><MessageId>00000000-0000-0000-0000-000000000000</MessageId></PublishResult>"
    "<ResponseMetadata><RequestId>opslens-test</RequestId></ResponseMetadata></PublishResponse>"
)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class _Recorder:
    items: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Any) -> None:
        with self.lock:
            self.items.append(item)

    def snapshot(self) -> list[Any]:
        with self.lock:
            return list(self.items)


@contextlib.contextmanager
def _loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        if not loop.is_running():
            loop.close()


class HttpSink:
    """Record every request; answer 200 (SNS paths get a Publish response)."""

    def __init__(self, url: str, recorder: _Recorder):
        self.url = url
        self._recorder = recorder

    @property
    def requests(self) -> list[HttpRequest]:
        return self._recorder.snapshot()

    def to(self, path: str) -> list[HttpRequest]:
        # Some clients (the AWS SDK) add a trailing slash to the endpoint path.
        return [r for r in self.requests if r.path.rstrip("/") == path.rstrip("/")]


@contextlib.contextmanager
def http_sink() -> Iterator[HttpSink]:
    """Run an HTTP sink on a free loopback port; yield it."""
    recorder = _Recorder()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        recorder.add(HttpRequest(request.method, request.path, dict(request.headers), body))
        if request.path.startswith("/sns"):
            return web.Response(text=SNS_PUBLISH_RESPONSE, content_type="text/xml")
        if request.path.startswith("/pagerduty"):
            return web.json_response(
                {"status": "success", "message": "Event processed"}, status=202
            )
        return web.Response(text="ok")

    async def start() -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner, int(runner.addresses[0][1])

    with _loop_thread() as loop:
        runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
        try:
            yield HttpSink(f"http://127.0.0.1:{port}", recorder)
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)


class SmtpSink:
    """Record every mail delivered over plain SMTP (no TLS, no auth)."""

    def __init__(self, host: str, port: int, recorder: _Recorder):
        self.host = host
        self.port = port
        self._recorder = recorder

    @property
    def smarthost(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def mails(self) -> list[Mail]:
        return self._recorder.snapshot()


async def _smtp_session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, recorder: _Recorder
) -> None:
    """Speak just enough RFC 5321 for Go's net/smtp client."""

    def reply(line: str) -> None:
        writer.write(line.encode() + b"\r\n")

    mail_from, rcpt_to = "", []
    reply("220 opslens-test-sink ESMTP")
    try:
        while line := await reader.readline():
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                reply("250-opslens-test-sink")
                reply("250 8BITMIME")
            elif verb == "HELO":
                reply("250 opslens-test-sink")
            elif verb == "MAIL":
                mail_from, rcpt_to = command.split(":", 1)[1].split()[0].strip("<>"), []
                reply("250 OK")
            elif verb == "RCPT":
                rcpt_to.append(command.split(":", 1)[1].strip().strip("<>"))
                reply("250 OK")
            elif verb == "DATA":
                reply("354 end with <CRLF>.<CRLF>")
                await writer.drain()
                lines = []
                while (chunk := await reader.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(chunk[1:] if chunk.startswith(b".") else chunk)  # dot-stuffing
                recorder.add(Mail(mail_from, rcpt_to, b"".join(lines)))
                reply("250 OK queued")
            elif verb == "QUIT":
                reply("221 bye")
                await writer.drain()
                break
            else:  # RSET, NOOP and anything else: accept
                reply("250 OK")
            await writer.drain()
    finally:
        writer.close()


@contextlib.contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """Run an SMTP sink on a free loopback port; yield it."""
    recorder = _Recorder()

    async def start() -> asyncio.Server:
        return await asyncio.start_server(
            lambda r, w: _smtp_session(r, w, recorder), "127.0.0.1", 0
        )

    with _loop_thread() as loop:
        server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
        port = int(server.sockets[0].getsockname()[1])
        try:
            yield SmtpSink("127.0.0.1", port, recorder)
        finally:
            server.close()
