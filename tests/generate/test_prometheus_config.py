"""compose/prometheus.yml: golden files, and promtool accepts every variant."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import load, parse
from agent.generate import prometheus, serialise
from agent.generate.hosts import native
from tests.support.procs import require

FULL = """\
version: 1
project: acme
agent: {metrics_token_env: OPSLENS_METRICS_TOKEN}
targets:
  - {job: api, static: ["api-1:8000", "api-2:8000"], service: api,
     metrics_path: /internal/metrics, scheme: https}
  - {job: batch, static: ["batch:9000"]}
prometheus:
  scrape_interval: 30s
  evaluation_interval: 1m
  external_labels: {region: eu-west-1}
  remote_write:
    - {url: "https://mimir.example.com/api/v1/push", name: mimir,
       bearer_token_file: /run/secrets/mimir}
"""


def text(config_text: str, hosts_native: bool = False) -> str:
    config = parse(config_text)
    hosts = native("127.0.0.1:10470") if hosts_native else prometheus.COMPOSE
    (artefact,) = prometheus.render(config, hosts)
    return serialise(artefact)


def test_reference_golden(golden: Callable[[str, str], None], root: Path) -> None:
    (artefact,) = prometheus.render(load(root / "opslens.yaml"))
    golden("prometheus/reference.prometheus.yml", serialise(artefact))


def test_full_golden(golden: Callable[[str, str], None]) -> None:
    golden("prometheus/full.prometheus.yml", text(FULL))


def test_native_hosts_are_loopback() -> None:
    out = text(FULL, hosts_native=True)
    assert "127.0.0.1:10470" in out and "127.0.0.1:9093" in out
    assert "agent:10470" not in out and "alertmanager:9093" not in out


def test_secrets_are_files_not_values() -> None:
    doc = prometheus.prometheus_config(parse(FULL))
    agent_job = doc["scrape_configs"][0]
    assert agent_job["job_name"] == "opslens"
    assert agent_job["authorization"] == {"credentials_file": "/run/secrets/opslens_metrics_token"}
    assert doc["remote_write"][0]["authorization"] == {"credentials_file": "/run/secrets/mimir"}


@pytest.mark.integration
@pytest.mark.parametrize("variant", ["reference", "full"])
def test_promtool_accepts(variant: str, tmp_path: Path, root: Path) -> None:
    promtool = require("promtool")
    compose = tmp_path / "compose"
    compose.mkdir()
    body = (
        serialise(prometheus.render(load(root / "opslens.yaml"))[0])
        if variant == "reference"
        else text(FULL)
    )
    # promtool reads the credentials files; give it stand-ins at the same paths' names.
    body = body.replace("/run/secrets/", f"{tmp_path}/secrets/")
    (tmp_path / "secrets").mkdir()
    for name in ("opslens_metrics_token", "mimir"):
        (tmp_path / "secrets" / name).write_text("x")
    (compose / "prometheus.yml").write_text(body)
    shutil.copytree(root / "rules", tmp_path / "rules")
    result = subprocess.run(
        [promtool, "check", "config", str(compose / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
