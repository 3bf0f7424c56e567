"""`compose/docker-compose.yml`: Prometheus, Alertmanager, Grafana and the agent.

Image pins come from `deploy.compose.images`. The generated configs are checked by the
local Prometheus 2.42 and Alertmanager 0.25 (promtool, amtool), which are older than the
pinned v2.53 / v0.27 images; both projects keep their config formats backwards compatible,
so anything valid there loads in the pinned images.
"""

from __future__ import annotations

import re
from typing import Any

from agent.config import Config

from .artefact import Artefact
from .hosts import Hosts
from .naming import (
    AGENT_COMMAND,
    AGENT_CONFIG_PATH,
    AGENT_DATA_DIR,
    AGENT_PORT,
    AGENT_UID,
    ALERTMANAGER_CONFIG_DIR,
    COMPOSE_FILE,
    GRAFANA_DASHBOARDS_MOUNT,
    PROMETHEUS_CONFIG_DIR,
)
from .secrets import SecretFile, secret_files

AGENT_USER = f"{AGENT_UID}:{AGENT_UID}"
# The users the upstream images declare themselves (nobody; grafana with the root group
# its files belong to), spelled out so no override can run them as root.
USERS = {
    "agent": AGENT_USER,
    "prometheus": "65534:65534",
    "alertmanager": "65534:65534",
    "grafana": "472:0",
}
HEALTH_PROBE = (
    "import urllib.request; "
    f"urllib.request.urlopen('http://127.0.0.1:{AGENT_PORT}/-/healthy', timeout=3)"
)


def _healthcheck(test: list[str]) -> dict[str, Any]:
    return {"test": test, "interval": "30s", "timeout": "5s", "retries": 3, "start_period": "20s"}


def _wget(url: str) -> dict[str, Any]:
    # The upstream images are busybox/alpine based: wget is there, curl is not.
    return _healthcheck(["CMD", "wget", "-q", "--spider", url])


def _secrets(entries: list[SecretFile], service: str) -> list[dict[str, str]]:
    return [{"source": s.name, "target": s.path} for s in entries if s.service == service]


def _env(entries: list[SecretFile], service: str) -> dict[str, str]:
    return {s.env: s.path for s in entries if s.service == service and s.env}


def _hardened(name: str, spec: dict[str, Any], secrets: list[dict[str, str]]) -> dict[str, Any]:
    """Every service: non-root, read-only root filesystem, no capabilities, no setuid gain.

    Each writes only to its named data volume and a /tmp tmpfs (SECURITY.md).
    """
    hardened = {
        "user": USERS[name],
        "read_only": True,
        "cap_drop": ["ALL"],
        "tmpfs": ["/tmp"],
    }
    head = {k: v for k, v in spec.items() if k in ("build", "image", "command")}
    out = head | hardened | {k: v for k, v in spec.items() if k not in head}
    if secrets:
        out["secrets"] = secrets
    out["security_opt"] = ["no-new-privileges:true"]
    out["restart"] = "unless-stopped"
    return out


def services(config: Config, entries: list[SecretFile]) -> dict[str, Any]:
    images = config.deploy.compose.images
    agent: dict[str, Any] = {
        "build": {"context": "..", "dockerfile": "Dockerfile"},
        "command": AGENT_COMMAND,
        "ports": [f"127.0.0.1:{AGENT_PORT}:{AGENT_PORT}"],
        "volumes": [f"../opslens.yaml:{AGENT_CONFIG_PATH}:ro", f"opslens-data:{AGENT_DATA_DIR}"],
        "healthcheck": _healthcheck(["CMD", "python", "-c", HEALTH_PROBE]),
    }
    if env := _env(entries, "agent"):
        agent["environment"] = env
    prometheus: dict[str, Any] = {
        "image": images.prometheus,
        "command": [
            f"--config.file={PROMETHEUS_CONFIG_DIR}/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            f"--storage.tsdb.retention.time={config.prometheus.retention.prom()}",
            "--web.enable-lifecycle",
        ],
        "ports": ["127.0.0.1:9090:9090"],
        # prometheus.yml names its rules "../rules/*.rules.yml": keep the two folders siblings.
        "volumes": [
            f"./prometheus.yml:{PROMETHEUS_CONFIG_DIR}/prometheus.yml:ro",
            "../rules:/etc/prometheus/rules:ro",
            "prometheus-data:/prometheus",
        ],
        "depends_on": ["alertmanager", "agent"],
        "healthcheck": _wget("http://localhost:9090/-/healthy"),
    }
    alertmanager: dict[str, Any] = {
        "image": images.alertmanager,
        "command": [
            f"--config.file={ALERTMANAGER_CONFIG_DIR}/alertmanager.yml",
            "--storage.path=/alertmanager",
            # One replica: no gossip cluster to form.
            "--cluster.listen-address=",
        ],
        "ports": ["127.0.0.1:9093:9093"],
        "volumes": [
            f"../alertmanager:{ALERTMANAGER_CONFIG_DIR}:ro",
            "alertmanager-data:/alertmanager",
        ],
        "healthcheck": _wget("http://localhost:9093/-/healthy"),
    }
    grafana: dict[str, Any] = {
        "image": images.grafana,
        "environment": {
            "GF_SECURITY_ADMIN_USER": "admin",
            **_env(entries, "grafana"),
            "GF_USERS_ALLOW_SIGN_UP": "false",
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            # The root filesystem is read-only: log to stdout, not /var/log/grafana.
            "GF_LOG_MODE": "console",
        },
        "ports": ["127.0.0.1:3000:3000"],
        "volumes": [
            "../grafana/provisioning:/etc/grafana/provisioning:ro",
            f"../grafana/dashboards:{GRAFANA_DASHBOARDS_MOUNT}:ro",
            "grafana-data:/var/lib/grafana",
        ],
        "depends_on": {"prometheus": {"condition": "service_healthy"}},
        "healthcheck": _wget("http://localhost:3000/api/health"),
    }
    # Service names are the hosts in `hosts.COMPOSE`, which compose/prometheus.yml scrapes.
    specs = {
        "agent": agent,
        "prometheus": prometheus,
        "alertmanager": alertmanager,
        "grafana": grafana,
    }
    return {name: _hardened(name, spec, _secrets(entries, name)) for name, spec in specs.items()}


def compose_file(config: Config) -> dict[str, Any]:
    entries = secret_files(config)
    return {
        "name": re.sub(r"[^a-z0-9_-]", "-", f"opslens-{config.project}"),
        "services": services(config, entries),
        "volumes": {
            "opslens-data": {},
            "prometheus-data": {},
            "alertmanager-data": {},
            "grafana-data": {},
        },
        # Files under ../secrets/ (git-ignored) that the operator creates; compose refuses
        # to start while one is missing, which names it.
        "secrets": {s.name: {"file": s.local} for s in entries},
    }


def render(config: Config, hosts: Hosts) -> list[Artefact]:
    return [Artefact(COMPOSE_FILE, compose_file(config))]
