"""The git tag source on a real repository, the demo generator, and the metric catalogue."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import parse
from exporters import catalogue
from exporters.base import Context
from exporters.dora.config import Levels
from exporters.dora.demo import demo_events
from exporters.dora.exporter import build
from exporters.dora.git import GitTagPoller
from exporters.dora.parse_events import parse_events
from exporters.dora.snapshot import compute
from exporters.dora.store import EventStore

from .conftest import CONFIG, ENV, NOW

DAY = 86400


def git(repo: Path, *args: str, at: int) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": f"@{at} +0000",
        "GIT_COMMITTER_DATE": f"@{at} +0000",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


async def test_git_tags_are_deployments(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    t0 = int(NOW) - 10 * DAY
    git(repo, "init", "-q", "-b", "main", at=t0)
    for n, message in enumerate(["one", "two", 'Revert "two"', "four"], start=1):
        git(repo, "commit", "-q", "--allow-empty", "-m", message, at=t0 + n * DAY)
        if n in (2, 3):
            git(repo, "tag", "-a", f"v0.{n}", "-m", "release", at=t0 + n * DAY + 3600)
    git(repo, "tag", "not-a-release", at=t0 + 5 * DAY)
    config = parse(
        CONFIG.replace(
            "    - {type: events, name: events, token_env: EV_TOKEN}",
            f"    - {{type: events, name: events, token_env: EV_TOKEN}}\n"
            f"    - {{type: git, name: repo, path: '{repo}', service: tool, deploy_tags: 'v*'}}",
        )
    )
    store = EventStore(tmp_path / "events.db", DAY)
    await store.start()
    poller = GitTagPoller(config.dora.sources[-1], config.dora, store.submit)  # type: ignore[arg-type]
    assert await poller.sync() == 2
    assert await poller.sync() == 0  # idempotent
    await store.stop()
    conn = sqlite3.connect(store.path)
    rows = conn.execute(
        "SELECT key, finished_at, rework FROM deployments ORDER BY finished_at"
    ).fetchall()
    assert rows == [
        ("git:repo:v0.2", t0 + 2 * DAY + 3600, 0),
        ("git:repo:v0.3", t0 + 3 * DAY + 3600, 1),
    ]
    lead = sorted(s for (s,) in conn.execute("SELECT seconds FROM lead_times"))
    # v0.2 (t0+2d+1h) ships "one" (t0+1d) and "two" (t0+2d); v0.3 ships only the revert.
    assert lead == [3600.0, 3600.0, DAY + 3600.0]


async def test_git_source_failure_is_visible(tmp_path: Path) -> None:
    config = parse(
        CONFIG.replace(
            "    - {type: events, name: events, token_env: EV_TOKEN}",
            f"    - {{type: git, name: repo, path: '{tmp_path / 'missing'}', service: tool}}",
        )
    )
    exporter = build(config.dora, Context(data_dir=tmp_path, env=ENV))
    poller = next(s for s in exporter.pollers if s.name == "repo")
    from exporters.base import SourceError

    with pytest.raises(SourceError) as err:
        await poller.poll()
    assert err.value.reason == "git"


def test_demo_events_show_every_level_and_an_open_incident(tmp_path: Path) -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    events = demo_events(now)
    assert events == demo_events(now)  # deterministic
    batch = parse_events(events, {"production"})  # valid against the public schema
    store = EventStore(tmp_path / "events.db", DAY)
    store.open()
    store.write([batch])
    snap = compute(store.reader(), now.timestamp(), {"production"}, Levels())
    levels = snap.gauges["dora_performance_level"]
    tiers = {"storefront": 3, "payments": 2, "inventory": 1, "legacy-billing": 0}
    for metric in ("deployment_frequency", "lead_time", "change_failure_ratio", "time_to_restore"):
        seen = {s: v for (s, _, w, m), v in levels.items() if m == metric and w == "90d"}
        assert seen == tiers, metric
    assert any(v >= 1 for v in snap.gauges["dora_incidents_open"].values())
    assert snap.counters["dora_rework_deployments"]


async def test_collectors_expose_exactly_the_catalogue(tmp_path: Path) -> None:
    exporter = build(parse(CONFIG).dora, Context(data_dir=tmp_path, env=ENV))
    names = {m.name for c in exporter.collectors() for m in c.collect()}
    # prometheus_client strips _total from counter family names.
    assert {n if n in catalogue.DORA else f"{n}_total" for n in names} == set(catalogue.DORA)


def test_only_dora_environments_count(tmp_path: Path) -> None:
    from agent.config import parse

    config = parse(
        "version: 1\nproject: p\ndora:\n  environments: [production]\n  sources:\n"
        "    - {type: github, name: gh, repo: a/b, service: s, environments: [staging],\n"
        "       allow_unauthenticated: true}\n"
        "    - {type: git, name: g, path: ., service: s, environment: qa}\n"
    )
    exporter = build(config.dora, Context(data_dir=tmp_path, env=ENV))
    assert exporter.environments == frozenset({"production"})
