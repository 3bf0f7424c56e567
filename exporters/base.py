"""The contract between the agent and an exporter (cost, dora, app).

An exporter owns sources that the agent polls in the background and collectors that
build metric families from immutable snapshots. Nothing here imports aiohttp's web
layer or the agent: exporters stay usable and testable on their own.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from prometheus_client.registry import Collector

Clock = Callable[[], float]

log = logging.getLogger("opslens.exporters")


class SourceError(Exception):
    """An upstream failure with a bounded `reason` label (throttled, timeout, auth, ...)."""

    def __init__(self, reason: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


@runtime_checkable
class Source(Protocol):
    """Something polled in the background; `poll` refreshes its snapshot or raises."""

    exporter: str
    name: str

    @property
    def interval(self) -> float: ...

    async def poll(self) -> None: ...


@runtime_checkable
class Exporter(Protocol):
    """One exporter: its sources, its collectors, and a generation counter.

    `generation()` must change whenever `collect()` output may have changed, so the agent
    renders the exposition once per change instead of once per scrape.
    """

    name: str

    @property
    def sources(self) -> Sequence[Source]: ...

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
    demo: bool = False
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
