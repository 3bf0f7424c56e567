"""Identity per service: redelivery is a no-op, another service's id is another event, a
conflicting update is a 409 that changes nothing, and stores of schema 1 migrate."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from exporters.base import SourceError
from exporters.dora.config import DoraConfig, GitSource, Levels
from exporters.dora.git import GitTagPoller
from exporters.dora.records import Batch, Deployment
from exporters.dora.schema import MIGRATIONS, SCHEMA_1, split_statements
from exporters.dora.snapshot import compute
from exporters.dora.store import EventStore

from .conftest import DAY, HOUR, NOW, AgentFactory, ts, value
from .test_sources import git

A = {"service": "a", "environment": "production"}
B = {"service": "b", "environment": "production"}


def deployment(service: str, status: str, at: float, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "deployment",
        "id": "d-1",
        "service": service,
        "environment": "production",
        "status": status,
        "finished_at": ts(at),
        **extra,
    }


def incident(service: str, resolved: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "incident",
        "id": "inc-1",
        "service": service,
        "environment": "production",
        "started_at": ts(-3 * HOUR),
        "resolved_at": ts(resolved) if resolved is not None else None,
        **extra,
    }


async def test_the_same_id_from_another_service_is_another_event(agent: AgentFactory) -> None:
    """The issue's report: B's events used to overwrite A's under the same id."""
    a = await agent()
    earlier = {"id": "d-0", "commits": []}
    for service in ("a", "b"):  # one earlier deployment each, so d-1 is not the first
        assert (await a.events(deployment(service, "success", -3 * DAY, **earlier))).status == 200
    failed = deployment("a", "failure", -DAY)
    shipped = deployment(
        "b", "success", -DAY, commits=[{"sha": "b1", "committed_at": ts(-DAY - 2 * HOUR)}]
    )
    for body in (failed, shipped, incident("a", None), incident("b", -HOUR)):
        response = await a.events(body)
        assert await response.json() == {"stored": 1, "duplicate": False}, body
    scrape = await a.scrape()
    # A's deployment is still failed, B's is counted with its own lead time.
    assert value(scrape, "dora_failed_deployments_total", **A) == 1
    assert value(scrape, "dora_deployments_total", **B) == 2
    assert value(scrape, "dora_failed_deployments_total", **B) == 0
    assert value(scrape, "dora_lead_time_seconds_count", **A) is None
    assert value(scrape, "dora_lead_time_seconds_sum", **B) == 2 * HOUR
    # B's resolved incident did not close A's open one.
    assert value(scrape, "dora_incidents_open", **A) == 1
    assert value(scrape, "dora_incidents_open", **B) == 0


async def test_a_redelivery_changes_nothing(agent: AgentFactory) -> None:
    a = await agent()
    body = [deployment("a", "success", -DAY), incident("a", -HOUR)]
    assert await (await a.events(body)).json() == {"stored": 2, "duplicate": False}
    before = await a.scrape()
    for _ in range(3):
        assert await (await a.events(body)).json() == {"stored": 0, "duplicate": False}
    after = await a.scrape()
    dora = {k: v for k, v in before.items() if k[0].startswith("dora_")}
    assert dora == {k: v for k, v in after.items() if k[0].startswith("dora_")}


def _with_environments(*names: str) -> str:
    from .conftest import CONFIG

    return CONFIG.replace("environments: [production]", f"environments: [{', '.join(names)}]")


async def test_409_for_each_field_that_cannot_change(agent: AgentFactory, tmp_path: Path) -> None:
    a = await agent(_with_environments("production", "staging"))
    assert (await a.events(deployment("a", "success", -DAY))).status == 200
    assert (await a.events(deployment("a", "success", -2 * DAY, id="d-0"))).status == 200
    first = incident("a", None, deployment_id="d-1")
    assert (await a.events(first)).status == 200
    before = await a.scrape()

    cases = [
        # (body, field named by the 409)
        (
            [
                deployment("b", "success", -DAY, id="d-9"),
                deployment("a", "success", -DAY),
                {**deployment("a", "success", -DAY), "environment": "staging"},
            ],
            "[2].environment",
        ),
        ({**first, "environment": "staging"}, "environment"),
        ({**first, "started_at": ts(-4 * HOUR)}, "started_at"),
        ({**first, "deployment_id": "d-0"}, "deployment_id"),
    ]
    for body, field in cases:
        response = await a.events(body)
        assert response.status == 409, body
        answer = await response.json()
        assert answer["field"] == field, answer
        assert "is stored" in answer["error"], answer
    after = await a.scrape()
    dora = {k: v for k, v in before.items() if k[0].startswith("dora_")}
    # Nothing changed, not even b's deployment that came first in the refused list.
    assert dora == {k: v for k, v in after.items() if k[0].startswith("dora_")}

    # What an incident did not say yet can be added: its resolution, its cause.
    later = incident("a", -HOUR, id="inc-2")
    assert (await a.events(later)).status == 200
    named = await a.events({**later, "deployment_id": "d-0"})
    assert await named.json() == {"stored": 1, "duplicate": False}


def v1_store(path: Path) -> sqlite3.Connection:
    """A store as the agent before schema 2 wrote it (schema 1, its own SQL and triggers)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in split_statements(SCHEMA_1):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute("COMMIT")
    deployments = [
        ("events:d1", "a", "success", NOW - 40 * DAY),
        ("events:d2", "a", "failure", NOW - 20 * DAY),
        ("events:d3", "a", "success", NOW - 10 * DAY),
    ]
    for n, (key, service, status, at) in enumerate(deployments, start=1):
        conn.execute(
            "INSERT INTO deployments (key, service, environment, status, finished_at) "
            "VALUES (?, ?, 'production', ?, ?)",
            (key, service, status, at),
        )
        if status == "success":
            conn.execute(
                "INSERT INTO lead_times VALUES ('a', 'production', ?, ?, ?, ?)",
                (f"c{n}", n, at, 2 * HOUR),
            )
    # Schema 1 tied incidents by time only within 24 hours: this one, 3 days after d3, to none.
    conn.execute(
        "INSERT INTO incidents (key, service, environment, started_at, resolved_at, restored) "
        "VALUES ('events:i1', 'a', 'production', ?, ?, ?)",
        (NOW - 7 * DAY, NOW - 7 * DAY + HOUR, HOUR),
    )
    return conn


def test_a_schema_1_store_migrates_and_keeps_its_counts(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    old = v1_store(path)
    totals = old.execute("SELECT * FROM series_totals").fetchall()
    old.close()

    store = EventStore(path, failure_window=None, clock=lambda: NOW)
    store.open()
    conn = store.reader()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 2
    # The counters of schema 1 carry over (new columns start at 0), except that the
    # re-attributed incident makes d3 a change failure: 1 (d2 failed) becomes 2.
    (migrated,) = conn.execute("SELECT * FROM series_totals").fetchall()
    (before,) = totals
    change_failures = 4
    assert migrated[change_failures] == before[change_failures] + 1 == 2
    expected = (*before[:change_failures], 2, *before[change_failures + 1 :])
    assert migrated[: len(before)] == expected and migrated[len(before) :] == (0, 0, 0)
    assert conn.execute("SELECT count(*), count(reason) FROM lead_times").fetchone() == (2, 0)
    # Today's attribution applies to the old incident: d3 is the last deployment before it.
    assert conn.execute("SELECT deployment_id FROM incidents").fetchone() == (3,)
    # The failed d2 has its recovery (by d3, 10 days later) and the incident its own.
    assert conn.execute("SELECT kind, ref, seconds FROM recoveries ORDER BY kind").fetchall() == [
        ("deployment", 2, 10 * DAY),
        ("incident", 1, 3 * DAY + HOUR),
    ]
    snap = compute(conn, NOW, {"production"}, Levels())
    assert snap.counters["dora_change_failures"][("a", "production")] == 2
    assert snap.gauges["dora_lead_time_median_seconds"][("a", "production", "90d")] == 2 * HOUR

    # Identity is now per service: the same key from service b is another deployment.
    store.write([Batch((Deployment("events:d1", "b", "production", "success", NOW - DAY),))])
    rows = conn.execute("SELECT service, key FROM deployments ORDER BY id").fetchall()
    assert rows[-1] == ("b", "events:d1") and len(rows) == 4
    store.close()
    again = EventStore(path, failure_window=None, clock=lambda: NOW)
    again.open()  # re-opening a schema 2 store changes nothing
    assert again.reader().execute("SELECT count(*) FROM deployments").fetchone() == (4,)


async def test_alertmanager_conflicts_skip_the_alert_not_the_notification(
    agent: AgentFactory,
) -> None:
    a = await agent()

    def alert(fingerprint: str, cause: str) -> dict[str, Any]:
        return {
            "status": "firing",
            "labels": {"service": "shop", "severity": "critical"},
            "annotations": {"root_cause": cause},
            "startsAt": ts(-HOUR),
            "fingerprint": fingerprint,
        }

    assert (await a.alertmanager({"alerts": [alert("fp1", "abc1234")]})).status == 200
    # Alertmanager resends fp1 with another root cause next to a new alert fp2.
    response = await a.alertmanager({"alerts": [alert("fp1", "def5678"), alert("fp2", "x")]})
    assert response.status == 200
    body = await response.json()
    assert body["stored"] == 1 and body["skipped"][0]["field"] == "alerts[0].root_cause"
    scrape = await a.scrape()
    assert value(scrape, "dora_incidents_total", service="shop", environment="production") == 2


async def test_a_polled_conflict_is_skipped_and_fails_the_poll(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", at=int(NOW) - 3 * 86400)
    git(repo, "commit", "-q", "--allow-empty", "-m", "one", at=int(NOW) - 2 * 86400)
    git(repo, "tag", "v1", at=int(NOW) - 2 * 86400)
    store = EventStore(tmp_path / "events.db", clock=lambda: NOW)
    await store.start()
    source = GitSource(type="git", name="repo", path=str(repo), service="tool")
    config = DoraConfig(environments=["production", "qa"])
    assert await GitTagPoller(source, config, store.submit).sync() == 1
    # The source's environment changed: its tags are stored under the old one.
    moved = source.model_copy(update={"environment": "qa"})
    with pytest.raises(SourceError) as err:
        await GitTagPoller(moved, config, store.submit).sync()
    assert err.value.reason == "conflict" and "stored in environment 'production'" in str(err.value)
    await store.stop()
