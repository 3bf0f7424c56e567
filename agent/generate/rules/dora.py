"""DORA: a performance level dropping, change failure ratio and restore time regressing."""

from __future__ import annotations

from agent.config import Config

from ..naming import (
    DORA_CHANGE_FAILURE_RATIO_HIGH,
    DORA_PERFORMANCE_LEVEL_DROPPED,
    DORA_TIME_TO_RESTORE_REGRESSED,
    rule_group,
)
from .common import (
    AGENT,
    Case,
    Check,
    Group,
    Rule,
    alert,
    dur,
    fired,
    gauge,
    num,
    percent,
    selector,
)

NAME = "dora"
# The cases span more than a day: a coarser evaluation keeps promtool fast.
EVALUATION_INTERVAL = "5m"
DAY_MINUTES = 24 * 60
LEVEL = 'dora_performance_level{window="30d"}'
TTR = "dora_time_to_restore_median_seconds"


def alerts(config: Config) -> tuple[Rule, Rule, Rule]:
    """Build the level-dropped, change-failure-ratio and restore-time alerts."""
    dora = config.dora
    sev = dora.severity
    cfr = dora.change_failure_ratio_alert
    elite = dora.levels.time_to_restore.elite.total_seconds()
    dropped = alert(
        config,
        DORA_PERFORMANCE_LEVEL_DROPPED,
        f"{LEVEL} < {LEVEL} offset 1d",
        "1h",
        sev,
        "DORA {{ $labels.metric }} level of {{ $labels.service }} dropped",
        "The 30-day {{ $labels.metric }} performance level of {{ $labels.service }} in "
        "{{ $labels.environment }} is lower than a day ago (3 elite, 2 high, 1 medium, 0 low).",
    )
    failures = alert(
        config,
        DORA_CHANGE_FAILURE_RATIO_HIGH,
        f'dora_change_failure_ratio{{window="30d"}} > {num(cfr)}',
        "1h",
        sev,
        "Change failure ratio of {{ $labels.service }} is above " + percent(cfr),
        "More than " + percent(cfr) + " of the deployments of {{ $labels.service }} to "
        "{{ $labels.environment }} in the last 30 days failed or caused an incident.",
    )
    restore = alert(
        config,
        DORA_TIME_TO_RESTORE_REGRESSED,
        # `ignoring` drops `window` from the result: the alert is about the service.
        f'({TTR}{{window="7d"}} > {int(elite)})\n> ignoring(window)\n(2 * {TTR}{{window="90d"}})',
        "1h",
        sev,
        "Time to restore of {{ $labels.service }} regressed",
        "The median time to restore of {{ $labels.service }} in {{ $labels.environment }} "
        "over the last 7 days is more than twice its 90-day median (and above the elite "
        f"{dur(elite)}).",
    )
    return dropped, failures, restore


def groups(config: Config) -> list[Group]:
    """Build the pack's rule group; none when the pack is off."""
    if not config.alerts.packs.dora.enabled:
        return []
    return [{"name": rule_group(NAME), "rules": list(alerts(config))}]


def cases(config: Config) -> list[Case]:
    """Build the cases: a regression fires all three; a steady or unknown level none."""
    dora = config.dora
    cfr = dora.change_failure_ratio_alert
    elite = dora.levels.time_to_restore.elite.total_seconds()
    dropped, failures, restore = alerts(config)
    base = {**AGENT, "service": "shop-api", "environment": dora.environments[0]}
    service = next((s.service for s in dora.sources if hasattr(s, "service")), None)
    if service:
        base["service"] = service
    lead = {**base, "metric": "lead_time", "window": "30d"}
    ratio = {**base, "window": "30d"}
    week, quarter = {**base, "window": "7d"}, {**base, "window": "90d"}
    hours = 24 + 2

    def series(
        drop_to: int, cfr_value: float, ttr_7d: float, ttr_90d: float
    ) -> list[tuple[str, str]]:
        steps = DAY_MINUTES + 120
        return [
            # Elite for a day, then `drop_to`: compared with the day before.
            (selector("dora_performance_level", lead), f"3x{DAY_MINUTES} {drop_to}x120"),
            (selector("dora_change_failure_ratio", ratio), gauge(cfr_value, steps)),
            (selector(TTR, week), gauge(ttr_7d, steps)),
            (selector(TTR, quarter), gauge(ttr_90d, steps)),
        ]

    at = f"{hours}h"
    e = max(elite, 60.0)
    return [
        Case(
            "dora: level drop, change failure ratio and restore time regression",
            series(2, min(1.0, (cfr + 1) / 2), 4 * e, e),
            [
                Check(DORA_PERFORMANCE_LEVEL_DROPPED, at, [fired(dropped, lead)]),
                Check(DORA_CHANGE_FAILURE_RATIO_HIGH, at, [fired(failures, ratio)]),
                Check(DORA_TIME_TO_RESTORE_REGRESSED, at, [fired(restore, base)]),
            ],
        ),
        Case(
            "dora: steady level, low failure ratio, steady restore time stay silent",
            series(3, cfr / 2, e / 2, e),
            [Check(r["alert"], at) for r in (dropped, failures, restore)],
        ),
        Case(
            # A level that can no longer be computed (say the window lost its deployments)
            # is absent and reported by dora_performance_level_unknown: that is N/A on the
            # dashboard, not a drop.
            "dora: a level that turns unknown is not a drop",
            [
                (selector("dora_performance_level", lead), f"3x{DAY_MINUTES} _x120"),
                (
                    selector(
                        "dora_performance_level_unknown", {**lead, "reason": "no_deployments"}
                    ),
                    f"_x{DAY_MINUTES} 1x120",
                ),
            ],
            [Check(DORA_PERFORMANCE_LEVEL_DROPPED, at)],
        ),
    ]
