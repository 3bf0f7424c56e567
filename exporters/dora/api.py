"""A small JSON API client for GitHub and GitLab: pagination and rate limits done right.

Pagination follows `Link: <…>; rel="next"`. Rate limits: a 403/429 waits `Retry-After`
seconds when given, else until `X-RateLimit-Reset`/`RateLimit-Reset` when the remaining
quota is 0, else a minute (GitHub's rule for secondary limits), doubling on repeats. A
response that leaves 0 requests makes the next call wait for the reset. Waits longer
than `max_wait` fail the poll with `retry_after`, so the agent's loop waits instead. A 5xx
is retried once after a second; a second 5xx fails the poll with reason `server_error`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from exporters.base import Clock, SourceError

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
SECONDARY_WAIT = 60.0
SERVER_ERROR_WAIT = 1.0


def next_link(header: str | None) -> str | None:
    if not header:
        return None
    for part in header.split(","):
        if match := _LINK_NEXT.search(part):
            return match.group(1)
    return None


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        if (value := headers.get(name)) is not None:
            return value
    return None


class ApiClient:
    """GET JSON from one API with a token; `waits` records every rate-limit pause."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait: float = 900.0,
        max_attempts: int = 6,
        timeout: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers)
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._max_attempts = max_attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._resume_at = 0.0
        self.requests = 0
        self.waits: list[float] = []

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _wait(self, seconds: float) -> None:
        if seconds > self._max_wait:
            raise SourceError("throttled", f"rate limited for {seconds:.0f}s", retry_after=seconds)
        self.waits.append(seconds)
        await self._sleep(seconds)

    async def get(
        self, url: str, params: Mapping[str, Any] | None = None
    ) -> tuple[Any, str | None]:
        """GET a path or absolute URL; return the JSON and the next page URL."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        if not url.startswith(("http://", "https://")):
            url = f"{self.base_url}{url}"
        throttled = 0
        server_errors = 0
        for _attempt in range(self._max_attempts):
            if (pause := self._resume_at - self._clock()) > 0:
                await self._wait(pause)
            self.requests += 1
            try:
                async with self._session.get(url, params=params) as response:
                    body = await response.read()
                    headers = response.headers
                    status = response.status
            except TimeoutError:
                raise SourceError("timeout", f"GET {url} timed out") from None
            except aiohttp.ClientError as exc:
                raise SourceError("connection", f"GET {url}: {exc}") from None
            remaining = _header(headers, "X-RateLimit-Remaining", "RateLimit-Remaining")
            reset = _header(headers, "X-RateLimit-Reset", "RateLimit-Reset")
            if status in (403, 429) and (
                status == 429
                or remaining == "0"
                or "Retry-After" in headers
                or b"rate limit" in body.lower()
            ):
                throttled += 1
                await self._wait(self._throttle_delay(headers, remaining, reset, throttled))
                continue
            if remaining == "0" and reset and reset.isdigit():
                self._resume_at = float(reset) + 1
            if status in (401, 403):
                raise SourceError("auth", f"GET {url}: HTTP {status} (check the token)")
            if status == 404:
                raise SourceError("not_found", f"GET {url}: HTTP 404")
            if status >= 500:
                # One retry rides out a blip; a forge that stays down fails the poll now,
                # and the agent's loop backs off instead of this request.
                server_errors += 1
                if server_errors > 1:
                    raise SourceError("server_error", f"GET {url}: HTTP {status}")
                await self._wait(SERVER_ERROR_WAIT)
                continue
            if status >= 400:
                raise SourceError("http", f"GET {url}: HTTP {status}")
            try:
                data = json.loads(body) if body else None
            except ValueError:
                raise SourceError("bad_response", f"GET {url}: not JSON") from None
            return data, next_link(headers.get("Link"))
        raise SourceError("throttled", f"GET {url}: gave up after {self._max_attempts} attempts")

    def _throttle_delay(
        self, headers: Mapping[str, str], remaining: str | None, reset: str | None, times: int
    ) -> float:
        retry_after = headers.get("Retry-After")
        if retry_after is not None:
            try:
                return max(float(retry_after), 0.0)
            except ValueError:
                pass
        if remaining == "0" and reset and reset.isdigit():
            return max(float(reset) - self._clock(), 0.0) + 1
        return SECONDARY_WAIT * 2 ** (times - 1)

    async def pages(
        self, url: str, params: Mapping[str, Any] | None = None, key: str | None = None
    ) -> AsyncIterator[list[Any]]:
        """Yield each page's list (or `page[key]` for object pages such as compare)."""
        next_url: str | None = url
        first = True
        while next_url:
            data, next_url = await self.get(next_url, params if first else None)
            first = False
            items = data.get(key) if key and isinstance(data, dict) else data
            if not isinstance(items, list):
                raise SourceError("bad_response", f"GET {url}: expected a list")
            yield items
