"""Every secret the stack reads, in one list that compose and k8s both mount from.

Secrets never appear in generated files: receivers and remote write take
`*_file` paths that Alertmanager/Prometheus read, sources take `*_env` names that the
agent reads from NAME or from the file named by NAME_FILE (`exporters.base.Context`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from agent.config import Config

from .naming import AGENT_CONFIG_PATH, ALERTMANAGER_CONFIG_DIR, PROMETHEUS_CONFIG_DIR

SECRETS_DIR = "/run/secrets"
METRICS_TOKEN = "opslens_metrics_token"  # the path compose/prometheus.yml scrapes the agent with
GRAFANA_PASSWORD = "grafana_admin_password"

# Where each consumer resolves a relative `*_file`: next to its config file in the containers.
CONFIG_DIRS = {
    "agent": posixpath.dirname(AGENT_CONFIG_PATH),
    "alertmanager": ALERTMANAGER_CONFIG_DIR,
    "prometheus": PROMETHEUS_CONFIG_DIR,
}
# Which service reads the `*_file` paths of each top-level config section.
FILE_READERS = {"notify": "alertmanager", "prometheus": "prometheus"}


@dataclass(frozen=True)
class SecretFile:
    """One secret file: its name, where `service` reads it, where its local file lives."""

    name: str  # compose secret name, and key in the k8s Secret
    path: str  # absolute path inside the consuming container
    service: str  # agent | alertmanager | prometheus | grafana (compose service names)
    local: str  # the file on the host, relative to compose/
    origin: str  # dotted config path that asks for it
    env: str | None = None  # variable pointing the consumer at `path` (NAME_FILE convention)
    # The k8s base container that mounts it; None when the user's own stack reads it
    # (kube-prometheus-stack runs Alertmanager, Prometheus and Grafana).
    k8s_container: str | None = None


def _walk(value: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """Yield (dotted path, field name, value) for every set field, depth first, in order."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            child = getattr(value, name)
            if child is not None:
                yield f"{path}.{name}", name, child
                yield from _walk(child, f"{path}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")


def _local(path: str) -> str:
    """A config-relative path seen from compose/ (the config sits one folder up)."""
    return path if posixpath.isabs(path) else posixpath.normpath(posixpath.join("..", path))


class _Allocator:
    """Hands out one unique secret name per container path."""

    def __init__(self) -> None:
        self.by_path: dict[str, str] = {}

    def name(self, path: str, wanted: str) -> str:
        if path in self.by_path:
            return self.by_path[path]
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", wanted).strip("._-") or "secret"
        name, n = base, 1
        taken = set(self.by_path.values())
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        self.by_path[path] = name
        return name


def secret_files(config: Config) -> list[SecretFile]:
    """Every secret file the compose and k8s stacks must mount, in config order."""
    names = _Allocator()
    out: dict[tuple[str, str], SecretFile] = {}

    def add(entry: SecretFile) -> None:
        out.setdefault((entry.service, entry.path), entry)

    for section in type(config).model_fields:
        for dotted, field, value in _walk(getattr(config, section), section):
            if field.endswith("_env") and isinstance(value, str):
                wanted = METRICS_TOKEN if dotted == "agent.metrics_token_env" else value.lower()
                path = f"{SECRETS_DIR}/{wanted}"
                name = names.name(path, wanted)
                local = f"../secrets/{name}"
                env = f"{value}_FILE"
                add(SecretFile(name, path, "agent", local, dotted, env, k8s_container="agent"))
                if dotted == "agent.metrics_token_env":
                    add(SecretFile(name, path, "prometheus", local, dotted))
                # Alertmanager presents the same token to the agent's incident webhook.
                incidents = config.dora.incidents.alertmanager
                if dotted == "dora.incidents.alertmanager.token_env" and incidents.enabled:
                    add(SecretFile(name, path, "alertmanager", local, dotted))
            elif field.endswith("_file") and isinstance(value, str) and section != "deploy":
                service = FILE_READERS.get(section, "agent")
                path = posixpath.normpath(posixpath.join(CONFIG_DIRS[service], value))
                name = names.name(path, posixpath.basename(path))
                add(SecretFile(name, path, service, f"../secrets/{name}", dotted))
    password = f"{SECRETS_DIR}/{GRAFANA_PASSWORD}"
    add(
        SecretFile(
            names.name(password, GRAFANA_PASSWORD),
            password,
            "grafana",
            _local(config.deploy.compose.grafana_admin_password_file),
            "deploy.compose.grafana_admin_password_file",
            "GF_SECURITY_ADMIN_PASSWORD__FILE",
        )
    )
    return list(out.values())


def _compose_target(entry: str | dict[str, Any]) -> str:
    if isinstance(entry, str):
        return f"{SECRETS_DIR}/{entry}"
    target = str(entry.get("target") or entry["source"])
    return target if target.startswith("/") else f"{SECRETS_DIR}/{target}"


def _volume_target(entry: str | dict[str, Any]) -> str:
    if isinstance(entry, dict):
        return str(entry["target"])
    parts = entry.split(":")
    # "SRC:DST[:MODE]" or an anonymous volume "DST".
    return parts[1] if len(parts) > 1 else parts[0]


def compose_mounted_paths(compose: dict[str, Any], service: str) -> set[str]:
    """Container paths a compose service gets: secret files, volume and tmpfs targets."""
    spec = compose.get("services", {}).get(service)
    if spec is None:
        return set()
    paths = {_compose_target(s) for s in spec.get("secrets", [])}
    paths |= {_volume_target(v) for v in spec.get("volumes", [])}
    tmpfs = spec.get("tmpfs", [])
    paths |= {t.split(":")[0] for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)}
    return paths


POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# prometheus-operator custom resources carry volumes/volumeMounts for their main container.
OPERATOR_KINDS = {"Alertmanager": "alertmanager", "Prometheus": "prometheus"}


def _objects(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for obj in objects:
        if obj.get("kind") == "List":
            yield from _objects(obj.get("items", []))
        else:
            yield obj


def _files(mount_path: str, volume: dict[str, Any]) -> set[str]:
    """Files a mounted volume exposes when its items are listed (secret, configMap, projected)."""
    sources = [volume.get("secret"), volume.get("configMap")]
    sources += [
        s.get("secret") or s.get("configMap")
        for s in volume.get("projected", {}).get("sources", [])
    ]
    return {
        posixpath.join(mount_path, item["path"])
        for source in sources
        if source
        for item in source.get("items", [])
    }


def _mounts(volume_mounts: list[dict[str, Any]], volumes: list[dict[str, Any]]) -> set[str]:
    by_name = {v["name"]: v for v in volumes}
    paths = set()
    for mount in volume_mounts:
        path = mount["mountPath"]
        paths.add(path)
        if not mount.get("subPath") and mount["name"] in by_name:
            paths |= _files(path, by_name[mount["name"]])
    return paths


def _dig(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any] | None:
    for key in keys:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def k8s_mounted_paths(objects: list[dict[str, Any]], container: str) -> set[str]:
    """Container paths a named container gets from volume mounts, with listed secret items.

    A secret or configMap volume whose `items` are listed contributes each file's path; a
    volume without items only contributes its mount path, since its keys are not known here.
    """
    paths: set[str] = set()
    for obj in _objects(objects):
        kind = obj.get("kind", "")
        if kind in OPERATOR_KINDS and OPERATOR_KINDS[kind] == container:
            spec = obj.get("spec", {})
            paths |= _mounts(spec.get("volumeMounts", []), spec.get("volumes", []))
            continue
        pod = _dig(obj, POD_SPEC_PATHS[kind]) if kind in POD_SPEC_PATHS else None
        if pod is None:
            continue
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            if c.get("name") == container:
                paths |= _mounts(c.get("volumeMounts", []), pod.get("volumes", []))
    return paths
