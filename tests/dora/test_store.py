"""The store on its own: schema versions, idempotence, attribution in any arrival order."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from exporters.dora.config import Levels
from exporters.dora.records import Batch, Commit, Deployment, Incident, ShippedCommit
from exporters.dora.schema import MIGRATIONS
from exporters.dora.snapshot import compute
from exporters.dora.store import EventStore, StoreError, connect, migrate

DAY = 86400.0
NOW = 1_800_000_000.0
SERIES = ("svc", "production")


def store(tmp_path: Path) -> EventStore:
    s = EventStore(tmp_path / "events.db", failure_window=DAY, clock=lambda: NOW)
    s.open()
    return s


def dep(
    key: str, at: float, status: str = "success", sha: str | None = None, commits=None
) -> Deployment:  # type: ignore[no-untyped-def]
    return Deployment(key, "svc", "production", status, NOW + at, sha, False, commits)  # type: ignore[arg-type]


def snap(s: EventStore):  # type: ignore[no-untyped-def]
    return compute(s.reader(), NOW, {"production"}, Levels())


def test_schema_is_versioned_and_refuses_a_newer_one(tmp_path: Path) -> None:
    s = store(tmp_path)
    conn = s.reader()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()
    writer = connect(tmp_path / "events.db")
    assert migrate(writer) == len(MIGRATIONS)  # re-running is a no-op
    writer.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer"):
        migrate(writer)


def test_late_deployment_takes_over_the_incident(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.write([Batch((dep("a", -10 * 3600), Incident("i", "svc", "production", NOW - 3600)))])
    assert snap(s).counters["dora_change_failures"][SERIES] == 1
    # A deployment that finished later but still before the incident arrives afterwards.
    s.write([Batch((dep("b", -2 * 3600),))])
    conn = s.reader()
    assert conn.execute("SELECT key, incidents FROM deployments ORDER BY key").fetchall() == [
        ("a", 0),
        ("b", 1),
    ]
    assert snap(s).counters["dora_change_failures"][SERIES] == 1


def test_incident_before_its_named_deployment_is_linked_when_it_arrives(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.write([Batch((Incident("i", "svc", "production", NOW - 3600, None, "events:d"),))])
    s.write([Batch((dep("events:d", -40 * DAY),))])  # far outside the window: the id decides
    assert snap(s).counters["dora_change_failures"][SERIES] == 1


def test_status_transitions(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.write([Batch((dep("k", -DAY, "pending", "abc"),))])
    assert SERIES not in snap(s).counters["dora_deployments"]  # pending is not a deployment yet
    s.write([Batch((dep("k", -DAY + 60, "failure"),))])
    s.write([Batch((dep("k", -DAY + 120, "success"),))])  # re-run succeeded
    s.write([Batch((dep("k", -DAY + 180, "failure"),))])  # success is final
    s.write([Batch((dep("k", -DAY + 240, "pending"),))])  # late "created" changes nothing
    conn = s.reader()
    assert conn.execute("SELECT status, finished_at, sha FROM deployments").fetchall() == [
        ("success", NOW - DAY + 120, "abc")
    ]


def test_history_walk_stops_at_the_previous_deployment(tmp_path: Path) -> None:
    s = store(tmp_path)
    chain = [
        Commit("svc", "c1", NOW - 5 * DAY, "c0"),
        Commit("svc", "c2", NOW - 4 * DAY, "c1"),
        Commit("svc", "c3", NOW - 3 * DAY, "c2"),
        Commit("svc", "c4", NOW - 2 * DAY, "c3"),
    ]
    s.write([Batch(tuple(chain))])
    s.write([Batch((dep("one", -4 * DAY + 60, sha="c2"),))])
    s.write([Batch((dep("two", -DAY, sha="c4"),))])
    rows = s.reader().execute("SELECT sha, seconds FROM lead_times ORDER BY sha").fetchall()
    assert rows == [("c1", DAY + 60), ("c2", 60.0), ("c3", 2 * DAY), ("c4", DAY)]


def test_first_shipment_sets_lead_time_even_if_it_arrives_late(tmp_path: Path) -> None:
    s = store(tmp_path)
    c = (ShippedCommit("x", NOW - 10 * DAY),)
    s.write([Batch((dep("late", -DAY, commits=c),))])
    s.write([Batch((dep("early", -5 * DAY, commits=c),))])
    assert s.reader().execute("SELECT seconds FROM lead_times").fetchall() == [(5 * DAY,)]


async def test_concurrent_submits_share_commits(tmp_path: Path) -> None:
    s = EventStore(tmp_path / "events.db", DAY)
    await s.start()
    batches = [Batch((dep(f"d{i}", -DAY),)) for i in range(500)]
    outcomes = await asyncio.gather(*(s.submit(b) for b in batches))
    assert all(o.changed == 1 for o in outcomes)
    assert s.commits < 100  # grouped, not one transaction per event
    await s.stop()
    conn = sqlite3.connect(tmp_path / "events.db")
    assert conn.execute("SELECT count(*) FROM deployments").fetchone()[0] == 500


def test_a_failing_batch_fails_alone(tmp_path: Path) -> None:
    s = store(tmp_path)
    bad = Batch((Deployment("bad", "svc", "production", "weird", NOW, None),))  # type: ignore[arg-type]
    results = s._write_isolated([Batch((dep("good", -DAY),)), bad])
    assert not isinstance(results[0], Exception) and isinstance(results[1], StoreError)
    assert s.reader().execute("SELECT key FROM deployments").fetchall() == [("good",)]


def test_windowed_values_match_brute_force(tmp_path: Path) -> None:
    """Random history, a clock in the middle of a day: every windowed value is exact."""
    import random
    import statistics

    from exporters.dora.snapshot import WINDOWS

    rng = random.Random(3)
    now = NOW + 12345.6  # not on a day boundary, so the partial first day matters
    s = EventStore(tmp_path / "events.db", failure_window=DAY, clock=lambda: now)
    s.open()
    records: list = []  # type: ignore[type-arg]
    for i in range(600):
        at = now - rng.random() * 100 * DAY
        status = "failure" if rng.random() < 0.15 else "success"
        commits = (ShippedCommit(f"c{i}", at - rng.random() * 5 * DAY),)
        records.append(
            Deployment(f"d{i}", "svc", "production", status, at, None, rng.random() < 0.2, commits)
        )  # type: ignore[arg-type]
    for i in range(150):
        start = now - rng.random() * 100 * DAY
        end = start + rng.random() * DAY if rng.random() < 0.9 else None
        records.append(Incident(f"i{i}", "svc", "production", start, end))
    for n in range(0, len(records), 100):
        s.write([Batch(tuple(records[n : n + 100]))])
    snapshot = compute(s.reader(), now, {"production"}, Levels())

    deployments = [r for r in records if isinstance(r, Deployment)]
    incidents = [r for r in records if isinstance(r, Incident)]
    caused: dict[str, int] = {}
    for i in incidents:
        candidates = [
            d
            for d in deployments
            if d.status == "success" and i.started_at - DAY <= d.finished_at <= i.started_at
        ]
        if candidates:
            key = max(candidates, key=lambda d: d.finished_at).key
            caused[key] = caused.get(key, 0) + 1
    for window, length in WINDOWS.items():
        since = now - length
        inside = [d for d in deployments if d.finished_at >= since]
        ok = [d for d in inside if d.status == "success"]
        cf = [d for d in inside if d.status == "failure" or d.key in caused]
        key = ("svc", "production", window)
        g = snapshot.gauges
        assert g["dora_deployment_frequency_per_day"][key] == pytest.approx(
            len(ok) / (length / DAY)
        )
        assert g["dora_change_failure_ratio"][key] == pytest.approx(len(cf) / len(inside))
        assert g["dora_rework_ratio"][key] == pytest.approx(
            sum(d.rework for d in inside) / len(inside)
        )
        lead = [d.finished_at - d.commits[0].committed_at for d in ok]  # type: ignore[index]
        assert g["dora_lead_time_median_seconds"][key] == pytest.approx(statistics.median(lead))
        restored = [
            i.resolved_at - i.started_at
            for i in incidents
            if i.resolved_at and i.resolved_at >= since
        ]
        assert g["dora_time_to_restore_median_seconds"][key] == pytest.approx(
            statistics.median(restored)
        )
    totals = snapshot.counters
    assert totals["dora_change_failures"][("svc", "production")] == len(
        [d for d in deployments if d.status == "failure" or d.key in caused]
    )
    hist = snapshot.histograms["dora_time_to_restore_seconds"][("svc", "production")]
    assert hist.count == sum(1 for i in incidents if i.resolved_at)
