"""Host and process-group sampling: pure parts on fakes, one real psutil sample."""

from __future__ import annotations

import re
from collections import namedtuple
from types import SimpleNamespace

import psutil
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporters.app.host import (
    HostCollector,
    HostPoller,
    cpu_utilization,
    memory_used,
    pick_mountpoints,
    pick_nics,
)
from exporters.app.processes import (
    ProcessCollector,
    ProcessGroupTracker,
    ProcessInfo,
    ProcessPoller,
    process_info,
)

CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal guest guest_nice")
Part = namedtuple("Part", "device mountpoint fstype opts")
Usage = namedtuple("Usage", "total used free percent")
Net = namedtuple("Net", "bytes_sent bytes_recv packets_sent packets_recv")
Mem = namedtuple("Mem", "total available percent used free")


def test_cpu_utilization_matches_psutil_definition() -> None:
    before = CpuTimes(100, 0, 50, 800, 50, 0, 0, 0, 0, 0)
    # 100 s elapsed: 30 user, 10 system, 55 idle, 5 iowait; guest is already in user.
    after = CpuTimes(130, 0, 60, 855, 55, 0, 0, 0, 20, 0)
    assert cpu_utilization(before, after) == pytest.approx(0.4)
    assert cpu_utilization(after, after) is None


def test_memory_used_is_total_minus_available() -> None:
    assert memory_used(Mem(16_000, 10_000, 37.5, 3_000, 9_000)) == (6_000, 16_000)


def test_mountpoints_one_per_device_without_images() -> None:
    parts = [
        Part("/dev/sda1", "/etc/hosts", "ext4", "rw"),
        Part("/dev/sda1", "/", "ext4", "rw"),
        Part("/dev/sdb1", "/data", "xfs", "rw"),
        Part("/dev/loop3", "/snap/core/1", "squashfs", "ro"),
        Part("/dev/sr0", "/media/cd", "iso9660", "ro"),
    ]
    assert pick_mountpoints(parts) == ["/", "/data"]


def test_nics_skip_loopback_and_container_veths() -> None:
    counters = {"lo": Net(1, 1, 0, 0), "eth0": Net(200, 100, 0, 0), "veth12ab": Net(5, 5, 0, 0)}
    nics = pick_nics(counters)
    assert [(n.device, n.received, n.sent) for n in nics] == [("eth0", 100, 200)]


def fake_psutil() -> SimpleNamespace:
    times = iter(
        [CpuTimes(100, 0, 50, 800, 50, 0, 0, 0, 0, 0), CpuTimes(130, 0, 60, 855, 55, 0, 0, 0, 0, 0)]
    )
    usage = {"/": Usage(1000, 250, 750, 25.0)}

    def disk_usage(path: str) -> Usage:
        if path not in usage:
            raise PermissionError(path)
        return usage[path]

    return SimpleNamespace(
        cpu_times=lambda: next(times),
        virtual_memory=lambda: Mem(8_000, 2_000, 75.0, 5_500, 500),
        disk_partitions=lambda all: [
            Part("/dev/vda", "/", "ext4", "rw"),
            Part("/dev/vdb", "/secret", "ext4", "rw"),
        ],
        disk_usage=disk_usage,
        net_io_counters=lambda pernic: {"eth0": Net(20, 10, 1, 1)},
    )


async def test_host_source_snapshot_and_exposition() -> None:
    slept: list[float] = []
    changes: list[int] = []
    source = HostPoller(15.0, lambda: changes.append(1), ps=fake_psutil(), sleep=slept.append)
    registry = CollectorRegistry()
    registry.register(HostCollector(source))
    assert generate_latest(registry) == b""  # nothing before the first sample
    await source.poll()
    assert slept == [0.25] and changes == [1]
    value = registry.get_sample_value
    assert value("host_cpu_utilization_ratio") == pytest.approx(0.4)
    assert value("host_memory_used_bytes") == 6_000
    assert value("host_memory_total_bytes") == 8_000
    assert value("host_disk_used_bytes", {"mountpoint": "/"}) == 250
    assert value("host_disk_total_bytes", {"mountpoint": "/"}) == 1000
    assert value("host_disk_used_bytes", {"mountpoint": "/secret"}) is None
    assert value("host_network_received_bytes_total", {"device": "eth0"}) == 10
    assert value("host_network_sent_bytes_total", {"device": "eth0"}) == 20


async def test_host_source_on_the_real_machine() -> None:
    source = HostPoller(15.0)
    await source.poll()
    snap = source.snapshot
    assert snap is not None
    assert snap.memory_total == psutil.virtual_memory().total
    assert 0 < snap.memory_used <= snap.memory_total
    assert snap.cpu_ratio is not None and 0.0 <= snap.cpu_ratio <= 1.0
    assert all(d.total > 0 and 0 <= d.used <= d.total for d in snap.disks)


def proc(pid: int, cmd: str, cpu: float, rss: int = 100, born: float = 1.0) -> ProcessInfo:
    return ProcessInfo(pid, born, cmd, cpu, rss)


def test_process_groups_first_match_wins_and_empty_groups_are_reported() -> None:
    tracker = ProcessGroupTracker(
        [("api", r"gunicorn .*shop"), ("py", r"python"), ("db", "postgres")]
    )
    samples = tracker.update(
        [
            proc(1, "gunicorn python shop:app", 2.0, 300),
            proc(2, "gunicorn python shop:app", 3.0, 200),
            proc(3, "python worker.py", 1.0, 50),
            proc(4, "bash", 9.0),
        ]
    )
    by_group = {s.group: (s.count, s.cpu_seconds, s.rss) for s in samples}
    assert by_group == {"api": (2, 5.0, 500), "py": (1, 1.0, 50), "db": (0, 0.0, 0)}


def test_process_group_cpu_counter_survives_exits_and_pid_reuse() -> None:
    tracker = ProcessGroupTracker([("api", "shop")])
    assert tracker.update([proc(1, "shop", 5.0), proc(2, "shop", 7.0)])[0].cpu_seconds == 12.0
    # pid 2 exits after using 8 s; pid 1 keeps going.
    first = tracker.update([proc(1, "shop", 6.0), proc(2, "shop", 8.0)])[0]
    second = tracker.update([proc(1, "shop", 6.5)])[0]
    assert first.cpu_seconds == 14.0
    assert second.cpu_seconds == 14.5 and second.count == 1
    # pid 1 is reused by a new process (new create time): the old one's 6.5 s is kept.
    third = tracker.update([proc(1, "shop", 0.5, born=99.0)])[0]
    assert third.cpu_seconds == 15.0


def test_process_info_from_psutil_dict_tolerates_denied_fields() -> None:
    cpu = SimpleNamespace(user=1.5, system=0.5)
    mem = SimpleNamespace(rss=4096)
    full = {
        "pid": 7,
        "create_time": 3.0,
        "name": "x",
        "cmdline": ["a", "b"],
        "cpu_times": cpu,
        "memory_info": mem,
    }
    assert process_info(full) == ProcessInfo(7, 3.0, "a b", 2.0, 4096)
    denied = {
        "pid": 8,
        "create_time": 3.0,
        "name": "kthreadd",
        "cmdline": [],
        "cpu_times": None,
        "memory_info": None,
    }
    assert process_info(denied) == ProcessInfo(8, 3.0, "kthreadd", 0.0, 0)


async def test_process_source_finds_this_test_process() -> None:
    marker = "^" + re.escape(" ".join(psutil.Process().cmdline())) + "$"
    source = ProcessPoller([("pytest", marker), ("nothing", "^no-such-process-xyz$")], 15.0)
    registry = CollectorRegistry()
    registry.register(ProcessCollector(source))
    await source.poll()
    value = registry.get_sample_value
    count = value("host_process_count", {"group": "pytest"})
    assert count is not None and count >= 1
    assert (value("host_process_cpu_seconds_total", {"group": "pytest"}) or 0) > 0
    rss = value("host_process_resident_memory_bytes", {"group": "pytest"})
    assert rss is not None and rss >= psutil.Process().memory_info().rss * 0.5
    assert value("host_process_count", {"group": "nothing"}) == 0
