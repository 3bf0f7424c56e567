"""DoraExporter: the store, its ingest, the pollers, and the snapshot the collector serves."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from exporters.base import Context, NotPolled, Poller, SourceFactory, build_sources

from .api import ApiClient
from .collector import DoraCollector
from .config import (
    DoraConfig,
    GitHubSource,
    GitLabSource,
    GitSource,
    has_incident_source,
)
from .forge import GitHubPoller, GitLabPoller
from .git import GitTagPoller
from .ingest import Ingestor
from .records import OUT_OF_RANGE
from .snapshot import Snapshot, compute
from .store import EventStore, Sink

log = logging.getLogger("opslens.dora")

STORE_INTERVAL = 15.0  # windows slide even when nothing is posted


def open_store(config: DoraConfig, ctx: Context) -> EventStore:
    """The event store in the agent's data directory (`opslens run` and `backfill` share it)."""
    window = config.failure_window
    return EventStore(
        ctx.data_dir / "dora" / "events.db", window.seconds_f if window else None, ctx.clock
    )


@dataclass(frozen=True)
class DoraWiring:
    """What poller factories need: the section, the context, the store, test clients."""

    config: DoraConfig
    ctx: Context
    store: Sink
    clients: Mapping[str, ApiClient] = field(default_factory=dict)


def _forge_token(spec: GitHubSource | GitLabSource) -> None:
    if not spec.token_env:
        raise NotPolled("no token_env, so it takes webhooks only")


def _github(spec: GitHubSource, w: DoraWiring) -> GitHubPoller:
    _forge_token(spec)
    return GitHubPoller(spec, w.config, w.ctx, w.store, w.clients.get(spec.name))


def _gitlab(spec: GitLabSource, w: DoraWiring) -> GitLabPoller:
    _forge_token(spec)
    return GitLabPoller(spec, w.config, w.ctx, w.store, w.clients.get(spec.name))


def _git(spec: GitSource, w: DoraWiring) -> GitTagPoller:
    resolved = spec.model_copy(update={"path": str(w.ctx.resolve(spec.path))})
    return GitTagPoller(resolved, w.config, w.store.submit, w.ctx.clock)


def _events(spec: object, w: DoraWiring) -> Poller:
    raise NotPolled("generic events arrive at POST /api/v1/events")


# Source type (the `type` key in `dora.sources`) → poller factory, for `opslens run` and
# `opslens backfill` alike.
SOURCES: dict[str, SourceFactory[DoraWiring]] = {
    "github": _github,
    "gitlab": _gitlab,
    "git": _git,
    "events": _events,
}


def build_pollers(
    wiring: DoraWiring,
) -> tuple[list[GitHubPoller | GitLabPoller | GitTagPoller], dict[str, str]]:
    """The pollers of every `dora.sources` entry, and why the others are not polled."""
    pollers, skipped = build_sources(
        "dora", ((s.type, s) for s in wiring.config.sources), SOURCES, wiring
    )
    return pollers, skipped  # type: ignore[return-value]


class SnapshotPoller:
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

    def __init__(self, config: DoraConfig, ctx: Context, debounce: float = 0.5):
        self.config = config
        self.ctx = ctx
        # Only `dora.environments` count; a source's own `environments` just filter.
        self.environments = frozenset(config.environments)
        self.store = open_store(config, ctx)
        self.ingestor = Ingestor(config, ctx, self.store.submit)
        self._snapshot = Snapshot()
        self._generation = 0
        self._debounce = debounce
        self._reader: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._computing: asyncio.Future[Snapshot] | None = None
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_compute_seconds = 0.0
        self._source_pollers, self.not_polled = build_pollers(DoraWiring(config, ctx, self.store))
        self._pollers: list[Poller] = [SnapshotPoller(self), *self._source_pollers]

    @property
    def pollers(self) -> Sequence[Poller]:
        return self._pollers

    def collectors(self) -> Iterable[DoraCollector]:
        return [DoraCollector(lambda: self._snapshot, self.dropped)]

    def dropped(self) -> list[tuple[str, str, int]]:
        """(source, reason, count) of what the pollers dropped, every reason from 0."""
        return [
            (p.name, reason, p.dropped[reason])
            for p in self._source_pollers
            for reason in sorted({OUT_OF_RANGE, *p.dropped})
        ]

    def generation(self) -> int:
        # Drops change between snapshot refreshes; both only grow, so their sum is a key.
        return self._generation + sum(n for _, _, n in self.dropped())

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
        if self._computing is not None:
            await asyncio.gather(self._computing, return_exceptions=True)
        for poller in self._source_pollers:
            await poller.close()
        await self.store.stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def refresh(self) -> None:
        """Recompute the snapshot from the store in a thread; the event loop keeps serving."""
        async with self._lock:
            self._dirty.clear()
            # Shielded and kept: a cancelled caller leaves the thread reading, and stop()
            # must wait for it before closing the reader under it (SQLite would crash).
            self._computing = asyncio.ensure_future(asyncio.to_thread(self._compute))
            self._snapshot = await asyncio.shield(self._computing)
            self._generation += 1

    def _compute(self) -> Snapshot:
        started = time.perf_counter()
        if self._reader is None:
            self._reader = self.store.reader()
        snapshot = compute(
            self._reader,
            self.ctx.clock(),
            self.environments,
            self.config.levels,
            has_incident_source(self.config),
            self.config.max_services,
        )
        if snapshot.services_dropped != self._snapshot.services_dropped:
            log.warning(
                "DORA: %d services over dora.max_services=%d are stored but not exported (e.g. %s)",
                snapshot.services_dropped,
                self.config.max_services,
                ", ".join(repr(s) for s in snapshot.dropped_examples),
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


def build(config: DoraConfig, ctx: Context) -> DoraExporter:
    """Build the DORA exporter from the `dora:` section."""
    return DoraExporter(config, ctx)
