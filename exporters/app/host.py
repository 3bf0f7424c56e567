"""Host metrics (CPU, memory, disks, network) sampled with psutil in the background.

Turning psutil's records into a snapshot is pure and tested on fakes; sampling runs in
a worker thread because psutil reads /proc synchronously, and `collect()` only reads
the latest snapshot.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

# Read-only images (snaps, ISOs) are always full; alerting on them is noise.
IGNORED_FSTYPES = frozenset(("squashfs", "iso9660", "udf"))
# Per-container virtual interfaces come and go with every pod: unbounded label values.
IGNORED_NICS = ("lo", "veth")
# On Linux, guest time is already included in user and nice.
_NOT_TOTAL = ("guest", "guest_nice")
_IDLE = ("idle", "iowait")
# A first CPU reading needs two samples; this is how far apart they are on start-up.
BASELINE_SECONDS = 0.25


@dataclass(frozen=True)
class Disk:
    mountpoint: str
    used: int
    total: int


@dataclass(frozen=True)
class Nic:
    device: str
    received: int
    sent: int


@dataclass(frozen=True)
class HostSnapshot:
    cpu_ratio: float | None
    memory_used: int
    memory_total: int
    disks: tuple[Disk, ...]
    nics: tuple[Nic, ...]


def cpu_utilization(before: Any, after: Any) -> float | None:
    """Busy share of CPU time between two `cpu_times()` readings, as psutil computes it."""
    fields = [f for f in after._fields if f not in _NOT_TOTAL]
    total = sum(getattr(after, f) - getattr(before, f) for f in fields)
    idle = sum(getattr(after, f) - getattr(before, f) for f in _IDLE if f in fields)
    if total <= 0:
        return None
    return min(max((total - idle) / total, 0.0), 1.0)


def memory_used(vm: Any) -> tuple[int, int]:
    """Used and total bytes; used is total minus available, as the kernel estimates it.

    psutil's own `used` leaves out reclaimable caches differently on each platform;
    total − available is what "memory pressure" alerts should watch.
    """
    return int(vm.total - vm.available), int(vm.total)


def pick_mountpoints(partitions: Iterable[Any]) -> list[str]:
    """One mountpoint per real device (the shortest), skipping read-only images and loops."""
    chosen: dict[str, str] = {}
    for part in partitions:
        if part.fstype in IGNORED_FSTYPES or part.device.startswith("/dev/loop"):
            continue
        current = chosen.get(part.device)
        if current is None or len(part.mountpoint) < len(current):
            chosen[part.device] = part.mountpoint
    return sorted(chosen.values())


def pick_nics(counters: Mapping[str, Any]) -> tuple[Nic, ...]:
    return tuple(
        Nic(device, int(c.bytes_recv), int(c.bytes_sent))
        for device, c in sorted(counters.items())
        if not device.startswith(IGNORED_NICS)
    )


class HostPoller:
    """Sample the host every `interval` seconds into an immutable snapshot."""

    exporter = "app"
    name = "host"

    def __init__(
        self,
        interval: float,
        on_change: Callable[[], None] = lambda: None,
        ps: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        # psutil is imported on use so `import exporters.app` stays light for services.
        self._ps = ps if ps is not None else importlib.import_module("psutil")
        self._interval = interval
        self._on_change = on_change
        self._sleep = sleep
        self._cpu_before: Any = None
        self.snapshot: HostSnapshot | None = None

    @property
    def interval(self) -> float:
        return self._interval

    async def poll(self) -> None:
        self.snapshot = await asyncio.to_thread(self.sample)
        self._on_change()

    def sample(self) -> HostSnapshot:
        """Read psutil once (blocking) and build a snapshot."""
        ps = self._ps
        if self._cpu_before is None:
            self._cpu_before = ps.cpu_times()
            self._sleep(BASELINE_SECONDS)
        cpu_after = ps.cpu_times()
        cpu = cpu_utilization(self._cpu_before, cpu_after)
        self._cpu_before = cpu_after
        used, total = memory_used(ps.virtual_memory())
        disks = []
        for mountpoint in pick_mountpoints(ps.disk_partitions(all=False)):
            try:
                usage = ps.disk_usage(mountpoint)
            except OSError:
                continue  # unmounted since listing, or not readable by the agent
            disks.append(Disk(mountpoint, int(usage.used), int(usage.total)))
        nics = pick_nics(ps.net_io_counters(pernic=True) or {})
        return HostSnapshot(cpu, used, total, tuple(disks), nics)


class HostCollector:
    """The `host_*` machine families from the host source's latest snapshot."""

    def __init__(self, source: HostPoller):
        self._source = source

    def collect(self) -> Iterator[Metric]:
        snap = self._source.snapshot
        if snap is None:
            return
        if snap.cpu_ratio is not None:
            yield GaugeMetricFamily(
                "host_cpu_utilization_ratio",
                "Busy share of all CPUs since the previous sample, 0 to 1 (opslens psutil).",
                value=snap.cpu_ratio,
            )
        yield GaugeMetricFamily(
            "host_memory_used_bytes",
            "Memory in use: total minus available (opslens psutil).",
            value=snap.memory_used,
        )
        yield GaugeMetricFamily(
            "host_memory_total_bytes", "Physical memory (opslens psutil).", value=snap.memory_total
        )
        used = GaugeMetricFamily(
            "host_disk_used_bytes",
            "Used bytes per filesystem (opslens psutil).",
            labels=["mountpoint"],
        )
        total = GaugeMetricFamily(
            "host_disk_total_bytes", "Size per filesystem (opslens psutil).", labels=["mountpoint"]
        )
        for disk in snap.disks:
            used.add_metric([disk.mountpoint], disk.used)
            total.add_metric([disk.mountpoint], disk.total)
        received = CounterMetricFamily(
            "host_network_received_bytes_total",
            "Bytes received per network interface (opslens psutil).",
            labels=["device"],
        )
        sent = CounterMetricFamily(
            "host_network_sent_bytes_total",
            "Bytes sent per network interface (opslens psutil).",
            labels=["device"],
        )
        for nic in snap.nics:
            received.add_metric([nic.device], nic.received)
            sent.add_metric([nic.device], nic.sent)
        yield from (f for f in (used, total, received, sent) if f.samples)
