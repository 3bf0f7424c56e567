"""Ingest routes are closed unless a secret is set or `allow_unauthenticated: true` says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.init import starter_text
from agent.cli.up import demo_config_text
from agent.config import ConfigError, load, parse

from .conftest import HOUR, AgentFactory, ts

OPEN = """
version: 1
project: t
dora:
  sources:
    - {type: events, name: ev, allow_unauthenticated: true}
    - {type: github, name: open-gh, repo: acme/open, service: open, allow_unauthenticated: true}
    - {type: github, name: polled, repo: acme/api, service: api, token_env: GH_TOKEN}
    - {type: gitlab, name: polled-gl, project: acme/web, service: web, token_env: GL_TOKEN}
  incidents:
    alertmanager: {enabled: true, allow_unauthenticated: true}
"""

EVENT = {
    "kind": "deployment",
    "id": "d1",
    "service": "open",
    "environment": "production",
    "status": "success",
    "finished_at": ts(-HOUR),
}


def push(repo: str) -> bytes:
    commit = {"id": "a" * 40, "timestamp": ts(-HOUR), "message": "m"}
    payload = {"ref": "refs/heads/main", "repository": {"full_name": repo}, "commits": [commit]}
    return json.dumps(payload).encode()


async def test_explicitly_open_routes_accept_without_credentials(agent: AgentFactory) -> None:
    a = await agent(OPEN, env={})
    assert (await a.post("/api/v1/events", EVENT)).status == 200
    github = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "1"}
    response = await a.post("/webhooks/github", None, github, raw=push("acme/open"))
    assert response.status == 200
    alert = {"status": "firing", "labels": {"service": "open"}, "startsAt": ts(-HOUR)}
    assert (await a.post("/webhooks/alertmanager", {"alerts": [alert]})).status == 200


async def test_a_poller_without_a_webhook_secret_refuses_deliveries(agent: AgentFactory) -> None:
    a = await agent(OPEN.replace("    - {type: github, name: open-gh", "    # "), env={})
    github = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "2"}
    response = await a.post("/webhooks/github", None, github, raw=push("acme/api"))
    assert response.status == 401
    gitlab = {"object_kind": "push", "ref": "refs/heads/main", "project_id": "acme/web"}
    response = await a.post("/webhooks/gitlab", gitlab)
    assert response.status == 401


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("{type: events, name: ev}", "dora.sources[0].token_env"),
        ("{type: github, name: gh, repo: a/b, service: s}", "dora.sources[0].webhook_secret_env"),
        ("{type: gitlab, name: gl, project: a/b, service: s}", "dora.sources[0].webhook_token_env"),
    ],
)
def test_validate_refuses_an_open_route(source: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(f"version: 1\nproject: t\ndora:\n  sources:\n    - {source}\n", "o.yaml")
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"o.yaml:5: {field}: ")
    assert "allow_unauthenticated: true" in str(problem)


def test_every_shipped_config_has_closed_routes(root: Path, tmp_path: Path) -> None:
    configs = [
        load(root / "opslens.yaml"),
        parse(starter_text()),
        parse(demo_config_text(tmp_path, root)),
    ]
    for config in configs:
        am = config.dora.incidents.alertmanager
        assert not am.enabled or am.token_env, "the incident webhook takes a token"
        for source in config.dora.sources:
            if source.type == "events":
                assert source.token_env or source.allow_unauthenticated
