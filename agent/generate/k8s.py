"""`k8s/`: a kustomize base for clusters running prometheus-operator (kube-prometheus-stack).

The agent runs as a Deployment with its state on a PVC; Prometheus finds it through a
ServiceMonitor, loads the same rules as `rules/` from a PrometheusRule, Grafana's sidecar
picks up the dashboard ConfigMaps, and the Alertmanager config ships as a Secret. Objects
the user owns (secret values) are referenced, never generated.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Any

from agent.config import Config

from . import alertmanager, grafana, rules
from .artefact import HEADER, Artefact, dump_yaml
from .hosts import Hosts
from .naming import (
    AGENT_COMMAND,
    AGENT_CONFIG_PATH,
    AGENT_DATA_DIR,
    AGENT_JOB,
    AGENT_PORT,
    AGENT_UID,
    K8S_DIR,
)
from .secrets import METRICS_TOKEN, SECRETS_DIR, SecretFile, secret_files

AGENT = "opslens-agent"
CONTAINER = "agent"  # same as the compose service, so secret_files' `service` names it
AGENT_SECRETS = "opslens-agent-secrets"
ALERTMANAGER_SECRETS = "opslens-alertmanager-secrets"
ALERTMANAGER_CONFIG = "opslens-alertmanager-config"
# prometheus-operator reads `alertmanager.yaml` from the configSecret and mounts every
# other key (our templates) in this folder.
OPERATOR_CONFIG_DIR = "/etc/alertmanager/config"

KUSTOMIZATION_FILE = f"{K8S_DIR}/kustomization.yaml"
FILES = {
    "configmap": f"{K8S_DIR}/agent-configmap.yaml",
    "deployment": f"{K8S_DIR}/agent-deployment.yaml",
    "service": f"{K8S_DIR}/agent-service.yaml",
    "pvc": f"{K8S_DIR}/agent-pvc.yaml",
    "servicemonitor": f"{K8S_DIR}/agent-servicemonitor.yaml",
    "prometheusrule": f"{K8S_DIR}/prometheusrule.yaml",
    "dashboards": f"{K8S_DIR}/dashboards.yaml",
    "alertmanager": f"{K8S_DIR}/alertmanager-config-secret.yaml",
}


def _selector(config: Config) -> dict[str, str]:
    return {"app.kubernetes.io/name": AGENT, "app.kubernetes.io/instance": config.project}


def _meta(name: str, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    meta.update(extra)
    return meta


def config_text(config: Config) -> str:
    """The config the pod reads: the model itself, minus defaults (renderers never see files)."""
    data = config.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return f"# {HEADER}\n" + dump_yaml(data)


def kustomization(config: Config) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": config.deploy.kubernetes.namespace,
        # Selectors stay as generated: they are immutable on a Deployment.
        "labels": [
            {
                "pairs": {"app.kubernetes.io/part-of": "opslens"},
                "includeSelectors": False,
            }
        ],
        "resources": [posixpath.basename(path) for path in FILES.values()],
    }


def deployment(config: Config, entries: list[SecretFile], config_hash: str) -> dict[str, Any]:
    k8s = config.deploy.kubernetes
    mine = [s for s in entries if s.k8s_container == CONTAINER]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": "opslens-config"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "opslens-data"}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": posixpath.dirname(AGENT_CONFIG_PATH), "readOnly": True},
        {"name": "data", "mountPath": AGENT_DATA_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if mine:
        # Items listed so that each file's path is explicit (and checkable).
        items = [{"key": s.name, "path": posixpath.relpath(s.path, SECRETS_DIR)} for s in mine]
        volumes.append({"name": "secrets", "secret": {"secretName": AGENT_SECRETS, "items": items}})
        mounts.append({"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": k8s.image,
        "imagePullPolicy": "IfNotPresent",
        "args": AGENT_COMMAND,
        "ports": [{"name": "http-metrics", "containerPort": AGENT_PORT, "protocol": "TCP"}],
    }
    if env := [{"name": s.env, "value": s.path} for s in mine if s.env]:
        container["env"] = env
    container |= {
        "livenessProbe": {
            "httpGet": {"path": "/-/healthy", "port": "http-metrics"},
            "initialDelaySeconds": 10,
            "periodSeconds": 30,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/-/ready", "port": "http-metrics"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
        },
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": AGENT_UID,
            "runAsGroup": AGENT_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
    }
    annotations = {}
    if mine:
        annotations["opslens.io/secrets"] = (
            f"create Secret {AGENT_SECRETS} with keys: {', '.join(s.name for s in mine)}"
        )
    labels = _selector(config) | {"app.kubernetes.io/component": "agent"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(AGENT, labels, **({"annotations": annotations} if annotations else {})),
        "spec": {
            "replicas": 1,
            # The SQLite store on a ReadWriteOnce volume: never two pods at once.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _selector(config)},
            "template": {
                "metadata": {
                    "labels": labels,
                    # Changes to the ConfigMap roll the pod.
                    "annotations": {"opslens.io/config-hash": config_hash},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": AGENT_UID,
                        "runAsGroup": AGENT_UID,
                        "fsGroup": AGENT_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def service(config: Config) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(AGENT, _selector(config)),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(config),
            "ports": [
                {
                    "name": "http-metrics",
                    "port": AGENT_PORT,
                    "targetPort": "http-metrics",
                    "protocol": "TCP",
                }
            ],
        },
    }


def pvc(config: Config) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta("opslens-data", _selector(config)),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": config.deploy.kubernetes.storage}},
        },
    }


def _release(config: Config) -> dict[str, str]:
    return {"release": config.deploy.kubernetes.release_label}


def service_monitor(config: Config) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "port": "http-metrics",
        "path": "/metrics",
        "interval": config.prometheus.scrape_interval.prom(),
        # Rules and dashboards select the agent as job="opslens", not the Service name.
        "relabelings": [{"targetLabel": "job", "replacement": AGENT_JOB, "action": "replace"}],
    }
    if config.agent.metrics_token_env:
        endpoint["authorization"] = {
            "type": "Bearer",
            "credentials": {"name": AGENT_SECRETS, "key": METRICS_TOKEN},
        }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _meta(AGENT, _selector(config) | _release(config)),
        "spec": {"selector": {"matchLabels": _selector(config)}, "endpoints": [endpoint]},
    }


def prometheus_rule(config: Config) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _meta(
            "opslens-rules", {"app.kubernetes.io/name": "opslens"} | _release(config)
        ),
        "spec": {"groups": rules.groups(config)},
    }


def dashboards(config: Config) -> dict[str, Any]:
    """Build one ConfigMap per dashboard, by name, in a v1 List for Grafana's sidecar."""
    items = []
    for name, board in sorted(grafana.dashboards(config).items()):
        # Compact: ConfigMaps hold at most 1 MiB, and client-side apply copies the
        # object into an annotation capped at 256 KiB.
        body = json.dumps(board, separators=(",", ":"), ensure_ascii=False)
        items.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta(
                    f"opslens-dashboard-{name}",
                    {"grafana_dashboard": "1", "app.kubernetes.io/name": "opslens"},
                    annotations={"grafana_folder": "OpsLens"},
                ),
                "data": {f"opslens-{name}.json": body},
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": items}


def alertmanager_secret(config: Config, hosts: Hosts, entries: list[SecretFile]) -> dict[str, Any]:
    main = alertmanager.alertmanager_config(config, hosts)
    main["templates"] = [
        posixpath.join(OPERATOR_CONFIG_DIR, posixpath.basename(t)) for t in main["templates"]
    ]
    data = {"alertmanager.yaml": f"# {HEADER}\n" + dump_yaml(main)}
    data |= alertmanager.templates()
    receiver_files = {s.path: s.name for s in entries if s.service == "alertmanager"}
    annotations = {
        "opslens.io/usage": (
            f"kube-prometheus-stack values: alertmanager.alertmanagerSpec.configSecret="
            f"{ALERTMANAGER_CONFIG}; receiver *_file secrets: create Secret "
            f"{ALERTMANAGER_SECRETS} and mount each key at its path (alertmanagerSpec.volumes "
            f"and volumeMounts)"
        ),
        "opslens.io/receiver-files": json.dumps(receiver_files, sort_keys=True),
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(
            ALERTMANAGER_CONFIG, {"app.kubernetes.io/name": "opslens"}, annotations=annotations
        ),
        "stringData": data,
    }


def objects(config: Config, hosts: Hosts) -> dict[str, dict[str, Any]]:
    """Every k8s object by role (the keys of FILES), kustomization aside."""
    entries = secret_files(config)
    text = config_text(config)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("opslens-config", _selector(config)),
        "data": {posixpath.basename(AGENT_CONFIG_PATH): text},
    }
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return {
        "configmap": config_map,
        "deployment": deployment(config, entries, digest),
        "service": service(config),
        "pvc": pvc(config),
        "servicemonitor": service_monitor(config),
        "prometheusrule": prometheus_rule(config),
        "dashboards": dashboards(config),
        "alertmanager": alertmanager_secret(config, hosts, entries),
    }


def render(config: Config, hosts: Hosts) -> list[Artefact]:
    built = objects(config, hosts)
    return [Artefact(KUSTOMIZATION_FILE, kustomization(config))] + [
        Artefact(FILES[role], obj) for role, obj in built.items()
    ]
