"""Background polling with backoff, the self metrics, and cached exposition.

A source's failure is a metric and a log line: the loop never dies, never blocks a
scrape, and the last good snapshot stays served.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from agent import __version__
from exporters.base import Clock, Exporter, Poller, SourceError

log = logging.getLogger("opslens.runtime")

MIN_BACKOFF = 5.0
MAX_BACKOFF = 900.0
# A poll may take longer than its interval (a large FOCUS export), but not forever: a read
# that never returns (a FIFO in a glob, a hung NFS mount) must still turn the source down.
MIN_POLL_TIMEOUT = 60.0
MAX_POLL_TIMEOUT = 900.0


def poll_timeout(interval: float) -> float:
    """How long one poll may run before it counts as failed (reason `timeout`)."""
    return min(max(interval, MIN_POLL_TIMEOUT), MAX_POLL_TIMEOUT)


def backoff_delay(failures: int, interval: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with jitter, never slower than the normal interval."""
    ceiling = min(interval, MAX_BACKOFF, MIN_BACKOFF * 2 ** max(failures - 1, 0))
    return ceiling * (0.5 + rand() / 2)


@dataclass
class SourceState:
    """What the agent knows about one source; read by the self collector and `/`."""

    exporter: str
    name: str
    polls: int = 0
    up: bool = False
    last_success: float | None = None
    last_duration: float = 0.0
    last_error: str | None = None
    failures_in_a_row: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def settled(self) -> bool:
        """Has completed a first poll or failed visibly (for /-/ready)."""
        return self.polls > 0


class PollLoop:
    """Poll one source forever: interval on success, backoff with jitter on failure."""

    def __init__(
        self,
        source: Poller,
        clock: Clock = time.time,
        sleep: Callable[[float], object] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        timeout: float | None = None,
    ):
        self.source = source
        self.state = SourceState(source.exporter, source.name)
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._timeout = timeout if timeout is not None else poll_timeout(source.interval)

    async def poll_once(self) -> float:
        """Run one poll, record its outcome, return the delay before the next."""
        state = self.state
        started = time.perf_counter()
        try:
            try:
                # Not wait_for: on 3.11 it drops a cancel that arrives as the poll ends, and
                # the loop would then sleep a whole interval through a stop or a reload.
                async with asyncio.timeout(self._timeout):
                    await self.source.poll()
            except TimeoutError:
                # The poll's worker thread, if any, cannot be killed; it finishes on its own.
                raise SourceError(
                    "timeout", f"poll did not finish within {self._timeout:.0f}s"
                ) from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            state.polls += 1
            state.last_duration = time.perf_counter() - started
            reason = exc.reason if isinstance(exc, SourceError) else type(exc).__name__
            state.up = False
            state.errors[reason] += 1
            state.failures_in_a_row += 1
            state.last_error = f"{reason}: {exc}"
            delay = backoff_delay(state.failures_in_a_row, self.source.interval, self._rand)
            if isinstance(exc, SourceError) and exc.retry_after:
                delay = max(delay, exc.retry_after)
            log.warning(
                "source %s/%s failed (%s), retrying in %.0fs",
                state.exporter,
                state.name,
                state.last_error,
                delay,
            )
            return delay
        state.polls += 1
        state.last_duration = time.perf_counter() - started
        state.up = True
        state.last_success = self._clock()
        state.failures_in_a_row = 0
        state.last_error = None
        return self.source.interval

    async def run(self) -> None:
        while True:
            delay = await self.poll_once()
            await self._sleep(delay)  # type: ignore[misc]


class SelfCollector:
    """`opslens_source_*` and `opslens_build_info`, read from the poll loops' state."""

    def __init__(self, states: Callable[[], Iterable[SourceState]]):
        self._states = states

    def collect(self) -> Iterator[Metric]:
        labels = ["exporter", "source"]
        up = GaugeMetricFamily(
            "opslens_source_up",
            "1 if the last poll of the source succeeded (opslens agent).",
            labels=labels,
        )
        last = GaugeMetricFamily(
            "opslens_source_last_success_timestamp_seconds",
            "Unix time of the last successful poll of the source (opslens agent).",
            labels=labels,
        )
        duration = GaugeMetricFamily(
            "opslens_source_poll_duration_seconds",
            "Duration of the last poll of the source (opslens agent).",
            labels=labels,
        )
        errors = CounterMetricFamily(
            "opslens_source_errors_total",
            "Failed polls of the source by reason (opslens agent).",
            labels=[*labels, "reason"],
        )
        for s in self._states():
            key = [s.exporter, s.name]
            up.add_metric(key, 1.0 if s.up else 0.0)
            if s.last_success is not None:
                last.add_metric(key, s.last_success)
            duration.add_metric(key, s.last_duration)
            for reason, count in sorted(s.errors.items()):
                errors.add_metric([*key, reason], count)
        info = GaugeMetricFamily(
            "opslens_build_info", "OpsLens agent build (opslens agent).", labels=["version"]
        )
        info.add_metric([__version__], 1.0)
        yield from (up, last, duration, errors, info)


class Exposition:
    """Render an exporter's registry once per generation; scrapes serve cached bytes."""

    def __init__(self, collectors: Iterable[object], generation: Callable[[], object]):
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            self.registry.register(collector)  # type: ignore[arg-type]
        self._generation = generation
        self._cache: dict[bool, tuple[object, bytes]] = {}
        self.renders = 0  # bumped on every re-render: the joined body's cache key

    def render(self, openmetrics: bool) -> bytes:
        gen = self._generation()
        cached = self._cache.get(openmetrics)
        if cached is None or cached[0] != gen:
            if openmetrics:
                body = generate_openmetrics(self.registry).removesuffix(b"# EOF\n")
            else:
                body = generate_latest(self.registry)
            cached = (gen, body)
            self._cache[openmetrics] = cached
            self.renders += 1
        return cached[1]


class MetricsEndpoint:
    """Join the expositions of all exporters; cache the joined and gzipped bodies."""

    def __init__(self, parts: Sequence[Exposition]):
        self._parts = parts
        self._cache: dict[tuple[bool, bool], tuple[tuple[int, ...], bytes]] = {}

    def body(self, openmetrics: bool, compress: bool) -> bytes:
        blocks = [p.render(openmetrics) for p in self._parts]
        key = tuple(p.renders for p in self._parts)
        cached = self._cache.get((openmetrics, compress))
        if cached is not None and cached[0] == key:
            return cached[1]
        if openmetrics:
            blocks.append(b"# EOF\n")
        body = b"".join(blocks)
        if compress:
            body = gzip.compress(body, compresslevel=6)
        self._cache[(openmetrics, compress)] = (key, body)
        return body


class Runtime:
    """Own the exporters' lifecycles and poll loops."""

    def __init__(
        self,
        exporters: Sequence[Exporter],
        clock: Clock = time.time,
        agent_collectors: Sequence[object] = (),
        agent_generation: Callable[[], int] = lambda: 0,
        poll_timeout: float | None = None,
    ):
        self.exporters = list(exporters)
        self._agent_generation = agent_generation
        self.loops = [
            PollLoop(s, clock=clock, timeout=poll_timeout)
            for e in self.exporters
            for s in e.pollers
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self.endpoint = MetricsEndpoint(
            [
                Exposition([SelfCollector(self.states), *agent_collectors], self._bump_self),
                *(Exposition(e.collectors(), e.generation) for e in self.exporters),
            ]
        )

    def _bump_self(self) -> tuple[int, int]:
        # Self metrics change only when a poll completes or a reload is tried; keying on
        # that keeps the body unchanged between polls, so the cached gzip copy is reused.
        return sum(loop.state.polls for loop in self.loops), self._agent_generation()

    def states(self) -> list[SourceState]:
        return [loop.state for loop in self.loops]

    @property
    def ready(self) -> bool:
        return all(s.settled for s in self.states())

    async def start(self) -> None:
        for exporter in self.exporters:
            await exporter.start()
        for loop in self.loops:
            name = f"poll:{loop.state.exporter}/{loop.state.name}"
            self._tasks.append(asyncio.create_task(loop.run(), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for exporter in reversed(self.exporters):
            await exporter.stop()
