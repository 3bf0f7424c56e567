"""Every query of every generated dashboard panel, run against a live Prometheus.

A panel has data when each of its queries returns at least one sample over the last
`RANGE` (a range query, as Grafana draws it with the time picker at "Last 15 minutes").
Template variables take the value Grafana's "All" expands to (the regex of every value
the variable's `label_values` query finds) or, without "All", their current or first
option; Grafana's built-in interval variables take the values that range gives.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RANGE = 15 * 60
STEP = 15
# Grafana: $__interval is range / data points; $__rate_interval is at least 4 scrapes.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": f"{STEP}s",
    "__range": f"{RANGE // 60}m",
    "__range_s": str(RANGE),
}
_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$")


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel_id: int
    panel: str
    expr: str  # with every variable substituted


@dataclass(frozen=True)
class Result:
    query: Query
    series: int


def get(prometheus: str, path: str, **params: str) -> Any:
    url = f"{prometheus}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise AssertionError(f"{url}: {body}")
    return body["data"]


def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in panels:
        yield panel
        yield from walk(panel.get("panels", []))


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VAR.sub(one, expr)


def variable_values(prometheus: str, dashboard: dict[str, Any]) -> dict[str, str]:
    """What each template variable of `dashboard` stands for, in declaration order."""
    values = dict(BUILTINS)
    for var in dashboard.get("templating", {}).get("list", []):
        name, kind = var["name"], var["type"]
        if kind == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = _LABEL_VALUES.match(query.strip())
            if not match:
                raise AssertionError(f"unsupported variable query {query!r}")
            selector, label = match.groups()
            params = {"match[]": substitute(selector, values)} if selector else {}
            found = sorted(get(prometheus, f"/api/v1/label/{label}/values", **params))
            if var.get("includeAll"):
                values[name] = var.get("allValue") or (
                    "(" + "|".join(re.escape(v) for v in found) + ")" if found else "$^"
                )
            else:
                values[name] = re.escape(found[0]) if found else "$^"
        elif kind in ("custom", "constant", "interval"):
            current = var.get("current", {}).get("value")
            options = [o["value"] for o in var.get("options", [])] or str(var["query"]).split(",")
            values[name] = str(current or options[0]).strip()
        elif kind == "datasource":
            values[name] = "prometheus"
        else:
            raise AssertionError(f"unsupported variable type {kind!r} ({name})")
    return values


def queries(prometheus: str, dashboards: Path) -> Iterator[Query]:
    for path in sorted(dashboards.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        values = variable_values(prometheus, dashboard)
        for panel in walk(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    title = f"{panel.get('title', '')} [{target.get('refId', '')}]"
                    expr = substitute(target["expr"], values)
                    yield Query(path.stem, panel.get("id", 0), title, expr)


def evaluate(prometheus: str, dashboards: Path, now: float | None = None) -> list[Result]:
    """Run every panel query over the last RANGE; how many series each returned."""
    end = now or time.time()
    results = []
    for q in queries(prometheus, dashboards):
        data = get(
            prometheus,
            "/api/v1/query_range",
            query=q.expr,
            start=str(end - RANGE),
            end=str(end),
            step=str(STEP),
        )
        results.append(Result(q, len(data["result"])))
    return results


def panels_with_data(results: list[Result]) -> tuple[int, int, list[str]]:
    """(panels whose every query has data, panels, the empty queries by panel)."""
    by_panel: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        key = (r.query.dashboard, str(r.query.panel_id))
        by_panel.setdefault(key, []).append(r)
    empty = [
        f"{r.query.dashboard} / {r.query.panel}: {r.query.expr}"
        for rs in by_panel.values()
        for r in rs
        if not r.series
    ]
    full = sum(all(r.series for r in rs) for rs in by_panel.values())
    return full, len(by_panel), empty
