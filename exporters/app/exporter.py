"""The app exporter for the agent: host and process sampling and probes as sources."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.registry import Collector

from exporters.base import Context, Poller, SourceFactory, build_sources

from .config import AppConfig, Probe
from .host import HostCollector, HostPoller
from .probes import ProbeCollector, ProbePoller, Prober, ProbeSpec
from .processes import ProcessCollector, ProcessPoller


@dataclass(frozen=True)
class AppWiring:
    """What poller factories need: the section, the change callback, shared clients."""

    config: AppConfig
    changed: Any
    prober: Prober
    ps: Any = None


def probe_spec(p: Probe) -> ProbeSpec:
    return ProbeSpec(
        name=p.name,
        url=p.url,
        interval=p.interval.total_seconds(),
        timeout=p.timeout.total_seconds(),
        expect_status=tuple(p.expect_status),
        service=p.service or "",
        follow_redirects=p.follow_redirects,
        ca_file=p.ca_file,
    )


def _host(spec: AppConfig, w: AppWiring) -> HostPoller:
    return HostPoller(spec.host_interval.total_seconds(), w.changed, w.ps)


def _processes(spec: AppConfig, w: AppWiring) -> ProcessPoller:
    groups = [(p.group, p.match) for p in spec.processes]
    return ProcessPoller(groups, spec.host_interval.total_seconds(), w.changed, w.ps)


def _probe(spec: Probe, w: AppWiring) -> ProbePoller:
    return ProbePoller(probe_spec(spec), w.prober, w.changed)


# Source kind → poller factory. The `app:` section has no `type` keys: `host: true`,
# a non-empty `processes` list and each `probes` entry are its sources.
SOURCES: dict[str, SourceFactory[AppWiring]] = {
    "host": _host,
    "processes": _processes,
    "probe": _probe,
}


def configured_sources(config: AppConfig) -> list[tuple[str, Any]]:
    """The `(kind, spec)` pairs of the `app:` section, in exposition order."""
    kinds: list[tuple[str, Any]] = []
    if config.host:
        kinds.append(("host", config))
    if config.processes:
        kinds.append(("processes", config))
    return kinds + [("probe", p) for p in config.probes]


class AppExporter:
    """Host, process-group and probe pollers with one collector each kind."""

    name = "app"

    def __init__(self, config: AppConfig, ps: Any = None, prober: Prober | None = None):
        self._generation = 0
        self.prober = prober or Prober()
        wiring = AppWiring(config, self._changed, self.prober, ps)
        pollers, _ = build_sources("app", configured_sources(config), SOURCES, wiring)
        self._pollers = pollers
        self.host = next((p for p in pollers if isinstance(p, HostPoller)), None)
        self.processes = next((p for p in pollers if isinstance(p, ProcessPoller)), None)
        self.probes = [p for p in pollers if isinstance(p, ProbePoller)]

    def _changed(self) -> None:
        self._generation += 1

    def generation(self) -> int:
        return self._generation

    @property
    def pollers(self) -> Sequence[Poller]:
        return self._pollers

    def collectors(self) -> Iterable[Collector]:
        out: list[Collector] = []
        if self.host is not None:
            out.append(HostCollector(self.host))
        if self.processes is not None:
            out.append(ProcessCollector(self.processes))
        if self.probes:
            out.append(ProbeCollector(self.probes))
        return out

    async def start(self) -> None:
        if self.probes:
            await self.prober.start()

    async def stop(self) -> None:
        await self.prober.stop()


def build(config: AppConfig, ctx: Context) -> AppExporter:
    """Build the app exporter from the `app:` section."""
    return AppExporter(config)
