"""The contract between the agent and an exporter (cost, dora, app).

An exporter owns sources that the agent polls in the background and collectors that
build metric families from immutable snapshots. Nothing here imports aiohttp's web
layer or the agent: exporters stay usable and testable on their own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from prometheus_client.registry import Collector

Clock = Callable[[], float]

log = logging.getLogger("opslens.exporters")


class SourceError(Exception):
    """An upstream failure with a bounded `reason` label (throttled, timeout, auth, ...)."""

    def __init__(self, reason: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class OneThread:
    """Run a source's blocking poll in a worker thread, never two at once.

    A poll that outlives the agent's poll timeout keeps its thread: a thread cannot be
    killed, and a read of a FIFO or a hung NFS file may never return. Starting the next
    poll beside it would strand one more worker per attempt until the shared pool, which
    also renders `/metrics`, has none left; failing fast keeps it to one per source.
    """

    def __init__(self) -> None:
        self._running: asyncio.Future[None] | None = None

    async def run(self, work: Callable[[], None]) -> None:
        if self._running is not None and not self._running.done():
            raise SourceError("timeout", "the previous poll is still running")
        self._running = asyncio.get_running_loop().run_in_executor(None, work)
        # A late end after a timeout has nobody awaiting it: its outcome is already moot.
        self._running.add_done_callback(lambda f: f.cancelled() or f.exception())
        # Shielded: a timed-out caller is cancelled, the thread's future stays pending
        # until the thread really ends.
        await asyncio.shield(self._running)


@runtime_checkable
class Poller(Protocol):
    """One configured source, polled in the background; `poll` publishes new data or raises."""

    exporter: str
    name: str

    @property
    def interval(self) -> float: ...

    async def poll(self) -> None: ...


@runtime_checkable
class Exporter(Protocol):
    """One exporter: its pollers, its collectors, and a generation counter.

    `generation()` must change whenever `collect()` output may have changed, so the agent
    renders the exposition once per change instead of once per scrape.
    """

    name: str

    @property
    def pollers(self) -> Sequence[Poller]: ...

    def collectors(self) -> Iterable[Collector]: ...

    def generation(self) -> int: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Context:
    """What every exporter gets from the agent: where to keep state, time, secrets."""

    data_dir: Path
    clock: Clock = time.time
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Relative paths in the config (FOCUS globs, git repositories) resolve against this:
    # the config file's folder, as `agent.data_dir` does.
    config_dir: Path = Path(".")

    def resolve(self, path: str) -> Path:
        """A config path as the agent should open it."""
        return Path(path) if Path(path).is_absolute() else self.config_dir / path

    def secret(self, env_name: str | None) -> str | None:
        """Read a secret from the named variable, or from the file in `<NAME>_FILE`."""
        if not env_name:
            return None
        if value := self.env.get(env_name):
            return value
        if path := self.env.get(f"{env_name}_FILE"):
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                # Callers treat a missing secret as "deny" (webhooks) or "source down".
                log.warning("cannot read %s_FILE (%s): %s", env_name, path, exc.strerror)
        return None


class NotPolled(Exception):
    """Raised by a source factory when a configured source has nothing to poll (say why)."""


W = TypeVar("W", contravariant=True)


class SourceFactory(Protocol[W]):
    """Build the poller of one configured source from its spec and the exporter's wiring."""

    def __call__(self, spec: Any, wiring: W, /) -> Poller: ...


def build_sources(
    exporter: str,
    specs: Iterable[tuple[str, Any]],
    table: Mapping[str, SourceFactory[W]],
    wiring: W,
) -> tuple[list[Poller], dict[str, str]]:
    """Build every `(type, spec)` through the type → factory table.

    Returns the pollers and, by source name, why a configured source is not polled
    (a webhook-only forge source, say): logged here, shown by `opslens backfill`, never
    dropped without a word. An unknown type is a programming error, not a config one:
    the config model only admits the table's keys.
    """
    pollers: list[Poller] = []
    skipped: dict[str, str] = {}
    for kind, spec in specs:
        try:
            pollers.append(table[kind](spec, wiring))
        except NotPolled as why:
            name = getattr(spec, "name", kind)
            skipped[name] = str(why)
            log.info("%s source %s (%s) is not polled: %s", exporter, name, kind, why)
    return pollers, skipped
