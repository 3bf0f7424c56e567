"""A blocking poll that outlives its timeout strands one worker thread, never more."""

from __future__ import annotations

import asyncio
import threading

from agent.runtime import PollLoop
from exporters.base import OneThread


class BlockingSource:
    exporter = "cost"
    name = "stuck"
    interval = 1.0

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0
        self._thread = OneThread()

    def read(self) -> None:
        self.started += 1
        self.release.wait(10)

    async def poll(self) -> None:
        await self._thread.run(self.read)


async def test_a_stuck_poll_is_not_started_again_until_its_thread_ends() -> None:
    source = BlockingSource()
    loop = PollLoop(source, rand=lambda: 0.0, timeout=0.1)
    try:
        await loop.poll_once()
        assert loop.state.last_error == "timeout: poll did not finish within 0s"
        await loop.poll_once()
        assert loop.state.last_error == "timeout: the previous poll is still running"
        assert source.started == 1
    finally:
        source.release.set()
    while loop.state.up is False and loop.state.polls < 100:
        await asyncio.sleep(0.05)  # the released thread ends on its own time
        await loop.poll_once()
    assert loop.state.up
    assert source.started == 2
    assert loop.state.errors["timeout"] >= 2
