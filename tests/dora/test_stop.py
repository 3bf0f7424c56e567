"""Stopping the DORA exporter while a snapshot refresh is still computing in its thread."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from exporters.base import Context
from exporters.dora.exporter import DoraExporter

from .conftest import NOW, config


async def test_stop_waits_for_a_cancelled_refresh_before_closing_the_reader(
    tmp_path: Path,
) -> None:
    """A poll timeout cancels refresh() but not its thread; the reader must outlive it."""
    exporter = DoraExporter(config().dora, Context(tmp_path, clock=lambda: NOW, env={}))
    await exporter.start()
    inside = threading.Event()
    log: list[str] = []
    compute = exporter._compute

    def slow_compute():  # type: ignore[no-untyped-def]
        inside.set()
        time.sleep(0.5)
        snapshot = compute()  # reads through the reader stop() would close
        log.append("computed")
        return snapshot

    exporter._compute = slow_compute  # type: ignore[method-assign]
    refresh = asyncio.create_task(exporter.refresh())
    await asyncio.to_thread(inside.wait, 5)
    refresh.cancel()
    await asyncio.gather(refresh, return_exceptions=True)
    await exporter.stop()
    log.append("stopped")
    assert log == ["computed", "stopped"]
