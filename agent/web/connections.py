"""The connection cap: past `agent.max_connections` open connections, answer 503 and close.

Each connection holds a file descriptor; without a cap, a flood of clients exhausts them
and every route (and every source reading a file) fails with EMFILE. A refused client
gets a complete HTTP answer it can retry on, not a reset.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, Metric

log = logging.getLogger("opslens.web")

_BODY = json.dumps({"error": "too many open connections, retry later"}).encode()
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json; charset=utf-8\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)
# How long a refused client may take to read the answer before its socket is closed, and
# how many may do so at once: past that, a flood of refusals must not hold descriptors.
LINGER = 1.0
MAX_LINGERING = 64


@dataclass(eq=False)  # a registered collector must stay hashable
class ConnectionStats:
    """Connections refused since the start; exposed as a self metric."""

    refused: int = 0
    lingering: int = 0  # refused sockets still open, waiting for their client to read

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "opslens_http_connections_refused_total",
            "Connections answered 503 and closed because agent.max_connections were open "
            "(opslens agent).",
            value=self.refused,
        )


class _Refuse(asyncio.Protocol):
    """Write the 503, then close once the client has read it (or after LINGER seconds).

    Closing at once while the client's request is unread would reset the connection and
    lose the answer; past MAX_LINGERING such sockets, it is closed at once all the same.
    """

    def __init__(self, stats: ConnectionStats):
        self._stats = stats
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they write alike.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(REFUSAL)
        if self._stats.lingering >= MAX_LINGERING:
            transport.close()
            return
        self._stats.lingering += 1
        self._timer = asyncio.get_running_loop().call_later(LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        """Discard the request: it is not served."""

    def eof_received(self) -> bool:
        self._transport.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._stats.lingering -= 1


def gate(
    server: web.Server, limit: int, stats: ConnectionStats
) -> Callable[[], asyncio.BaseProtocol]:
    """A protocol factory: aiohttp's handler while under `limit` connections, else a refusal."""

    def factory() -> asyncio.BaseProtocol:
        if len(server.connections) < limit:
            return server()
        stats.refused += 1
        if stats.refused == 1 or stats.refused % 1000 == 0:
            log.warning(
                "refused a connection: %d open, agent.max_connections is %d (%d refused so far)",
                len(server.connections),
                limit,
                stats.refused,
            )
        return _Refuse(stats)

    return factory


class CappedSite(web.TCPSite):
    """A TCP site that refuses connections past `limit` (see `gate`)."""

    def __init__(
        self, runner: web.AppRunner, host: str, port: int, limit: int, stats: ConnectionStats
    ):
        super().__init__(runner, host, port)
        self._limit = limit
        self._stats = stats

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert isinstance(server, web.Server)
        self._server = await asyncio.get_running_loop().create_server(
            gate(server, self._limit, self._stats),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
