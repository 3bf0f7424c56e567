"""Slow and vanishing senders: answered or dropped with one log line, never held for ever."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from agent.app import create_app
from agent.config import parse
from agent.settings import Settings
from exporters.base import Context

CONFIG = """version: 1
project: p
agent: {body_timeout: 1s}
app: {host: false}
dora:
  sources: [{type: events, name: ev, token_env: TOKEN}]
"""
HEAD = (
    b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
)


@pytest.fixture
async def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(
        config=parse(CONFIG),
        context=Context(data_dir=tmp_path, env={"TOKEN": "s3cret"}),
        exporters=("dora",),
    )
    server = TestServer(create_app(settings))
    await server.start_server()
    yield server
    await server.close()


async def test_a_half_sent_body_is_answered_408(server: TestServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEAD + b'{"kind": "deploy')  # then nothing more
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.split()[1] == b"408"


async def test_a_sender_that_vanishes_is_one_log_line(
    server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEAD + b'{"kind": "deploy')
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    for _ in range(100):  # the server notices the close on its own schedule
        if any("client disconnected" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    mine = [r.getMessage() for r in caplog.records if r.name == "opslens.web"]
    assert mine == ["POST /api/v1/events: client disconnected while sending (Connection lost)"]
    assert not any(r.exc_info for r in caplog.records)  # no traceback anywhere
