"""Host saturation: CPU, memory and disk of the machine the agent runs on."""

from __future__ import annotations

from agent.config import Config

from ..naming import rule_group
from .common import AGENT, Case, Check, Pack, alert, fired, gauge, num, percent, selector

TOTAL = 1000.0  # bytes in the synthetic memory and disk of the promtool cases


def _breach(ratio: float) -> float:
    """A value strictly inside the alerting range [ratio, 1]."""
    return (1 + ratio) / 2 if ratio < 1 else 1.0


def build(config: Config) -> Pack | None:
    pack = config.alerts.packs.host
    if not pack.enabled:
        return None
    sev = pack.severity
    cpu = alert(
        config,
        "HostCpuHigh",
        f"host_cpu_utilization_ratio >= {num(pack.cpu_ratio)}",
        "15m",
        sev,
        "CPU of {{ $labels.instance }} is above " + percent(pack.cpu_ratio),
        "CPU utilisation of {{ $labels.instance }} has stayed at or above "
        f"{percent(pack.cpu_ratio)} for 15 minutes.",
    )
    memory = alert(
        config,
        "HostMemoryHigh",
        f"host_memory_used_bytes / host_memory_total_bytes >= {num(pack.memory_ratio)}",
        "15m",
        sev,
        "Memory of {{ $labels.instance }} is above " + percent(pack.memory_ratio),
        "Memory in use on {{ $labels.instance }} has stayed at or above "
        f"{percent(pack.memory_ratio)} of the total for 15 minutes.",
    )
    disk = alert(
        config,
        "HostDiskSpaceLow",
        f"host_disk_used_bytes / host_disk_total_bytes >= {num(pack.disk_ratio)}",
        "15m",
        sev,
        "Disk {{ $labels.mountpoint }} of {{ $labels.instance }} is above "
        + percent(pack.disk_ratio),
        "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is at least "
        f"{percent(pack.disk_ratio)} full.",
    )
    mount = {**AGENT, "mountpoint": "/var"}

    def series(cpu_v: float, mem_v: float, disk_v: float) -> list[tuple[str, str]]:
        return [
            (selector("host_cpu_utilization_ratio", AGENT), gauge(cpu_v, 30)),
            (selector("host_memory_used_bytes", AGENT), gauge(mem_v * TOTAL, 30)),
            (selector("host_memory_total_bytes", AGENT), gauge(TOTAL, 30)),
            (selector("host_disk_used_bytes", mount), gauge(disk_v * TOTAL, 30)),
            (selector("host_disk_total_bytes", mount), gauge(TOTAL, 30)),
        ]

    cases = [
        Case(
            "host: CPU, memory and disk over their thresholds",
            series(_breach(pack.cpu_ratio), _breach(pack.memory_ratio), _breach(pack.disk_ratio)),
            [
                Check("HostCpuHigh", "20m", [fired(cpu, AGENT)]),
                Check("HostMemoryHigh", "20m", [fired(memory, AGENT)]),
                Check("HostDiskSpaceLow", "20m", [fired(disk, mount)]),
            ],
        ),
        Case(
            "host: half the thresholds stays silent",
            series(pack.cpu_ratio / 2, pack.memory_ratio / 2, pack.disk_ratio / 2),
            [Check(name, "20m") for name in ("HostCpuHigh", "HostMemoryHigh", "HostDiskSpaceLow")],
        ),
    ]
    return Pack("host", [{"name": rule_group("host"), "rules": [cpu, memory, disk]}], cases)
