"""The user's own alerts from `alerts.rules`, with the same labels and annotations as ours."""

from __future__ import annotations

from agent.config import Config

from ..naming import rule_group
from .common import Case, Group, Rule, alert

NAME = "custom"


def alerts(config: Config) -> list[Rule]:
    """Build one alert per `alerts.rules` entry, in config order."""
    rules: list[Rule] = []
    for custom in config.alerts.rules:
        labels = dict(custom.labels)
        if custom.service:
            labels["service"] = custom.service
        rules.append(
            alert(
                config,
                custom.alert,
                custom.expr.strip(),
                custom.for_.prom(),
                custom.severity,
                custom.summary,
                custom.description or custom.summary,
                labels=labels,
                runbook=custom.runbook_url,
            )
        )
    return rules


def groups(config: Config) -> list[Group]:
    """Build the pack's rule group; none without custom rules."""
    if not config.alerts.rules:
        return []
    return [{"name": rule_group(NAME), "rules": alerts(config)}]


def cases(config: Config) -> list[Case]:
    """Build the one case proving that promtool parses and evaluates the rules."""
    # There is no synthetic breach for arbitrary PromQL, so it asserts no firing.
    return [
        Case("custom rules load and evaluate (no synthetic breach for arbitrary PromQL)", [], [])
    ]
