"""Poll loops, backoff, self metrics and cached exposition, with fakes for time and upstream."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator, Sequence

import pytest
from prometheus_client.core import GaugeMetricFamily, Metric

from agent.runtime import (
    Exposition,
    MetricsEndpoint,
    PollLoop,
    Runtime,
    backoff_delay,
    poll_timeout,
)
from exporters.base import SourceError
from tests.support.waiting import wait_until_async


class FlakySource:
    """Fails with the queued errors, then succeeds."""

    exporter = "test"
    interval = 60.0

    def __init__(self, name: str, errors: Sequence[Exception] = ()):
        self.name = name
        self.errors = list(errors)
        self.polls = 0

    async def poll(self) -> None:
        self.polls += 1
        if self.errors:
            raise self.errors.pop(0)


class FakeExporter:
    name = "test"

    def __init__(self, sources: Sequence[FlakySource]):
        self._sources = list(sources)
        self.value = 1.0
        self.gen = 0
        self.renders = 0
        self.started = self.stopped = False

    @property
    def pollers(self) -> Sequence[FlakySource]:
        return self._sources

    def collectors(self) -> list[object]:
        return [self]

    def collect(self) -> Iterator[Metric]:
        self.renders += 1
        g = GaugeMetricFamily("test_value", "A test value (test).")
        g.add_metric([], self.value)
        yield g

    def generation(self) -> int:
        return self.gen

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


def test_backoff_grows_with_jitter_and_is_capped_by_interval() -> None:
    assert backoff_delay(1, 3600, lambda: 1.0) == 5.0
    assert backoff_delay(1, 3600, lambda: 0.0) == 2.5
    assert backoff_delay(4, 3600, lambda: 1.0) == 40.0
    assert backoff_delay(30, 3600, lambda: 1.0) == 900.0
    assert backoff_delay(30, 60, lambda: 1.0) == 60.0


async def test_failure_is_recorded_then_recovers() -> None:
    source = FlakySource("s", [SourceError("throttled", "slow down"), RuntimeError("boom")])
    loop = PollLoop(source, clock=lambda: 1000.0, rand=lambda: 1.0)
    assert await loop.poll_once() == 5.0
    assert (loop.state.up, loop.state.errors["throttled"], loop.state.settled) == (False, 1, True)
    assert await loop.poll_once() == 10.0
    assert loop.state.errors["RuntimeError"] == 1
    assert loop.state.last_error == "RuntimeError: boom"
    assert await loop.poll_once() == 60.0
    assert (loop.state.up, loop.state.last_success, loop.state.failures_in_a_row) == (
        True,
        1000.0,
        0,
    )


async def test_retry_after_is_honoured() -> None:
    source = FlakySource("s", [SourceError("throttled", "wait", retry_after=42)])
    assert await PollLoop(source, rand=lambda: 0.0).poll_once() == 42


def test_exposition_renders_once_per_generation() -> None:
    exporter = FakeExporter([])
    exposition = Exposition(exporter.collectors(), exporter.generation)
    first = exposition.render(openmetrics=False)
    assert b"test_value 1.0" in first
    exporter.value = 2.0
    assert exposition.render(openmetrics=False) is first  # same generation: cached bytes
    exporter.gen += 1
    assert b"test_value 2.0" in exposition.render(openmetrics=False)
    assert exporter.renders == 2


def test_endpoint_joins_parts_and_caches_gzip() -> None:
    a, b = FakeExporter([]), FakeExporter([])
    b.value = 7.0
    endpoint = MetricsEndpoint([Exposition([a], a.generation), Exposition([b], b.generation)])
    om = endpoint.body(openmetrics=True, compress=False)
    assert om.count(b"# EOF") == 1 and om.endswith(b"# EOF\n")
    zipped = endpoint.body(openmetrics=False, compress=True)
    assert endpoint.body(openmetrics=False, compress=True) is zipped
    assert gzip.decompress(zipped) == endpoint.body(openmetrics=False, compress=False)


@pytest.mark.parametrize("fmt", [False, True])
async def test_runtime_self_metrics(fmt: bool) -> None:
    exporter = FakeExporter([FlakySource("good"), FlakySource("bad", [SourceError("auth", "no")])])
    runtime = Runtime([exporter], clock=lambda: 1234.0)
    assert not runtime.ready
    for loop in runtime.loops:
        await loop.poll_once()
    assert runtime.ready
    text = runtime.endpoint.body(openmetrics=fmt, compress=False).decode()
    assert 'opslens_source_up{exporter="test",source="good"} 1.0' in text
    assert 'opslens_source_up{exporter="test",source="bad"} 0.0' in text
    assert 'opslens_source_errors_total{exporter="test",reason="auth",source="bad"} 1.0' in text
    assert (
        'opslens_source_last_success_timestamp_seconds{exporter="test",source="good"} 1234.0'
        in text
    )
    assert 'source="bad"} 1234.0' not in text
    assert 'opslens_build_info{version="0.1.0"} 1.0' in text
    assert "_created" not in text


async def test_runtime_start_stop_lifecycle() -> None:
    source = FlakySource("s")
    exporter = FakeExporter([source])
    runtime = Runtime([exporter])
    await runtime.start()
    assert exporter.started
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("poll:")]
    assert [t.get_name() for t in tasks] == ["poll:test/s"]
    await wait_until_async(lambda: runtime.ready, timeout=10, what="the first poll")
    assert source.polls == 1  # then the loop sleeps its 60 s interval
    await runtime.stop()
    assert exporter.stopped
    # Stopped loops poll no more: a cancelled task cannot run again, so no waiting is needed
    # to see that the interval sleep was cancelled rather than left pending.
    assert all(t.cancelled() for t in tasks)
    assert source.polls == 1


class HangingSource:
    """A read that never returns, like a FIFO in a FOCUS glob."""

    exporter = "test"
    name = "hung"
    interval = 60.0

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def poll(self) -> None:
        await self.release.wait()


async def test_a_poll_that_never_returns_turns_the_source_down() -> None:
    source = HangingSource()
    loop = PollLoop(source, rand=lambda: 1.0, timeout=0.05)
    delay = await loop.poll_once()
    assert not loop.state.up
    assert loop.state.errors == {"timeout": 1}
    assert loop.state.last_error == "timeout: poll did not finish within 0s"
    assert delay == 5.0  # first failure: the minimum backoff


def test_poll_timeout_follows_the_interval_within_bounds() -> None:
    assert poll_timeout(15.0) == 60.0
    assert poll_timeout(300.0) == 300.0
    assert poll_timeout(6 * 3600.0) == 900.0
