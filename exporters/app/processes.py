"""Process groups: count, CPU seconds and resident memory of processes matched by regex.

A group's CPU counter must not drop when one of its processes exits (Prometheus would
read a counter reset), so the tracker keeps the CPU time of departed processes.
"""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

ATTRS = ["pid", "create_time", "name", "cmdline", "cpu_times", "memory_info"]


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    create_time: float
    cmdline: str
    cpu_seconds: float
    rss: int


@dataclass(frozen=True)
class GroupSample:
    group: str
    count: int
    cpu_seconds: float
    rss: int


def process_info(info: dict[str, Any]) -> ProcessInfo:
    """Turn one `psutil.process_iter` info dict into a record; denied fields count as 0."""
    cmdline = " ".join(info.get("cmdline") or ()) or info.get("name") or ""
    cpu = info.get("cpu_times")
    mem = info.get("memory_info")
    return ProcessInfo(
        pid=int(info["pid"]),
        create_time=float(info.get("create_time") or 0.0),
        cmdline=cmdline,
        cpu_seconds=float(cpu.user + cpu.system) if cpu is not None else 0.0,
        rss=int(mem.rss) if mem is not None else 0,
    )


class ProcessGroupTracker:
    """Assign processes to the first group whose regex matches their command line."""

    def __init__(self, groups: Sequence[tuple[str, str]]):
        self._groups = [(name, re.compile(pattern)) for name, pattern in groups]
        self._live: dict[str, dict[tuple[int, float], float]] = {g: {} for g, _ in self._groups}
        self._departed: dict[str, float] = {g: 0.0 for g, _ in self._groups}

    def group_of(self, cmdline: str) -> str | None:
        for name, pattern in self._groups:
            if pattern.search(cmdline):
                return name
        return None

    def update(self, processes: Iterable[ProcessInfo]) -> tuple[GroupSample, ...]:
        """Fold in one full process listing; return every group, empty ones included."""
        live: dict[str, dict[tuple[int, float], float]] = {g: {} for g in self._live}
        rss = dict.fromkeys(self._live, 0)
        for proc in processes:
            group = self.group_of(proc.cmdline)
            if group is None:
                continue
            live[group][(proc.pid, proc.create_time)] = proc.cpu_seconds
            rss[group] += proc.rss
        for group, before in self._live.items():
            now = live[group]
            self._departed[group] += sum(cpu for key, cpu in before.items() if key not in now)
        self._live = live
        return tuple(
            GroupSample(g, len(live[g]), self._departed[g] + sum(live[g].values()), rss[g])
            for g in live
        )


class ProcessPoller:
    """List processes every `interval` seconds into per-group samples."""

    exporter = "app"
    name = "processes"

    def __init__(
        self,
        groups: Sequence[tuple[str, str]],
        interval: float,
        on_change: Callable[[], None] = lambda: None,
        ps: Any = None,
    ):
        self._ps = ps if ps is not None else importlib.import_module("psutil")
        self._tracker = ProcessGroupTracker(groups)
        self._interval = interval
        self._on_change = on_change
        self.samples: tuple[GroupSample, ...] | None = None

    @property
    def interval(self) -> float:
        return self._interval

    async def poll(self) -> None:
        self.samples = await asyncio.to_thread(self.sample)
        self._on_change()

    def sample(self) -> tuple[GroupSample, ...]:
        """List processes (blocking) and fold them into the groups."""
        infos = (process_info(p.info) for p in self._ps.process_iter(ATTRS))
        return self._tracker.update(infos)


class ProcessCollector:
    """`host_process_*{group}` from the process source's latest samples."""

    def __init__(self, source: ProcessPoller):
        self._source = source

    def collect(self) -> Iterator[Metric]:
        samples = self._source.samples
        if samples is None:
            return
        labels = ["group"]
        cpu = CounterMetricFamily(
            "host_process_cpu_seconds_total",
            "CPU seconds (user + system) of the group's processes (opslens psutil).",
            labels=labels,
        )
        rss = GaugeMetricFamily(
            "host_process_resident_memory_bytes",
            "Resident memory of the group's processes (opslens psutil).",
            labels=labels,
        )
        count = GaugeMetricFamily(
            "host_process_count", "Processes in the group (opslens psutil).", labels=labels
        )
        for s in samples:
            cpu.add_metric([s.group], s.cpu_seconds)
            rss.add_metric([s.group], s.rss)
            count.add_metric([s.group], s.count)
        yield from (cpu, rss, count)
