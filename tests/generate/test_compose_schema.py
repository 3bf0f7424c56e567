"""The generated compose file against the Compose Specification's own JSON Schema.

Docker Compose v2 validates files against this schema; these machines have no Docker
engine, and Debian's docker-compose is v1, which rejects parts of the current spec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from agent.config import load
from agent.generate import compose
from agent.generate.hosts import COMPOSE
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads((SHARED_DATA / "compose-spec" / "compose-spec.json").read_text("utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def errors(validator: Draft7Validator, doc: Any) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(doc)
    )


def test_committed_compose_file_follows_the_specification(
    root: Path, validator: Draft7Validator
) -> None:
    doc = yaml.safe_load((root / "compose" / "docker-compose.yml").read_text("utf-8"))
    assert errors(validator, doc) == []


def test_generated_compose_follows_the_specification(
    root: Path, validator: Draft7Validator
) -> None:
    config = load(root / "opslens.yaml")
    (artefact,) = [a for a in compose.render(config, COMPOSE) if a.path.endswith("compose.yml")]
    assert errors(validator, artefact.content) == []


def test_schema_catches_what_compose_would_refuse(validator: Draft7Validator) -> None:
    # The schema must be strict enough to fail: an unknown service key and a bad restart
    # policy type are both errors for Docker Compose v2.
    bad = {"services": {"agent": {"image": "x", "restart_policy": "always", "ports": [{}]}}}
    found = errors(validator, bad)
    assert any("restart_policy" in e for e in found), found
