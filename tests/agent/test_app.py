"""The agent's HTTP surface through the real factory and aiohttp's test client."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

from aiohttp.test_utils import TestClient

from agent.app import create_app
from agent.config import parse
from agent.settings import Settings
from exporters.base import Context
from tests.agent.test_runtime import FakeExporter, FlakySource
from tests.support.waiting import wait_ready

CONFIG = parse("version: 1\nproject: acme\nagent: {metrics_token_env: TEST_METRICS_TOKEN}\n")
OPEN = parse("version: 1\nproject: acme\n")


async def client_for(
    aiohttp_client, tmp_path: Path, env: dict[str, str], exporter: FakeExporter
) -> TestClient:  # type: ignore[no-untyped-def]
    config = CONFIG if any(k.startswith("TEST_METRICS_TOKEN") for k in env) else OPEN
    settings = Settings(config=config, exporters=(), context=Context(data_dir=tmp_path, env=env))
    return await aiohttp_client(create_app(settings, exporters=[exporter]))  # type: ignore[no-any-return]


async def test_metrics_formats(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = await client_for(aiohttp_client, tmp_path, {}, FakeExporter([]))
    plain = await client.get("/metrics")
    assert plain.status == 200
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "test_value 1.0" in await plain.text()
    om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await om.text()).endswith("# EOF\n")
    zipped = await client.get(
        "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert b"opslens_build_info" in gzip.decompress(await zipped.read())


async def test_metrics_bearer_token(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"TEST_METRICS_TOKEN": "s3cret"}
    client = await client_for(aiohttp_client, tmp_path, env, FakeExporter([]))
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    right = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert right.status == 200


class HeldSource(FlakySource):
    """Its polls wait until the test releases them."""

    def __init__(self, name: str):
        super().__init__(name)
        self.release = asyncio.Event()

    async def poll(self) -> None:
        await self.release.wait()
        await super().poll()


async def test_ready_waits_for_first_poll(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = HeldSource("slow")
    exporter = FakeExporter([source])
    client = await client_for(aiohttp_client, tmp_path, {}, exporter)
    assert (await client.get("/-/healthy")).status == 200
    # The first poll cannot finish until released: not ready, and saying what it waits for.
    waiting = await client.get("/-/ready")
    assert waiting.status == 503
    assert "waiting for first poll of: test/slow" in await waiting.text()
    source.release.set()
    await wait_ready(client, timeout=10)
    assert source.polls == 1
    page = await (await client.get("/")).text()
    assert "<td>slow</td>" in page and "acme" in page


async def test_unreadable_token_file_denies_instead_of_failing(
    aiohttp_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    env = {"TEST_METRICS_TOKEN_FILE": str(tmp_path / "missing")}
    client = await client_for(aiohttp_client, tmp_path, env, FakeExporter([]))
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer "})).status == 401
    assert (await client.get("/")).status == 401


async def test_token_from_file(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "token").write_text("from-file\n")
    env = {"TEST_METRICS_TOKEN_FILE": str(tmp_path / "token")}
    client = await client_for(aiohttp_client, tmp_path, env, FakeExporter([]))
    ok = await client.get("/metrics", headers={"Authorization": "Bearer from-file"})
    assert ok.status == 200
    page = await client.get("/", headers={"Authorization": "Bearer from-file"})
    assert page.status == 200
