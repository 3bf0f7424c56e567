"""Which deployment caused an incident: named, else by root-cause commit, else by time.

Precedence, as Four Keys and DevLake do it: an explicit `deployment_id`; else a commit SHA
the incident names (Four Keys' `root cause: <sha>`), tied to the deployment that shipped
it; else the last successful deployment of the service and environment before the
incident started, however old, unless `failure_window` caps it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exporters.dora.config import Levels
from exporters.dora.records import Batch, Deployment, Incident, ShippedCommit
from exporters.dora.snapshot import compute
from exporters.dora.store import EventStore

from .conftest import AgentFactory, ts, value

NOW = 1_800_000_000.0
DAY = 86400.0
HOUR = 3600.0
FIX = "4f8cdefc9a9d53af16dd482c61623312eb9e9b5e"


def store(tmp_path: Path, window: float | None = None) -> EventStore:
    s = EventStore(tmp_path / "events.db", failure_window=window, clock=lambda: NOW)
    s.open()
    return s


def dep(key: str, at: float, shas: tuple[str, ...] = (), sha: str | None = None) -> Deployment:
    commits = tuple(ShippedCommit(s, NOW + at - HOUR) for s in shas)
    return Deployment(key, "svc", "production", "success", NOW + at, sha, False, commits)


def inc(key: str, at: float, deployment: str | None = None, root: str | None = None) -> Incident:
    return Incident(key, "svc", "production", NOW + at, None, deployment, root)


def causes(s: EventStore) -> dict[str, str | None]:
    rows = s.reader().execute(
        "SELECT i.key, d.key FROM incidents i LEFT JOIN deployments d ON d.id = i.deployment_id"
    )
    return dict(rows.fetchall())


HISTORY = [
    dep("d1", -30 * DAY, ("c1",)),
    dep("d2", -10 * DAY, (FIX, "c2")),
    dep("d3", -2 * DAY, ("c3",), sha="c3"),
]


def test_a_named_deployment_comes_first(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.write([Batch(tuple(HISTORY))])
    s.write([Batch((inc("i", -DAY, deployment="d1", root=FIX),))])
    assert causes(s) == {"i": "d1"}


def test_a_root_cause_ties_to_the_deployment_that_shipped_the_commit(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.write([Batch(tuple(HISTORY))])
    # d3 is the last deployment before the incident, but the commit named shipped in d2;
    # an abbreviated SHA (at least 7 hex digits) names it too.
    s.write([Batch((inc("full", -DAY, root=FIX), inc("short", -DAY, root=FIX[:7].upper())))])
    assert causes(s) == {"full": "d2", "short": "d2"}
    # A deployment's own SHA counts as shipped even without a commit list.
    s.write([Batch((inc("own", -HOUR, root="c3"),))])
    assert causes(s)["own"] == "d3"


def test_a_root_cause_waits_for_its_deployment_and_never_falls_back_to_time(
    tmp_path: Path,
) -> None:
    s = store(tmp_path)
    s.write([Batch((inc("early", -DAY, root=FIX),))])
    s.write([Batch((dep("d1", -30 * DAY, ("c1",)),))])
    assert causes(s) == {"early": None}  # not tied by time to d1
    snap = compute(s.reader(), NOW, {"production"}, Levels())
    assert snap.gauges["dora_incidents_unattributed"][("svc", "production", "7d")] == 1
    s.write([Batch((dep("d2", -10 * DAY, (FIX,)),))])
    assert causes(s) == {"early": "d2"}
    # A backfill that finds an earlier deployment of the same commit moves the cause.
    s.write([Batch((dep("d0", -20 * DAY, (FIX,)),))])
    assert causes(s) == {"early": "d0"}


def test_by_default_the_last_deployment_before_however_old(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.write([Batch((dep("d1", -40 * DAY), inc("i", -3 * DAY)))])
    assert causes(s) == {"i": "d1"}  # 37 days: no time limit by default
    # A later deployment still before the incident takes over, whatever the arrival order.
    s.write([Batch((dep("d2", -5 * DAY),))])
    assert causes(s) == {"i": "d2"}
    # One after the incident does not.
    s.write([Batch((dep("d3", -DAY),))])
    assert causes(s) == {"i": "d2"}


def test_failure_window_caps_time_attribution(tmp_path: Path) -> None:
    s = store(tmp_path, window=DAY)
    s.write([Batch((dep("d1", -10 * DAY), inc("late", -8 * DAY), inc("soon", -10 * DAY + HOUR)))])
    assert causes(s) == {"late": None, "soon": "d1"}
    snap = compute(s.reader(), NOW, {"production"}, Levels())
    assert snap.gauges["dora_incidents_unattributed"][("svc", "production", "30d")] == 1
    assert snap.gauges["dora_incidents_unattributed"][("svc", "production", "7d")] == 0


@pytest.mark.parametrize("how", ["generic", "alertmanager"])
async def test_root_cause_over_http(agent: AgentFactory, how: str) -> None:
    a = await agent()
    deployments = [
        {
            "kind": "deployment",
            "id": n,
            "service": "shop",
            "environment": "production",
            "status": "success",
            "finished_at": ts(at),
            "commits": [{"sha": commit, "committed_at": ts(at - HOUR)}],
        }
        for n, at, commit in (("d1", -10 * DAY, "c1"), ("d2", -5 * DAY, FIX), ("d3", -DAY, "c3"))
    ]
    assert (await a.events(deployments)).status == 200
    if how == "generic":
        body = {
            "kind": "incident",
            "id": "i1",
            "service": "shop",
            "environment": "production",
            "started_at": ts(-HOUR),
            "root_cause": FIX[:10],
        }
        assert (await a.events(body)).status == 200
    else:
        alert = {
            "status": "firing",
            "labels": {"service": "shop", "severity": "critical"},
            "annotations": {"description": f"Checkout 500s. Root cause: {FIX[:12]}"},
            "startsAt": ts(-HOUR),
            "fingerprint": "fp1",
        }
        assert (await a.alertmanager({"alerts": [alert]})).status == 200
    scrape = await a.scrape()
    labels = {"service": "shop", "environment": "production"}
    # d2 shipped the commit: it is the change failure, not d3 (the last one before).
    for window in ("7d", "30d"):
        assert value(scrape, "dora_change_failure_ratio", window=window, **labels) == (
            1 / 2 if window == "7d" else 1 / 3
        )
    assert value(scrape, "dora_incidents_unattributed", window="7d", **labels) == 0
