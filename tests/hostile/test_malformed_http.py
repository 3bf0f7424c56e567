"""Bytes that are not valid HTTP, or bodies no parser should take, get a JSON 4xx and at most
one log line, and a credential quoted by the HTTP parser is never echoed (a real agent)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.server import SECRET_VARS, Agent, running_agent

pytestmark = pytest.mark.integration

TOKEN = "S3CR3T-in-a-broken-header"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    secrets = {name: f"tok-{name.lower()}" for name in SECRET_VARS}
    secrets["OPSLENS_EVENTS_TOKEN"] = TOKEN
    with running_agent(tmp_path_factory.mktemp("malformed"), secrets) as running:
        yield running


def exchange(agent: Agent, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; return the status, headers and body of the answer."""
    host, port = agent.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def post(headers: bytes, body: bytes, path: bytes = b"/api/v1/events") -> bytes:
    start = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    return start + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body


AUTH = f"Authorization: Bearer {TOKEN}\r\n".encode()
MALFORMED = {
    "header line over 8190 bytes": post(b"X-Big: " + b"a" * 20_000 + b"\r\n" + AUTH, b"[]"),
    "200 headers": post(b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + AUTH, b"[]"),
    "not an HTTP method": b"GARBAGE / HTTP/1.1\r\n\r\n",
    "NUL in the credential": post(f"Authorization: Bearer {TOKEN}\x00\r\n".encode(), b"[]"),
    "control character in a header": post(b"X-A: a\x07b\r\n" + AUTH, b"[]"),
    "bad Content-Length": b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
    "bad chunk size": b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked\r\n" + AUTH + b"\r\nzz\r\n",
    "URL over 8190 bytes": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
}
BAD_BODIES = {
    "invalid UTF-8": (post(AUTH, b'{"kind": "\xff"}'), 400),
    "JSON nested 50,000 deep": (post(AUTH, b"[" * 50_000 + b"]" * 50_000), 400),
    "6 MiB body": (post(AUTH, b"x" * (6 * 1024 * 1024)), 413),
    "path traversal": (
        b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        404,
    ),
    "form body that is not a form": (
        post(b"Content-Type: application/x-www-form-urlencoded\r\n" + AUTH, b"%%%"),
        400,
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_http_is_a_json_400(agent: Agent, case: str) -> None:
    status, headers, body = exchange(agent, MALFORMED[case])
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error.startswith("malformed HTTP request: ") and len(error) < 100
    assert TOKEN not in body.decode("latin-1")


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_hostile_bodies_are_json_4xx(agent: Agent, case: str) -> None:
    data, expected = BAD_BODIES[case]
    status, headers, body = exchange(agent, data)
    assert status == expected
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]


def test_the_log_has_one_line_per_refusal_and_no_secret(agent: Agent, tmp_path: Path) -> None:
    for data in MALFORMED.values():
        exchange(agent, data)
    log = agent.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert TOKEN not in log
    assert log.count("refused a malformed HTTP request") >= len(MALFORMED)
