"""A real Prometheus loads every generated rule group and evaluates it without error."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config.loader import load
from agent.generate import rules
from agent.generate.artefact import Artefact, write
from agent.generate.hosts import COMPOSE
from tests.generate.test_rules import small
from tests.support.procs import prometheus
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

NEVER = "0001-01-01T00:00:00Z"


def fetch_groups(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success"
    return list(body["data"]["groups"])


def every_second(artefact: Artefact) -> Artefact:
    """The artefact with its rule groups' own intervals dropped.

    The SLO period groups run every 5 minutes, and Prometheus waits up to one interval
    before a group's first evaluation; at the global 1s they evaluate within the test.
    Expressions are untouched.
    """
    if not artefact.path.endswith(".rules.yml"):
        return artefact
    groups = [{k: v for k, v in g.items() if k != "interval"} for g in artefact.content["groups"]]
    return Artefact(artefact.path, {"groups": groups}, artefact.kind)


def test_prometheus_loads_and_evaluates_every_rule_group(root: Path, tmp_path: Path) -> None:
    configs = {"reference": load(root / "opslens.yaml"), "small": small()}
    expected = set()
    for name, config in configs.items():
        write([every_second(a) for a in rules.render(config, COMPOSE)], tmp_path / name)
        expected |= {
            (name, group["name"])
            for groups in rules.rule_groups(config).values()
            for group in groups
        }
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(
        yaml.safe_dump(
            {
                # Evaluate every second so one round happens quickly.
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [f"{name}/rules/*.rules.yml" for name in configs],
                "scrape_configs": [],
            }
        )
    )
    with prometheus(prom_config, tmp_path) as url:
        last: list[dict[str, Any]] = []

        def pending() -> list[str]:
            return [g["name"] for g in last if g["lastEvaluation"] == NEVER]

        def evaluated() -> list[dict[str, Any]] | None:
            last[:] = fetch_groups(url)
            return list(last) if last and not pending() else None

        def what() -> str:
            return f"every group's first evaluation; never evaluated: {pending()}"

        groups = wait_until(evaluated, timeout=30, what=what, interval=0.2)
    loaded = {(Path(g["file"]).parent.parent.name, g["name"]) for g in groups}
    assert loaded == expected
    for group in groups:
        for rule in group["rules"]:
            label = rule.get("name")
            assert rule["health"] == "ok", f"{group['name']}/{label}: {rule.get('lastError')}"
            assert not rule.get("lastError"), f"{group['name']}/{label}"
