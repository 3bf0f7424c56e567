"""The user's own alerts from `alerts.rules`, with the same labels and annotations as ours."""

from __future__ import annotations

from agent.config import Config

from ..naming import rule_group
from .common import Case, Pack, Rule, alert


def build(config: Config) -> Pack | None:
    if not config.alerts.rules:
        return None
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
    # There is no synthetic breach for arbitrary PromQL: this case only proves that
    # promtool parses and evaluates the rules; they carry no firing assertion.
    cases = [
        Case("custom rules load and evaluate (no synthetic breach for arbitrary PromQL)", [], [])
    ]
    return Pack("custom", [{"name": rule_group("custom"), "rules": rules}], cases)
