"""Building blocks of the rule packs: rules, promtool cases, clean numbers, selectors."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from agent.config import Config, Duration, Severity

from ..hosts import COMPOSE
from ..naming import AGENT_JOB, runbook_url

Rule = dict[str, Any]
Group = dict[str, Any]

# Labels Prometheus adds when it scrapes the agent; test series carry them so the
# expected alerts show exactly what a real alert would carry.
AGENT = {"job": AGENT_JOB, "instance": COMPOSE.agent}


def num(value: float | Decimal | Fraction | int) -> str:
    """A number as the shortest clean decimal: 0.001, 25000, 14.4 (never 1e-3 or 0.0010000001)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    elif not isinstance(value, Decimal):
        value = Decimal(repr(float(value)))
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def percent(ratio: float) -> str:
    """0.8 → `80%`, 0.125 → `12.5%`."""
    return num(Decimal(repr(float(ratio))) * 100) + "%"


def dur(seconds: float) -> str:
    return Duration.of(seconds).prom()


def selector(name: str, labels: Mapping[str, str] | None = None) -> str:
    """`name{a="b"}` with PromQL string escaping; no braces when there are no labels."""
    if not labels:
        return name
    inner = ",".join(f"{k}={quote(v)}" for k, v in labels.items())
    return f"{name}{{{inner}}}"


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def alert(
    config: Config,
    name: str,
    expr: str,
    for_: str,
    severity: Severity,
    summary: str,
    description: str,
    labels: Mapping[str, str] | None = None,
    runbook: str | None = None,
) -> Rule:
    """An alerting rule carrying the labels and annotations every OpsLens alert has."""
    return {
        "alert": name,
        "expr": expr,
        "for": capped(config, for_),
        "labels": {"severity": severity, **(labels or {})},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": runbook or runbook_url(config.alerts.runbook_base_url, name),
        },
    }


def capped(config: Config, for_: str) -> str:
    """`for_`, or `alerts.max_for` when that is shorter."""
    limit = config.alerts.max_for
    if limit is None or Duration.parse(for_) <= limit:
        return for_
    return limit.prom()


def lasting(config: Config, for_: str) -> str:
    """How long a rule with `for_` waits, in words: `15 minutes`, or the cap's `20 seconds`."""
    seconds = int(Duration.parse(capped(config, for_)).total_seconds())
    amount, unit = (seconds // 60, "minute") if seconds % 60 == 0 else (seconds, "second")
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


def record(name: str, expr: str, labels: Mapping[str, str] | None = None) -> Rule:
    rule: Rule = {"record": name, "expr": expr}
    if labels:
        rule["labels"] = dict(labels)
    return rule


_LABEL_REF = re.compile(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def expand(template: str, labels: Mapping[str, str]) -> str:
    """Render a template the way Prometheus does, for the `$labels.x` subset packs use."""
    text = _LABEL_REF.sub(lambda m: labels[m.group(1)], template)
    if "{{" in text:
        raise ValueError(f"template {template!r} uses more than $labels: promtool cases can't")
    return text


def fired(rule: Rule, series_labels: Mapping[str, str]) -> dict[str, Any]:
    """The promtool `exp_alerts` entry for `rule` firing on a series with these labels."""
    labels = {**series_labels, **rule["labels"]}
    labels.pop("__name__", None)
    # Prometheus expands annotations with the series' labels, before the rule's own.
    return {
        "exp_labels": labels,
        "exp_annotations": {k: expand(v, series_labels) for k, v in rule["annotations"].items()},
    }


@dataclass(frozen=True)
class Check:
    """At `eval_time`, alert `alert` fires exactly `alerts` (empty: stays silent)."""

    alert: str
    eval_time: str
    alerts: Sequence[dict[str, Any]] = ()


@dataclass(frozen=True)
class Sample:
    """At `eval_time`, `expr` returns exactly these (labels, value) samples."""

    expr: str
    eval_time: str
    samples: Sequence[tuple[str, float]] = ()


@dataclass(frozen=True)
class Case:
    """One promtool test group: synthetic input series and what must (not) fire."""

    name: str
    series: Sequence[tuple[str, str]]
    checks: Sequence[Check]
    interval: str = "1m"
    exprs: Sequence[Sample] = ()


@dataclass(frozen=True)
class TestFile:
    """More cases for a pack, at their own evaluation interval: `<pack>.<suffix>.test.yml`."""

    suffix: str
    cases: list[Case]
    evaluation_interval: str


@dataclass(frozen=True)
class Pack:
    """One rules file and the promtool cases of its test file."""

    name: str
    groups: list[Group]
    cases: list[Case] = field(default_factory=list)
    evaluation_interval: str = "1m"
    more_tests: list[TestFile] = field(default_factory=list)

    def alerts(self) -> list[Rule]:
        return [r for g in self.groups for r in g["rules"] if "alert" in r]

    def all_cases(self) -> list[Case]:
        return [*self.cases, *(c for t in self.more_tests for c in t.cases)]


def counter(per_step: float, steps: int) -> str:
    """promtool values for a counter growing `per_step` each step from 0."""
    return f"0+{num(round(per_step, 9))}x{steps}"


def gauge(value: float, steps: int) -> str:
    return f"{num(round(value, 9))}x{steps}"
