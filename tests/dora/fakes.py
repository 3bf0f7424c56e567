"""Local fakes of the GitHub and GitLab REST APIs, served by aiohttp on 127.0.0.1.

They honour pagination (`Link` headers with rel="next"/"last", `per_page` capped at
`page_size`), answer with rate-limit headers (`X-RateLimit-*` / `RateLimit-*`), throttle
chosen requests with 403/429 + `Retry-After` like GitHub's secondary limit, require the
token, and serve the documented response shapes (fields OpsLens reads, plus a few more).
Each runs in its own thread and loop, so sync CLI tests and async tests can both use it.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from yarl import URL


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeCommit:
    sha: str
    authored: float
    message: str


@dataclass
class FakeDeployment:
    id: int
    sha: str
    environment: str
    created: float
    statuses: list[tuple[str, float]]  # (state, time), oldest first
    ref: str = "main"


@dataclass
class Hit:
    at: float
    path: str
    status: int


@dataclass
class Forge:
    """The repository state both fakes serve: linear history, deployments, pull requests."""

    commits: list[FakeCommit]
    deployments: list[FakeDeployment]
    pulls: dict[int, list[str]] = field(default_factory=dict)  # number → commit shas
    pull_of: dict[str, int] = field(default_factory=dict)  # merge sha → number

    def commit(self, sha: str) -> FakeCommit:
        return next(c for c in self.commits if c.sha == sha)

    def between(self, base: str, head: str) -> list[FakeCommit]:
        shas = [c.sha for c in self.commits]
        return self.commits[shas.index(base) + 1 : shas.index(head) + 1]


class FakeServer:
    """Run an aiohttp app in a thread; record every request."""

    def __init__(self, token_header: str, token: str, page_size: int):
        self.token_header = token_header
        self.token = token
        self.page_size = page_size
        self.hits: list[Hit] = []
        self.throttle: dict[int, dict[str, str]] = {}  # request number → headers of a 403/429
        self.throttle_status = 403
        self.remaining = 5000
        self.reset_at = int(time.time()) + 3600
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    def app(self) -> web.Application:
        raise NotImplementedError

    def rate_headers(self) -> dict[str, str]:
        raise NotImplementedError

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        number = len(self.hits) + 1
        project = request.match_info.get("project")
        if project is not None and project not in (getattr(self, "project", None), "7"):
            self.hits.append(Hit(time.monotonic(), request.path, 404))
            return web.json_response({"message": "404 Project Not Found"}, status=404)
        given = request.headers.get(self.token_header, "")
        if given != self.token:
            self.hits.append(Hit(time.monotonic(), request.path, 401))
            return web.json_response({"message": "Bad credentials"}, status=401)
        if number in self.throttle:
            self.hits.append(Hit(time.monotonic(), request.path, self.throttle_status))
            headers = {**self.rate_headers(), **self.throttle[number]}
            return web.json_response(
                {
                    "message": "You have exceeded a secondary rate limit. "
                    "Please wait a few minutes before you try again."
                },
                status=self.throttle_status,
                headers=headers,
            )
        if self.remaining <= 0 and time.time() < self.reset_at:  # primary limit exhausted
            self.hits.append(Hit(time.monotonic(), request.path, self.throttle_status))
            return web.json_response(
                {"message": "API rate limit exceeded"},
                status=self.throttle_status,
                headers=self.rate_headers(),
            )
        if self.remaining <= 0:
            self.remaining, self.reset_at = 5000, int(time.time()) + 3600
        self.remaining -= 1
        response = await handler(request)
        response.headers.update(self.rate_headers())
        self.hits.append(Hit(time.monotonic(), request.path, response.status))
        return response

    def page(self, request: web.Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """Slice a list per `page`/`per_page` and build GitHub/GitLab-style Link headers."""
        per_page = min(int(request.query.get("per_page", 30)), self.page_size)
        page = int(request.query.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        links = []
        url = URL(self.url).with_path(request.rel_url.raw_path, encoded=True)

        def link(n: int, rel: str) -> str:
            query = {**request.query, "page": str(n), "per_page": str(per_page)}
            return f'<{url.with_query(query)}>; rel="{rel}"'

        if page < last:
            links.append(link(page + 1, "next"))
        links.append(link(last, "last"))
        if page > 1:
            links.append(link(1, "first"))
        return items[(page - 1) * per_page : page * per_page], {"Link": ", ".join(links)}

    def __enter__(self) -> FakeServer:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            runner = web.AppRunner(self.app(), access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            port = runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            self._runner = runner
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class GitHubFake(FakeServer):
    """GitHub REST v3 for one repository."""

    def __init__(self, repo: str, forge: Forge, token: str = "gh-token", page_size: int = 3):
        super().__init__("Authorization", f"Bearer {token}", page_size)
        self.repo = repo
        self.forge = forge

    def rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Used": str(5000 - self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
            "X-RateLimit-Resource": "core",
        }

    def _commit(self, c: FakeCommit) -> dict[str, Any]:
        person = {"name": "Dev", "email": "dev@example.com", "date": iso(c.authored)}
        return {
            "sha": c.sha,
            "node_id": f"C_{c.sha[:8]}",
            "commit": {
                "author": person,
                "committer": {**person, "date": iso(c.authored + 60)},
                "message": c.message,
                "tree": {"sha": "0" * 40},
            },
            "parents": [],
            "html_url": f"https://github.com/{self.repo}/commit/{c.sha}",
        }

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware])
        base = f"/repos/{self.repo}"
        app.router.add_get(f"{base}/deployments", self.deployments)
        app.router.add_get(f"{base}/deployments/{{id}}/statuses", self.statuses)
        app.router.add_get(f"{base}/compare/{{spec}}", self.compare)
        app.router.add_get(f"{base}/commits/{{sha}}/pulls", self.commit_pulls)
        app.router.add_get(f"{base}/commits/{{sha}}", self.commit)
        app.router.add_get(f"{base}/pulls/{{number}}/commits", self.pull_commits)
        return app

    async def deployments(self, request: web.Request) -> web.Response:
        env = request.query.get("environment")
        items = sorted(
            (d for d in self.forge.deployments if env is None or d.environment == env),
            key=lambda d: d.created,
            reverse=True,  # GitHub lists newest first
        )
        body = [
            {
                "id": d.id,
                "sha": d.sha,
                "ref": d.ref,
                "task": "deploy",
                "environment": d.environment,
                "original_environment": d.environment,
                "created_at": iso(d.created),
                "updated_at": iso(d.statuses[-1][1] if d.statuses else d.created),
                "payload": {},
            }
            for d in items
        ]
        page, headers = self.page(request, body)
        return web.json_response(page, headers=headers)

    async def statuses(self, request: web.Request) -> web.Response:
        d = next(d for d in self.forge.deployments if str(d.id) == request.match_info["id"])
        body = [
            {
                "id": d.id * 100 + i,
                "state": state,
                "environment": d.environment,
                "created_at": iso(at),
                "updated_at": iso(at),
                "description": "",
            }
            for i, (state, at) in reversed(list(enumerate(d.statuses)))
        ]
        page, headers = self.page(request, body)
        return web.json_response(page, headers=headers)

    async def compare(self, request: web.Request) -> web.Response:
        base, _, head = request.match_info["spec"].partition("...")
        commits = [self._commit(c) for c in self.forge.between(base, head)]
        page, headers = self.page(request, commits)
        return web.json_response(
            {
                "status": "ahead",
                "ahead_by": len(commits),
                "behind_by": 0,
                "total_commits": len(commits),
                "commits": page,
                "files": [],
            },
            headers=headers,
        )

    async def commit_pulls(self, request: web.Request) -> web.Response:
        number = self.forge.pull_of.get(request.match_info["sha"])
        return web.json_response([] if number is None else [{"number": number, "state": "closed"}])

    async def commit(self, request: web.Request) -> web.Response:
        return web.json_response(self._commit(self.forge.commit(request.match_info["sha"])))

    async def pull_commits(self, request: web.Request) -> web.Response:
        shas = self.forge.pulls[int(request.match_info["number"])]
        page, headers = self.page(request, [self._commit(self.forge.commit(s)) for s in shas])
        return web.json_response(page, headers=headers)


class GitLabFake(FakeServer):
    """GitLab REST v4 for one project (path-encoded id)."""

    def __init__(self, project: str, forge: Forge, token: str = "gl-token", page_size: int = 2):
        super().__init__("PRIVATE-TOKEN", token, page_size)
        self.project = project
        self.forge = forge
        self.throttle_status = 429

    def rate_headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": "2000",
            "RateLimit-Remaining": str(max(self.remaining, 0)),
            "RateLimit-Reset": str(self.reset_at),
        }

    def _commit(self, c: FakeCommit) -> dict[str, Any]:
        return {
            "id": c.sha,
            "short_id": c.sha[:8],
            "title": c.message.split("\n")[0],
            "message": c.message,
            "authored_date": iso(c.authored),
            "committed_date": iso(c.authored + 60),
            "created_at": iso(c.authored + 60),
            "author_name": "Dev",
        }

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware])
        # The project is path-encoded (acme%2Fweb), one segment; the middleware checks it.
        base = "/api/v4/projects/{project}"
        app.router.add_get(f"{base}/deployments", self.deployments)
        app.router.add_get(f"{base}/repository/compare", self.compare)
        app.router.add_get(f"{base}/repository/commits/{{sha}}/merge_requests", self.commit_mrs)
        app.router.add_get(f"{base}/repository/commits/{{sha}}", self.commit)
        app.router.add_get(f"{base}/merge_requests/{{iid}}/commits", self.mr_commits)
        return app

    async def deployments(self, request: web.Request) -> web.Response:
        env = request.query.get("environment")
        after = datetime.fromisoformat(
            request.query["updated_after"].replace("Z", "+00:00")
        ).timestamp()
        status_map = {"success": "success", "failure": "failed"}
        items = []
        for d in sorted(self.forge.deployments, key=lambda d: d.statuses[-1][1]):
            # A GitLab deployment has one status: its first success, else its last failure.
            ends = [s for s in d.statuses if s[0] == "success"] or d.statuses[-1:]
            state, at = ends[0]
            if d.environment != env or at < after:
                continue
            items.append(
                {
                    "id": d.id,
                    "iid": d.id,
                    "ref": d.ref,
                    "sha": d.sha,
                    "created_at": iso(d.created),
                    "updated_at": iso(at),
                    "finished_at": iso(at),
                    "status": status_map.get(state, state),
                    "environment": {"id": 1, "name": d.environment},
                    "deployable": {
                        "id": d.id * 10,
                        "status": status_map.get(state, state),
                        "finished_at": iso(at),
                        "commit": self._commit(self.forge.commit(d.sha)),
                    },
                }
            )
        page, headers = self.page(request, items)
        return web.json_response(page, headers=headers)

    async def compare(self, request: web.Request) -> web.Response:
        commits = [
            self._commit(c) for c in self.forge.between(request.query["from"], request.query["to"])
        ]
        return web.json_response(
            {"commit": commits[-1] if commits else None, "commits": commits, "diffs": []}
        )

    async def commit_mrs(self, request: web.Request) -> web.Response:
        number = self.forge.pull_of.get(request.match_info["sha"])
        return web.json_response([] if number is None else [{"iid": number, "state": "merged"}])

    async def commit(self, request: web.Request) -> web.Response:
        return web.json_response(self._commit(self.forge.commit(request.match_info["sha"])))

    async def mr_commits(self, request: web.Request) -> web.Response:
        shas = self.forge.pulls[int(request.match_info["iid"])]
        # GitLab lists merge request commits newest first.
        commits = [self._commit(self.forge.commit(s)) for s in reversed(shas)]
        page, headers = self.page(request, commits)
        return web.json_response(page, headers=headers)


def pairs(hits: list[Hit]) -> Iterator[tuple[Hit, Hit]]:
    return itertools.pairwise(hits)
