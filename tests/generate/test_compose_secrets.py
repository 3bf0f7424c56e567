"""secret_files: one list of every secret file, that compose and k8s both mount."""

from __future__ import annotations

import pytest

from agent.config import Config, parse
from agent.generate import compose, k8s
from agent.generate.hosts import COMPOSE
from agent.generate.secrets import (
    SecretFile,
    compose_mounted_paths,
    k8s_mounted_paths,
    secret_files,
)

RICH = """
version: 1
project: rich
agent: {metrics_token_env: OPSLENS_METRICS_TOKEN}
dora:
  sources:
    - {type: github, name: a, repo: acme/a, service: a, token_env: GITHUB_TOKEN,
       webhook_secret_env: GITHUB_WEBHOOK_SECRET}
    - {type: github, name: b, repo: acme/b, service: b, token_env: GITHUB_TOKEN}
    - {type: gitlab, name: c, project: acme/c, service: c, token_env: GITLAB_TOKEN,
       webhook_token_env: GITLAB_WEBHOOK_TOKEN}
    - {type: events, name: d, token_env: EVENTS_TOKEN}
  incidents:
    alertmanager: {enabled: true, token_env: AM_TOKEN}
notify:
  receivers:
    pager: {pagerduty: {routing_key_file: /run/secrets/pagerduty}}
    pager2: {pagerduty: {routing_key_file: /run/secrets/pagerduty}}
    chat: {slack: {api_url_file: /etc/slack/key}}
    hook: {webhook: {url: "https://hooks.example.com/x", bearer_token_file: /var/run/hook/key}}
    genie: {opsgenie: {api_key_file: opsgenie.key}}
  escalation: {critical: [pager, pager2, chat], high: [hook], medium: [genie], low: [genie]}
  smtp: {auth_username: ops, auth_password_file: /run/secrets/smtp_password}
prometheus:
  remote_write:
    - {url: "https://remote.example.com/api/v1/write", bearer_token_file: /run/secrets/remote_write}
deploy:
  compose: {grafana_admin_password_file: conf/grafana-admin}
"""


@pytest.fixture(scope="module")
def rich() -> Config:
    return parse(RICH)


def by_origin(entries: list[SecretFile]) -> dict[str, SecretFile]:
    return {f"{s.service}:{s.origin}": s for s in entries}


def test_every_file_and_env_secret_is_listed(rich: Config) -> None:
    got = {(s.service, s.path, s.name, s.env) for s in secret_files(rich)}
    assert got == {
        (
            "agent",
            "/run/secrets/opslens_metrics_token",
            "opslens_metrics_token",
            "OPSLENS_METRICS_TOKEN_FILE",
        ),
        ("prometheus", "/run/secrets/opslens_metrics_token", "opslens_metrics_token", None),
        ("agent", "/run/secrets/github_token", "github_token", "GITHUB_TOKEN_FILE"),
        (
            "agent",
            "/run/secrets/github_webhook_secret",
            "github_webhook_secret",
            "GITHUB_WEBHOOK_SECRET_FILE",
        ),
        ("agent", "/run/secrets/gitlab_token", "gitlab_token", "GITLAB_TOKEN_FILE"),
        (
            "agent",
            "/run/secrets/gitlab_webhook_token",
            "gitlab_webhook_token",
            "GITLAB_WEBHOOK_TOKEN_FILE",
        ),
        ("agent", "/run/secrets/events_token", "events_token", "EVENTS_TOKEN_FILE"),
        ("agent", "/run/secrets/am_token", "am_token", "AM_TOKEN_FILE"),
        ("alertmanager", "/run/secrets/am_token", "am_token", None),
        ("alertmanager", "/run/secrets/pagerduty", "pagerduty", None),
        ("alertmanager", "/etc/slack/key", "key", None),
        # Same basename, different file: a distinct name.
        ("alertmanager", "/var/run/hook/key", "key_2", None),
        # Relative: Alertmanager resolves it next to its config file.
        ("alertmanager", "/etc/alertmanager/opsgenie.key", "opsgenie.key", None),
        ("alertmanager", "/run/secrets/smtp_password", "smtp_password", None),
        ("prometheus", "/run/secrets/remote_write", "remote_write", None),
        (
            "grafana",
            "/run/secrets/grafana_admin_password",
            "grafana_admin_password",
            "GF_SECURITY_ADMIN_PASSWORD__FILE",
        ),
    }


def test_origins_locals_and_k8s_flags(rich: Config) -> None:
    entries = by_origin(secret_files(rich))
    pager = entries["alertmanager:notify.receivers.pager.pagerduty.routing_key_file"]
    assert pager.local == "../secrets/pagerduty"
    # Local paths in the config are relative to opslens.yaml, one folder above compose/.
    grafana = entries["grafana:deploy.compose.grafana_admin_password_file"]
    assert grafana.local == "../conf/grafana-admin"
    assert {(s.service, s.k8s_container) for s in secret_files(rich) if s.k8s_container} == {
        ("agent", k8s.CONTAINER)
    }
    names = {s.name for s in secret_files(rich)}
    assert all(n.replace("_", "").replace(".", "").replace("-", "").isalnum() for n in names)


def test_the_metrics_token_matches_the_prometheus_scrape(rich: Config) -> None:
    from agent.generate.prometheus import prometheus_config

    job = prometheus_config(rich)["scrape_configs"][0]
    path = job["authorization"]["credentials_file"]
    assert any(s.service == "prometheus" and s.path == path for s in secret_files(rich))


def test_compose_and_k8s_mount_every_entry(rich: Config) -> None:
    doc = compose.compose_file(rich)
    objects = list(k8s.objects(rich, COMPOSE).values())
    for s in secret_files(rich):
        assert s.path in compose_mounted_paths(doc, s.service), s
        assert doc["secrets"][s.name]["file"] == s.local
        if s.k8s_container:
            assert s.path in k8s_mounted_paths(objects, s.k8s_container), s


def test_no_secret_section_without_secrets() -> None:
    config = parse("version: 1\nproject: bare\nnotify: {escalation: {}}\n")
    entries = secret_files(config)
    assert [s.name for s in entries] == ["grafana_admin_password"]
    doc = compose.compose_file(config)
    assert "secrets" not in doc["services"]["agent"]
    assert "environment" not in doc["services"]["agent"]
    deployment = k8s.objects(config, COMPOSE)["deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert "secrets" not in {v["name"] for v in volumes}
