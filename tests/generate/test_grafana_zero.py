"""Zero-filled panel queries, evaluated by the real promtool (docs/dashboards.md#0-or-no-data).

Each query that shows 0 when its series are absent is run three ways: with no series
while the agent is up (exactly one 0 sample), with the agent down (no sample: "No
data"), and with real series (exactly the real samples, no extra 0 beside them).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import load
from agent.generate.grafana import dashboards, metric_names, panel_queries
from agent.generate.grafana.panels import AGENT_UP
from exporters import catalogue
from tests.support.procs import require

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Grafana's built-ins at fixed values; every dashboard variable at "All".
BUILTINS = {"__interval": "5m", "__range": "1h", "__rate_interval": "1m"}
UP = ('up{job="opslens",instance="agent:10470"}', "1x200")
DOWN = ('up{job="opslens",instance="agent:10470"}', "0x200")
_ZERO_LABEL = re.compile(r'label_replace\(.*?, "(\w+)", "([^"]*)", "", ""\)')


@dataclass(frozen=True)
class Present:
    """Real series for a query, and exactly the samples it must return."""

    series: list[tuple[str, str]]
    samples: list[tuple[str, float]]
    interval: str = "1m"
    eval_time: str = "10m"


SOURCES_DOWN = Present(
    [
        ('opslens_source_up{exporter="cost",source="a"}', "0x20"),
        ('opslens_source_up{exporter="cost",source="b"}', "1x20"),
    ],
    [("{}", 1)],
)
SOURCE_ERRORS = Present(
    [('opslens_source_errors_total{exporter="cost",source="a",reason="timeout"}', "0+1x20")],
    [('{exporter="cost",source="a",reason="timeout"}', 5)],
)
DAILY = {"interval": "1h", "eval_time": "26h"}
HOURLY_RANGE = {"eval_time": "80m"}

# (dashboard, panel title) → its real-value case. Every zero-filled panel needs one.
CASES: dict[tuple[str, str], Present] = {
    ("infrastructure", "Sources down"): SOURCES_DOWN,
    ("executive", "Sources down"): SOURCES_DOWN,
    ("alerts", "Sources failing"): SOURCES_DOWN,
    ("infrastructure", "Source errors"): SOURCE_ERRORS,
    ("alerts", "Exporter source errors"): SOURCE_ERRORS,
    ("dora", "Incidents open"): Present(
        [
            ('dora_incidents_open{service="shop",environment="production"}', "2x20"),
            ('dora_incidents_open{service="pay",environment="production"}', "0x20"),
        ],
        [('{service="shop"}', 2), ('{service="pay"}', 0)],
    ),
    ("executive", "Incidents open"): Present(
        [
            ('dora_incidents_open{service="shop",environment="production"}', "2x20"),
            ('dora_incidents_open{service="shop",environment="staging"}', "5x20"),
        ],
        [("{}", 2)],
    ),
    ("cost", "Rows dropped (24h)"): Present(
        [
            (
                'opslens_source_rows_dropped_total{exporter="cost",source="b",reason="bad_date"}',
                "0+3x30",
            )
        ],
        [("{}", 72)],
        **DAILY,
    ),
    ("cost", "Paid API cost (24h)"): Present(
        [('opslens_paid_api_cost_usd_total{source="ce"}', "0+0.25x30")], [("{}", 6)], **DAILY
    ),
    ("cost", "Paid API requests"): Present(
        [('opslens_paid_api_requests_total{source="ce",operation="GetCostAndUsage"}', "0+2x20")],
        [('{source="ce",operation="GetCostAndUsage"}', 10)],
    ),
    ("cost", "Rows dropped by reason"): Present(
        [
            (
                'opslens_source_rows_dropped_total{exporter="cost",source="b",reason="bad_date"}',
                "0+1x20",
            )
        ],
        [('{source="b",reason="bad_date"}', 5)],
    ),
    ("cost", "Rows with a placeholder label by reason"): Present(
        [
            (
                'opslens_source_rows_defaulted_total{exporter="cost",source="b",reason="no_tags"}',
                "0+1x20",
            )
        ],
        [('{source="b",reason="no_tags"}', 5)],
    ),
    ("dora", "Commits without a lead time"): Present(
        [('dora_lead_time_rejected_total{service="shop",reason="after_deployment"}', "0+1x90")],
        [('{reason="after_deployment"}', 60)],
        **HOURLY_RANGE,
    ),
    ("dora", "Deployments (time range)"): Present(
        [('dora_deployments_total{service="shop",environment="production"}', "0+1x90")],
        [("{}", 60)],
        **HOURLY_RANGE,
    ),
    ("dora", "Incidents"): Present(
        [('dora_incidents_total{service="shop",environment="production"}', "0+1x20")],
        [('{service="shop"}', 5)],
    ),
}


# Panels over an agent's counter that are not zero-filled, and why 0 shows anyway or
# would not be true.
NOT_ZERO_FILLED = {
    ("cost", "Paid API spend"): "the cost counter is exported at 0 from each Cost Explorer "
    "source's first poll",
    ("cost", "Daily request cap used (24h)"): "0 per source through `or on (source)` its cap",
    ("dora", "Deployments"): "a service's counters start with its first deployment; before "
    "that its keys are N/A, and 0 deployments of an unknown service would be made up",
}


def substitute(expr: str) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: BUILTINS.get(m.group(1), ".*"), expr)


def zero_filled() -> dict[tuple[str, str], str]:
    """(dashboard, title) → expression of every zero-filled query of the reference config."""
    out: dict[tuple[str, str], str] = {}
    for name, board in dashboards(load(ROOT / "opslens.yaml")).items():
        for title, expr in panel_queries(board):
            if AGENT_UP in expr:
                # The same title twice on a board (a stat and its trend) is the same query.
                assert out.get((name, title), expr) == expr, f"{name} / {title} differ"
                out[(name, title)] = expr
    return out


def zero_labels(expr: str) -> str:
    pairs = _ZERO_LABEL.findall(expr.partition(" or on () ")[2])
    return "{" + ",".join(f'{k}="{v}"' for k, v in reversed(pairs)) + "}"


def group(name: str, series: list[tuple[str, str]], interval: str, check: dict[str, Any]) -> Any:
    return {
        "name": name,
        "interval": interval,
        "input_series": [{"series": s, "values": v} for s, v in series],
        "promql_expr_test": [check],
    }


def expect(expr: str, eval_time: str, samples: list[tuple[str, float]]) -> dict[str, Any]:
    return {
        "expr": expr,
        "eval_time": eval_time,
        "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
    }


def promtool_file(queries: dict[tuple[str, str], str]) -> dict[str, Any]:
    tests = []
    for (board, panel), raw in sorted(queries.items()):
        expr = substitute(raw)
        case = CASES[(board, panel)]
        title = f"{board} / {panel}"
        absent = [(zero_labels(raw), 0.0)]
        tests += [
            group(f"{title}: agent up, no series", [UP], "1m", expect(expr, "10m", absent)),
            group(f"{title}: agent down", [DOWN], "1m", expect(expr, "10m", [])),
            group(
                f"{title}: real series",
                [UP, *case.series],
                case.interval,
                expect(expr, case.eval_time, case.samples),
            ),
        ]
    return {"rule_files": [], "evaluation_interval": "1m", "tests": tests}


def test_every_zero_filled_panel_has_a_real_value_case() -> None:
    queries = zero_filled()
    assert len(queries) >= 10
    assert set(queries) == set(CASES)


def test_zero_only_where_no_series_and_the_real_value_otherwise(tmp_path: Path) -> None:
    promtool = require("promtool")
    path = tmp_path / "zero.test.yml"
    path.write_text(yaml.safe_dump(promtool_file(zero_filled()), sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_fails_a_plain_vector_zero_beside_grouped_series(tmp_path: Path) -> None:
    """The check can fail: `or vector(0)` beside `sum by` adds a 0 next to real series."""
    promtool = require("promtool")
    title = ("infrastructure", "Source errors")
    wrong = zero_filled()[title].replace(" or on () ", " or ")
    wrong = wrong.split(" or ", 1)[0] + " or vector(0)"
    path = tmp_path / "wrong.test.yml"
    path.write_text(yaml.safe_dump(promtool_file({title: wrong})), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0


def test_every_counter_panel_shows_zero_or_says_why_not() -> None:
    """A new panel over an agent counter is zero-filled, or listed above with its reason."""
    counters = {
        name
        for name in (*catalogue.SELF, *catalogue.COST, *catalogue.DORA)
        if name.endswith("_total")
    }
    unfilled = set()
    for name, board in dashboards(load(ROOT / "opslens.yaml")).items():
        for title, expr in panel_queries(board):
            if metric_names(expr) & counters and AGENT_UP not in expr:
                unfilled.add((name, title))
    assert unfilled == set(NOT_ZERO_FILLED), "zero-fill with or_zero(), or say why not"
