"""`opslens check`: run the real tools on generated output, plus cross-artefact checks.

Each check is a function returning `Result`s; `verify` runs them all. Tools are the
ones Prometheus and Alertmanager ship (promtool, amtool) and kubectl when present.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent.config import SEVERITIES, Config
from agent.generate.alertmanager import route_cases
from agent.generate.grafana import metric_names, panel_queries
from agent.generate.naming import (
    ALERTMANAGER_CONFIG_FILE,
    COMPOSE_FILE,
    DASHBOARDS_DIR,
    K8S_DIR,
    PROMETHEUS_CONFIG_FILE,
    RULES_DIR,
    RULES_TESTS_DIR,
    rules_file,
    rules_test_file,
)
from agent.generate.secrets import compose_mounted_paths, k8s_mounted_paths, secret_files
from exporters import catalogue

REQUIRED_TOOLS = ("promtool", "amtool")


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str = ""
    missing_tool: str | None = None


def _tool(name: str) -> str | None:
    return shutil.which(name)


def _run(argv: list[str], cwd: Path | None = None) -> tuple[int, str]:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _last_lines(text: str, n: int = 6) -> str:
    return "\n".join(text.splitlines()[-n:])


def _missing(name: str, tool: str) -> Result:
    return Result(name, False, f"{tool} not found", missing_tool=tool)


def check_prometheus(config: Config, outdir: Path) -> Iterator[Result]:
    promtool = _tool("promtool")
    if promtool is None:
        yield _missing("promtool check config", "promtool")
        return
    rc, out = _run([promtool, "check", "config", str(outdir / PROMETHEUS_CONFIG_FILE)])
    yield Result("promtool check config", rc == 0, "" if rc == 0 else _last_lines(out))
    rule_files = sorted(str(p) for p in outdir.glob(rules_file("*")))
    if not rule_files:
        yield Result("promtool check rules", False, f"no rule files under {RULES_DIR}/")
    else:
        rc, out = _run([promtool, "check", "rules", *rule_files])
        detail = f"{len(rule_files)} files" if rc == 0 else _last_lines(out)
        yield Result("promtool check rules", rc == 0, detail)
    test_files = sorted(outdir.glob(rules_test_file("*")))
    if not test_files:
        yield Result("promtool test rules", False, f"no test files under {RULES_TESTS_DIR}/")
    else:
        # promtool resolves rule_files relative to the test file's folder.
        rc, out = _run(
            [promtool, "test", "rules", *(p.name for p in test_files)], test_files[0].parent
        )
        detail = f"{len(test_files)} files" if rc == 0 else _last_lines(out, 12)
        yield Result("promtool test rules", rc == 0, detail)


def check_alertmanager(config: Config, outdir: Path) -> Iterator[Result]:
    amtool = _tool("amtool")
    if amtool is None:
        yield _missing("amtool check-config", "amtool")
        return
    am_file = outdir / ALERTMANAGER_CONFIG_FILE
    rc, out = _run([amtool, "check-config", str(am_file)])
    yield Result("amtool check-config", rc == 0, "" if rc == 0 else _last_lines(out))
    cases = route_cases(config)
    failures = []
    for labels, receivers in cases:
        argv = [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={am_file}",
            f"--verify.receivers={','.join(receivers)}",
            *(f"{k}={v}" for k, v in labels.items()),
        ]
        # amtool prints the resolved receivers on stdout; stderr only has a flag warning.
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        got = proc.stdout.strip().splitlines()[:1] or ["nothing"]
        if proc.returncode != 0:
            shown = " ".join(f"{k}={v}" for k, v in labels.items())
            failures.append(f"{shown}: want {','.join(receivers)}, got {got[0]}")
    detail = f"{len(cases)} severity×team cases" if not failures else "\n".join(failures)
    yield Result("amtool config routes test", not failures, detail)


def check_kubernetes(config: Config, outdir: Path) -> Iterator[Result]:
    kubectl = _tool("kubectl")
    if kubectl is None:
        yield Result("kubectl kustomize", True, "skipped: kubectl not installed")
        return
    rc, out = _run([kubectl, "kustomize", str(outdir / K8S_DIR)])
    if rc != 0:
        yield Result("kubectl kustomize", False, _last_lines(out))
        return
    kinds = sorted({d["kind"] for d in yaml.safe_load_all(out) if d})
    yield Result("kubectl kustomize", True, ", ".join(kinds))


def _alert_rules(outdir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(outdir.glob(rules_file("*"))):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                yield path.name, rule


def check_alert_routes(config: Config, outdir: Path) -> Iterator[Result]:
    """Every severity an alert can carry is a routed severity with receivers."""
    problems = []
    count = 0
    for file, rule in _alert_rules(outdir):
        if "alert" not in rule:
            continue
        count += 1
        severity = rule.get("labels", {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{file}: {rule['alert']}: severity {severity!r}")
        elif config.notify.receivers and not config.notify.escalation.get(severity):
            problems.append(f"{file}: {rule['alert']}: no receivers for {severity}")
    yield Result(
        "alerts have routed severities", not problems, "\n".join(problems) or f"{count} alerts"
    )


def recording_rules(outdir: Path) -> set[str]:
    return {rule["record"] for _, rule in _alert_rules(outdir) if "record" in rule}


def check_dashboard_metrics(config: Config, outdir: Path) -> Iterator[Result]:
    """Every dashboard query uses only catalogue metrics or recording rules."""
    known = catalogue.series_names() | recording_rules(outdir)
    problems = []
    queries = 0
    for path in sorted((outdir / DASHBOARDS_DIR).glob("*.json")):
        dashboard = json.loads(path.read_text())
        for title, expr in panel_queries(dashboard):
            queries += 1
            unknown = metric_names(expr) - known
            if unknown:
                problems.append(f"{path.name}: {title}: {', '.join(sorted(unknown))}")
    yield Result(
        "dashboard queries use known metrics",
        not problems and queries > 0,
        "\n".join(problems) or f"{queries} queries",
    )


def check_secret_mounts(config: Config, outdir: Path) -> Iterator[Result]:
    """Every *_file the generated configs read is mounted in compose and in k8s."""
    compose = yaml.safe_load((outdir / COMPOSE_FILE).read_text())
    k8s_objects = [yaml.safe_load(p.read_text()) for p in sorted((outdir / K8S_DIR).glob("*.yaml"))]
    k8s_objects = [
        item
        for obj in k8s_objects
        if obj
        for item in (obj.get("items", []) if obj.get("kind") == "List" else [obj])
    ]
    problems = []
    files = secret_files(config)
    for secret in files:
        if secret.path not in compose_mounted_paths(compose, secret.service):
            problems.append(f"compose: {secret.service} lacks {secret.path}")
        if secret.k8s_container and secret.path not in k8s_mounted_paths(
            k8s_objects, secret.k8s_container
        ):
            problems.append(f"k8s: {secret.k8s_container} lacks {secret.path}")
    yield Result(
        "secret files are mounted", not problems, "\n".join(problems) or f"{len(files)} files"
    )


CHECKS: tuple[Callable[[Config, Path], Iterator[Result]], ...] = (
    check_prometheus,
    check_alertmanager,
    check_kubernetes,
    check_alert_routes,
    check_dashboard_metrics,
    check_secret_mounts,
)


def verify(config: Config, outdir: Path) -> list[Result]:
    results: list[Result] = []
    for check in CHECKS:
        try:
            results.extend(check(config, outdir))
        except (OSError, ValueError, KeyError, yaml.YAMLError, subprocess.SubprocessError) as exc:
            results.append(Result(check.__name__.removeprefix("check_"), False, str(exc)))
    return results
