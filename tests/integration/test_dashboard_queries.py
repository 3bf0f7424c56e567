"""Every dashboard panel query, evaluated by a real Prometheus on synthetic data.

Prometheus scrapes a local aiohttp server every second: the agent's families as job
`opslens`, and an instrumented service's families once per configured target (so target
labels such as `service` are added by Prometheus, as in production). It loads the rule
files generated from the same config, so SLO recording rules exist, plus one test alert
so that ALERTS and ALERTS_FOR_STATE have series. Grafana variables are resolved the way
Grafana does: label_values() through the Prometheus API, multi-values as a regex.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import ClientSession, web

from agent.config import load
from agent.generate import render_all, serialise
from agent.generate.grafana import dashboards, panel_queries
from tests.integration.test_rules_prometheus import every_second
from tests.support.procs import prometheus
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

# Grafana's built-in variables, at values that make sense for a few seconds of data.
BUILTINS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}

# (dashboard, panel title) whose queries may legitimately be empty in production. The
# synthetic data makes them non-empty anyway; listed so the exemption is explicit.
MAY_BE_EMPTY: frozenset[tuple[str, str]] = frozenset()

TEST_ALERT = {
    "groups": [
        {
            "name": "dashboard-test",
            "rules": [
                {
                    "alert": "DashboardTestAlert",
                    "expr": "opslens_build_info > 0",
                    "for": "1s",
                    "labels": {"severity": "high", "service": "shop-api"},
                }
            ],
        }
    ]
}


def exposition(text: str, scrape: int) -> str:
    """Scale counters and histograms by the scrape number so rates are non-zero."""
    out, kind = [], ""
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            kind = line.split()[3]
        elif line and not line.startswith("#") and kind in ("counter", "histogram"):
            series, value = line.rsplit(" ", 1)
            line = f"{series} {float(value) * scrape:g}"
        out.append(line)
    return "\n".join(out) + "\n"


def fake_targets(extra: dict[str, str] | None = None) -> web.Application:
    """Serve the agent's and an app's families, plus `extra` expositions by path name."""
    texts = {
        name: (FIXTURES / f"dashboard_{name}.prom").read_text(encoding="utf-8")
        for name in ("agent", "app")
    }
    texts |= extra or {}
    scrapes: Counter[str] = Counter()

    async def metrics(request: web.Request) -> web.Response:
        key = request.path + request.query_string
        scrapes[key] += 1
        body = exposition(texts[request.match_info["name"]], scrapes[key])
        return web.Response(text=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/{name}", metrics)
    return app


def prometheus_config(config: Any, target: str, rule_files: list[str]) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = [
        {"job_name": "opslens", "metrics_path": "/agent", "static_configs": [{"targets": [target]}]}
    ]
    for t in config.targets:
        static: dict[str, Any] = {"targets": [target]}
        if t.service:
            static["labels"] = {"service": t.service}
        # A distinct query string keeps each job's counters apart in the fake.
        jobs.append(
            {
                "job_name": t.job,
                "metrics_path": "/app",
                "params": {"job": [t.job]},
                "static_configs": [static],
            }
        )
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": rule_files,
        "scrape_configs": jobs,
    }


def write_rules(config: Any, workdir: Path) -> list[str]:
    """The generated rule files for `config` (not the committed ones), plus the test alert.

    Groups with their own interval (the SLO period groups, 5m) run every second here, so
    their series exist within the test's seconds.
    """
    files = []
    for artefact in render_all(config):
        if artefact.path.startswith("rules/") and artefact.path.endswith(".rules.yml"):
            path = workdir / artefact.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(serialise(every_second(artefact)), encoding="utf-8")
            files.append(str(path))
    test_rules = workdir / "dashboard-test.rules.yml"
    test_rules.write_text(yaml.safe_dump(TEST_ALERT), encoding="utf-8")
    return [*files, str(test_rules)]


class Resolver:
    """Grafana variable substitution against a running Prometheus."""

    def __init__(self, session: ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def query(self, expr: str) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/api/v1/query", params={"query": expr}) as r:
            body: dict[str, Any] = await r.json()
            return body

    async def label_values(self, selector: str, label: str) -> list[str]:
        params = {"match[]": selector}
        async with self.session.get(f"{self.base}/api/v1/series", params=params) as r:
            body = await r.json()
        assert body["status"] == "success", (selector, body)
        return sorted({s[label] for s in body["data"] if s.get(label)})

    async def variables(self, board: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
        """Values for the board's variables, in order; and the problems found."""
        values = dict(BUILTINS)
        problems = []
        for var in board["templating"]["list"]:
            name = var["name"]
            if var["type"] == "datasource":
                continue
            if var["type"] == "custom":
                values[name] = var["current"]["value"]
                continue
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"])
            assert match, f"{board['uid']}: variable {name}: unexpected query {var['query']}"
            selector = substitute(match.group(1), values)
            found = await self.label_values(selector, match.group(2))
            if not found:
                problems.append(f"{board['uid']}: variable ${name} has no values ({selector})")
            values[name] = "(" + "|".join(grafana_escape(v) for v in found) + ")"
        return values, problems


def grafana_escape(value: str) -> str:
    """Escape a value as Grafana does for a multi-value regex inside a PromQL string."""
    value = value.replace("\\", "\\" * 4)
    return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", value)


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"unknown variable ${name} in {expr}"
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", one, expr)


async def evaluate(resolver: Resolver, boards: dict[str, dict[str, Any]]) -> list[str]:
    """Run every panel query; return what is wrong (empty when all is well)."""
    problems = []
    for name, board in boards.items():
        values, var_problems = await resolver.variables(board)
        problems += var_problems
        for title, expr in panel_queries(board):
            body = await resolver.query(substitute(expr, values))
            where = f"{name} / {title}: {expr}"
            if body.get("status") != "success":
                problems.append(f"{where}: {body.get('error')}")
            elif not body["data"]["result"] and (name, title) not in MAY_BE_EMPTY:
                problems.append(f"{where}: empty result")
    return problems


async def test_every_panel_query_runs_on_real_prometheus(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    config = load(ROOT / "opslens.yaml")
    boards = dashboards(config)
    server = await aiohttp_server(fake_targets())
    rule_files = write_rules(config, tmp_path)
    prom_yml = tmp_path / "prometheus.yml"
    prom_yml.write_text(
        yaml.safe_dump(prometheus_config(config, f"127.0.0.1:{server.port}", rule_files)),
        encoding="utf-8",
    )
    with contextlib.ExitStack() as stack:
        # Startup blocks while it polls /-/ready; the fake must keep answering meanwhile.
        base = await asyncio.to_thread(stack.enter_context, prometheus(prom_yml, tmp_path))
        async with ClientSession() as session:
            resolver = Resolver(session, base)
            problems: list[str] = []

            async def all_answer() -> bool:
                problems[:] = await evaluate(resolver, boards)
                return not problems

            # Rates need a few scrapes and the rules a few evaluations. A round runs every
            # panel's query, so rounds are two scrape intervals apart; a timeout lists every
            # query still wrong.
            await wait_until_async(
                all_answer,
                timeout=45,
                what=lambda: "every panel query to answer:\n" + "\n".join(problems),
                interval=2,
            )
            await asyncio.to_thread(stack.close)
    assert sum(len(panel_queries(b)) for b in boards.values()) > 100
