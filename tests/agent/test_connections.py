"""`agent.max_connections` and `agent.idle_timeout`: a flood of clients cannot use up the agent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import uvloop

from agent.cli.run import start
from agent.config import parse
from agent.settings import Settings
from agent.web.connections import LINGER, MAX_LINGERING
from agent.web.keys import AGENT
from exporters.base import Context

CONFIG = """version: 1
project: p
agent: {max_connections: 3, idle_timeout: 1s}
"""
GET = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"


async def response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response: status, headers, body (by Content-Length)."""
    status = int((await asyncio.wait_for(reader.readline(), 10)).split()[1])
    headers = {}
    while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def scenario(tmp_path: Path) -> None:
    """Fill the cap, be refused, wait for idle_timeout to free places, be served."""
    settings = Settings(
        config=parse(CONFIG), context=Context(data_dir=tmp_path, env={}), exporters=()
    )
    _app, runner = await start(settings, "127.0.0.1:0")
    port = runner.addresses[0][1]
    held = []
    try:
        for _ in range(2):  # keep-alive connections, idle after their first answer
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(GET)
            assert (await response(reader))[0] == 200
            held.append((reader, writer))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n")  # stops mid-headers
        held.append((reader, writer))
        await asyncio.sleep(0.1)  # let the server accept it before the next one

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET)
        status, headers, body = await response(reader)
        writer.close()
        assert (status, headers["connection"]) == (503, "close")
        assert json.loads(body) == {"error": "too many open connections, retry later"}

        # Idle keep-alive connections, and one stuck mid-headers, are closed after
        # agent.idle_timeout (1 s), which frees their places: the next client is served,
        # and sees the refusal counted.
        for held_reader, _ in held:
            assert await asyncio.wait_for(held_reader.read(), 5) == b""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, body = await response(reader)
        writer.close()
        assert status == 200
        assert b"\nopslens_http_connections_refused_total 1.0\n" in body
    finally:
        for _, held_writer in held:
            held_writer.close()
        await runner.cleanup()


async def test_connections_past_the_cap_get_503_and_idle_ones_are_closed(tmp_path: Path) -> None:
    await scenario(tmp_path)


def test_the_cap_works_under_uvloop(tmp_path: Path) -> None:
    # `opslens run` serves on uvloop, whose transports differ from asyncio's.
    uvloop.run(scenario(tmp_path))


async def test_a_flood_of_refused_clients_holds_few_sockets(tmp_path: Path) -> None:
    text = CONFIG.replace("max_connections: 3", "max_connections: 1")
    settings = Settings(
        config=parse(text), context=Context(data_dir=tmp_path, env={}), exporters=()
    )
    app, runner = await start(settings, "127.0.0.1:0")
    port = runner.addresses[0][1]
    stats = app[AGENT].connections
    clients = []
    try:
        clients.append(await asyncio.open_connection("127.0.0.1", port))  # the one allowed
        await asyncio.sleep(0.1)
        for _ in range(MAX_LINGERING + 10):  # refused clients that never read nor close
            clients.append(await asyncio.open_connection("127.0.0.1", port))
        await asyncio.sleep(0.2)
        assert stats.refused == MAX_LINGERING + 10
        assert stats.lingering == MAX_LINGERING
        # Every refused client got its answer, even those closed at once.
        firsts = [await asyncio.wait_for(r.readline(), 5) for r, _ in clients[1:]]
        assert set(firsts) == {b"HTTP/1.1 503 Service Unavailable\r\n"}
        await asyncio.sleep(LINGER + 0.5)
        assert stats.lingering == 0
    finally:
        for _, writer in clients:
            writer.close()
        await runner.cleanup()
