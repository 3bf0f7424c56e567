"""`opslens backfill dora --since 90d`: pull history from GitHub, GitLab and git into the store."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import TextIO

from exporters.base import Context, SourceError

from .api import ApiClient
from .config import DoraConfig
from .exporter import DoraWiring, build_pollers, open_store


class ProgressBar:
    """A one-line progress bar on a terminal; plain final lines elsewhere (CI logs)."""

    def __init__(self, out: TextIO, label: str, width: int = 30):
        self.out = out
        self.label = label
        self.width = width
        self.tty = out.isatty()

    def update(self, done: int, total: int) -> None:
        if not self.tty or total == 0:
            return
        filled = self.width * done // total
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\r{self.label:<24} [{bar}] {done}/{total} deployments")
        self.out.flush()

    def finish(self, message: str) -> None:
        prefix = "\r" if self.tty else ""
        self.out.write(
            f"{prefix}{self.label:<24} {message}\033[K\n"
            if self.tty
            else f"{self.label}: {message}\n"
        )
        self.out.flush()


def run(config: DoraConfig, ctx: Context, since: float, out: TextIO | None = None) -> int:
    """Backfill every configured source; 0 when all succeeded, 1 when any failed."""
    return asyncio.run(backfill(config, ctx, since, out or sys.stderr))


async def backfill(
    config: DoraConfig,
    ctx: Context,
    since: float,
    out: TextIO,
    clients: Mapping[str, ApiClient] | None = None,
) -> int:
    """Pull `since` seconds of history from every source with something to poll."""
    store = open_store(config, ctx)
    await store.start()
    failures = 0
    try:
        pollers, not_polled = build_pollers(DoraWiring(config, ctx, store, clients or {}))
        for name, why in not_polled.items():
            ProgressBar(out, name).finish(f"skipped: {why}")
        for poller in pollers:
            bar = ProgressBar(out, poller.name)
            try:
                bar.finish(await poller.backfill(ctx.clock() - since, bar.update))
            except SourceError as exc:
                failures += 1
                bar.finish(f"failed ({exc.reason}): {exc}")
            finally:
                await poller.close()
    finally:
        await store.stop()
    return 1 if failures else 0
