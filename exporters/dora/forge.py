"""GitHub and GitLab pollers: deployments, their statuses, and the commits they shipped.

A deployment's commits are those between the previous deployed SHA (from this poll, else
from the store) and its own (compare API), so several pushes between deploys all count.
Each commit goes to the store as a fact: its author time and, when its message names a
pull request (`Title (#12)`, `Merge pull request #12 from …`) or merge request
(`See merge request group/project!12`), that request and its first commit's time. The
store dates it by the one lead-time rule (`records.change_start`), merged with whatever
webhooks told it. A deployment with no previous one falls back to the PR/MR that
introduced its SHA. After each sync the poller records the span it covered (first-deployment
backlog rule) and completes merge commits that webhooks left without a start time.
The same pollers run in the agent (recent window) and in `opslens backfill dora`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from exporters.base import Context, SourceError

from .api import ApiClient
from .config import DoraConfig, GitHubSource, GitLabSource
from .parse_github import deployment_key as github_key
from .parse_gitlab import deployment_key as gitlab_key
from .records import (
    HOTFIX_REF,
    OUT_OF_RANGE,
    BadInput,
    Batch,
    Commit,
    Coverage,
    Deployment,
    OutOfRange,
    Record,
    in_range,
    is_revert,
    iso,
    parse_time,
)
from .store import Sink

log = logging.getLogger("opslens.dora.forge")

Progress = Callable[[int, int], None]

GITHUB_PR = re.compile(r"\(#(\d+)\)\s*$|^Merge pull request #(\d+) from ")
GITLAB_MR = re.compile(r"See merge request [\w./-]*!(\d+)")
OVERLAP = 3600.0  # re-read the last hour on each poll: statuses can arrive late
FIRST_LOOKBACK = 86400.0
BATCH_SIZE = 50


@dataclass(frozen=True)
class Found:
    """A finished deployment as the API reports it."""

    id: str
    environment: str
    status: str
    finished_at: float
    sha: str
    ref: str


@contextlib.contextmanager
def _response_shape() -> Iterator[None]:
    """An API answer of a shape the forge does not document fails the poll as `bad_response`."""
    try:
        yield
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise SourceError("bad_response", f"unexpected API response ({detail})") from None


def _time(value: Any, where: str) -> float:
    """A timestamp the API sent; OutOfRange passes through for the caller to drop and count."""
    try:
        return parse_time(value, where)
    except OutOfRange:
        raise
    except BadInput as exc:
        raise SourceError("bad_response", str(exc)) from None


class ForgePoller:
    """Shared flow: find deployments since a time, resolve their commits, store them."""

    exporter = "dora"

    def __init__(
        self,
        source: GitHubSource | GitLabSource,
        dora: DoraConfig,
        ctx: Context,
        sink: Sink,
        client: ApiClient | None = None,
    ):
        self.source = source
        self.name = source.name
        self.service = source.service
        self.environments = source.environments or dora.environments
        self._interval = dora.poll_interval.seconds_f
        self._ctx = ctx
        self._sink = sink
        self._client = client
        self._last_success: float | None = None
        # Items the API sent that cannot be used, by reason, since the agent started.
        self.dropped: Counter[str] = Counter()

    @property
    def interval(self) -> float:
        return self._interval

    def dated(self, value: Any, where: str, what: str) -> float | None:
        """A timestamp, or None (the item is dropped, counted and logged) when out of range."""
        try:
            return in_range(_time(value, where), where, self._ctx.clock())
        except OutOfRange as exc:
            self.dropped[OUT_OF_RANGE] += 1
            log.warning("dora %s: dropped %s: %s", self.name, what, exc)
            return None

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            token = self._ctx.secret(self.source.token_env)
            if not token:
                raise SourceError("auth", f"{self.source.token_env} is not set")
            self._client = self.make_client(token)
        return self._client

    def make_client(self, token: str) -> ApiClient:
        raise NotImplementedError

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def poll(self) -> None:
        now = self._ctx.clock()
        since = (self._last_success or now - FIRST_LOOKBACK + OVERLAP) - OVERLAP
        with _response_shape():
            await self.sync(since)
            await self.complete()
        self._last_success = now

    async def backfill(self, since: float, progress: Progress | None = None) -> str:
        """Sync history since `since`; say how much was found and how long limits held us."""
        with _response_shape():
            count = await self.sync(since, progress)
            await self.complete()
        waited = sum(self.client.waits)
        return f"{count} deployments" + (
            f", waited {waited:.0f}s for rate limits" if waited else ""
        )

    def deployments(self, environment: str, since: float) -> AsyncIterator[Found]:
        raise NotImplementedError

    async def commits(self, previous: str | None, sha: str) -> tuple[Commit, ...]:
        raise NotImplementedError

    async def pull_start(self, number: int) -> float | None:
        """Author time of a request's first commit; None when it has none."""
        raise NotImplementedError

    def key(self, found: Found) -> str:
        raise NotImplementedError

    def fact(self, sha: str, authored: float, message: str, pull: int | None) -> Commit:
        """A commit as the API shows it, tied to the request its message names."""
        return Commit(
            self.service,
            sha,
            authored,
            None,
            is_revert(message),
            None if pull is None else str(pull),
        )

    async def complete(self) -> int:
        """Give merge commits that webhooks stored without a start time their request's."""
        facts = []
        for sha, pull in await self._sink.pending_pulls(self.service):
            if not pull.isdigit():
                continue
            start = await self.pull_start(int(pull))
            if start is not None:
                facts.append(Commit(self.service, sha, None, pull=pull, started_at=start))
        if facts:
            await self._sink.submit(Batch(tuple(facts), strict=False))
        return len(facts)

    async def sync(self, since: float, progress: Progress | None = None) -> int:
        """Store every deployment finished since `since`; return how many were found."""
        found = [f for env in self.environments async for f in self.deployments(env, since)]
        found.sort(key=lambda f: f.finished_at)
        previous: dict[str, str | None] = {}
        records: list[Record] = []
        for done, f in enumerate(found, start=1):
            commits: tuple[Commit, ...] | None = None
            if f.status == "success":
                if f.environment not in previous:
                    previous[f.environment] = await self._sink.previous_sha(
                        self.service, f.environment, f.finished_at
                    )
                commits = await self.commits(previous[f.environment], f.sha)
                previous[f.environment] = f.sha
            rework = bool(HOTFIX_REF.search(f.ref)) or any(c.rework for c in commits or ())
            records.append(
                Deployment(
                    self.key(f),
                    self.service,
                    f.environment,
                    f.status,  # type: ignore[arg-type]
                    f.finished_at,
                    f.sha,
                    rework,
                    commits,
                )
            )
            if len(records) >= BATCH_SIZE:
                await self._store(records)
                records = []
            if progress:
                progress(done, len(found))
        # Every deployment finished since `since` is now stored: history covers that span.
        records.extend(Coverage(self.service, env, since) for env in self.environments)
        await self._store(records)
        if progress and not found:
            progress(0, 0)
        return len(found)

    async def _store(self, records: list[Record]) -> None:
        outcome = await self._sink.submit(Batch(tuple(records), strict=False))
        if outcome.skipped:
            first = outcome.skipped[0]
            raise SourceError(
                "conflict", f"{len(outcome.skipped)} deployments skipped: {first.message}"
            )


class GitHubPoller(ForgePoller):
    """GitHub REST: deployments + statuses, compare, PR commits."""

    source: GitHubSource

    def make_client(self, token: str) -> ApiClient:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "opslens",
        }
        return ApiClient(self.source.api_url, headers, clock=self._ctx.clock)

    @property
    def repo(self) -> str:
        return f"/repos/{self.source.repo}"

    def key(self, found: Found) -> str:
        return github_key(self.source, found.id)

    async def deployments(self, environment: str, since: float) -> AsyncIterator[Found]:
        params = {"environment": environment, "per_page": 100}
        async for page in self.client.pages(f"{self.repo}/deployments", params):
            older = False
            for d in page:  # newest first
                created = self.dated(d.get("created_at"), "deployment.created_at", "a deployment")
                if created is None:
                    continue
                if created < since:
                    older = True
                    continue
                status = await self._status(d["id"])
                if status is not None:
                    state, at = status
                    yield Found(
                        str(d["id"]), environment, state, at, str(d["sha"]), str(d.get("ref") or "")
                    )
            if older:
                return

    async def _status(self, deployment_id: Any) -> tuple[str, float] | None:
        """First success wins (several success statuses count once); else the last failure."""
        success: float | None = None
        failure: float | None = None
        url = f"{self.repo}/deployments/{deployment_id}/statuses"
        async for page in self.client.pages(url, {"per_page": 100}):
            for s in page:
                at = self.dated(s.get("created_at"), "status.created_at", "a deployment status")
                if at is None:
                    continue
                if s.get("state") == "success":
                    success = at if success is None else min(success, at)
                elif s.get("state") in ("failure", "error"):
                    failure = at if failure is None else max(failure, at)
        if success is not None:
            return "success", success
        if failure is not None:
            return "failure", failure
        return None

    async def commits(self, previous: str | None, sha: str) -> tuple[Commit, ...]:
        if previous == sha:
            return ()
        if previous is None:
            data, _ = await self.client.get(f"{self.repo}/commits/{sha}")
            pulls, _ = await self.client.get(f"{self.repo}/commits/{sha}/pulls")
            number = int(pulls[0]["number"]) if isinstance(pulls, list) and pulls else None
            fact = await self._fact(data, number)
            return () if fact is None else (fact,)
        out = []
        url = f"{self.repo}/compare/{previous}...{sha}"
        async for page in self.client.pages(url, {"per_page": 100}, key="commits"):
            for c in page:
                subject = str(c["commit"].get("message") or "").split("\n", 1)[0]
                match = GITHUB_PR.search(subject)
                number = int(match.group(1) or match.group(2)) if match else None
                if (fact := await self._fact(c, number)) is not None:
                    out.append(fact)
        return tuple(out)

    async def _fact(self, c: dict[str, Any], number: int | None) -> Commit | None:
        authored = self.dated(c["commit"]["author"]["date"], "commit.author.date", "a commit")
        if authored is None:
            return None
        fact = self.fact(str(c["sha"]), authored, str(c["commit"].get("message") or ""), number)
        if number is None:
            return fact
        return replace(fact, started_at=await self.pull_start(number))

    async def pull_start(self, number: int) -> float | None:
        """Author date of a pull request's first commit (GitHub lists them oldest first)."""
        dates: list[float] = []
        async for page in self.client.pages(
            f"{self.repo}/pulls/{number}/commits", {"per_page": 100}
        ):
            for c in page:
                at = self.dated(c["commit"]["author"]["date"], "commit.author.date", "a commit")
                if at is not None:
                    dates.append(at)
        return min(dates) if dates else None


class GitLabPoller(ForgePoller):
    """GitLab REST v4: deployments, repository compare, merge request commits."""

    source: GitLabSource

    def make_client(self, token: str) -> ApiClient:
        headers = {"PRIVATE-TOKEN": token, "User-Agent": "opslens"}
        return ApiClient(f"{self.source.url.rstrip('/')}/api/v4", headers, clock=self._ctx.clock)

    @property
    def project(self) -> str:
        return "/projects/" + urllib.parse.quote(str(self.source.project), safe="")

    def key(self, found: Found) -> str:
        return gitlab_key(self.source, found.id)

    async def deployments(self, environment: str, since: float) -> AsyncIterator[Found]:
        params = {
            "environment": environment,
            "updated_after": iso(since),
            "order_by": "updated_at",
            "sort": "asc",
            "per_page": 100,
        }
        async for page in self.client.pages(f"{self.project}/deployments", params):
            for d in page:
                status = {"success": "success", "failed": "failure"}.get(str(d.get("status")))
                if status is None:
                    continue
                deployable = d.get("deployable") if isinstance(d.get("deployable"), dict) else {}
                finished = (
                    d.get("finished_at") or deployable.get("finished_at") or d.get("updated_at")
                )
                at = self.dated(finished, "deployment.finished_at", "a deployment")
                if at is None:
                    continue
                yield Found(
                    str(d["id"]),
                    environment,
                    status,
                    at,
                    str(d["sha"]),
                    str(d.get("ref") or ""),
                )

    async def commits(self, previous: str | None, sha: str) -> tuple[Commit, ...]:
        if previous == sha:
            return ()
        if previous is None:
            c, _ = await self.client.get(f"{self.project}/repository/commits/{sha}")
            mrs, _ = await self.client.get(
                f"{self.project}/repository/commits/{sha}/merge_requests"
            )
            iid = int(mrs[0]["iid"]) if isinstance(mrs, list) and mrs else None
            fact = await self._fact(c, iid)
            return () if fact is None else (fact,)
        data, _ = await self.client.get(
            f"{self.project}/repository/compare", {"from": previous, "to": sha}
        )
        out = []
        for c in data.get("commits") or []:
            match = GITLAB_MR.search(str(c.get("message") or ""))
            if (fact := await self._fact(c, int(match.group(1)) if match else None)) is not None:
                out.append(fact)
        return tuple(out)

    async def _fact(self, c: dict[str, Any], iid: int | None) -> Commit | None:
        authored = self._authored(c)
        if authored is None:
            return None
        fact = self.fact(str(c["id"]), authored, str(c.get("message") or ""), iid)
        if iid is None:
            return fact
        return replace(fact, started_at=await self.pull_start(iid))

    async def pull_start(self, number: int) -> float | None:
        """Author date of a merge request's first commit (GitLab lists newest first)."""
        dates: list[float] = []
        async for page in self.client.pages(
            f"{self.project}/merge_requests/{number}/commits", {"per_page": 100}
        ):
            dates.extend(at for c in page if (at := self._authored(c)) is not None)
        return min(dates) if dates else None

    def _authored(self, commit: dict[str, Any]) -> float | None:
        value = commit.get("authored_date") or commit.get("created_at")
        return self.dated(value, "commit.authored_date", "a commit")


__all__ = ["GitHubPoller", "GitLabPoller"]
