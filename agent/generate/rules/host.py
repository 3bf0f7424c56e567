"""Host saturation: CPU, memory and disk of the machine the agent runs on."""

from __future__ import annotations

from agent.config import Config

from ..naming import HOST_CPU_HIGH, HOST_DISK_SPACE_LOW, HOST_MEMORY_HIGH, rule_group
from .common import (
    AGENT,
    Case,
    Check,
    Group,
    Rule,
    alert,
    fired,
    gauge,
    lasting,
    num,
    percent,
    selector,
)

NAME = "host"
TOTAL = 1000.0  # bytes in the synthetic memory and disk of the promtool cases


def _breach(ratio: float) -> float:
    """A value strictly inside the alerting range [ratio, 1]."""
    return (1 + ratio) / 2 if ratio < 1 else 1.0


def alerts(config: Config) -> tuple[Rule, Rule, Rule]:
    """Build the CPU, memory and disk alerts."""
    pack = config.alerts.packs.host
    sev = pack.severity
    cpu = alert(
        config,
        HOST_CPU_HIGH,
        f"host_cpu_utilization_ratio >= {num(pack.cpu_ratio)}",
        "15m",
        sev,
        "CPU of {{ $labels.instance }} is above " + percent(pack.cpu_ratio),
        "CPU utilisation of {{ $labels.instance }} has stayed at or above "
        f"{percent(pack.cpu_ratio)} for {lasting(config, '15m')}.",
    )
    memory = alert(
        config,
        HOST_MEMORY_HIGH,
        f"host_memory_used_bytes / host_memory_total_bytes >= {num(pack.memory_ratio)}",
        "15m",
        sev,
        "Memory of {{ $labels.instance }} is above " + percent(pack.memory_ratio),
        "Memory in use on {{ $labels.instance }} has stayed at or above "
        f"{percent(pack.memory_ratio)} of the total for {lasting(config, '15m')}.",
    )
    disk = alert(
        config,
        HOST_DISK_SPACE_LOW,
        f"host_disk_used_bytes / host_disk_total_bytes >= {num(pack.disk_ratio)}",
        "15m",
        sev,
        "Disk {{ $labels.mountpoint }} of {{ $labels.instance }} is above "
        + percent(pack.disk_ratio),
        "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is at least "
        f"{percent(pack.disk_ratio)} full.",
    )
    return cpu, memory, disk


def groups(config: Config) -> list[Group]:
    """Build the pack's rule group; none when the pack is off."""
    if not config.alerts.packs.host.enabled:
        return []
    return [{"name": rule_group(NAME), "rules": list(alerts(config))}]


def cases(config: Config) -> list[Case]:
    """Build the promtool cases: over the thresholds fires all three, half of them none."""
    pack = config.alerts.packs.host
    cpu, memory, disk = alerts(config)
    mount = {**AGENT, "mountpoint": "/var"}

    def series(cpu_v: float, mem_v: float, disk_v: float) -> list[tuple[str, str]]:
        return [
            (selector("host_cpu_utilization_ratio", AGENT), gauge(cpu_v, 30)),
            (selector("host_memory_used_bytes", AGENT), gauge(mem_v * TOTAL, 30)),
            (selector("host_memory_total_bytes", AGENT), gauge(TOTAL, 30)),
            (selector("host_disk_used_bytes", mount), gauge(disk_v * TOTAL, 30)),
            (selector("host_disk_total_bytes", mount), gauge(TOTAL, 30)),
        ]

    return [
        Case(
            "host: CPU, memory and disk over their thresholds",
            series(_breach(pack.cpu_ratio), _breach(pack.memory_ratio), _breach(pack.disk_ratio)),
            [
                Check(HOST_CPU_HIGH, "20m", [fired(cpu, AGENT)]),
                Check(HOST_MEMORY_HIGH, "20m", [fired(memory, AGENT)]),
                Check(HOST_DISK_SPACE_LOW, "20m", [fired(disk, mount)]),
            ],
        ),
        Case(
            "host: half the thresholds stays silent",
            series(pack.cpu_ratio / 2, pack.memory_ratio / 2, pack.disk_ratio / 2),
            [Check(r["alert"], "20m") for r in (cpu, memory, disk)],
        ),
    ]
