"""The agent watching itself: agent down, a source failing or stale, a refused reload."""

from __future__ import annotations

from agent.config import Config

from ..naming import (
    AGENT_DOWN,
    AGENT_JOB,
    CONFIG_RELOAD_FAILED,
    SOURCE_DOWN,
    SOURCE_STALE,
    rule_group,
)
from .common import AGENT, Case, Check, Group, Rule, alert, counter, dur, fired, gauge, selector

NAME = "exporters"
MIN_STALE = 15 * 60
LAST_SUCCESS = "opslens_source_last_success_timestamp_seconds"


def stale_after(config: Config) -> dict[str, float]:
    """Seconds without a successful poll before each exporter's data counts as stale."""
    app = [config.app.host_interval, *(p.interval for p in config.app.probes)]
    intervals = {
        "cost": config.cost.poll_interval,
        "dora": config.dora.poll_interval,
        "app": max(app),
    }
    # Three missed polls: one failure is backoff, not staleness.
    return {k: max(3 * v.total_seconds(), MIN_STALE) for k, v in intervals.items()}


def alerts(config: Config) -> tuple[Rule, Rule, Rule, Rule]:
    """Build the agent-down, source-down, source-stale and reload-failed alerts."""
    sev = config.alerts.packs.exporters.severity
    stale = stale_after(config)
    stale_expr = "\nor\n".join(
        f"time() - {selector(LAST_SUCCESS, {'exporter': e})} > {int(s)}" for e, s in stale.items()
    )
    agent_down = alert(
        config,
        AGENT_DOWN,
        f"{selector('up', {'job': AGENT_JOB})} == 0",
        "5m",
        sev,
        "OpsLens agent {{ $labels.instance }} is down",
        "Prometheus cannot scrape the OpsLens agent at {{ $labels.instance }}: cost, DORA "
        "and application metrics are not being collected.",
    )
    source_down = alert(
        config,
        SOURCE_DOWN,
        "opslens_source_up == 0",
        "15m",
        sev,
        "OpsLens source {{ $labels.exporter }}/{{ $labels.source }} is failing",
        "The last polls of source {{ $labels.source }} ({{ $labels.exporter }} exporter) "
        "failed; the agent keeps serving its last good data. See opslens_source_errors_total "
        "for the reason.",
    )
    source_stale = alert(
        config,
        SOURCE_STALE,
        stale_expr,
        "10m",
        sev,
        "OpsLens source {{ $labels.exporter }}/{{ $labels.source }} has stale data",
        "Source {{ $labels.source }} ({{ $labels.exporter }} exporter) has not completed a "
        "successful poll for more than three poll intervals ("
        + ", ".join(f"{e} {dur(s)}" for e, s in stale.items())
        + ").",
    )
    reload_failed = alert(
        config,
        CONFIG_RELOAD_FAILED,
        "opslens_config_last_reload_successful == 0",
        "10m",
        sev,
        "OpsLens agent {{ $labels.instance }} refused its new config",
        "The last reload of opslens.yaml (SIGHUP or POST /-/reload) was refused: the agent "
        "runs the previous config, and the next restart would fail the same way. Its log "
        "names the file, line and field.",
    )
    return agent_down, source_down, source_stale, reload_failed


def groups(config: Config) -> list[Group]:
    """Build the pack's rule group; none when the pack is off."""
    if not config.alerts.packs.exporters.enabled:
        return []
    return [{"name": rule_group(NAME), "rules": list(alerts(config))}]


def cases(config: Config) -> list[Case]:
    """Build the promtool cases: a dead agent, stale sources, a refused reload fire; not healthy."""
    agent_down, source_down, source_stale, reload_failed = alerts(config)
    after = stale_after(config)
    up = selector("up", AGENT)
    source = {**AGENT, "exporter": "cost", "source": "aws-main"}
    sources = {e: {**AGENT, "exporter": e, "source": f"{e}-main"} for e in after}
    # A success timestamp further in the past than the threshold at t=0 (times start at 0).
    old = [
        (selector(LAST_SUCCESS, labels), gauge(-after[e] - 3600, 30))
        for e, labels in sources.items()
    ]
    # A success every step: the timestamp tracks time().
    fresh = [(selector(LAST_SUCCESS, labels), counter(60, 30)) for labels in sources.values()]
    return [
        Case(
            "exporters: agent down, source failing, every exporter stale",
            [
                (up, gauge(0, 30)),
                (selector("opslens_source_up", source), gauge(0, 30)),
                (selector("opslens_config_last_reload_successful", AGENT), gauge(0, 30)),
                *old,
            ],
            [
                Check(AGENT_DOWN, "20m", [fired(agent_down, AGENT)]),
                Check(CONFIG_RELOAD_FAILED, "20m", [fired(reload_failed, AGENT)]),
                Check(SOURCE_DOWN, "20m", [fired(source_down, source)]),
                Check(SOURCE_STALE, "20m", [fired(source_stale, s) for s in sources.values()]),
            ],
        ),
        Case(
            "exporters: healthy agent and sources stay silent",
            [
                (up, gauge(1, 30)),
                (selector("opslens_source_up", source), gauge(1, 30)),
                (selector("opslens_config_last_reload_successful", AGENT), gauge(1, 30)),
                *fresh,
            ],
            [
                Check(r["alert"], "20m")
                for r in (agent_down, source_down, source_stale, reload_failed)
            ],
        ),
    ]
