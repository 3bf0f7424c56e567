"""Pollers drop items dated outside 2000-01-01 .. now + 1 day, count them, keep the rest."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from prometheus_client.core import Metric

from agent.config import parse
from exporters.base import Context
from exporters.dora.exporter import DoraExporter, build

from .fakes import FakeCommit, FakeDeployment, Forge, GitHubFake, GitLabFake

NOW = 1_750_000_000.0
DAY = 86400.0
PAST = 600_000_000.0  # 1989: before any sane commit
FUTURE = NOW + 400 * DAY


def sha(n: int) -> str:
    return f"{n:040x}"


def forge() -> Forge:
    """Two good deployments; a 1989 commit between them; a third deployment dated 400 days ahead."""
    commits = [
        FakeCommit(sha(1), NOW - 5 * DAY, "one"),
        FakeCommit(sha(2), PAST, "from a broken clock"),
        FakeCommit(sha(3), NOW - 3 * DAY, "three"),
    ]
    deployments = [
        FakeDeployment(1, sha(1), "production", NOW - 4 * DAY, [("success", NOW - 4 * DAY)]),
        FakeDeployment(2, sha(3), "production", NOW - 2 * DAY, [("success", NOW - 2 * DAY)]),
        FakeDeployment(3, sha(3), "production", FUTURE, [("success", FUTURE)]),
    ]
    return Forge(commits, deployments)


def dropped(exporter: DoraExporter) -> dict[tuple[str, str], float]:
    metrics: list[Metric] = [m for c in exporter.collectors() for m in c.collect()]
    family = next(m for m in metrics if m.name == "opslens_source_events_dropped")
    return {(s.labels["source"], s.labels["reason"]): s.value for s in family.samples}


@pytest.mark.parametrize("kind", ["github", "gitlab"])
async def test_forge_pollers_drop_and_count_out_of_range_items(tmp_path: Path, kind: str) -> None:
    fake_type = GitHubFake if kind == "github" else GitLabFake
    with fake_type("acme/api", forge()) as fake:
        url = f"api_url: '{fake.url}'" if kind == "github" else f"url: '{fake.url}'"
        where = "repo: acme/api" if kind == "github" else "project: acme/api"
        config = parse(
            "version: 1\nproject: t\ndora:\n  sources:\n"
            f"    - {{type: {kind}, name: src, {where}, service: api, token_env: TOKEN, {url}}}\n"
        )
        token = "gh-token" if kind == "github" else "gl-token"
        ctx = Context(data_dir=tmp_path, clock=lambda: NOW, env={"TOKEN": token})
        exporter = build(config.dora, ctx)
        await exporter.start()
        try:
            assert dropped(exporter) == {("src", "out_of_range"): 0}
            poller = exporter._source_pollers[0]
            assert await poller.sync(NOW - 30 * DAY) == 2  # the future one is not found
        finally:
            await exporter.stop()
    # The future deployment (GitHub: by created_at, GitLab: by its finish) and the 1989 commit.
    assert dropped(exporter) == {("src", "out_of_range"): 2}
    conn = sqlite3.connect(tmp_path / "dora" / "events.db")
    finished = [t for (t,) in conn.execute("SELECT finished_at FROM deployments ORDER BY 1")]
    shipped = {s for (s,) in conn.execute("SELECT sha FROM lead_times")}
    conn.close()
    assert finished == [NOW - 4 * DAY, NOW - 2 * DAY]
    assert sha(2) not in shipped and sha(3) in shipped


def git(repo: Path, *args: str, at: float) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": f"@{int(at)} +0000",
        "GIT_COMMITTER_DATE": f"@{int(at)} +0000",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


async def test_git_poller_drops_and_counts_out_of_range_tags_and_commits(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", at=NOW - 9 * DAY)
    git(repo, "commit", "-q", "--allow-empty", "-m", "epoch", at=PAST)
    git(repo, "commit", "-q", "--allow-empty", "-m", "good", at=NOW - 8 * DAY)
    git(repo, "tag", "-a", "v1", "-m", "release", at=NOW - 7 * DAY)
    git(repo, "commit", "-q", "--allow-empty", "-m", "later", at=NOW - 6 * DAY)
    git(repo, "tag", "-a", "v2", "-m", "release", at=FUTURE)
    config = parse(
        "version: 1\nproject: t\ndora:\n  sources:\n"
        f"    - {{type: git, name: repo, path: '{repo}', service: tool}}\n"
    )
    exporter = build(config.dora, Context(data_dir=tmp_path, clock=lambda: NOW))
    await exporter.start()
    try:
        poller = exporter._source_pollers[0]
        await poller.poll()
        await poller.poll()  # a dropped tag is not read again
    finally:
        await exporter.stop()
    assert dropped(exporter) == {("repo", "out_of_range"): 2}  # tag v2, commit "epoch"
    conn = sqlite3.connect(tmp_path / "dora" / "events.db")
    keys = [k for (k,) in conn.execute("SELECT key FROM deployments")]
    commits = conn.execute("SELECT count(*) FROM lead_times").fetchone()[0]
    conn.close()
    assert keys == ["git:repo:v1"]
    assert commits == 1  # "good" only: "epoch" was dropped, not shipped
