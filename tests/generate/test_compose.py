"""compose/docker-compose.yml: golden file, structure, and the real tools that can check it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import Config, load, parse
from agent.generate import compose, prometheus, render_all, serialise, write
from agent.generate.hosts import COMPOSE
from agent.generate.secrets import compose_mounted_paths, secret_files
from tests.support import procs

CUSTOM = """
version: 1
project: shop.v2
prometheus: {retention: 30d}
deploy:
  compose:
    images: {prometheus: "prom/prometheus:v2.54.1", grafana: "grafana/grafana:11.3.0"}
    grafana_admin_password_file: /srv/opslens/grafana.txt
"""


@pytest.fixture
def config(root: Path) -> Config:
    return load(root / "opslens.yaml")


@pytest.fixture
def doc(config: Config) -> dict[str, Any]:
    return compose.compose_file(config)


def test_golden(config: Config, golden: Callable[[str, str], None]) -> None:
    (artefact,) = compose.render(config, COMPOSE)
    golden("compose/docker-compose.yml", serialise(artefact))


def test_services_are_the_hosts_prometheus_yml_scrapes(doc: dict[str, Any]) -> None:
    assert set(doc["services"]) == {"agent", "prometheus", "alertmanager", "grafana"}
    for host in (COMPOSE.agent, COMPOSE.alertmanager, COMPOSE.grafana, COMPOSE.prometheus_peer):
        assert host.split(":")[0] in doc["services"], host


def test_images_are_pinned_from_config(doc: dict[str, Any], config: Config) -> None:
    images = {name: spec.get("image") for name, spec in doc["services"].items()}
    assert images == {
        "agent": None,  # built from the repo's Dockerfile
        "prometheus": config.deploy.compose.images.prometheus,
        "alertmanager": config.deploy.compose.images.alertmanager,
        "grafana": config.deploy.compose.images.grafana,
    }
    for name, image in images.items():
        if image is not None:
            _, _, tag = image.rpartition(":")
            assert tag and "/" not in tag and tag != "latest", f"{name} image {image} not pinned"
    assert doc["services"]["agent"]["build"] == {"context": "..", "dockerfile": "Dockerfile"}


def test_config_drives_images_retention_and_name() -> None:
    doc = compose.compose_file(parse(CUSTOM))
    services = doc["services"]
    assert services["prometheus"]["image"] == "prom/prometheus:v2.54.1"
    assert services["grafana"]["image"] == "grafana/grafana:11.3.0"
    assert services["alertmanager"]["image"] == "prom/alertmanager:v0.27.0"
    assert "--storage.tsdb.retention.time=30d" in services["prometheus"]["command"]
    assert doc["name"] == "opslens-shop-v2"
    assert doc["secrets"]["grafana_admin_password"] == {"file": "/srv/opslens/grafana.txt"}


def test_grafana_admin_password_comes_from_a_secret(doc: dict[str, Any]) -> None:
    grafana = doc["services"]["grafana"]
    env = grafana["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    path = env["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert path in compose_mounted_paths(doc, "grafana")
    (mount,) = [s for s in grafana["secrets"] if s["target"] == path]
    # The repo-root opslens.yaml keeps the default ./secrets/..., seen from compose/.
    assert doc["secrets"][mount["source"]] == {"file": "../secrets/grafana_admin_password"}


def test_agent_runs_non_root_read_only_with_a_healthcheck(doc: dict[str, Any]) -> None:
    agent = doc["services"]["agent"]
    uid, _, gid = agent["user"].partition(":")
    assert int(uid) > 0 and int(gid) > 0
    assert agent["read_only"] is True
    assert agent["cap_drop"] == ["ALL"]
    assert "/tmp" in agent["tmpfs"]
    assert agent["command"] == [
        "run", "all", "-c", "/etc/opslens/opslens.yaml",
        "--listen", "0.0.0.0:10470", "--data-dir", "/var/lib/opslens",
    ]  # fmt: skip
    assert "opslens-data:/var/lib/opslens" in agent["volumes"]
    assert "opslens-data" in doc["volumes"]
    test = agent["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"] and "/-/healthy" in test[3]


def test_every_service_has_a_healthcheck_and_no_new_privileges(doc: dict[str, Any]) -> None:
    for name, spec in doc["services"].items():
        assert spec["healthcheck"]["test"][0] == "CMD", name
        assert "curl" not in spec["healthcheck"]["test"], name
        assert "no-new-privileges:true" in spec["security_opt"], name


def test_generated_files_are_mounted_where_their_configs_expect(
    doc: dict[str, Any], config: Config
) -> None:
    services = doc["services"]
    assert "../opslens.yaml:/etc/opslens/opslens.yaml:ro" in services["agent"]["volumes"]
    prom = services["prometheus"]
    assert "--config.file=/etc/prometheus/compose/prometheus.yml" in prom["command"]
    assert f"--storage.tsdb.retention.time={config.prometheus.retention.prom()}" in prom["command"]
    assert compose_mounted_paths(doc, "prometheus") >= {
        "/etc/prometheus/compose/prometheus.yml",
        "/etc/prometheus/rules",
    }
    # rule_files is relative to prometheus.yml: it must land on the mounted rules folder.
    rules_glob = prometheus.prometheus_config(config)["rule_files"][0]
    assert rules_glob == "../rules/*.rules.yml"
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in services["alertmanager"]["command"]
    assert "../alertmanager:/etc/alertmanager:ro" in services["alertmanager"]["volumes"]
    assert compose_mounted_paths(doc, "grafana") >= {
        "/etc/grafana/provisioning",
        "/var/lib/grafana/dashboards/opslens",
    }


def test_every_secret_file_is_mounted_in_its_service(doc: dict[str, Any], config: Config) -> None:
    entries = secret_files(config)
    assert {s.service for s in entries} == {"agent", "alertmanager", "grafana"}
    for s in entries:
        assert s.path in compose_mounted_paths(doc, s.service), s
        assert doc["secrets"][s.name] == {"file": s.local}
        if s.env:
            assert doc["services"][s.service]["environment"][s.env] == s.path


def test_mounted_paths_notice_a_removed_mount(doc: dict[str, Any]) -> None:
    before = compose_mounted_paths(doc, "alertmanager")
    assert "/run/secrets/slack_api_url" in before
    doc["services"]["alertmanager"]["secrets"] = [
        s for s in doc["services"]["alertmanager"]["secrets"] if s["source"] != "slack_api_url"
    ]
    after = compose_mounted_paths(doc, "alertmanager")
    assert before - after == {"/run/secrets/slack_api_url"}
    doc["services"]["prometheus"]["volumes"].remove("../rules:/etc/prometheus/rules:ro")
    assert "/etc/prometheus/rules" not in compose_mounted_paths(doc, "prometheus")
    assert compose_mounted_paths(doc, "nope") == set()


def test_mounted_paths_read_every_compose_syntax() -> None:
    doc = {
        "services": {
            "x": {
                "secrets": [
                    "short",
                    {"source": "a"},
                    {"source": "b", "target": "bee"},
                    {"source": "c", "target": "/etc/c.txt"},
                ],
                "volumes": [
                    "./here:/there:ro",
                    "/anon",
                    {"type": "bind", "source": ".", "target": "/long"},
                ],
                "tmpfs": "/tmp:size=64m",
            }
        }
    }
    assert compose_mounted_paths(doc, "x") == {
        "/run/secrets/short",
        "/run/secrets/a",
        "/run/secrets/bee",
        "/etc/c.txt",
        "/there",
        "/anon",
        "/long",
        "/tmp",
    }


@pytest.mark.integration
def test_prometheus_yml_loads_the_way_compose_mounts_it(root: Path, tmp_path: Path) -> None:
    """promtool and a real Prometheus accept the mounted layout and the compose flags."""
    config = load(root / "opslens.yaml")
    write(render_all(config), tmp_path / "repo")
    etc = tmp_path / "etc"
    # compose: ./prometheus.yml → /etc/prometheus/compose/, ../rules → /etc/prometheus/rules
    (etc / "compose").mkdir(parents=True)
    shutil.copy(tmp_path / "repo/compose/prometheus.yml", etc / "compose/prometheus.yml")
    (etc / "rules").mkdir()
    for path in (tmp_path / "repo").glob("rules/*.rules.yml"):
        shutil.copy(path, etc / "rules" / path.name)
    promtool = procs.require("promtool")
    check = subprocess.run(
        [promtool, "check", "config", str(etc / "compose/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    rule_files = sorted((etc / "rules").glob("*.rules.yml"))
    for path in rule_files:
        assert f"{path}" in check.stdout  # promtool resolved ../rules to the mounted folder

    command = compose.compose_file(config)["services"]["prometheus"]["command"]
    # procs.prometheus sets these three itself (kingpin refuses a repeated flag).
    own = ("--config.file", "--storage.tsdb.path", "--web.enable-lifecycle")
    extra = [f for f in command if not f.startswith(own)]
    with procs.prometheus(etc / "compose/prometheus.yml", tmp_path, extra) as url:
        flags = _get(f"{url}/api/v1/status/flags")["data"]
        assert flags["storage.tsdb.retention.time"] == config.prometheus.retention.prom()
        groups = _get(f"{url}/api/v1/rules")["data"]["groups"]
        loaded = {g["file"] for g in groups}
        assert loaded == {str(p) for p in rule_files}


def _get(url: str) -> Any:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.mark.docker
def test_docker_compose_config_accepts_the_file(root: Path, tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("the docker compose plugin is not installed: `docker compose config` not run")
    config = load(root / "opslens.yaml")
    write(render_all(config), tmp_path)
    shutil.copy(root / "opslens.yaml", tmp_path / "opslens.yaml")
    (tmp_path / "secrets").mkdir()
    for s in secret_files(config):
        (tmp_path / "compose" / s.local).resolve().write_text("x\n")
    out = subprocess.run(
        [docker, "compose", "-f", str(tmp_path / "compose/docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert set(yaml.safe_load(out.stdout)["services"]) == {
        "agent",
        "prometheus",
        "alertmanager",
        "grafana",
    }
