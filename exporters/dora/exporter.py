"""DoraExporter: the store, its ingest, the pollers, and the snapshot the collector serves."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence

from agent.config import Config
from agent.config.dora import GithubSource, GitlabSource, GitSource
from exporters.base import Context, Source

from .collector import DoraCollector
from .forge import GitHubPoller, GitLabPoller
from .git import GitTagPoller
from .ingest import Ingestor
from .snapshot import Snapshot, compute
from .store import EventStore

log = logging.getLogger("opslens.dora")

STORE_INTERVAL = 15.0  # windows slide even when nothing is posted


def store_path(ctx: Context) -> str:
    return str(ctx.data_dir / "dora" / "events.db")


def counted_environments(config: Config) -> frozenset[str]:
    """Only `dora.environments` count (DESIGN §6); source environments just filter."""
    return frozenset(config.dora.environments)


class StoreSource:
    """Recompute the snapshot on a timer so windowed gauges follow the clock."""

    exporter = "dora"
    name = "store"

    def __init__(self, owner: DoraExporter, interval: float = STORE_INTERVAL):
        self._owner = owner
        self._interval = interval

    @property
    def interval(self) -> float:
        return self._interval

    async def poll(self) -> None:
        await self._owner.refresh()


class DoraExporter:
    """Ingest writes to the store; a debounced refresh turns the store into a snapshot."""

    name = "dora"

    def __init__(self, config: Config, ctx: Context, debounce: float = 0.5):
        self.config = config
        self.ctx = ctx
        self.environments = counted_environments(config)
        dora = config.dora
        self.store = EventStore(
            ctx.data_dir / "dora" / "events.db", dora.failure_window.seconds_f, ctx.clock
        )
        self.ingestor = Ingestor(dora, ctx, self.store.submit)
        self._snapshot = Snapshot()
        self._generation = 0
        self._debounce = debounce
        self._reader: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_compute_seconds = 0.0
        self._sources: list[Source] = [StoreSource(self)]
        for source in dora.sources:
            if isinstance(source, GithubSource) and source.token_env:
                self._sources.append(GitHubPoller(source, dora, ctx, self.store.submit))
            elif isinstance(source, GitlabSource) and source.token_env:
                self._sources.append(GitLabPoller(source, dora, ctx, self.store.submit))
            elif isinstance(source, GitSource):
                self._sources.append(
                    GitTagPoller(
                        source.model_copy(update={"path": str(ctx.resolve(source.path))}),
                        dora,
                        self.store.submit,
                    )
                )

    @property
    def sources(self) -> Sequence[Source]:
        return self._sources

    def collectors(self) -> Iterable[DoraCollector]:
        return [DoraCollector(lambda: self._snapshot)]

    def generation(self) -> int:
        return self._generation

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    async def start(self) -> None:
        await self.store.start()
        self.store.on_commit = self._dirty.set
        await self.refresh()  # right from the first scrape after a restart
        self._task = asyncio.create_task(self._refresher(), name="dora-refresher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for source in self._sources:
            close = getattr(source, "close", None)
            if close is not None:
                await close()
        await self.store.stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def refresh(self) -> None:
        """Recompute the snapshot from the store in a thread; the event loop keeps serving."""
        async with self._lock:
            self._dirty.clear()
            self._snapshot = await asyncio.to_thread(self._compute)
            self._generation += 1

    def _compute(self) -> Snapshot:
        started = time.perf_counter()
        if self._reader is None:
            self._reader = self.store.reader()
        snapshot = compute(
            self._reader, self.ctx.clock(), self.environments, self.config.dora.levels
        )
        self.last_compute_seconds = time.perf_counter() - started
        return snapshot

    async def _refresher(self) -> None:
        while True:
            await self._dirty.wait()
            # Coalesce bursts, and never spend more than about a third of the time computing.
            await asyncio.sleep(max(self._debounce, 2 * self.last_compute_seconds))
            try:
                await self.refresh()
            except Exception:
                log.exception("DORA snapshot refresh failed")
                await asyncio.sleep(5)
