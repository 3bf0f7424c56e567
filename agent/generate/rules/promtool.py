"""`rules/tests/<pack>.test.yml`: the promtool unit tests of one rules file."""

from __future__ import annotations

from typing import Any

from .common import Case, Pack, TestFile


def test_group(case: Case) -> dict[str, Any]:
    group: dict[str, Any] = {
        "name": case.name,
        "interval": case.interval,
        "input_series": [{"series": s, "values": v} for s, v in case.series],
    }
    if case.checks:
        group["alert_rule_test"] = [
            {"eval_time": c.eval_time, "alertname": c.alert, "exp_alerts": list(c.alerts)}
            for c in case.checks
        ]
    if case.exprs:
        group["promql_expr_test"] = [
            {
                "expr": s.expr,
                "eval_time": s.eval_time,
                "exp_samples": [{"labels": labels, "value": v} for labels, v in s.samples],
            }
            for s in case.exprs
        ]
    return group


def test_file(pack: Pack, more: TestFile | None = None) -> dict[str, Any]:
    """A promtool test file; `rule_files` is relative to the test file itself."""
    cases = pack.cases if more is None else more.cases
    interval = pack.evaluation_interval if more is None else more.evaluation_interval
    if not cases:
        raise ValueError(f"rule pack {pack.name!r} has no promtool cases")
    return {
        "rule_files": [f"../{pack.name}.rules.yml"],
        "evaluation_interval": interval,
        "tests": [test_group(c) for c in cases],
    }
