"""Sloth's own generated rules next to ours in one Prometheus: every dashboard query runs.

Sloth records `slo:sli_error:ratio_rate5m`, `slo:error_budget:ratio` and the like with
`sloth_*` labels and neither `slo` nor `service`. Joined `on (slo, service)` without a
filter, two Sloth SLOs already make "many-to-many matching not allowed". Prometheus here
loads Sloth's committed output for its kubernetes-apiserver example (the shared sample
data), fed with apiserver series so its rules produce data, and a copy of it renamed into
our namespace (our very names, Sloth's labels). Every dashboard query must still answer,
from our series only.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import ClientSession

from agent.config import load
from agent.generate.grafana import dashboards, panel_queries
from tests.conftest import SHARED_DATA
from tests.integration.test_dashboard_queries import (
    ROOT,
    Resolver,
    evaluate,
    fake_targets,
    prometheus_config,
    substitute,
    write_rules,
)
from tests.support.procs import prometheus

pytestmark = pytest.mark.integration

SLOTH = SHARED_DATA / "sloth" / "kubernetes-apiserver.gen.yml"
# The series Sloth's example SLOs read: requests by code, and a latency histogram.
APISERVER = """\
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",verb="GET"} 1000
apiserver_request_total{code="500",verb="GET"} 3
apiserver_request_total{code="429",verb="LIST"} 2
# TYPE apiserver_request_duration_seconds histogram
apiserver_request_duration_seconds_bucket{verb="GET",le="0.4"} 990
apiserver_request_duration_seconds_bucket{verb="GET",le="+Inf"} 1003
apiserver_request_duration_seconds_sum{verb="GET"} 120
apiserver_request_duration_seconds_count{verb="GET"} 1003
"""


def renamed(sloth: dict[str, Any]) -> dict[str, Any]:
    """Sloth's rules with every `slo:` name moved to `opslens_slo:`: a clash by design."""
    text = re.sub(r"(?<![\w:])slo:", "opslens_slo:", yaml.safe_dump(sloth))
    groups = yaml.safe_load(text)["groups"]
    return {"groups": [{**g, "name": f"renamed-{g['name']}"} for g in groups]}


async def sloth_series_in_panels(
    resolver: Resolver, boards: dict[str, dict[str, Any]]
) -> list[str]:
    """SLO panel queries whose results include a series of Sloth's (a `sloth_*` label)."""
    leaks = []
    for name, board in boards.items():
        values, _ = await resolver.variables(board)
        for title, expr in panel_queries(board):
            if "opslens_slo:" not in expr:
                continue
            body = await resolver.query(substitute(expr, values))
            for series in body["data"]["result"]:
                if any(label.startswith("sloth") for label in series["metric"]):
                    leaks.append(f"{name} / {title}: {series['metric']}")
    return leaks


async def test_dashboards_run_beside_sloths_rules(aiohttp_server: Any, tmp_path: Path) -> None:
    config = load(ROOT / "opslens.yaml")
    boards = dashboards(config)
    sloth = yaml.safe_load(SLOTH.read_text(encoding="utf-8"))
    clash = tmp_path / "sloth-renamed.rules.yml"
    clash.write_text(yaml.safe_dump(renamed(sloth)), encoding="utf-8")
    assert "opslens_slo:error_budget:ratio" in clash.read_text(encoding="utf-8")
    server = await aiohttp_server(fake_targets({"apiserver": APISERVER}))
    target = f"127.0.0.1:{server.port}"
    rule_files = [*write_rules(config, tmp_path), str(SLOTH), str(clash)]
    prom = prometheus_config(config, target, rule_files)
    prom["scrape_configs"].append(
        {
            "job_name": "apiserver",
            "metrics_path": "/apiserver",
            "static_configs": [{"targets": [target]}],
        }
    )
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom), encoding="utf-8")
    with contextlib.ExitStack() as stack:
        base = await asyncio.to_thread(
            stack.enter_context, prometheus(tmp_path / "prometheus.yml", tmp_path)
        )
        async with ClientSession() as session:
            resolver = Resolver(session, base)
            deadline = time.monotonic() + 45
            while True:
                await asyncio.sleep(2)
                problems = await evaluate(resolver, boards)
                theirs = await resolver.query('slo:sli_error:ratio_rate5m{sloth_slo!=""}')
                clashing = await resolver.query('opslens_slo:error_budget:ratio{sloth_slo!=""}')
                ready = len(theirs["data"]["result"]) == 2 and clashing["data"]["result"]
                if (not problems and ready) or time.monotonic() > deadline:
                    break
            leaks = await sloth_series_in_panels(resolver, boards)
            # What the old dashboards did: an unfiltered join over Sloth's two SLOs.
            old = await resolver.query(
                "slo:sli_error:ratio_rate5m / on (slo, service) slo:error_budget:ratio"
            )
            await asyncio.to_thread(stack.close)
    assert not problems, "\n".join(problems)
    assert ready, (theirs, clashing)
    assert not leaks, leaks
    assert old["status"] == "error" and "many-to-many" in old["error"], old
