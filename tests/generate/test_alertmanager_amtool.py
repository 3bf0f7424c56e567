"""The generated Alertmanager config checked by the real amtool 0.25."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.config import Config, load, parse
from agent.generate import alertmanager, write
from agent.generate.naming import ALERTMANAGER_CONFIG_FILE, alertmanager_template_file
from tests.generate.test_alertmanager import SMALL
from tests.support.procs import require

pytestmark = pytest.mark.integration

CONFIGS = ["reference", "small"]


def _config(name: str, root: Path) -> Config:
    return load(root / "opslens.yaml") if name == "reference" else parse(SMALL, "small.yaml")


@pytest.fixture(params=CONFIGS)
def generated(request: pytest.FixtureRequest, root: Path, tmp_path: Path) -> tuple[Config, Path]:
    config = _config(request.param, root)
    write(alertmanager.render(config), tmp_path)
    return config, tmp_path / ALERTMANAGER_CONFIG_FILE


def amtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [require("amtool"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=cwd)


def routes_test(path: Path, labels: dict[str, str], receivers: list[str]) -> str:
    """Run the exact command `opslens check` runs; return amtool's stdout."""
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={path}",
        f"--verify.receivers={','.join(receivers)}",
        *(f"{k}={v}" for k, v in labels.items()),
    )
    assert result.returncode == 0, f"{labels} → {receivers}: {result.stdout}{result.stderr}"
    return result.stdout


def test_check_config_passes_and_loads_the_template(generated: tuple[Config, Path]) -> None:
    config, path = generated
    result = amtool("check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert " - 1 templates" in result.stdout
    generated = 1 + config.dora.incidents.alertmanager.enabled  # null, opslens-incidents
    assert f" - {len(config.notify.receivers) + generated} receivers" in result.stdout


def test_every_route_case_resolves_in_order(generated: tuple[Config, Path]) -> None:
    config, path = generated
    cases = alertmanager.route_cases(config)
    assert len(cases) >= 5
    for labels, receivers in cases:
        assert routes_test(path, labels, receivers) == ",".join(receivers) + "\n"


def test_a_wrong_expectation_fails(generated: tuple[Config, Path]) -> None:
    config, path = generated
    labels, receivers = alertmanager.route_cases(config)[0]
    assert len(receivers) > 1
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={path}",
        f"--verify.receivers={','.join(reversed(receivers))}",
        *(f"{k}={v}" for k, v in labels.items()),
    )
    assert result.returncode == 1
    assert "did not match" in result.stdout


def test_small_team_regex_and_overrides_route(tmp_path: Path) -> None:
    write(alertmanager.render(parse(SMALL)), tmp_path)
    path = tmp_path / ALERTMANAGER_CONFIG_FILE
    routes_test(path, {"service": "storefront.v2", "severity": "critical"}, ["web-pager", "chat"])
    routes_test(path, {"service": "storefront.v2", "severity": "medium"}, ["mail"])
    # The dot is escaped: a look-alike service is not the team's.
    routes_test(path, {"service": "storefrontXv2", "severity": "critical"}, ["oncall", "relay"])
    routes_test(path, {"service": "etl", "severity": "critical"}, ["oncall", "relay"])


ALERT_DATA = {
    "receiver": "chat",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HttpErrorRatioHigh",
                "service": "shop-api",
                "severity": "high",
            },
            "annotations": {
                "summary": "shop-api answers 3.2% of requests with 5xx",
                "description": "Error ratio above 0.1% for 10 minutes.",
                "runbook_url": "https://runbooks.example.com/#httperrorratiohigh",
            },
            "startsAt": "2026-11-20T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
            "fingerprint": "1a2b3c",
        }
    ],
    "groupLabels": {"alertname": "HttpErrorRatioHigh", "service": "shop-api"},
    "commonLabels": {"alertname": "HttpErrorRatioHigh", "service": "shop-api", "severity": "high"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("title", "[FIRING:1] HIGH HttpErrorRatioHigh (shop-api)"),
        (
            "short",
            "[FIRING:1] HIGH HttpErrorRatioHigh (shop-api): "
            "shop-api answers 3.2% of requests with 5xx",
        ),
        ("slack.color", "danger"),
        ("pagerduty.severity", "error"),
        ("opsgenie.priority", "P2"),
        (
            "text",
            "Firing:\n"
            "shop-api answers 3.2% of requests with 5xx\n"
            "Error ratio above 0.1% for 10 minutes.\n"
            "Runbook: https://runbooks.example.com/#httperrorratiohigh\n"
            "Labels: alertname=HttpErrorRatioHigh service=shop-api severity=high\n"
            "Started: 2026-11-20 10:00:00 UTC\n"
            "Source: http://prometheus:9090/graph?g0.expr=x\n",
        ),
    ],
)
def test_templates_render_readably(name: str, expected: str, root: Path, tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps(ALERT_DATA), encoding="utf-8")
    result = amtool(
        "template",
        "render",
        f"--template.glob={root / alertmanager_template_file('opslens.tmpl')}",
        f"--template.data={data}",
        f'--template.text={{{{ template "opslens.{name}" . }}}}',
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
