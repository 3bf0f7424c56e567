"""Backfill and pollers against local GitHub/GitLab fakes: pagination, rate limits, no loss."""

from __future__ import annotations

import io
import sqlite3
import time
from pathlib import Path

import pytest

from agent.cli import main
from agent.config import parse
from exporters.base import Context
from exporters.dora.backfill import backfill

from .fakes import FakeCommit, FakeDeployment, Forge, GitHubFake, GitLabFake, pairs

NOW = 1_750_000_000.0  # in the past: one test runs on the wall clock
DAY = 86400.0
HOUR = 3600.0


def sha(n: int) -> str:
    return f"{n:040x}"


def forge() -> Forge:
    """c1..c8 on main; c2 came from PR 3 (first commit c0 -30d), c3 is a squash of PR 5."""
    commits = [FakeCommit(sha(0), NOW - 30 * DAY, "wip")] + [
        FakeCommit(sha(n), NOW - (25 - 2 * n) * DAY, f"change {n}") for n in range(1, 9)
    ]
    commits[3].message = "Add search (#5)"
    commits.insert(1, FakeCommit(sha(50), NOW - 28 * DAY, "search: first step"))
    deployments = [
        FakeDeployment(
            1,
            sha(2),
            "production",
            NOW - 20 * DAY - 600,
            [("pending", NOW - 20 * DAY - 300), ("success", NOW - 20 * DAY)],
        ),
        FakeDeployment(
            2,
            sha(4),
            "production",
            NOW - 15 * DAY - 600,
            [("in_progress", NOW - 15 * DAY - 60), ("failure", NOW - 15 * DAY)],
        ),
        FakeDeployment(
            3,
            sha(5),
            "production",
            NOW - 10 * DAY - 600,
            [
                ("success", NOW - 10 * DAY),
                ("success", NOW - 10 * DAY + 900),
                ("inactive", NOW - 2 * DAY),
            ],
        ),
        FakeDeployment(
            4,
            sha(8),
            "production",
            NOW - 2 * DAY - 600,
            [("success", NOW - 2 * DAY)],
            ref="hotfix/login",
        ),
        FakeDeployment(5, sha(8), "staging", NOW - 3 * DAY, [("success", NOW - 3 * DAY)]),
        FakeDeployment(0, sha(1), "production", NOW - 100 * DAY, [("success", NOW - 100 * DAY)]),
    ]
    return Forge(
        commits, deployments, pulls={3: [sha(0), sha(2)], 5: [sha(50)]}, pull_of={sha(2): 3}
    )


# Lead time per commit: D1 ships c2 (PR fallback → c0 at -30d); D3 compares c2...c5:
# c3 squash (#5 → its first commit c50, -28d), c4 (-17d), c5 (-15d); D4 compares c5...c8.
# c50 itself only lives on the PR branch (it sits before c1 here), so it is never shipped.
EXPECTED_LEAD = {
    sha(2): 10 * DAY,
    sha(3): 18 * DAY,
    sha(4): 7 * DAY,
    sha(5): 5 * DAY,
    sha(6): 11 * DAY,
    sha(7): 9 * DAY,
    sha(8): 7 * DAY,
}


def config_text(kind: str, url: str) -> str:
    if kind == "github":
        source = (
            "{type: github, name: gh, repo: acme/api, service: api, token_env: GH_TOKEN, "
            f"api_url: '{url}'}}"
        )
    else:
        source = (
            "{type: gitlab, name: gl, project: acme/web, service: api, token_env: GL_TOKEN, "
            f"url: '{url}'}}"
        )
    return f"version: 1\nproject: t\ndora:\n  sources:\n    - {source}\n"


def rows(data_dir: Path) -> tuple[list[tuple], dict[str, float]]:  # type: ignore[type-arg]
    conn = sqlite3.connect(data_dir / "dora" / "events.db")
    deployments = conn.execute(
        "SELECT key, environment, status, finished_at, rework FROM deployments ORDER BY finished_at"
    ).fetchall()
    lead = dict(conn.execute("SELECT sha, seconds FROM lead_times").fetchall())
    return deployments, lead


EXPECTED_DEPLOYMENTS = [
    ("{p}:1", "production", "success", NOW - 20 * DAY, 0),
    ("{p}:2", "production", "failure", NOW - 15 * DAY, 0),
    ("{p}:3", "production", "success", NOW - 10 * DAY, 0),
    ("{p}:4", "production", "success", NOW - 2 * DAY, 1),  # hotfix/ branch → rework
]


async def test_github_backfill_pages_waits_and_loses_nothing(tmp_path: Path) -> None:
    with GitHubFake("acme/api", forge()) as fake:
        fake.throttle = {3: {"Retry-After": "1"}, 9: {"Retry-After": "1"}}  # secondary rate limit
        config = parse(config_text("github", fake.url))
        ctx = Context(data_dir=tmp_path, clock=lambda: NOW, env={"GH_TOKEN": "gh-token"})
        out = io.StringIO()
        assert await backfill(config.dora, ctx, 90 * DAY, out) == 0
        assert "4 deployments, waited 2s for rate limits" in out.getvalue()
        deployments, lead = rows(tmp_path)
        assert deployments == [
            (k.format(p="github:acme/api"), *rest) for k, *rest in EXPECTED_DEPLOYMENTS
        ]
        assert lead == EXPECTED_LEAD
        # Waited as told: each retry came at least Retry-After after the 403.
        throttled = [(a, b) for a, b in pairs(fake.hits) if a.status == 403]
        assert len(throttled) == 2 and all(
            b.at - a.at >= 1.0 and b.path == a.path for a, b in throttled
        )
        # Pagination was followed (page size 3): the deployments list needed two pages.
        assert sum(h.path.endswith("/deployments") for h in fake.hits) == 2

        # Backfilling again adds nothing: keys are the API's ids.
        assert await backfill(config.dora, ctx, 90 * DAY, io.StringIO()) == 0
        assert rows(tmp_path) == (deployments, lead)


async def test_primary_rate_limit_waits_for_the_reset(tmp_path: Path) -> None:
    with GitHubFake("acme/api", forge()) as fake:
        # The second response says 0 left until a reset 2s away: the client must pause
        # instead of calling (the fake answers 403 to any call before the reset).
        fake.remaining = 2
        fake.reset_at = int(time.time()) + 2
        config = parse(config_text("github", fake.url))
        ctx = Context(data_dir=tmp_path, clock=time.time, env={"GH_TOKEN": "gh-token"})
        out = io.StringIO()
        assert await backfill(config.dora, ctx, 3650 * DAY, out) == 0
        assert "waited" in out.getvalue()
        assert all(h.status == 200 for h in fake.hits)
        assert len(rows(tmp_path)[0]) == 5  # all five production deployments, none lost


async def test_bad_token_fails_visibly(tmp_path: Path) -> None:
    with GitHubFake("acme/api", forge()) as fake:
        config = parse(config_text("github", fake.url))
        ctx = Context(data_dir=tmp_path, clock=lambda: NOW, env={"GH_TOKEN": "wrong"})
        out = io.StringIO()
        assert await backfill(config.dora, ctx, 90 * DAY, out) == 1
        assert "failed (auth)" in out.getvalue()


async def test_gitlab_backfill_with_429(tmp_path: Path) -> None:
    with GitLabFake("acme/web", forge()) as fake:
        fake.throttle = {2: {"Retry-After": "1"}}
        config = parse(config_text("gitlab", fake.url))
        ctx = Context(data_dir=tmp_path, clock=lambda: NOW, env={"GL_TOKEN": "gl-token"})
        out = io.StringIO()
        assert await backfill(config.dora, ctx, 90 * DAY, out) == 0, out.getvalue()
        deployments, lead = rows(tmp_path)
        assert deployments == [
            (k.format(p="gitlab:acme/web"), *rest) for k, *rest in EXPECTED_DEPLOYMENTS
        ]
        # GitLab names merge requests in merge commit messages, not "(#5)": c3 keeps its own date.
        assert lead == {**EXPECTED_LEAD, sha(3): 9 * DAY}  # committed -19d, shipped -10d
        assert any(h.status == 429 for h in fake.hits)


def test_cli_backfill_exit_code_and_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with GitHubFake("acme/api", forge()) as fake:
        cfg = tmp_path / "opslens.yaml"
        cfg.write_text(config_text("github", fake.url))
        monkeypatch.setenv("GH_TOKEN", "gh-token")
        code = main(
            [
                "backfill",
                "dora",
                "--since",
                "3650d",
                "-c",
                str(cfg),
                "--data-dir",
                str(tmp_path / "d"),
            ]
        )
        assert code == 0
        assert "gh: 5 deployments" in capsys.readouterr().err
