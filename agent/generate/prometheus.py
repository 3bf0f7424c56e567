"""`compose/prometheus.yml`: scrape configs, rule files, alerting, remote write."""

from __future__ import annotations

import posixpath
from typing import Any

from agent.config import Config

from .artefact import Artefact
from .hosts import COMPOSE, Hosts
from .naming import AGENT_JOB, PROMETHEUS_CONFIG_FILE, rules_file
from .secrets import METRICS_TOKEN, SECRETS_DIR

# Relative to this file: resolves to ../rules both in the repo and in the containers,
# where compose mounts the two folders side by side.
RULE_FILES = posixpath.relpath(rules_file("*"), posixpath.dirname(PROMETHEUS_CONFIG_FILE))


def scrape_configs(config: Config, hosts: Hosts) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = [
        {
            "job_name": AGENT_JOB,
            "static_configs": [{"targets": [hosts.agent, *config.prometheus.extra_agents]}],
        },
        {"job_name": "prometheus", "static_configs": [{"targets": [hosts.prometheus]}]},
        {"job_name": "alertmanager", "static_configs": [{"targets": [hosts.alertmanager]}]},
    ]
    if config.agent.metrics_token_env:
        jobs[0]["authorization"] = {"credentials_file": f"{SECRETS_DIR}/{METRICS_TOKEN}"}
    for target in config.targets:
        static: dict[str, Any] = {"targets": list(target.static)}
        if target.service:
            static["labels"] = {"service": target.service}
        job: dict[str, Any] = {"job_name": target.job, "static_configs": [static]}
        if target.metrics_path != "/metrics":
            job["metrics_path"] = target.metrics_path
        if target.scheme != "http":
            job["scheme"] = target.scheme
        jobs.append(job)
    return jobs


def prometheus_config(config: Config, hosts: Hosts = COMPOSE) -> dict[str, Any]:
    prom = config.prometheus
    global_: dict[str, Any] = {
        "scrape_interval": prom.scrape_interval.prom(),
        "evaluation_interval": prom.eval_interval.prom(),
    }
    external = {"project": config.project, **prom.external_labels}
    global_["external_labels"] = external
    out: dict[str, Any] = {
        "global": global_,
        "rule_files": [RULE_FILES],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [hosts.alertmanager]}]}]},
        "scrape_configs": scrape_configs(config, hosts),
    }
    if prom.remote_write:
        out["remote_write"] = [
            {
                "url": rw.url,
                **({"name": rw.name} if rw.name else {}),
                **({"headers": dict(rw.headers)} if rw.headers else {}),
                **(
                    {"authorization": {"credentials_file": rw.bearer_token_file}}
                    if rw.bearer_token_file
                    else {}
                ),
            }
            for rw in prom.remote_write
        ]
    return out


def render(config: Config, hosts: Hosts = COMPOSE) -> list[Artefact]:
    return [Artefact(PROMETHEUS_CONFIG_FILE, prometheus_config(config, hosts))]
