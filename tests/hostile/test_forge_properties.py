"""GitHub and GitLab API pollers on arbitrary answers: a poll succeeds or fails with
SourceError (`bad_response` for an answer of the wrong shape), never anything else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.base import Context, SourceError
from exporters.dora.config import DoraConfig, GitHubSource, GitLabSource
from exporters.dora.forge import GitHubPoller, GitLabPoller
from exporters.dora.records import Batch
from exporters.dora.store import Outcome
from tests.hostile.strategies import payloads

SHA = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
OLD = "1f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
WHEN = "2026-11-20T10:00:00Z"
NOW = 1_795_212_000.0  # 2026-11-20 22:00: the templates' deployments are recent, not ahead

GITHUB_COMMIT = {"sha": SHA, "commit": {"author": {"date": WHEN}, "message": "Fix (#12)"}}
GITHUB = {
    "/deployments": [{"id": 7, "sha": SHA, "ref": "hotfix/x", "created_at": WHEN}],
    "/statuses": [{"state": "success", "created_at": WHEN}, {"state": "error", "created_at": WHEN}],
    "/pulls": [{"number": 12}],
    "/commits": [GITHUB_COMMIT],  # a pull request's commits
    "compare": {"commits": [GITHUB_COMMIT]},
    "commit": GITHUB_COMMIT,
}
GITLAB_COMMIT = {"id": SHA, "authored_date": WHEN, "message": "See merge request acme/api!4"}
GITLAB = {
    "/deployments": [
        {
            "id": 3,
            "sha": SHA,
            "ref": "main",
            "status": "success",
            "finished_at": WHEN,
            "deployable": {"finished_at": WHEN},
        }
    ],
    "/merge_requests": [{"iid": 4}],
    "/commits": [GITLAB_COMMIT],
    "compare": {"commits": [GITLAB_COMMIT]},
    "commit": GITLAB_COMMIT,
}


def route(url: str) -> str:
    for suffix in ("/deployments", "/statuses", "/pulls", "/merge_requests", "/commits"):
        if url.endswith(suffix):
            return suffix
    return "compare" if "compare" in url else "commit"


class FakeClient:
    """Answers each API path with a drawn variant of its template."""

    def __init__(self, answers: Mapping[str, Any]):
        self.answers = answers
        self.waits: list[float] = []

    async def get(self, url: str, params: Any = None) -> tuple[Any, Mapping[str, str]]:
        return self.answers[route(url)], {}

    async def pages(
        self, url: str, params: Any = None, key: str | None = None
    ) -> AsyncIterator[list[Any]]:
        data = self.answers[route(url)]
        items = data.get(key) if key and isinstance(data, dict) else data
        if not isinstance(items, list):
            raise SourceError("bad_response", f"GET {url}: expected a list")
        yield items

    async def close(self) -> None:
        pass


class Sink:
    def __init__(self, previous: str | None):
        self.previous = previous
        self.batches: list[Batch] = []

    async def submit(self, batch: Batch) -> Outcome:
        self.batches.append(batch)
        return Outcome(len(batch.records), False)

    async def previous_sha(self, service: str, environment: str, before: float) -> str | None:
        return self.previous

    async def pending_pulls(self, service: str) -> list[tuple[str, str]]:
        return [(SHA, "12")]


def answers(template: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({k: payloads(v) for k, v in template.items()})


def poll(poller: GitHubPoller | GitLabPoller) -> None:
    try:
        asyncio.run(poller.poll())
    except SourceError as exc:
        assert exc.reason == "bad_response", exc


PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


@PROPERTY
@given(answers(GITHUB), st.sampled_from([None, OLD]))
def test_github_poller(drawn: dict[str, Any], previous: str | None) -> None:
    source = GitHubSource(type="github", name="gh", repo="acme/shop", service="shop")
    ctx = Context(Path("."), clock=lambda: NOW, env={})
    poller = GitHubPoller(source, DoraConfig(), ctx, Sink(previous), FakeClient(drawn))  # type: ignore[arg-type]
    poll(poller)


@PROPERTY
@given(answers(GITLAB), st.sampled_from([None, OLD]))
def test_gitlab_poller(drawn: dict[str, Any], previous: str | None) -> None:
    source = GitLabSource(type="gitlab", name="gl", project="acme/api", service="api")
    ctx = Context(Path("."), clock=lambda: NOW, env={})
    poller = GitLabPoller(source, DoraConfig(), ctx, Sink(previous), FakeClient(drawn))  # type: ignore[arg-type]
    poll(poller)


def test_the_templates_are_polled_and_stored() -> None:
    for poller_class, source, template in (
        (GitHubPoller, GitHubSource(type="github", name="gh", repo="a/b", service="s"), GITHUB),
        (GitLabPoller, GitLabSource(type="gitlab", name="gl", project="a/b", service="s"), GITLAB),
    ):
        sink = Sink(OLD)
        ctx = Context(Path("."), clock=lambda: NOW, env={})
        asyncio.run(poller_class(source, DoraConfig(), ctx, sink, FakeClient(template)).poll())  # type: ignore[arg-type]
        assert sink.batches and sink.batches[0].records, poller_class
