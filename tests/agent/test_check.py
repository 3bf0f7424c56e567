"""`opslens check` with the real tools: passes on good output, fails on each kind of break."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.cli import main
from agent.cli.check import table
from agent.config import Config, load
from agent.verify import (
    Result,
    check_alertmanager,
    check_dashboard_metrics,
    check_prometheus,
    check_secret_mounts,
)
from tests.support.procs import require

pytestmark = pytest.mark.integration


@pytest.fixture
def tree(tmp_path: Path, root: Path) -> Path:
    require("promtool")
    require("amtool")
    shutil.copy(root / "opslens.yaml", tmp_path / "opslens.yaml")
    assert main(["generate", "-c", str(tmp_path / "opslens.yaml")]) == 0
    return tmp_path


def results(tree: Path, check: Callable[[Config, Path], Iterator[Result]]) -> dict[str, Result]:
    return {r.name: r for r in check(load(tree / "opslens.yaml"), tree)}


def test_check_passes_on_generated_output(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(tree / "opslens.yaml")]) == 0
    out = capsys.readouterr().out
    for name in ("promtool check config", "promtool test rules", "amtool config routes test"):
        assert name in out


def test_broken_rule_test_fails(tree: Path) -> None:
    test_file = tree / "rules" / "tests" / "host.test.yml"
    test_file.write_text(test_file.read_text().replace("HostCpuHigh", "HostCpuHighX", 1))
    got = results(tree, check_prometheus)
    assert not got["promtool test rules"].ok
    assert got["promtool check rules"].ok


def test_misrouted_alertmanager_fails(tree: Path) -> None:
    am = tree / "alertmanager" / "alertmanager.yml"
    am.write_text(am.read_text().replace("receiver: sms", "receiver: mail", 1))
    got = results(tree, check_alertmanager)
    assert got["amtool check-config"].ok
    assert not got["amtool config routes test"].ok
    assert "severity=critical" in got["amtool config routes test"].detail


def test_unknown_dashboard_metric_fails(tree: Path) -> None:
    path = tree / "grafana" / "dashboards" / "cost.json"
    dashboard = json.loads(path.read_text())
    dashboard["panels"][0].setdefault("targets", [{}])[0]["expr"] = "sum(cloudcost_dayly)"
    path.write_text(json.dumps(dashboard))
    got = results(tree, check_dashboard_metrics)
    assert not got["dashboard queries use known metrics"].ok
    assert "cloudcost_dayly" in got["dashboard queries use known metrics"].detail


def test_unmounted_secret_fails(tree: Path) -> None:
    compose = tree / "compose" / "docker-compose.yml"
    text = compose.read_text()
    assert "/run/secrets/slack_api_url" in text
    compose.write_text(
        text.replace("target: /run/secrets/slack_api_url", "target: /run/secrets/other")
    )
    got = results(tree, check_secret_mounts)
    assert not got["secret files are mounted"].ok


def test_missing_tool_exits_3(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tree / "empty-bin"))
    assert main(["check", "-c", str(tree / "opslens.yaml")]) == 3


def test_table_shows_multiline_details() -> None:
    text = table([Result("a", True, "fine"), Result("bb", False, "one\ntwo")])
    assert text.splitlines()[2:] == ["a   ok      fine", "bb  FAIL    one", "            two"]
