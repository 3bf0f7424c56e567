"""Wait for a condition, never for a guessed time: poll it until it holds or a deadline passes.

A fixed sleep is either too short on a slow machine (a flaky failure) or too long
everywhere else; polling returns as soon as the condition holds and fails loudly, saying
what it waited for, when it never does.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

T = TypeVar("T")

What = str | Callable[[], str]


def _timed_out(timeout: float, what: What, probe: object) -> TimeoutError:
    said = what() if callable(what) else what
    return TimeoutError(f"timed out after {timeout}s waiting for {said or probe}")


def wait_until(
    probe: Callable[[], T | None],
    timeout: float = 15.0,
    what: What = "",
    interval: float = 0.05,
) -> T:
    """Call `probe` until it returns something truthy and return that; block between calls.

    For threads and other processes: the caller's thread does nothing else meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(timeout, what, probe)
        time.sleep(interval)


async def wait_until_async(
    probe: Callable[[], T | Awaitable[T | None] | None],
    timeout: float = 15.0,
    what: What = "",
    interval: float = 0.01,
) -> T:
    """`wait_until` for a running event loop: the loop keeps serving between calls.

    `probe` may be a plain function (a registry value, a list's length) or a coroutine
    function (an HTTP request to the app under test).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise _timed_out(timeout, what, probe)
        await asyncio.sleep(interval)


async def wait_ready(client: TestClient, timeout: float = 20.0) -> None:
    """Until the agent's `/-/ready` answers 200: every source has finished a first poll."""

    async def ready() -> bool:
        async with client.get("/-/ready") as response:
            return response.status == 200

    await wait_until_async(ready, timeout, "the agent's /-/ready to answer 200")
