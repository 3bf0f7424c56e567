"""Header bytes that are not UTF-8 get a 4xx on every protected route, never a 5xx."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestServer

from agent.app import create_app
from agent.config import parse
from agent.settings import Settings
from exporters.base import Context

CONFIG = """version: 1
project: p
agent: {metrics_token_env: TOKEN}
app: {host: false}
dora:
  sources:
    - {type: events, name: ev, token_env: TOKEN}
    - {type: github, name: gh, repo: a/b, service: s, webhook_secret_env: TOKEN}
    - {type: gitlab, name: gl, project: a/b, service: s, webhook_token_env: TOKEN}
  incidents: {alertmanager: {enabled: true, token_env: TOKEN}}
"""


async def raw(port: int, request: bytes) -> int:
    """Send bytes no HTTP client library would send; return the status code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    return int(status_line.split()[1])


CASES = [
    ("GET", "/metrics", b"Authorization: Bearer \xff\xfe\r\n"),
    ("GET", "/", b"Authorization: Bearer \xc3\x28\r\n"),
    ("POST", "/-/reload", b"Authorization: \xff\r\n"),
    ("POST", "/api/v1/events", b"Authorization: Bearer \xed\xa0\x80\r\n"),
    ("POST", "/webhooks/alertmanager", b"Authorization: Bearer \xff\r\n"),
    ("POST", "/webhooks/gitlab", b"X-Gitlab-Token: \xff\xff\r\n"),
    ("POST", "/webhooks/github", b"X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=\xff\r\n"),
]


async def test_undecodable_credentials_are_refused(tmp_path: Path) -> None:
    settings = Settings(
        config=parse(CONFIG),
        context=Context(data_dir=tmp_path, env={"TOKEN": "s3cret"}),
        exporters=("app", "dora"),
    )
    # One agent for every route: each start and stop of the DORA store costs time.
    server = TestServer(create_app(settings))
    await server.start_server()
    try:
        statuses = {}
        for method, path, header in CASES:
            start = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            request = start.encode() + header + b"Content-Length: 2\r\nConnection: close\r\n\r\n[]"
            statuses[path] = await raw(server.port, request)  # type: ignore[arg-type]
    finally:
        await server.close()
    assert statuses == {path: 401 for _, path, _ in CASES}
