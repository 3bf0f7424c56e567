"""Cloud cost: budget thresholds, forecast over budget, spend anomalies, stale billing data."""

from __future__ import annotations

from agent.config import SEVERITIES, Config, Severity
from exporters.cost.config import Budget

from ..naming import rule_group
from .common import (
    AGENT,
    Case,
    Check,
    Pack,
    Rule,
    alert,
    dur,
    fired,
    gauge,
    num,
    percent,
    selector,
)

DAY = 86400


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
        "CloudCostBudgetThresholdReached",
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
        "CloudCostBudgetForecastExceeded",
        f"cloudcost_budget_forecast{b} > cloudcost_budget_limit{b}",
        "1h",
        softer(budget.severity),
        f"Budget {budget.name} is forecast to be exceeded",
        f"At the current pace, spend on the {budget.period} budget {budget.name} will exceed "
        f"its limit of {num(budget.amount)} {budget.currency} by the end of the period.",
        labels=_budget_labels(budget),
    )


def build(config: Config) -> Pack | None:
    if not config.alerts.packs.cost.enabled:
        return None
    cost = config.cost
    rules: list[Rule] = []
    cases: list[Case] = []
    healthy: list[tuple[str, str]] = []
    for budget in cost.budgets:
        labels = {
            **AGENT,
            "budget": budget.name,
            "period": budget.period,
            "currency": budget.currency,
        }
        limit = (selector("cloudcost_budget_limit", labels), gauge(budget.amount, 90))
        spent = selector("cloudcost_budget_spent", labels)
        forecast = selector("cloudcost_budget_forecast", labels)
        thresholds = [_threshold(config, budget, t) for t in budget.thresholds]
        forecast_rule = _forecast(config, budget)
        rules += [*thresholds, forecast_rule]
        for i, t in enumerate(budget.thresholds):
            # Between this threshold and the next: exactly the thresholds up to it fire.
            nxt = budget.thresholds[i + 1] if i + 1 < len(budget.thresholds) else t * 1.2
            cases.append(
                Case(
                    f"cost: budget {budget.name} at {percent((t + nxt) / 2)}",
                    [limit, (spent, gauge(budget.amount * (t + nxt) / 2, 30))],
                    [
                        Check(
                            "CloudCostBudgetThresholdReached",
                            "20m",
                            [fired(r, labels) for r in thresholds[: i + 1]],
                        )
                    ],
                )
            )
        cases.append(
            Case(
                f"cost: budget {budget.name} forecast at 150%",
                [limit, (forecast, gauge(budget.amount * 1.5, 90))],
                [Check("CloudCostBudgetForecastExceeded", "80m", [fired(forecast_rule, labels)])],
            )
        )
        healthy += [
            limit,
            (spent, gauge(budget.amount * budget.thresholds[0] / 2, 90)),
            (forecast, gauge(budget.amount * 0.9, 90)),
        ]

    checks = (
        [
            Check("CloudCostBudgetThresholdReached", "80m"),
            Check("CloudCostBudgetForecastExceeded", "80m"),
        ]
        if cost.budgets
        else []
    )
    score = {
        **AGENT,
        "provider": "aws",
        "account": "123456789012",
        "service": "AmazonEC2",
        "currency": "USD",
    }
    alerted = {**{k: v for k, v in score.items() if k != "service"}, "cloud_service": "AmazonEC2"}
    if cost.anomaly.enabled:
        anomaly = alert(
            config,
            "CloudCostAnomaly",
            # The score's `service` is a cloud service ("Amazon EC2"); routing and inhibition
            # read `service` as the owning application, so the alert carries `cloud_service`.
            "label_replace(label_replace(cloudcost_anomaly_score > "
            f'{num(cost.anomaly.threshold)}, "cloud_service", "$1", "service", "(.*)"),'
            ' "service", "", "", "")',
            "30m",
            cost.anomaly.severity,
            "Unusual spend on {{ $labels.provider }} {{ $labels.cloud_service }}",
            "The latest complete day's usage of {{ $labels.cloud_service }} in account "
            "{{ $labels.account }} ({{ $labels.provider }}, {{ $labels.currency }}) is more "
            f"than {num(cost.anomaly.threshold)} robust deviations above its trailing "
            f"{cost.anomaly.window_days}-day median.",
        )
        rules.append(anomaly)
        cases.append(
            Case(
                "cost: anomaly score over the threshold",
                [
                    (
                        selector("cloudcost_anomaly_score", score),
                        gauge(cost.anomaly.threshold * 2, 60),
                    )
                ],
                [Check("CloudCostAnomaly", "40m", [fired(anomaly, alerted)])],
            )
        )
        healthy.append(
            (selector("cloudcost_anomaly_score", score), gauge(cost.anomaly.threshold / 2, 90))
        )
        checks.append(Check("CloudCostAnomaly", "80m"))

    # The timestamp is the start of a provider's latest complete day: data is as fresh as
    # it can be one day after it, so staleness counts from the end of that day. Each
    # provider has its own timestamp, so one lagging export fires for that provider alone.
    limit_s = DAY + cost.stale_after.total_seconds()
    stale = alert(
        config,
        "CloudCostDataStale",
        f"time() - cloudcost_data_timestamp_seconds > {int(limit_s)}",
        "30m",
        "medium",
        "Cost data of {{ $labels.provider }} in {{ $labels.source }} is stale",
        "The latest complete day of {{ $labels.provider }} billing data from "
        "{{ $labels.source }} ended more than "
        f"{dur(cost.stale_after.total_seconds())} ago: its daily cost and budgets are "
        "working on old figures.",
    )
    cap = alert(
        config,
        "CloudCostApiCapReached",
        "opslens_paid_api_cap_reached == 1",
        "5m",
        "low",
        "{{ $labels.source }} reached its daily paid API request cap",
        "Source {{ $labels.source }} has used its daily cap of paid API requests "
        f"({cost.daily_request_cap}); it serves its last data until the cap resets at "
        "midnight UTC.",
    )
    rules += [stale, cap]
    source = {**AGENT, "source": "aws-main"}
    lagging = {**AGENT, "source": "billing", "provider": "Microsoft"}
    fresh = {**AGENT, "source": "billing", "provider": "AWS"}
    ts = selector("cloudcost_data_timestamp_seconds", lagging)
    fresh_ts = selector("cloudcost_data_timestamp_seconds", fresh)
    capped = selector("opslens_paid_api_cap_reached", source)
    cases.append(
        Case(
            "cost: one provider's billing data stale, paid API cap reached",
            # Times start at 0: a day start further back than the limit is stale at once;
            # the other provider of the same source, one day back, stays silent.
            [
                (ts, gauge(-limit_s - 3600, 60)),
                (fresh_ts, f"{-DAY}+60x60"),
                (capped, gauge(1, 60)),
            ],
            [
                Check("CloudCostDataStale", "40m", [fired(stale, lagging)]),
                Check("CloudCostApiCapReached", "40m", [fired(cap, source)]),
            ],
        )
    )
    # A day start exactly one day back at every step: as fresh as billing data gets.
    healthy += [(ts, f"{-DAY}+60x90"), (capped, gauge(0, 90))]
    checks += [Check("CloudCostDataStale", "80m"), Check("CloudCostApiCapReached", "80m")]
    cases.append(Case("cost: healthy spend and fresh data stay silent", healthy, checks))
    return Pack("cost", [{"name": rule_group("cost"), "rules": rules}], cases)
