"""The app exporter for the agent: host and process sampling and probes as sources."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client.registry import Collector

from exporters.base import Context, Source

from .host import HostCollector, HostSource
from .probes import ProbeCollector, Prober, ProbeSource, ProbeSpec
from .processes import ProcessCollector, ProcessSource

if TYPE_CHECKING:
    from agent.config import Config


class AppExporter:
    """Host, process-group and probe sources with one collector each kind."""

    name = "app"

    def __init__(
        self,
        host: bool = True,
        host_interval: float = 15.0,
        groups: Sequence[tuple[str, str]] = (),
        probes: Sequence[ProbeSpec] = (),
        ps: Any = None,
        prober: Prober | None = None,
    ):
        self._generation = 0
        self.prober = prober or Prober()
        self.host = HostSource(host_interval, self._changed, ps) if host else None
        self.processes = ProcessSource(groups, host_interval, self._changed, ps) if groups else None
        self.probes = [ProbeSource(spec, self.prober, self._changed) for spec in probes]

    def _changed(self) -> None:
        self._generation += 1

    def generation(self) -> int:
        return self._generation

    @property
    def sources(self) -> Sequence[Source]:
        return [s for s in (self.host, self.processes) if s is not None] + list(self.probes)

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


def probe_specs(config: Config) -> list[ProbeSpec]:
    return [
        ProbeSpec(
            name=p.name,
            url=p.url,
            interval=p.interval.total_seconds(),
            timeout=p.timeout.total_seconds(),
            expect_status=tuple(p.expect_status),
            service=p.service or "",
            follow_redirects=p.follow_redirects,
            ca_file=p.ca_file,
        )
        for p in config.app.probes
    ]


def build(config: Config, ctx: Context) -> AppExporter:
    """The app exporter for `config.app` (DESIGN §6, application)."""
    app = config.app
    return AppExporter(
        host=app.host,
        host_interval=app.host_interval.total_seconds(),
        groups=[(p.group, p.match) for p in app.processes],
        probes=probe_specs(config),
    )
