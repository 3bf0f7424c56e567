"""k8s/: golden files, structure, secret mounts, and `kubectl kustomize` on the output."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import Config, load, parse
from agent.generate import alertmanager, grafana, k8s, render_all, rules, serialise, write
from agent.generate.hosts import COMPOSE
from agent.generate.secrets import k8s_mounted_paths, secret_files
from tests.support.procs import require

# The objects this module owns outright; the others embed other generators' models and are
# compared with their files instead of with a golden copy.
GOLDEN = ("configmap", "deployment", "service", "pvc", "servicemonitor")
DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

CUSTOM = """
version: 1
project: shop
agent: {metrics_token_env: OPSLENS_METRICS_TOKEN}
prometheus: {scrape_interval: 30s}
deploy:
  kubernetes:
    namespace: observability
    release_label: prom-stack
    image: "registry.local/opslens:1.2.3"
    storage: 5Gi
"""


@pytest.fixture
def config(root: Path) -> Config:
    return load(root / "opslens.yaml")


@pytest.fixture
def objs(config: Config) -> dict[str, dict[str, Any]]:
    return k8s.objects(config, COMPOSE)


def pod(objs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = objs["deployment"]["spec"]["template"]["spec"]
    return spec


def test_golden(config: Config, golden: Callable[[str, str], None]) -> None:
    artefacts = {a.path: a for a in k8s.render(config, COMPOSE)}
    golden("k8s/kustomization.yaml", serialise(artefacts["k8s/kustomization.yaml"]))
    for role in GOLDEN:
        path = k8s.FILES[role]
        golden(path, serialise(artefacts[path]))


def test_kustomization_lists_every_file_in_the_namespace(config: Config) -> None:
    artefacts = k8s.render(config, COMPOSE)
    (kust,) = [a.content for a in artefacts if a.path == "k8s/kustomization.yaml"]
    assert kust["namespace"] == config.deploy.kubernetes.namespace
    listed = {f"k8s/{name}" for name in kust["resources"]}
    assert listed == {a.path for a in artefacts} - {"k8s/kustomization.yaml"}
    assert all(a.kind == "yaml" for a in artefacts)
    assert kust["labels"][0]["includeSelectors"] is False


def test_config_drives_namespace_release_image_storage() -> None:
    config = parse(CUSTOM)
    objs = k8s.objects(config, COMPOSE)
    assert k8s.kustomization(config)["namespace"] == "observability"
    assert objs["deployment"]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.local/opslens:1.2.3"
    )
    assert objs["pvc"]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    for role in ("servicemonitor", "prometheusrule"):
        assert objs[role]["metadata"]["labels"]["release"] == "prom-stack"
    endpoint = objs["servicemonitor"]["spec"]["endpoints"][0]
    assert endpoint["interval"] == "30s"
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": k8s.AGENT_SECRETS, "key": "opslens_metrics_token"},
    }


def test_deployment_is_hardened_and_probed(objs: dict[str, dict[str, Any]]) -> None:
    deployment = objs["deployment"]["spec"]
    assert deployment["replicas"] == 1
    assert deployment["strategy"] == {"type": "Recreate"}
    spec = pod(objs)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http-metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http-metrics"}
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert container["args"][:2] == ["run", "all"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/tmp"]] == {"name": "tmp", "emptyDir": {}}
    assert volumes[mounts["/var/lib/opslens"]]["persistentVolumeClaim"] == {
        "claimName": objs["pvc"]["metadata"]["name"]
    }
    assert (
        volumes[mounts["/etc/opslens"]]["configMap"]["name"]
        == objs["configmap"]["metadata"]["name"]
    )


def test_service_and_service_monitor_select_the_agent(
    objs: dict[str, dict[str, Any]], config: Config
) -> None:
    template_labels = objs["deployment"]["spec"]["template"]["metadata"]["labels"]
    selector = objs["deployment"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template_labels.items()
    service = objs["service"]
    assert service["spec"]["selector"].items() <= template_labels.items()
    (port,) = service["spec"]["ports"]
    assert port == {
        "name": "http-metrics",
        "port": 10470,
        "targetPort": "http-metrics",
        "protocol": "TCP",
    }
    monitor = objs["servicemonitor"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http-metrics"
    assert {"targetLabel": "job", "replacement": "opslens", "action": "replace"} in endpoint[
        "relabelings"
    ]
    assert monitor["metadata"]["labels"]["release"] == config.deploy.kubernetes.release_label
    assert (
        objs["prometheusrule"]["metadata"]["labels"]["release"]
        == config.deploy.kubernetes.release_label
    )
    assert "authorization" not in endpoint  # the reference config sets no metrics token


def test_configmap_holds_a_config_that_revalidates_to_the_same_model(
    objs: dict[str, dict[str, Any]], config: Config
) -> None:
    text = objs["configmap"]["data"]["opslens.yaml"]
    assert parse(text) == config
    rich = parse(CUSTOM)
    assert parse(k8s.config_text(rich)) == rich
    # The pod template carries the config's digest, so a config change rolls the pod.
    annotations = objs["deployment"]["spec"]["template"]["metadata"]["annotations"]
    other = k8s.objects(rich, COMPOSE)["deployment"]["spec"]["template"]["metadata"]
    assert annotations["opslens.io/config-hash"] != other["annotations"]["opslens.io/config-hash"]


def test_prometheus_rule_has_the_rule_files_groups(config: Config) -> None:
    files = [a for a in rules.render(config, COMPOSE) if a.path.endswith(".rules.yml")]
    expected = [g for a in sorted(files, key=lambda a: a.path) for g in a.content["groups"]]
    assert k8s.prometheus_rule(config)["spec"]["groups"] == expected


def test_prometheus_rule_takes_the_packs_groups_in_file_order(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = {"name": "g", "rules": [{"record": "r", "expr": "1"}]}
    by_pack = {"b": [group | {"name": "b"}], "a": [group | {"name": "a1"}, group | {"name": "a2"}]}
    monkeypatch.setattr(rules, "rule_groups", lambda config: by_pack)
    names = [g["name"] for g in k8s.prometheus_rule(config)["spec"]["groups"]]
    assert names == ["a1", "a2", "b"]


def _check_dashboards(config: Config, objs: dict[str, dict[str, Any]]) -> int:
    sources = {
        a.path.rsplit("/", 1)[1]: a.content
        for a in grafana.render(config, COMPOSE)
        if a.path.startswith("grafana/dashboards/")
    }
    items = objs["dashboards"]["items"]
    assert objs["dashboards"]["kind"] == "List"
    assert len(items) == len(sources)
    for item in items:
        assert item["kind"] == "ConfigMap"
        assert item["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, body),) = item["data"].items()
        assert DATA_KEY.match(key), key
        assert json.loads(body) == sources[key.removeprefix("opslens-")]
    return len(items)


def test_dashboard_configmaps_carry_every_dashboard(
    config: Config, objs: dict[str, dict[str, Any]]
) -> None:
    _check_dashboards(config, objs)


def test_dashboard_configmaps_one_per_dashboard_by_name(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    boards = {
        "dora": {"uid": "opslens-dora", "title": "DORA"},
        "cost": {"uid": "opslens-cost", "title": "Cost"},
    }
    monkeypatch.setattr(grafana, "dashboards", lambda config: boards)
    objs = k8s.objects(config, COMPOSE)
    assert _check_dashboards(config, objs) == 2
    names = [i["metadata"]["name"] for i in objs["dashboards"]["items"]]
    assert names == ["opslens-dashboard-cost", "opslens-dashboard-dora"]


def test_alertmanager_secret_is_the_generated_config(
    config: Config, objs: dict[str, dict[str, Any]]
) -> None:
    secret = objs["alertmanager"]
    assert secret["kind"] == "Secret" and "data" not in secret
    data = secret["stringData"]
    assert all(DATA_KEY.match(key) for key in data)
    generated = {a.path: a for a in alertmanager.render(config, COMPOSE)}
    main = dict(generated["alertmanager/alertmanager.yml"].content)
    loaded = yaml.safe_load(data["alertmanager.yaml"])
    templates = [p for p in generated if p.startswith("alertmanager/templates/")]
    if templates:
        # prometheus-operator mounts the extra keys of its configSecret in one folder.
        assert loaded.pop("templates") == [f"{k8s.OPERATOR_CONFIG_DIR}/*.tmpl"]
        main.pop("templates")
    assert loaded == main
    for path in templates:
        assert data[path.rsplit("/", 1)[1]] == generated[path].content
    assert set(data) == {"alertmanager.yaml"} | {p.rsplit("/", 1)[1] for p in templates}
    # Which files the user's Secret must provide, and where (values never generated).
    files = json.loads(secret["metadata"]["annotations"]["opslens.io/receiver-files"])
    assert files == {s.path: s.name for s in secret_files(config) if s.service == "alertmanager"}


def test_every_agent_secret_is_mounted_and_pointed_at(
    objs: dict[str, dict[str, Any]], config: Config
) -> None:
    (container,) = pod(objs)["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounted = k8s_mounted_paths(list(objs.values()), k8s.CONTAINER)
    mine = [s for s in secret_files(config) if s.k8s_container]
    assert mine
    for s in mine:
        assert s.k8s_container == k8s.CONTAINER
        assert s.path in mounted, s
        assert env[s.env or ""] == s.path
    assert (
        "create Secret opslens-agent-secrets"
        in objs["deployment"]["metadata"]["annotations"]["opslens.io/secrets"]
    )


def test_mounted_paths_notice_a_removed_item(objs: dict[str, dict[str, Any]]) -> None:
    before = k8s_mounted_paths(list(objs.values()), k8s.CONTAINER)
    (secrets,) = [v for v in pod(objs)["volumes"] if v["name"] == "secrets"]
    secrets["secret"]["items"] = [
        i for i in secrets["secret"]["items"] if i["key"] != "gitlab_token"
    ]
    after = k8s_mounted_paths(list(objs.values()), k8s.CONTAINER)
    assert before - after == {"/run/secrets/gitlab_token"}
    assert k8s_mounted_paths(list(objs.values()), "other") == set()


def test_mounted_paths_read_pods_lists_projected_and_operator_resources() -> None:
    objects = [
        {
            "kind": "List",
            "items": [
                {
                    "kind": "StatefulSet",
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "x",
                                        "volumeMounts": [
                                            {"name": "p", "mountPath": "/p"},
                                            {"name": "s", "mountPath": "/one.txt", "subPath": "k"},
                                            {"name": "whole", "mountPath": "/w"},
                                        ],
                                    }
                                ],
                                "volumes": [
                                    {
                                        "name": "p",
                                        "projected": {
                                            "sources": [
                                                {
                                                    "secret": {
                                                        "name": "a",
                                                        "items": [{"key": "k", "path": "a/k"}],
                                                    }
                                                },
                                                {
                                                    "configMap": {
                                                        "name": "b",
                                                        "items": [{"key": "c", "path": "c"}],
                                                    }
                                                },
                                            ]
                                        },
                                    },
                                    {"name": "s", "secret": {"secretName": "s"}},
                                    {"name": "whole", "secret": {"secretName": "w"}},
                                ],
                            }
                        }
                    },
                }
            ],
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Alertmanager",
            "spec": {
                "volumes": [
                    {
                        "name": "r",
                        "secret": {"secretName": "r", "items": [{"key": "pd", "path": "pd"}]},
                    }
                ],
                "volumeMounts": [{"name": "r", "mountPath": "/run/secrets"}],
            },
        },
    ]
    assert k8s_mounted_paths(objects, "x") == {"/p", "/p/a/k", "/p/c", "/one.txt", "/w"}
    assert k8s_mounted_paths(objects, "alertmanager") == {"/run/secrets", "/run/secrets/pd"}


EXPECTED_KINDS = {
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("v1", "Secret"),
}


@pytest.mark.integration
def test_kubectl_kustomize_builds_the_base(root: Path, tmp_path: Path) -> None:
    # kubectl ships with this project's machine image; under CI=true its absence fails.
    kubectl = require("kubectl")
    config = load(root / "opslens.yaml")
    write(render_all(config), tmp_path)
    out = subprocess.run(
        [kubectl, "kustomize", str(tmp_path / "k8s")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert {(d["apiVersion"], d["kind"]) for d in docs} <= EXPECTED_KINDS
    kinds = [d["kind"] for d in docs]
    for kind in (
        "Deployment",
        "Service",
        "PersistentVolumeClaim",
        "ServiceMonitor",
        "PrometheusRule",
    ):
        assert kinds.count(kind) == 1, kind
    dashboards = [
        d for d in docs if d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert len(dashboards) == len(k8s.objects(config, COMPOSE)["dashboards"]["items"])
    for d in docs:
        assert d["metadata"]["namespace"] == config.deploy.kubernetes.namespace
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "opslens"
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert "app.kubernetes.io/part-of" not in deployment["spec"]["selector"]["matchLabels"]
