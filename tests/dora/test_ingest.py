"""Ingest over HTTP: auth, malformed bodies (4xx naming the field), limits, redeliveries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import (
    AM_TOKEN,
    DAY,
    EVENTS_TOKEN,
    GITLAB_TOKEN,
    AgentFactory,
    sign,
    ts,
    value,
)

GOOD = {
    "kind": "deployment",
    "id": "d-1",
    "service": "shop",
    "environment": "production",
    "status": "success",
    "finished_at": ts(-DAY),
    "commits": [{"sha": "abc", "committed_at": ts(-2 * DAY)}],
}

# Ten kinds of malformed body, each with the field the 400 must name.
MALFORMED: list[tuple[str, bytes, str]] = [
    ("not json", b"{not json", "body"),
    ("invalid utf-8", b"\xff\xfe\x00", "body"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "body"),
    ("scalar", b"42", "body"),
    ("empty list", b"[]", "body"),
    ("unknown kind", json.dumps({**GOOD, "kind": "release"}).encode(), "kind"),
    ("missing id", json.dumps({k: v for k, v in GOOD.items() if k != "id"}).encode(), "id"),
    ("bad status", json.dumps({**GOOD, "status": "ok"}).encode(), "status"),
    ("bad timestamp", json.dumps({**GOOD, "finished_at": "yesterday"}).encode(), "finished_at"),
    (
        "naive timestamp",
        json.dumps({**GOOD, "finished_at": "2026-11-20T10:00:00"}).encode(),
        "finished_at",
    ),
    (
        "bad commit",
        json.dumps([GOOD, {**GOOD, "commits": [{"sha": "x", "committed_at": 5}]}]).encode(),
        "[1].commits[0].committed_at",
    ),
    ("rework not bool", json.dumps({**GOOD, "rework": "yes"}).encode(), "rework"),
    (
        "resolved before start",
        json.dumps(
            {
                "kind": "incident",
                "id": "i",
                "service": "s",
                "environment": "production",
                "started_at": ts(0),
                "resolved_at": ts(-60),
            }
        ).encode(),
        "resolved_at",
    ),
]


@pytest.mark.parametrize(("case", "body", "field"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_malformed_events_get_400_naming_the_field(
    agent: AgentFactory, case: str, body: bytes, field: str
) -> None:
    a = await agent()
    response = await a.post(
        "/api/v1/events", None, {"Authorization": f"Bearer {EVENTS_TOKEN}"}, raw=body
    )
    assert response.status == 400, case
    answer = await response.json()
    assert answer["field"] == field and answer["error"]
    # Nothing stored, agent alive.
    assert (await a.client.get("/-/healthy")).status == 200
    assert (
        value(await a.scrape(), "dora_deployments_total", service="shop", environment="production")
        is None
    )


async def test_malformed_webhooks_get_4xx_and_the_agent_lives(agent: AgentFactory) -> None:
    a = await agent()
    cases: list[tuple[str, dict[str, str], bytes]] = [
        ("/webhooks/github", {"X-GitHub-Event": "deployment_status"}, b"{"),
        (
            "/webhooks/github",
            {"X-GitHub-Event": "deployment_status"},
            b'{"repository": {"full_name": "acme/api"}}',
        ),
        (
            "/webhooks/github",
            {"X-GitHub-Event": "push"},
            b'{"repository": {"full_name": "acme/api"}, "ref": "refs/heads/main", '
            b'"commits": [{"id": "a"}]}',
        ),
        ("/webhooks/gitlab", {"X-Gitlab-Token": GITLAB_TOKEN}, b'{"object_kind": 5}'),
        (
            "/webhooks/gitlab",
            {"X-Gitlab-Token": GITLAB_TOKEN},
            b'{"object_kind": "deployment", "project": {"path_with_namespace": "acme/web"}, '
            b'"status": "success", "environment": "production", "status_changed_at": "soon", '
            b'"deployment_id": 1}',
        ),
        ("/webhooks/alertmanager", {"Authorization": f"Bearer {AM_TOKEN}"}, b'{"alerts": {}}'),
        (
            "/webhooks/alertmanager",
            {"Authorization": f"Bearer {AM_TOKEN}"},
            b'{"alerts": [{"status": "firing", "labels": {}, "startsAt": 1}]}',
        ),
    ]
    for path, headers, body in cases:
        if path.endswith("github"):
            headers = {**headers, "X-Hub-Signature-256": sign(body)}
        response = await a.post(path, None, headers, raw=body)
        assert 400 <= response.status < 500, (path, body, response.status)
        assert "error" in await response.json()
    assert (await a.client.get("/-/healthy")).status == 200


async def test_bad_signature_and_tokens_get_401(agent: AgentFactory) -> None:
    a = await agent()
    body = json.dumps({"zen": "hi", "repository": {"full_name": "acme/api"}}).encode()
    for signature in ("", "sha256=00", sign(body, "wrong"), sign(body)[:-1] + "0"):
        headers = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature}
        assert (await a.post("/webhooks/github", None, headers, raw=body)).status == 401
    good = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": sign(body)}
    assert (await a.post("/webhooks/github", None, good, raw=body)).status == 200
    assert (await a.post("/webhooks/gitlab", {}, {"X-Gitlab-Token": "nope"})).status == 401
    assert (await a.post("/api/v1/events", GOOD, {"Authorization": "Bearer nope"})).status == 401
    assert (await a.post("/api/v1/events", GOOD)).status == 401
    assert (await a.post("/webhooks/alertmanager", {"alerts": []})).status == 401


async def test_unset_tokens_fail_closed(agent: AgentFactory) -> None:
    a = await agent(env={})  # token_env configured, but nothing in the environment
    for token in ("", "nope", EVENTS_TOKEN):
        headers = {"Authorization": f"Bearer {token}"}
        response = await a.post("/api/v1/events", GOOD, headers)
        assert response.status == 401
        assert "EV_TOKEN is not set" in (await response.json())["error"]
        assert (await a.post("/webhooks/alertmanager", {"alerts": []}, headers)).status == 401


async def test_body_over_the_limit_gets_413(agent: AgentFactory) -> None:
    a = await agent()
    big = b'{"pad": "' + b"x" * (5 * 1024 * 1024 + 10) + b'"}'
    response = await a.post(
        "/api/v1/events", None, {"Authorization": f"Bearer {EVENTS_TOKEN}"}, raw=big
    )
    assert response.status == 413
    assert (await a.client.get("/-/healthy")).status == 200


async def test_unused_events_and_environments_are_acknowledged(agent: AgentFactory) -> None:
    a = await agent()
    assert (await a.github("issues", {"repository": {"full_name": "acme/api"}}, "x1")).status == 202
    assert (await a.github("push", {"repository": {"full_name": "other/repo"}}, "x2")).status == 202
    staging = {**GOOD, "environment": "staging"}
    response = await a.events(staging)
    assert response.status == 202
    assert "outside dora.environments" in (await response.json())["ignored"]


async def test_each_delivery_twice_counts_once(agent: AgentFactory) -> None:
    a = await agent()
    firing: dict[str, Any] = {
        "alerts": [
            {
                "status": "firing",
                "labels": {"service": "shop", "severity": "critical"},
                "startsAt": ts(-3600),
                "fingerprint": "abc",
            }
        ]
    }
    for _ in range(2):
        assert (await a.events(GOOD)).status == 200
        assert (await a.alertmanager(firing)).status == 200
    again = await a.events(GOOD)
    assert await again.json() == {"stored": 0, "duplicate": False}
    scrape = await a.scrape()
    labels = {"service": "shop", "environment": "production"}
    assert value(scrape, "dora_deployments_total", **labels) == 1
    # The first deployment seen: its commit is a backlog, rejected once, not counted.
    assert value(scrape, "dora_lead_time_seconds_count", **labels) is None
    assert value(scrape, "dora_lead_time_rejected_total", reason="before_history", **labels) == 1
    assert value(scrape, "dora_incidents_total", **labels) == 1
    assert value(scrape, "dora_change_failures_total", **labels) == 1  # the alert came 1h after


async def test_github_delivery_id_dedupes(agent: AgentFactory) -> None:
    a = await agent()
    payload = {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "repository": {"full_name": "acme/api"},
        "commits": [{"id": "a" * 40, "timestamp": ts(-DAY), "message": "x"}],
    }
    assert await (await a.github("push", payload, "same")).json() == {
        "stored": 1,
        "duplicate": False,
    }
    assert await (await a.github("push", payload, "same")).json() == {
        "stored": 0,
        "duplicate": True,
    }


async def test_routes_without_a_source_are_404(agent: AgentFactory) -> None:
    a = await agent("version: 1\nproject: t\n")
    for path in (
        "/webhooks/github",
        "/webhooks/gitlab",
        "/webhooks/alertmanager",
        "/api/v1/events",
    ):
        assert (await a.post(path, {})).status == 404
