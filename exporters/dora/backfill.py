"""`opslens backfill dora --since 90d`: pull history from GitHub, GitLab and git into the store."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import TextIO

from agent.config import Config
from agent.config.dora import GithubSource, GitlabSource, GitSource
from agent.config.types import Duration
from exporters.base import Context, SourceError

from .api import ApiClient
from .forge import ForgePoller, GitHubPoller, GitLabPoller
from .git import GitTagPoller
from .store import EventStore


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


def run(config: Config, ctx: Context, since: Duration, out: TextIO | None = None) -> int:
    """Backfill every configured source; 0 when all succeeded, 1 when any failed."""
    return asyncio.run(backfill(config, ctx, since.seconds_f, out or sys.stderr))


async def backfill(
    config: Config,
    ctx: Context,
    since: float,
    out: TextIO,
    clients: Mapping[str, ApiClient] | None = None,
) -> int:
    dora = config.dora
    store = EventStore(
        ctx.data_dir / "dora" / "events.db", dora.failure_window.seconds_f, ctx.clock
    )
    await store.start()
    start = ctx.clock() - since
    failures = 0
    try:
        for source in dora.sources:
            bar = ProgressBar(out, source.name)
            poller: ForgePoller | GitTagPoller
            if isinstance(source, GithubSource | GitlabSource):
                if not source.token_env:
                    bar.finish("skipped: no token_env (webhooks only)")
                    continue
                kind = GitHubPoller if isinstance(source, GithubSource) else GitLabPoller
                poller = kind(source, dora, ctx, store.submit, (clients or {}).get(source.name))
            elif isinstance(source, GitSource):
                poller = GitTagPoller(
                    source.model_copy(update={"path": str(ctx.resolve(source.path))}),
                    dora,
                    store.submit,
                )
            else:
                continue
            try:
                if isinstance(poller, ForgePoller):
                    count = await poller.sync(start, bar.update)
                    waited = sum(poller.client.waits)
                    note = f", waited {waited:.0f}s for rate limits" if waited else ""
                    bar.finish(f"{count} deployments{note}")
                else:
                    bar.finish(f"{await poller.sync()} new tags")
            except SourceError as exc:
                failures += 1
                bar.finish(f"failed ({exc.reason}): {exc}")
            finally:
                if isinstance(poller, ForgePoller):
                    await poller.close()
    finally:
        await store.stop()
    return 1 if failures else 0
