"""Infrastructure dashboard: host, processes, and the health of every exporter source."""

from __future__ import annotations

from typing import Any

from agent.config import Config

from ..naming import AGENT_JOB
from .panels import (
    UP,
    Panel,
    Query,
    Rows,
    Variable,
    assemble,
    bargauge,
    label_variable,
    or_zero,
    stat,
    timeline,
    timeseries,
)

MOUNT = 'mountpoint=~"$mountpoint"'
GROUP = 'group=~"$group"'
DISK_RATIO = f"host_disk_used_bytes{{{MOUNT}}} / host_disk_total_bytes{{{MOUNT}}}"
SOURCE = "{{exporter}}/{{source}}"


def _host(config: Config) -> list[Panel]:
    host = config.alerts.packs.host
    return [
        stat(
            "CPU",
            Query("host_cpu_utilization_ratio", "{{instance}}"),
            unit="percentunit",
            w=6,
            thresholds=((None, "green"), (host.cpu_ratio, "red")),
        ),
        stat(
            "Memory",
            Query("host_memory_used_bytes / host_memory_total_bytes", "{{instance}}"),
            unit="percentunit",
            w=6,
            thresholds=((None, "green"), (host.memory_ratio, "red")),
        ),
        stat(
            "Fullest disk",
            Query(f"max by (instance) ({DISK_RATIO})", "{{instance}}"),
            unit="percentunit",
            w=6,
            thresholds=((None, "green"), (host.disk_ratio, "red")),
        ),
        stat("Memory total", Query("host_memory_total_bytes", "{{instance}}"), unit="bytes", w=6),
        timeseries(
            "CPU utilisation",
            Query("host_cpu_utilization_ratio", "{{instance}}"),
            unit="percentunit",
            thresholds=((None, "green"), (host.cpu_ratio, "red")),
        ),
        timeseries(
            "Memory used",
            Query("host_memory_used_bytes", "{{instance}} used"),
            Query("host_memory_total_bytes", "{{instance}} total"),
            unit="bytes",
        ),
        bargauge(
            "Disk used",
            Query(DISK_RATIO, "{{instance}} {{mountpoint}}"),
            unit="percentunit",
            w=12,
            max_value=1,
            thresholds=((None, "green"), (host.disk_ratio, "red")),
        ),
        timeseries(
            "Network",
            Query(
                "sum by (instance, device) "
                "(rate(host_network_received_bytes_total[$__rate_interval]))",
                "{{instance}} {{device}} received",
            ),
            Query(
                "sum by (instance, device) (rate(host_network_sent_bytes_total[$__rate_interval]))",
                "{{instance}} {{device}} sent",
            ),
            unit="Bps",
        ),
    ]


def _processes() -> list[Panel]:
    return [
        stat(
            "Processes",
            Query(f"sum by (group) (host_process_count{{{GROUP}}})", "{{group}}"),
            w=8,
            h=8,
            thresholds=((None, "red"), (1, "green")),
            description="Matching processes per group; 0 means the group is not running.",
        ),
        timeseries(
            "Process CPU (cores)",
            Query(
                "sum by (group) "
                f"(rate(host_process_cpu_seconds_total{{{GROUP}}}[$__rate_interval]))",
                "{{group}}",
            ),
            w=8,
        ),
        timeseries(
            "Process resident memory",
            Query(f"sum by (group) (host_process_resident_memory_bytes{{{GROUP}}})", "{{group}}"),
            unit="bytes",
            w=8,
        ),
    ]


def _sources() -> list[Panel]:
    return [
        stat(
            "Sources down",
            Query(or_zero("count(opslens_source_up == 0)")),
            w=8,
            thresholds=((None, "green"), (1, "red")),
        ),
        stat("Agent", Query(f'up{{job="{AGENT_JOB}"}}', "{{instance}}"), mapping=UP, w=8),
        stat("Agent version", Query("opslens_build_info", "{{version}}"), names=True, w=8),
        stat(
            "Last config reload",
            Query("opslens_config_last_reload_successful", "{{instance}}"),
            mapping={1: ("Applied", "green"), 0: ("Refused", "red")},
            w=12,
        ),
        stat(
            "Config age",
            Query("time() - opslens_config_last_reload_success_timestamp_seconds", "{{instance}}"),
            unit="s",
            w=12,
        ),
        timeline("Source up", Query("opslens_source_up", SOURCE), mapping=UP),
        bargauge(
            "Time since last successful poll",
            Query("time() - opslens_source_last_success_timestamp_seconds", SOURCE),
            unit="s",
            w=12,
        ),
        timeseries(
            "Poll duration", Query("opslens_source_poll_duration_seconds", SOURCE), unit="s"
        ),
        timeseries(
            "Source errors",
            Query(
                or_zero(
                    "sum by (exporter, source, reason) "
                    "(increase(opslens_source_errors_total[$__interval]))",
                    reason="none",
                ),
                SOURCE + " {{reason}}",
            ),
            bars=True,
            min_interval="1m",
        ),
    ]


def build(config: Config) -> dict[str, Any]:
    """Return the infrastructure dashboard."""
    rows: Rows = [
        *([("Host", _host(config))] if config.app.host else []),
        *([("Processes", _processes())] if config.app.processes else []),
        ("Exporter sources", _sources()),
    ]
    variables: list[Variable] = []
    if config.app.host:
        variables.append(label_variable("mountpoint", "host_disk_used_bytes"))
    if config.app.processes:
        variables.append(label_variable("group", "host_process_count"))
    return assemble(
        "infrastructure",
        "OpsLens / Infrastructure",
        "Host CPU, memory, disk and network, watched process groups, and the health of every "
        "OpsLens exporter source: up, last success, poll duration and errors.",
        rows,
        variables,
        time_from="now-6h",
    )
