"""Every generated container runs non-root, read-only, without capabilities or privilege gain;
Grafana's admin password always comes from a secret file (SECURITY.md#deployment-hardening)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import load, parse
from agent.generate import render_all, serialise

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "repository": lambda: load(ROOT / "opslens.yaml"),
    "starter": lambda: parse((ROOT / "agent" / "cli" / "starter.yaml").read_text()),
    "custom": lambda: parse(
        "version: 1\nproject: shop\nagent: {metrics_token_env: OPSLENS_METRICS_TOKEN}\n"
        "deploy: {compose: {grafana_admin_password_file: /srv/grafana.txt}}\n"
    ),
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}


def generated(name: str) -> dict[str, list[Any]]:
    """Each generated YAML file of a config, parsed from the exact text written to disk."""
    out = {}
    for artefact in render_all(CONFIGS[name]()):
        if artefact.kind == "yaml":
            out[artefact.path] = list(yaml.safe_load_all(serialise(artefact)))
    return out


def committed() -> dict[str, list[Any]]:
    files = [*(ROOT / "compose").glob("*.yml"), *(ROOT / "k8s").glob("*.yaml")]
    return {
        str(p.relative_to(ROOT)): list(yaml.safe_load_all(p.read_text(encoding="utf-8")))
        for p in files
    }


def outputs() -> list[tuple[str, dict[str, list[Any]]]]:
    return [(n, generated(n)) for n in CONFIGS] + [("committed", committed())]


def compose_problems(service: str, spec: dict[str, Any]) -> list[str]:
    problems = []
    uid = str(spec.get("user", "")).partition(":")[0]
    if not uid or uid in ("0", "root"):
        problems.append(f"{service}: user {spec.get('user')!r} is root or unset")
    if spec.get("read_only") is not True:
        problems.append(f"{service}: root filesystem not read_only")
    if spec.get("cap_drop") != ["ALL"] or spec.get("cap_add"):
        problems.append(f"{service}: capabilities not all dropped")
    if "no-new-privileges:true" not in spec.get("security_opt", []):
        problems.append(f"{service}: no no-new-privileges")
    if spec.get("privileged"):
        problems.append(f"{service}: privileged")
    for port in spec.get("ports", []):
        if not str(port).startswith("127.0.0.1:"):
            problems.append(f"{service}: port {port} published beyond localhost")
    return problems


def pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc.get("kind") not in WORKLOADS:
        return []
    if doc["kind"] == "Pod":
        return [doc["spec"]]
    if doc["kind"] == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return [doc["spec"]["template"]["spec"]]


def container_problems(pod: dict[str, Any]) -> list[str]:
    problems = []
    pod_context = pod.get("securityContext", {})
    for c in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        ctx = pod_context | c.get("securityContext", {})
        name = c["name"]
        if ctx.get("runAsNonRoot") is not True or ctx.get("runAsUser", 0) == 0:
            problems.append(f"{name}: may run as root")
        if ctx.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: root filesystem not read-only")
        if ctx.get("allowPrivilegeEscalation") is not False or ctx.get("privileged"):
            problems.append(f"{name}: privilege escalation allowed")
        caps = ctx.get("capabilities", {})
        if caps.get("drop") != ["ALL"] or caps.get("add"):
            problems.append(f"{name}: capabilities not all dropped")
        if ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
    return problems


@pytest.mark.parametrize(
    ("name", "files"), outputs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_compose_service_is_hardened(name: str, files: dict[str, list[Any]]) -> None:
    (doc,) = files["compose/docker-compose.yml"]
    assert set(doc["services"]) == {"agent", "prometheus", "alertmanager", "grafana"}
    problems = [p for s, spec in doc["services"].items() for p in compose_problems(s, spec)]
    assert problems == []


@pytest.mark.parametrize(
    ("name", "files"), outputs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_k8s_container_is_hardened(name: str, files: dict[str, list[Any]]) -> None:
    pods = [
        pod
        for path, docs in files.items()
        if path.startswith("k8s/")
        for doc in docs
        if isinstance(doc, dict)
        for pod in pod_specs(doc)
    ]
    assert pods, "no workload in k8s/"
    assert [p for pod in pods for p in container_problems(pod)] == []
    assert all(pod.get("automountServiceAccountToken") is False for pod in pods)


@pytest.mark.parametrize(
    ("name", "files"), outputs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_grafana_admin_password_is_never_the_default(
    name: str, files: dict[str, list[Any]]
) -> None:
    (doc,) = files["compose/docker-compose.yml"]
    grafana = doc["services"]["grafana"]
    env = grafana["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env  # never inline, never Grafana's "admin"
    path = env["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    mounted = {s["target"]: s["source"] for s in grafana["secrets"]}
    assert path in mounted, f"{path} is not a mounted secret"
    assert "file" in doc["secrets"][mounted[path]]  # from the operator's file, not generated


def test_the_checks_catch_a_weakened_service() -> None:
    weak = {"user": "0:0", "read_only": False, "cap_add": ["NET_ADMIN"], "ports": ["3000:3000"]}
    assert len(compose_problems("x", weak)) == 5
    pod = {"containers": [{"name": "c", "securityContext": {"runAsUser": 0}}]}
    assert len(container_problems(pod)) == 5
