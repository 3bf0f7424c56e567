"""Upstreams that fail on demand: Cost Explorer, GitHub, GitLab, probe targets, files.

Each fake runs an aiohttp app in its own thread and loop (the agent under test is another
process), counts what it is asked, and has a `fault` that a test sets and clears:

- Cost Explorer (the JSON 1.1 wire format botocore speaks): `throttle`
  (ThrottlingException), `server` (HTTP 500), `hang` (no answer until cleared), `auth`
  (UnrecognizedClientException, 403).
- GitHub/GitLab (the fakes of `tests/dora/fakes.py`): `server` (503), `ratelimit`
  (403/429 with the forge's rate-limit headers and `Retry-After`), `hang`.
- Probe targets: `refuse` (the listener closes), `hang`, `expired` (TLS with an expired
  certificate).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import trustme
from aiohttp import web

from tests.dora.fakes import FakeCommit, FakeDeployment, Forge, GitHubFake, GitLabFake
from tests.support.procs import free_port

T = TypeVar("T")
# The agent's environment: fake AWS credentials (boto3 must never find real ones) and
# the forge fakes' tokens and webhook secrets.
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "GH_TOKEN": "gh-token",
    "GL_TOKEN": "gl-token",
    "GH_HOOK": "gh-hook-secret",
    "GL_HOOK": "gl-hook-secret",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def hold(still: Callable[[], bool]) -> None:
    """Answer nothing while `still()` holds: the client sees a hung upstream."""
    while still():
        await asyncio.sleep(0.05)


class ThreadedApp:
    """An aiohttp app on 127.0.0.1:`port` in a thread; the listener can close and reopen."""

    def __init__(self, app: web.Application, ssl_context: ssl.SSLContext | None = None):
        self.app = app
        self.ssl_context = ssl_context
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        self._site: web.TCPSite | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _call(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.ssl_context)
        await self._site.start()

    async def _close(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    def start(self) -> None:
        self._thread.start()
        self._call(self._runner.setup())
        self._call(self._listen())

    def refuse(self) -> None:
        """Close the listener: connections are refused until `listen()`."""
        self._call(self._close())

    def listen(self) -> None:
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def ce_results(service: str, days: int = 5, amount: float = 10.0) -> dict[str, Any]:
    """A GetCostAndUsage answer: `days` complete days before today, one group each."""
    today = dt.datetime.now(UTC).date()
    first = today - timedelta(days=days)
    return {
        "GroupDefinitions": [
            {"Type": "DIMENSION", "Key": "SERVICE"},
            {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
        ],
        "ResultsByTime": [
            {
                "TimePeriod": {
                    "Start": (first + timedelta(days=i)).isoformat(),
                    "End": (first + timedelta(days=i + 1)).isoformat(),
                },
                "Total": {},
                "Groups": [
                    {
                        "Keys": [service, "123456789012"],
                        "Metrics": {"UnblendedCost": {"Amount": f"{amount:.2f}", "Unit": "USD"}},
                    }
                ],
                "Estimated": False,
            }
            for i in range(days)
        ],
        "DimensionValueAttributes": [],
    }


class FakeCostExplorer:
    """Cost Explorer's GetCostAndUsage for one service name, counting every call."""

    def __init__(self, service: str):
        self.service = service
        self.fault: str | None = None
        self.calls: Counter[str] = Counter()
        app = web.Application()
        app.router.add_post("/", self.handle)
        self.server = ThreadedApp(app)
        self.url = f"http://127.0.0.1:{self.server.port}"

    async def handle(self, request: web.Request) -> web.Response:
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        await request.read()
        self.calls[operation] += 1
        if self.fault == "hang":
            await hold(lambda: self.fault == "hang")
        if self.fault == "throttle":
            return self._error(400, "ThrottlingException", "Rate exceeded")
        if self.fault == "server":
            return self._error(500, "InternalServerException", "Internal error")
        if self.fault == "auth":
            return self._error(
                403, "UnrecognizedClientException", "The security token included is invalid."
            )
        if operation != "GetCostAndUsage":
            return self._error(400, "ValidationException", f"unsupported {operation}")
        return web.json_response(
            ce_results(self.service), content_type="application/x-amz-json-1.1"
        )

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response(
            {"__type": code, "message": message},
            status=status,
            content_type="application/x-amz-json-1.1",
        )

    def __enter__(self) -> FakeCostExplorer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fault = None
        self.server.stop()


def one_deployment_forge() -> Forge:
    """Two commits and one successful production deployment of the second, an hour ago."""
    now = dt.datetime.now(UTC).timestamp()
    first, second = "a" * 40, "b" * 40
    commits = [FakeCommit(first, now - 86400, "Start"), FakeCommit(second, now - 7200, "Fix (#1)")]
    statuses = [("in_progress", now - 3600), ("success", now - 3500)]
    deployment = FakeDeployment(1, second, "production", now - 3600, statuses)
    return Forge(commits, [deployment], pulls={1: [second]}, pull_of={second: 1})


class _ForgeFaults:
    """A fault middleware for the forge fakes, ahead of their own (token, pagination)."""

    fault: str | None = None
    faulted: int = 0
    throttle_status: int
    rate_headers: Callable[[], dict[str, str]]  # the forge fake's own

    @web.middleware
    async def faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.fault is not None:
            self.faulted += 1
        if self.fault == "hang":
            await hold(lambda: self.fault == "hang")
        if self.fault == "server":
            return web.json_response({"message": "Service Unavailable"}, status=503)
        if self.fault == "ratelimit":
            headers = {**self.rate_headers(), "Retry-After": "1"}
            for name in ("X-RateLimit-Remaining", "RateLimit-Remaining"):
                if name in headers:
                    headers[name] = "0"
            return web.json_response(
                {"message": "API rate limit exceeded"}, status=self.throttle_status, headers=headers
            )
        return await handler(request)


class FaultyGitHub(_ForgeFaults, GitHubFake):
    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.insert(0, self.faults)
        return app


class FaultyGitLab(_ForgeFaults, GitLabFake):
    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.insert(0, self.faults)
        return app


class ProbeTarget:
    """An HTTPS target whose certificate a test can swap for an expired one, or silence."""

    def __init__(self, workdir: Path, name: str):
        ca = trustme.CA()
        now = dt.datetime.now(UTC)
        self._good = ca.issue_cert("127.0.0.1", not_after=now + timedelta(days=90))
        self._expired = ca.issue_cert(
            "127.0.0.1", not_before=now - timedelta(days=60), not_after=now - timedelta(days=1)
        )
        self.ca_file = workdir / f"{name}-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.fault: str | None = None
        self._contexts = {
            "good": self._context(self._good),
            "expired": self._context(self._expired),
        }
        app = web.Application()
        app.router.add_get("/", self.handle)
        self.server = ThreadedApp(app, self._contexts["good"])
        self.url = f"https://127.0.0.1:{self.server.port}/"

    @staticmethod
    def _context(cert: trustme.LeafCert) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    async def handle(self, request: web.Request) -> web.Response:
        if self.fault == "hang":
            await hold(lambda: self.fault == "hang")
        return web.Response(text="ok")

    def set_fault(self, fault: str | None) -> None:
        """Apply a fault (`refuse`, `hang`, `expired`) or clear it with None."""
        previous, self.fault = self.fault, fault
        if previous in ("refuse", "expired"):
            self.server.refuse()
            self.server.ssl_context = self._contexts["good"]
            self.server.listen()
        if fault == "refuse":
            self.server.refuse()
        if fault == "expired":
            self.server.refuse()
            self.server.ssl_context = self._contexts["expired"]
            self.server.listen()

    def __enter__(self) -> ProbeTarget:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fault = None
        if self.server._site is None:
            self.server.listen()
        self.server.stop()


FOCUS_HEADER = (
    "BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,ListCost,"
    "BillingCurrency,ServiceName,ProviderName,SubAccountId,RegionId,ChargeCategory\n"
)


def focus_csv(service: str, days: int = 5, amount: float = 3.0) -> str:
    """A FOCUS CSV: one row per complete day before today, for `service`."""
    today = dt.datetime.now(UTC).date()
    month = today.replace(day=1)
    rows = []
    for i in range(days, 0, -1):
        day: date = today - timedelta(days=i)
        rows.append(
            f"{month.isoformat()}T00:00:00Z,{day.isoformat()}T00:00:00Z,"
            f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z,{amount},{amount},{amount},"
            f"USD,{service},Acme Cloud,acct-1,eu-1,Usage\n"
        )
    return FOCUS_HEADER + "".join(rows)


def git(path: Path, *args: str) -> None:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(path.parent),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", "-C", str(path), *args], check=True, env=env, capture_output=True)


def git_repo(path: Path) -> None:
    """A repository with two commits and a `v1` deploy tag."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for n in (1, 2):
        (path / "f").write_text(str(n))
        git(path, "add", "f")
        git(path, "commit", "-q", "-m", f"change {n}")
    git(path, "tag", "v1")
