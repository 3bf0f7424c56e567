"""Hostile values in ingest: refused 400 naming the field, and never fail their neighbours."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from exporters.dora.records import Batch, Deployment
from exporters.dora.store import EventStore, RejectedBatch

from .conftest import (
    AM_TOKEN,
    DAY,
    GITLAB_TOKEN,
    HOUR,
    NOW,
    AgentFactory,
    sign,
    ts,
    value,
)


def deployment(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "deployment",
        "id": f"d{n}",
        "service": f"svc{n % 7}",
        "environment": "production",
        "status": "success",
        "finished_at": ts(-HOUR - n),
        **fields,
    }


# Each: the event's changed fields, and the field the 400 must name.
BAD = [
    ({"service": "\ud800"}, "service"),
    ({"id": "x\ud800"}, "id"),
    ({"service": "api\x00"}, "service"),
    ({"id": "a\x1bb"}, "id"),
    ({"environment": "prod\nuction"}, "environment"),
    ({"service": "s" * 129}, "service"),
    ({"finished_at": "9999-12-31T23:59:59Z"}, "finished_at"),
    ({"finished_at": "1970-01-02T00:00:00Z"}, "finished_at"),
]


async def test_bad_events_fail_alone_under_concurrency(agent: AgentFactory) -> None:
    """300 valid events and the bad ones, all at once: 300 × 2xx, every bad one 400."""
    a = await agent()
    valid = [a.events(deployment(n)) for n in range(300)]
    bad = [a.events(deployment(1000 + i, **change)) for i, (change, _) in enumerate(BAD)]
    responses = await asyncio.gather(*valid, *bad)
    good, refused = responses[:300], responses[300:]
    assert [r.status for r in good] == [200] * 300
    assert [r.status for r in refused] == [400] * len(BAD)
    for response, (_, field) in zip(refused, BAD, strict=True):
        assert (await response.json())["field"] == field
    scrape = await a.scrape()
    stored = sum(
        value(scrape, "dora_deployments_total", service=f"svc{k}", environment="production") or 0
        for k in range(7)
    )
    assert stored == 300
    assert not any(name == "dora_deployments_total" and len(labels) > 2 for name, labels in scrape)


async def test_a_value_the_store_cannot_encode_fails_only_its_batch(tmp_path: Path) -> None:
    """The group commit redoes a failed group batch by batch: only the bad one is refused."""
    store = EventStore(tmp_path / "events.db")
    await store.start()
    try:

        def record(n: int, service: str) -> Deployment:
            return Deployment(f"k{n}", service, "production", "success", NOW - n)

        def batch(n: int, service: str) -> Batch:
            return Batch((record(n, service),))

        # Parsers refuse these; the store must still cope if one ever slips through. The
        # bad batch's clean first record must not be stored either (all or nothing).
        bad = Batch((record(500, "api"), record(501, "\udcff")))
        results = await asyncio.gather(
            *(store.submit(batch(n, "api")) for n in range(100)),
            store.submit(bad),
            *(store.submit(batch(n, "web")) for n in range(100, 200)),
            return_exceptions=True,
        )
    finally:
        await store.stop()
    assert isinstance(results[100], RejectedBatch)
    outcomes = results[:100] + results[101:]
    assert all(not isinstance(r, BaseException) and r.changed == 1 for r in outcomes)
    reader = store.reader()
    try:
        assert reader.execute("SELECT count(*) FROM deployments").fetchone() == (200,)
    finally:
        reader.close()


async def raw_reply(port: int, head: bytes, body: bytes) -> tuple[int, dict[str, Any]]:
    """Send a request with header bytes no client library sends; the status and JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        length = f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        writer.write(head + length + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


PUSH = {
    "ref": "refs/heads/main",
    "before": "a" * 40,
    "repository": {"full_name": "acme/api"},
    "commits": [{"id": "b" * 40, "timestamp": ts(-DAY), "message": "change"}],
}


async def test_delivery_headers_that_are_not_utf8_are_a_400(agent: AgentFactory) -> None:
    a = await agent()
    port = a.client.server.port
    body = json.dumps(PUSH).encode()
    github = (
        b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-GitHub-Event: push\r\nX-GitHub-Delivery: \xff\xfe-1\r\n"
        + f"X-Hub-Signature-256: {sign(body)}\r\n".encode()
    )
    gitlab_body = json.dumps(
        {**PUSH, "object_kind": "push", "project": {"path_with_namespace": "acme/web"}}
    ).encode()
    gitlab = (
        b"POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"X-Gitlab-Token: {GITLAB_TOKEN}\r\n".encode()
        + b"Idempotency-Key: \xed\xa0\x80\r\n"
    )
    assert await raw_reply(port, github, body) == (
        400,
        {
            "error": "header must not contain unpaired surrogates (not valid UTF-8)",
            "field": "X-GitHub-Delivery",
        },
    )
    status, reply = await raw_reply(port, gitlab, gitlab_body)
    assert (status, reply["field"]) == (400, "Idempotency-Key")
    # Nothing reached the store: the same commit in a clean delivery is new to it.
    response = await a.github("push", PUSH, "clean-1")
    assert response.status == 200
    assert (await response.json())["stored"] == 1


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        (
            "/webhooks/alertmanager",
            {
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"severity": "critical", "service": "s" * 500_000},
                        "startsAt": ts(-HOUR),
                    }
                ]
            },
            "alerts[0].labels.service",
        ),
        (
            "/webhooks/alertmanager",
            {
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"severity": "critical", "service": "api\x07"},
                        "startsAt": ts(-HOUR),
                    }
                ]
            },
            "alerts[0].labels.service",
        ),
        (
            "/webhooks/alertmanager",
            {
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"severity": "critical", "service": "api"},
                        "startsAt": "9999-01-01T00:00:00Z",
                    }
                ]
            },
            "alerts[0].startsAt",
        ),
    ],
    ids=["huge-service-label", "control-character", "year-9999"],
)
async def test_alertmanager_labels_and_times_are_bounded(
    agent: AgentFactory, path: str, payload: dict[str, Any], field: str
) -> None:
    a = await agent()
    response = await a.post(path, payload, {"Authorization": f"Bearer {AM_TOKEN}"})
    assert response.status == 400
    assert (await response.json())["field"] == field


async def test_forge_environments_are_bounded(agent: AgentFactory) -> None:
    a = await agent()
    status = {
        "deployment_status": {
            "state": "success",
            "created_at": ts(-HOUR),
            "environment": "e" * 200,
        },
        "deployment": {"id": 1, "sha": "c" * 40, "environment": "production"},
        "repository": {"full_name": "acme/api"},
    }
    response = await a.github("deployment_status", status, "env-1")
    assert response.status == 400
    assert (await response.json())["field"] == "deployment_status.environment"
    gitlab = {
        "object_kind": "deployment",
        "status": "success",
        "environment": "prod\x00",
        "deployment_id": 1,
        "status_changed_at": ts(-HOUR),
        "project": {"path_with_namespace": "acme/web"},
    }
    response = await a.post("/webhooks/gitlab", gitlab, {"X-Gitlab-Token": GITLAB_TOKEN})
    assert response.status == 400
    assert (await response.json())["field"] == "environment"


async def test_the_edges_of_the_bounds_are_accepted(agent: AgentFactory) -> None:
    a = await agent()
    ok = [
        deployment(1, service="s" * 128),
        deployment(2, finished_at=ts(DAY - 60)),  # a clock a little ahead of the agent's
        deployment(3, finished_at="2000-01-01T00:00:00Z"),
        deployment(4, service="caf\u00e9-\U0001f680"),  # non-ASCII is fine, unpaired halves not
    ]
    response = await a.events(ok)
    assert response.status == 200, await response.text()
    assert (await response.json())["stored"] == 4


async def test_times_out_of_range_are_named_by_their_json_path(agent: AgentFactory) -> None:
    a = await agent()
    future_push = {**PUSH, "commits": [{**PUSH["commits"][0], "timestamp": "9999-01-01T00:00:00Z"}]}
    response = await a.github("push", future_push, "time-1")
    assert response.status == 400
    assert (await response.json())["field"] == "commits[0].timestamp"
    old_commit = {"sha": "abc1234", "committed_at": "1999-12-31T23:59:59Z"}
    response = await a.events([deployment(1), deployment(2, commits=[old_commit])])
    assert response.status == 400
    assert (await response.json())["field"] == "[1].commits[0].committed_at"
