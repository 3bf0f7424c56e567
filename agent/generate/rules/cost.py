"""Cloud cost: budget thresholds, forecast over budget, spend anomalies, stale billing data."""

from __future__ import annotations

from agent.config import SEVERITIES, Config, Severity
from exporters.cost.config import Budget

from ..naming import (
    COST_ANOMALY,
    COST_API_CAP_REACHED,
    COST_BUDGET_FORECAST_EXCEEDED,
    COST_BUDGET_THRESHOLD_REACHED,
    COST_DATA_STALE,
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

NAME = "cost"
DAY = 86400
Series = list[tuple[str, str]]


def softer(severity: Severity) -> Severity:
    """One step down: a forecast is a warning about the budget's own severity."""
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def _budget_labels(budget: Budget) -> dict[str, str]:
    # `budget` repeats the series' own label so the rules of two budgets differ in labels,
    # which promtool (and Prometheus' ALERTS) need to tell them apart.
    service = budget.match.get("service")
    return {"budget": budget.name, **({"service": service} if service else {})}


def _threshold(config: Config, budget: Budget, threshold: float) -> Rule:
    b = selector("", {"budget": budget.name})
    return alert(
        config,
        COST_BUDGET_THRESHOLD_REACHED,
        f"cloudcost_budget_spent{b} / cloudcost_budget_limit{b} >= {num(threshold)}",
        "15m",
        budget.severity,
        f"Budget {budget.name}: {percent(threshold)} spent",
        f"The {budget.period} budget {budget.name} ({num(budget.amount)} {budget.currency}, "
        f"{budget.cost_type} cost) has reached {percent(threshold)} of its limit.",
        labels={**_budget_labels(budget), "threshold": num(threshold)},
    )


def _forecast(config: Config, budget: Budget) -> Rule:
    b = selector("", {"budget": budget.name})
    return alert(
        config,
        COST_BUDGET_FORECAST_EXCEEDED,
        f"cloudcost_budget_forecast{b} > cloudcost_budget_limit{b}",
        "1h",
        softer(budget.severity),
        f"Budget {budget.name} is forecast to be exceeded",
        f"At the current pace, spend on the {budget.period} budget {budget.name} will exceed "
        f"its limit of {num(budget.amount)} {budget.currency} by the end of the period.",
        labels=_budget_labels(budget),
    )


def _anomaly(config: Config) -> Rule:
    anomaly = config.cost.anomaly
    return alert(
        config,
        COST_ANOMALY,
        # The score's `service` is a cloud service ("Amazon EC2"); routing and inhibition
        # read `service` as the owning application, so the alert carries `cloud_service`.
        "label_replace(label_replace(cloudcost_anomaly_score > "
        f'{num(anomaly.threshold)}, "cloud_service", "$1", "service", "(.*)"),'
        ' "service", "", "", "")',
        "30m",
        anomaly.severity,
        "Unusual spend on {{ $labels.provider }} {{ $labels.cloud_service }}",
        "The latest complete day's usage of {{ $labels.cloud_service }} in account "
        "{{ $labels.account }} ({{ $labels.provider }}, {{ $labels.currency }}) is more "
        f"than {num(anomaly.threshold)} robust deviations above its trailing "
        f"{anomaly.window_days}-day median.",
    )


def _stale_limit(config: Config) -> float:
    # The timestamp is the start of a provider's latest complete day: data is as fresh as
    # it can be one day after it, so staleness counts from the end of that day. Each
    # provider has its own timestamp, so one lagging export fires for that provider alone.
    return DAY + config.cost.stale_after.total_seconds()


def _stale(config: Config) -> Rule:
    return alert(
        config,
        COST_DATA_STALE,
        f"time() - cloudcost_data_timestamp_seconds > {int(_stale_limit(config))}",
        "30m",
        "medium",
        "Cost data of {{ $labels.provider }} in {{ $labels.source }} is stale",
        "The latest complete day of {{ $labels.provider }} billing data from "
        "{{ $labels.source }} ended more than "
        f"{dur(config.cost.stale_after.total_seconds())} ago: its daily cost and budgets are "
        "working on old figures.",
    )


def _cap(config: Config) -> Rule:
    return alert(
        config,
        COST_API_CAP_REACHED,
        "opslens_paid_api_cap_reached == 1",
        "5m",
        "low",
        "{{ $labels.source }} reached its daily paid API request cap",
        "Source {{ $labels.source }} has used its daily cap of paid API requests "
        f"({config.cost.daily_request_cap}); it serves its last data until the cap resets at "
        "midnight UTC.",
    )


def groups(config: Config) -> list[Group]:
    """Build the pack's rule group: per budget its thresholds and forecast, then the rest."""
    if not config.alerts.packs.cost.enabled:
        return []
    cost = config.cost
    rules: list[Rule] = []
    for budget in cost.budgets:
        rules += [_threshold(config, budget, t) for t in budget.thresholds]
        rules.append(_forecast(config, budget))
    if cost.anomaly.enabled:
        rules.append(_anomaly(config))
    rules += [_stale(config), _cap(config)]
    return [{"name": rule_group(NAME), "rules": rules}]


def _budget_cases(config: Config, budget: Budget) -> tuple[list[Case], Series]:
    """Cases of one budget's thresholds and forecast, and its healthy series."""
    labels = {**AGENT, "budget": budget.name, "period": budget.period, "currency": budget.currency}
    limit = (selector("cloudcost_budget_limit", labels), gauge(budget.amount, 90))
    spent = selector("cloudcost_budget_spent", labels)
    forecast = selector("cloudcost_budget_forecast", labels)
    thresholds = [_threshold(config, budget, t) for t in budget.thresholds]
    cases = []
    for i, t in enumerate(budget.thresholds):
        # Between this threshold and the next: exactly the thresholds up to it fire.
        nxt = budget.thresholds[i + 1] if i + 1 < len(budget.thresholds) else t * 1.2
        cases.append(
            Case(
                f"cost: budget {budget.name} at {percent((t + nxt) / 2)}",
                [limit, (spent, gauge(budget.amount * (t + nxt) / 2, 30))],
                [
                    Check(
                        COST_BUDGET_THRESHOLD_REACHED,
                        "20m",
                        [fired(r, labels) for r in thresholds[: i + 1]],
                    )
                ],
            )
        )
    over = fired(_forecast(config, budget), labels)
    cases.append(
        Case(
            f"cost: budget {budget.name} forecast at 150%",
            [limit, (forecast, gauge(budget.amount * 1.5, 90))],
            [Check(COST_BUDGET_FORECAST_EXCEEDED, "80m", [over])],
        )
    )
    healthy = [
        limit,
        (spent, gauge(budget.amount * budget.thresholds[0] / 2, 90)),
        (forecast, gauge(budget.amount * 0.9, 90)),
    ]
    return cases, healthy


def _anomaly_case(config: Config) -> tuple[Case, Series]:
    """The case of a score over the threshold, and a healthy score."""
    threshold = config.cost.anomaly.threshold
    score = {
        **AGENT,
        "provider": "aws",
        "account": "123456789012",
        "service": "AmazonEC2",
        "currency": "USD",
    }
    alerted = {**{k: v for k, v in score.items() if k != "service"}, "cloud_service": "AmazonEC2"}
    series = selector("cloudcost_anomaly_score", score)
    case = Case(
        "cost: anomaly score over the threshold",
        [(series, gauge(threshold * 2, 60))],
        [Check(COST_ANOMALY, "40m", [fired(_anomaly(config), alerted)])],
    )
    return case, [(series, gauge(threshold / 2, 90))]


def _freshness_case(config: Config) -> tuple[Case, Series]:
    """The case of one provider's stale billing data and a reached API cap; healthy series."""
    source = {**AGENT, "source": "aws-main"}
    lagging = {**AGENT, "source": "billing", "provider": "Microsoft"}
    fresh = {**AGENT, "source": "billing", "provider": "AWS"}
    ts = selector("cloudcost_data_timestamp_seconds", lagging)
    fresh_ts = selector("cloudcost_data_timestamp_seconds", fresh)
    capped = selector("opslens_paid_api_cap_reached", source)
    case = Case(
        "cost: one provider's billing data stale, paid API cap reached",
        # Times start at 0: a day start further back than the limit is stale at once;
        # the other provider of the same source, one day back, stays silent.
        [
            (ts, gauge(-_stale_limit(config) - 3600, 60)),
            (fresh_ts, f"{-DAY}+60x60"),
            (capped, gauge(1, 60)),
        ],
        [
            Check(COST_DATA_STALE, "40m", [fired(_stale(config), lagging)]),
            Check(COST_API_CAP_REACHED, "40m", [fired(_cap(config), source)]),
        ],
    )
    # A day start exactly one day back at every step: as fresh as billing data gets.
    return case, [(ts, f"{-DAY}+60x90"), (capped, gauge(0, 90))]


def cases(config: Config) -> list[Case]:
    """Build the promtool cases: each alert fires on its breach, all stay silent together."""
    cost = config.cost
    cases: list[Case] = []
    healthy: Series = []
    silent: list[str] = []
    for budget in cost.budgets:
        budget_cases, budget_healthy = _budget_cases(config, budget)
        cases += budget_cases
        healthy += budget_healthy
    if cost.budgets:
        silent += [COST_BUDGET_THRESHOLD_REACHED, COST_BUDGET_FORECAST_EXCEEDED]
    if cost.anomaly.enabled:
        case, calm = _anomaly_case(config)
        cases.append(case)
        healthy += calm
        silent.append(COST_ANOMALY)
    case, fresh = _freshness_case(config)
    cases.append(case)
    healthy += fresh
    silent += [COST_DATA_STALE, COST_API_CAP_REACHED]
    checks = [Check(name, "80m") for name in silent]
    cases.append(Case("cost: healthy spend and fresh data stay silent", healthy, checks))
    return cases
