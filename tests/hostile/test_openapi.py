"""docs/openapi.yaml is a valid OpenAPI 3 document listing exactly the routes the agent serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate

from agent.app import create_app
from agent.config import parse
from agent.settings import Settings
from exporters.base import Context
from tests.hostile.server import CONFIG, SPEC

METHODS = {"get", "post", "put", "patch", "delete", "options"}


def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_spec_is_valid_openapi() -> None:
    validate(spec())  # raises, naming the offending node, when the document is not valid


def test_spec_lists_exactly_the_registered_routes(tmp_path: Path) -> None:
    settings = Settings(
        config=parse(CONFIG),
        context=Context(data_dir=tmp_path, env={}),
        exporters=("cost", "dora", "app"),
    )
    app = create_app(settings)  # routes are registered here; nothing is started
    registered = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"  # HEAD mirrors each GET
    }
    documented = {
        (method, path)
        for path, item in spec()["paths"].items()
        for method in item
        if method in METHODS
    }
    assert documented == registered


def test_every_4xx_answer_is_a_json_error() -> None:
    doc = spec()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if not status.startswith("4"):
                    continue
                if "$ref" in response:
                    response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                content = response["content"]
                assert list(content) == ["application/json"], (method, path, status)
                schema = content["application/json"]["schema"]
                refs = [schema.get("$ref")] + [s.get("$ref") for s in schema.get("allOf", [])]
                assert "#/components/schemas/Error" in refs, (method, path, status)
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]


def test_every_protected_route_declares_its_credential() -> None:
    operations = {
        path: item.get("get") or item.get("post") for path, item in spec()["paths"].items()
    }
    schemes = {
        path: {name for requirement in op.get("security", []) for name in requirement}
        for path, op in operations.items()
    }
    assert schemes == {
        "/metrics": {"metricsToken"},
        "/": {"metricsToken"},
        "/-/healthy": set(),
        "/-/ready": set(),
        "/-/reload": {"metricsToken"},
        "/webhooks/github": {"githubSignature"},
        "/webhooks/gitlab": {"gitlabToken"},
        "/webhooks/alertmanager": {"bearerToken"},
        "/api/v1/events": {"bearerToken"},
    }
