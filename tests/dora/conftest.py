"""DORA test helpers: a config, the real agent app on a fixed clock, metric lookups."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.app import create_app
from agent.config import Config, parse
from agent.settings import Settings
from agent.web.keys import AGENT
from exporters.base import Context
from exporters.dora.exporter import DoraExporter

NOW = datetime(2026, 11, 30, tzinfo=UTC).timestamp()
HOUR = 3600.0
DAY = 86400.0
GITHUB_SECRET = "gh-secret"
GITLAB_TOKEN = "gl-token"
EVENTS_TOKEN = "ev-token"
AM_TOKEN = "am-token"
ENV = {
    "GH_HOOK": GITHUB_SECRET,
    "GL_HOOK": GITLAB_TOKEN,
    "EV_TOKEN": EVENTS_TOKEN,
    "AM_TOKEN": AM_TOKEN,
}

CONFIG = """
version: 1
project: test
dora:
  environments: [production]
  failure_window: 24h
  sources:
    - {type: github, name: api-github, repo: acme/api, service: api, webhook_secret_env: GH_HOOK}
    - {type: gitlab, name: web-gitlab, project: acme/web, service: web, webhook_token_env: GL_HOOK}
    - {type: events, name: events, token_env: EV_TOKEN}
  incidents:
    alertmanager: {enabled: true, match: {severity: critical}, token_env: AM_TOKEN}
"""


def config(text: str = CONFIG) -> Config:
    return parse(text)


def ts(seconds_from_now: float) -> str:
    return datetime.fromtimestamp(NOW + seconds_from_now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(body: bytes, secret: str = GITHUB_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by name and label set."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(
    scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return scrape.get((name, frozenset(labels.items())))


class Agent:
    """The real agent app under aiohttp's test client, with helpers to post and scrape."""

    def __init__(self, client: Any, exporter: DoraExporter):
        self.client = client
        self.exporter = exporter

    async def post(
        self,
        path: str,
        payload: Any,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Any:
        body = raw if raw is not None else json.dumps(payload).encode()
        return await self.client.post(
            path, data=body, headers={"Content-Type": "application/json", **(headers or {})}
        )

    async def events(self, payload: Any) -> Any:
        return await self.post(
            "/api/v1/events", payload, {"Authorization": f"Bearer {EVENTS_TOKEN}"}
        )

    async def github(self, event: str, payload: Any, delivery: str) -> Any:
        body = json.dumps(payload).encode()
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(body),
        }
        return await self.post("/webhooks/github", None, headers, raw=body)

    async def alertmanager(self, payload: Any) -> Any:
        return await self.post(
            "/webhooks/alertmanager", payload, {"Authorization": f"Bearer {AM_TOKEN}"}
        )

    async def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        await self.exporter.refresh()
        response = await self.client.get("/metrics")
        assert response.status == 200
        return samples(await response.text())


AgentFactory = Callable[..., Awaitable[Agent]]


@pytest.fixture
def agent(aiohttp_client: Any, tmp_path: Path) -> AgentFactory:
    async def start(
        text: str = CONFIG,
        data_dir: Path | None = None,
        clock: float = NOW,
        env: dict[str, str] | None = None,
    ) -> Agent:
        settings = Settings(
            config=config(text),
            exporters=("dora",),
            context=Context(
                data_dir=data_dir or tmp_path, clock=lambda: clock, env=ENV if env is None else env
            ),
        )
        app = create_app(settings)
        client = await aiohttp_client(app)
        exporter = app[AGENT].runtime.exporters[0]
        assert isinstance(exporter, DoraExporter)
        return Agent(client, exporter)

    return start
