"""Demo notification sinks: what Alertmanager sends to Slack, PagerDuty and email, kept.

    python -m agent.demo.inbox --listen 127.0.0.1:10483 --smtp 127.0.0.1:10484

HTTP: `POST /slack` answers like a Slack incoming webhook, `POST /pagerduty` like the
PagerDuty Events v2 API; SMTP: a minimal plain-text server (no TLS, no auth: loopback only).
`GET /messages` lists what arrived, oldest first: receiver kind, arrival time and the
message's text (for email, the subject and the decoded body parts).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from exporters.app.demo import until_signalled

log = logging.getLogger("opslens.demo.inbox")

DEFAULT_LISTEN = "127.0.0.1:10483"
DEFAULT_SMTP = "127.0.0.1:10484"
# A demo runs for hours at most; past this the oldest go, and the count says how many.
MAX_MESSAGES = 5000
MAX_LINE = 1000  # RFC 5321's line limit, CRLF included
MAX_DATA = 1024 * 1024


@dataclass(frozen=True)
class Message:
    receiver: str  # slack | pagerduty | email
    received_at: float
    text: str


@dataclass
class Inbox:
    """The messages received so far, and how many were let go over the cap."""

    messages: list[Message] = field(default_factory=list)
    dropped: int = 0

    def add(self, receiver: str, text: str) -> None:
        self.messages.append(Message(receiver, time.time(), text))
        if len(self.messages) > MAX_MESSAGES:
            self.messages.pop(0)
            self.dropped += 1
            log.warning("inbox full: dropped the oldest message (%d so far)", self.dropped)

    def as_json(self) -> dict[str, Any]:
        return {"messages": [asdict(m) for m in self.messages], "dropped": self.dropped}


def email_text(raw: bytes) -> str:
    """The subject and every decoded text part of an RFC 5322 message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [f"Subject: {message.get('Subject', '')}"]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


INBOX: web.AppKey[Inbox] = web.AppKey("inbox", Inbox)


async def _json_body(request: web.Request) -> str:
    body = await request.read()
    try:
        json.loads(body)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body must be JSON"}), content_type="application/json"
        ) from None
    return body.decode()


async def slack(request: web.Request) -> web.Response:
    request.app[INBOX].add("slack", await _json_body(request))
    return web.Response(text="ok")


async def pagerduty(request: web.Request) -> web.Response:
    request.app[INBOX].add("pagerduty", await _json_body(request))
    return web.json_response(
        {"status": "success", "message": "Event processed", "dedup_key": "demo"}, status=202
    )


async def messages(request: web.Request) -> web.Response:
    return web.json_response(request.app[INBOX].as_json())


def http_app(inbox: Inbox) -> web.Application:
    app = web.Application()
    app[INBOX] = inbox
    app.router.add_post("/slack", slack)
    app.router.add_post("/pagerduty", pagerduty)
    app.router.add_get("/messages", messages)
    return app


class SmtpSession:
    """One SMTP conversation: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def __init__(self, inbox: Inbox, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.inbox, self.reader, self.writer = inbox, reader, writer

    async def reply(self, line: str) -> None:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()

    async def run(self) -> None:
        await self.reply("220 opslens-demo ESMTP")
        while line := await self.reader.readline():
            verb = line[:4].decode(errors="replace").upper()
            if verb == "EHLO":
                await self.reply("250-opslens-demo\r\n250-8BITMIME\r\n250 SIZE 1048576")
            elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                await self.reply("250 OK")
            elif verb == "DATA":
                await self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = await self.data()
                if data is None:
                    await self.reply("552 message too large")
                else:
                    self.inbox.add("email", email_text(data))
                    await self.reply("250 OK: queued")
            elif verb == "QUIT":
                await self.reply("221 Bye")
                return
            else:
                await self.reply("502 command not implemented")

    async def data(self) -> bytes | None:
        """Read DATA up to the lone dot, undoing dot-stuffing; None past MAX_DATA."""
        lines: list[bytes] = []
        size = 0
        while line := await self.reader.readline():
            if line in (b".\r\n", b".\n"):
                return b"".join(lines) if size <= MAX_DATA else None
            size += len(line)
            if size <= MAX_DATA:
                lines.append(line[1:] if line.startswith(b"..") else line)
        return None


async def start_smtp(inbox: Inbox, listen: str) -> asyncio.Server:
    host, _, port = listen.rpartition(":")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await SmtpSession(inbox, reader, writer).run()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
            log.warning("smtp session ended early: %s", exc)
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, int(port), limit=MAX_LINE * 64)


async def serve(listen: str, smtp: str) -> None:
    inbox = Inbox()
    runner = web.AppRunner(http_app(inbox), access_log=None)
    await runner.setup()
    host, _, port = listen.rpartition(":")
    await web.TCPSite(runner, host, int(port)).start()
    server = await start_smtp(inbox, smtp)
    try:
        await until_signalled()
    finally:
        server.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.demo.inbox", description=__doc__)
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help="HTTP HOST:PORT (%(default)s)")
    parser.add_argument("--smtp", default=DEFAULT_SMTP, help="SMTP HOST:PORT (%(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(args.listen, args.smtp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
