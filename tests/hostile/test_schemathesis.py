"""Fuzz the running agent from docs/openapi.yaml: no 5xx, every 4xx a JSON error naming it.

Requests are authenticated (a valid signature or token) so bodies reach the parsers;
every fifth goes without, to cover the 401 path. Examples are bounded to stay well under
a minute on a 2-core runner.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.hostile.server import SPEC, Agent, running_agent

pytestmark = pytest.mark.integration

schema = schemathesis.openapi.from_path(SPEC)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    deterministic=True,
)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    secrets = {
        name: f"fuzz-{name.lower()}-{uuid.uuid4().hex[:8]}"
        for name in (
            "OPSLENS_METRICS_TOKEN",
            "GH_WEBHOOK_SECRET",
            "GL_WEBHOOK_TOKEN",
            "OPSLENS_EVENTS_TOKEN",
            "OPSLENS_AM_TOKEN",
        )
    }
    with running_agent(tmp_path_factory.mktemp("fuzz"), secrets) as running:
        yield running
    log = running.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def json_error_for_4xx(
    ctx: object, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A 4xx is a JSON object whose non-empty `error` says what is wrong."""
    if not 400 <= response.status_code < 500:
        return
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"{response.status_code} is not JSON: {response.text[:200]!r}"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_agent_api(case: schemathesis.Case, agent: Agent) -> None:
    kwargs = case.as_transport_kwargs(base_url=agent.url)
    prepared = requests.Request(**{k: kwargs[k] for k in kwargs if k != "timeout"}).prepare()
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    if zlib.crc32(body + case.path.encode()) % 5:
        prepared.headers.update(agent.auth(case.path, body))
    with requests.Session() as session:
        response = session.send(prepared, timeout=15, allow_redirects=False)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            json_error_for_4xx,
        ],
    )


def test_unknown_route_and_method_are_json_errors(agent: Agent) -> None:
    missing = requests.get(f"{agent.url}/no/such/route", timeout=5)
    wrong = requests.delete(f"{agent.url}/metrics", timeout=5)
    assert (missing.status_code, wrong.status_code) == (404, 405)
    assert missing.json() == {"error": "no route /no/such/route"}
    assert wrong.json()["error"].startswith("method DELETE not allowed on /metrics")
    assert "GET" in wrong.headers["Allow"]
