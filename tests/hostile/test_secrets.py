"""Plant a distinctive secret in every place the config takes one; it must never come out.

Secrets go in through every supported channel: `*_env` variables, their `<NAME>_FILE`
form, AWS credentials from the environment, and the `*_file` paths of receivers, SMTP,
remote write and Grafana. Then `generate`, `validate`, `check` and a running agent are
exercised, error paths included (bad signatures, wrong tokens, bad bodies, refused
configs), and every output is searched: logs, replies, the status page, `/metrics`,
generated files and the data directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.hostile.server import ROOT, Agent, running_agent
from tests.support.procs import free_port

pytestmark = pytest.mark.integration

ENV_SECRETS = (
    "OPSLENS_METRICS_TOKEN",
    "GITHUB_TOKEN",
    "GH_WEBHOOK_SECRET",
    "GL_WEBHOOK_TOKEN",
    "OPSLENS_EVENTS_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
FILE_ENV_SECRETS = ("GITLAB_TOKEN", "OPSLENS_AM_TOKEN")  # given as <NAME>_FILE
CONFIG_FILES = (
    "pagerduty_routing_key",
    "slack_api_url",
    "webhook_bearer_token",
    "opsgenie_api_key",
    "smtp_password",
    "remote_write_token",
    "grafana_admin_password",
)


def config_text(secrets_dir: Path, closed: int) -> str:
    s = secrets_dir
    return f"""\
version: 1
project: leak
agent:
  metrics_token_env: OPSLENS_METRICS_TOKEN
  body_timeout: 5s
cost:
  sources:
    - {{type: aws_cost_explorer, name: aws, endpoint_url: "http://127.0.0.1:{closed}"}}
dora:
  environments: [production]
  sources:
    - {{type: github, name: gh, repo: acme/shop, service: shop, token_env: GITHUB_TOKEN,
       webhook_secret_env: GH_WEBHOOK_SECRET, api_url: "http://127.0.0.1:{closed}"}}
    - {{type: gitlab, name: gl, project: acme/api, service: api, token_env: GITLAB_TOKEN,
       webhook_token_env: GL_WEBHOOK_TOKEN, url: "http://127.0.0.1:{closed}"}}
    - {{type: events, name: ev, token_env: OPSLENS_EVENTS_TOKEN}}
  incidents:
    alertmanager: {{enabled: true, token_env: OPSLENS_AM_TOKEN}}
app: {{host: false}}
notify:
  receivers:
    pager: {{pagerduty: {{routing_key_file: {s}/pagerduty_routing_key}}}}
    chat: {{slack: {{api_url_file: {s}/slack_api_url}}}}
    hook: {{webhook: {{url: "https://relay.example.com/alert",
                      bearer_token_file: {s}/webhook_bearer_token}}}}
    genie: {{opsgenie: {{api_key_file: {s}/opsgenie_api_key}}}}
    mail: {{email: {{to: ops@example.com}}}}
  escalation:
    critical: [pager, chat]
    high: [hook]
    medium: [genie]
    low: [mail]
  smtp: {{smarthost: "smtp.example.com:587", from: "opslens@example.com",
          auth_username: ops, auth_password_file: {s}/smtp_password}}
prometheus:
  remote_write:
    - {{url: "https://metrics.example.com/api/v1/write", bearer_token_file: {s}/remote_write_token}}
deploy:
  compose: {{grafana_admin_password_file: {s}/grafana_admin_password}}
"""


def planted() -> str:
    return f"S3CR3T-{uuid.uuid4()}"


def cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "agent", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return f"$ agent {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}"


def exercise(agent: Agent, replies: list[str]) -> None:
    """Every route, with good and bad credentials and bodies; keep every reply."""

    def send(
        method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        response = requests.request(
            method, agent.url + path, data=body, headers=headers or {}, timeout=15
        )
        replies.append(f"{method} {path} {response.status_code} {dict(response.headers)}\n")
        replies.append(response.text)

    good_event = json.dumps(
        {
            "kind": "deployment",
            "id": "d-1",
            "service": "shop",
            "environment": "production",
            "status": "success",
            "finished_at": "2026-11-20T10:00:00Z",
        }
    ).encode()
    bodies = [good_event, b"{not json", b'{"kind": "deployment"}', b"[]", b"\xff\xfe"]
    # A secret sent where another one belongs must not be echoed back either.
    wrong = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {agent.secrets['GH_WEBHOOK_SECRET']}"},
        {"Authorization": f"Basic {agent.secrets['OPSLENS_EVENTS_TOKEN']}"},
        {"X-Gitlab-Token": agent.secrets["OPSLENS_EVENTS_TOKEN"]},
        {
            "X-Hub-Signature-256": f"sha256={agent.secrets['GH_WEBHOOK_SECRET']}",
            "X-GitHub-Event": "push",
        },
    ]
    for path in (
        "/api/v1/events",
        "/webhooks/alertmanager",
        "/webhooks/github",
        "/webhooks/gitlab",
    ):
        for body in bodies:
            headers = agent.auth(path, body) | {"X-GitHub-Event": "deployment_status"}
            send("POST", path, body, headers | {"Content-Type": "application/json"})
            for bad in wrong:
                send("POST", path, body, bad)
        send("GET", path)
    for path in ("/metrics", "/", "/-/healthy", "/-/ready", "/no/such/route"):
        send("GET", path, headers=agent.auth(path, b""))
        for bad in wrong:
            send("GET", path, headers=bad)
    send("POST", "/-/reload", headers=agent.auth("/-/reload", b""))
    send(
        "GET",
        "/metrics",
        headers=agent.auth("/metrics", b"") | {"Accept": "application/openmetrics-text"},
    )


def test_no_planted_secret_comes_out(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    values: dict[str, str] = {}
    env: dict[str, str] = {}
    for name in ENV_SECRETS:
        values[name] = env[name] = planted()
    for name in FILE_ENV_SECRETS:
        values[name] = planted()
        (secrets_dir / name).write_text(values[name] + "\n")
        env[f"{name}_FILE"] = str(secrets_dir / name)
    for name in CONFIG_FILES:
        values[name] = planted()
        (secrets_dir / name).write_text(values[name] + "\n")
    work = tmp_path / "agent"
    work.mkdir()
    config = config_text(secrets_dir, free_port())
    (work / "opslens.yaml").write_text(config)

    child_env = {k: v for k, v in os.environ.items() if k not in ENV_SECRETS} | env
    child_env["AWS_DEFAULT_REGION"] = "us-east-1"
    outputs = [
        cli("validate", "-c", str(work / "opslens.yaml"), env=child_env),
        cli("generate", "-c", str(work / "opslens.yaml"), "-o", str(work / "out"), env=child_env),
        cli("check", "-c", str(work / "opslens.yaml"), "-o", str(work / "out"), env=child_env),
    ]
    assert "-> 0" in outputs[0] and "-> 0" in outputs[1], outputs

    # A config that puts secrets inline is refused, without repeating them.
    leaky = config.replace(
        f"routing_key_file: {secrets_dir}/pagerduty_routing_key",
        f"routing_key: {values['pagerduty_routing_key']}",
    ).replace(
        "https://relay.example.com/alert",
        f"https://ops:{values['webhook_bearer_token']}@relay.example.com/alert?token={values['opsgenie_api_key']}",
    )
    (work / "leaky.yaml").write_text(leaky)
    outputs.append(cli("validate", "-c", str(work / "leaky.yaml"), env=child_env))
    assert "-> 0" not in outputs[-1], outputs[-1]

    replies: list[str] = []
    env_for_agent = {k: v for k, v in env.items() if k not in ("OPSLENS_METRICS_TOKEN",)}
    env_for_agent["AWS_DEFAULT_REGION"] = "us-east-1"
    secrets_for_agent = {"OPSLENS_METRICS_TOKEN": env["OPSLENS_METRICS_TOKEN"]}
    with running_agent(work, secrets_for_agent, config=config, env=env_for_agent) as agent:
        agent = dataclasses.replace(agent, secrets=values)
        exercise(agent, replies)
        # Reload into the refused config: the log names the problem, not the value.
        agent.config.write_text(leaky)
        response = requests.post(
            agent.url + "/-/reload", headers=agent.auth("/-/reload", b""), timeout=30
        )
        replies.append(response.text)
        assert response.status_code == 422
        time.sleep(0.2)
        # Polls have failed against the closed port by now: their errors are on the page.
        page = requests.get(agent.url + "/", headers=agent.auth("/", b""), timeout=15).text
        replies.append(page)
        assert "down" in page

    texts = {"cli": "\n".join(outputs), "replies": "\n".join(replies), "log": agent.log.read_text()}
    for path in sorted(
        p for p in work.rglob("*") if p.is_file() and p.name not in ("opslens.yaml", "leaky.yaml")
    ):
        texts[str(path.relative_to(work))] = path.read_bytes().decode("utf-8", "replace")
    # What was searched holds what it should: generated files, the store, the log, replies.
    assert len(texts) > 30 and "data/dora/events.db" in texts
    assert "config reload refused" in texts["log"] and "source dora/gh failed" in texts["log"]
    assert '"stored": 1' in texts["replies"] and "missing or wrong bearer token" in texts["replies"]
    assert "routing_key_file" in texts["cli"] and "promtool check rules" in texts["cli"]
    leaks = [
        f"{name} in {where}"
        for where, text in texts.items()
        for name, secret in values.items()
        if secret in text or secret.removeprefix("S3CR3T-") in text
    ]
    assert leaks == []
    assert "S3CR3T" not in "".join(texts.values())
