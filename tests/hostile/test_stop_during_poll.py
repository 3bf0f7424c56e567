"""Stopping the runtime (a reload, a shutdown) the moment a poll finishes must not hang.

Python 3.11's `asyncio.wait_for` loses a cancellation that arrives as the awaited poll
completes; the loop then slept its whole interval and `POST /-/reload` hung (found by
tests/hostile/test_schemathesis.py). Every step of the event loop is tried as the moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from prometheus_client.core import Metric

from agent.runtime import Runtime


class QuickSource:
    exporter = "test"
    name = "quick"
    interval = 3600.0  # a lost cancellation would leave stop() waiting an hour

    async def poll(self) -> None:
        await asyncio.sleep(0)


class QuickExporter:
    name = "test"

    def __init__(self) -> None:
        self.source = QuickSource()

    @property
    def pollers(self) -> Sequence[QuickSource]:
        return [self.source]

    def collectors(self) -> list[object]:
        return []

    def collect(self) -> Iterator[Metric]:
        return iter(())

    def generation(self) -> int:
        return 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


async def test_stop_at_every_step_of_a_poll_returns_at_once() -> None:
    for steps in range(12):
        runtime = Runtime([QuickExporter()])
        await runtime.start()
        for _ in range(steps):
            await asyncio.sleep(0)
        await asyncio.wait_for(runtime.stop(), 2)  # TimeoutError names the hang
