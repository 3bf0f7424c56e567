"""Moto server as Cost Explorer and Budgets, behind a counting, fault-injecting proxy."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from moto.server import ThreadedMotoServer

from tests.support.procs import free_port

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake credentials, in the process environment too so boto3 never finds real ones."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return dict(AWS_ENV)


@pytest.fixture
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # Moto's backends are process-global: start every test from an empty state.
    reset = urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(reset) as response:
        assert response.status == 200
    try:
        yield url
    finally:
        server.stop()


class AwsProxy:
    """Forward to moto, count calls per operation, inject faults, answer GetCostForecast.

    Moto has no GetCostForecast and no fault injection; this proxy speaks the real wire
    format (JSON 1.1 with `__type` errors) so the exporter's botocore path is exercised.
    """

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.calls: Counter[str] = Counter()
        self.fault: str | None = None
        self.forecast = "0"
        self.url = ""

    def queue_cost_and_usage(self, results: Sequence[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            f"{self.upstream}/moto-api/static/ce/cost-and-usage-results",
            data=json.dumps({"results": list(results)}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request) as response:
            assert response.status == 201

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.headers.get("X-Amz-Target", "")
        body = await request.read()
        # JSON protocols name the operation in a header; STS (query protocol) in the form.
        form = urllib.parse.parse_qs(body.decode(errors="replace")) if not target else {}
        operation = target.rpartition(".")[2] or form.get("Action", [request.path])[0]
        if "moto-api" not in request.path:
            self.calls[operation] += 1
        # Faults hit Cost Explorer only (its JSON target prefix), not STS or Budgets.
        is_ce = target.startswith("AWSInsightsIndexService.")
        if is_ce and self.fault == "throttle":
            return web.json_response(
                {"__type": "LimitExceededException", "message": "Rate exceeded"}, status=400
            )
        if is_ce and self.fault == "server":
            return web.json_response({"__type": "InternalServerError"}, status=503)
        if operation == "GetCostForecast":
            return web.json_response(
                {"Total": {"Amount": self.forecast, "Unit": "USD"}, "ForecastResultsByTime": []},
                content_type="application/x-amz-json-1.1",
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as upstream,
        ):
            payload = await upstream.read()
            return web.Response(
                status=upstream.status,
                body=payload,
                headers={"Content-Type": upstream.headers.get("Content-Type", "")},
            )


@pytest.fixture
async def aws(
    moto_url: str, aiohttp_server: Any, aws_env: dict[str, str]
) -> AsyncIterator[AwsProxy]:
    proxy = AwsProxy(moto_url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    server = await aiohttp_server(app)
    proxy.url = str(server.make_url("")).rstrip("/")
    yield proxy


def ce_page(
    days: Sequence[date],
    groups: Sequence[tuple[str, str, float]],
    token: str | None = None,
) -> dict[str, Any]:
    """A GetCostAndUsage page: for each day, groups (service, account, unblended USD).

    Amortized cost is 90 % of unblended, as with a savings plan.
    """
    page: dict[str, Any] = {
        "GroupDefinitions": [
            {"Type": "DIMENSION", "Key": "SERVICE"},
            {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
        ],
        "ResultsByTime": [
            {
                "TimePeriod": {
                    "Start": d.isoformat(),
                    "End": (d + timedelta(days=1)).isoformat(),
                },
                "Total": {},
                "Groups": [
                    {
                        "Keys": [service, account],
                        "Metrics": {
                            "UnblendedCost": {"Amount": f"{amount:.10f}", "Unit": "USD"},
                            "AmortizedCost": {"Amount": f"{amount * 0.9:.10f}", "Unit": "USD"},
                        },
                    }
                    for service, account, amount in groups
                ],
                "Estimated": d == days[-1],
            }
            for d in days
        ],
        "DimensionValueAttributes": [],
    }
    if token:
        page["NextPageToken"] = token
    return page
