"""The app exporter as the agent runs it: built from config, polled, exposed, linted."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from agent.config.loader import ConfigError, parse
from agent.runtime import Exposition, PollLoop
from exporters.app.exporter import build
from exporters.base import Context, Exporter
from exporters.catalogue import APP
from tests.support.procs import free_port, require
from tests.support.waiting import wait_ready

CONFIG = """
version: 1
project: test
app:
  host: true
  host_interval: 5s
  processes:
    - {{group: tests, match: "pytest"}}
  probes:
    - {{name: local-health, url: "http://127.0.0.1:{port}/healthz", interval: 10s, timeout: 2s,
       service: shop-api}}
    - {{name: nothing-there, url: "http://127.0.0.1:{dead}/", interval: 10s, timeout: 1s}}
"""


@pytest.fixture
async def target() -> AsyncIterator[int]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/healthz", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


async def polled_exposition(target: int, tmp_path: Path) -> tuple[Exporter, bytes]:
    config = parse(CONFIG.format(port=target, dead=free_port()))
    exporter = build(config.app, Context(data_dir=tmp_path))
    assert isinstance(exporter, Exporter)
    assert [s.name for s in exporter.pollers] == [
        "host",
        "processes",
        "probe:local-health",
        "probe:nothing-there",
    ]
    assert [s.interval for s in exporter.pollers] == [5.0, 5.0, 10.0, 10.0]
    exposition = Exposition(exporter.collectors(), exporter.generation)
    await exporter.start()
    try:
        assert exposition.render(False) == b""
        before = exporter.generation()
        loops = [PollLoop(s) for s in exporter.pollers]
        for loop in loops:
            await loop.poll_once()
        # A target that is down is data, not a failed source.
        assert all(loop.state.up for loop in loops)
        assert exporter.generation() == before + 4
        return exporter, exposition.render(False)
    finally:
        await exporter.stop()


async def test_exposition_after_one_poll_of_each_source(target: int, tmp_path: Path) -> None:
    _, body = await polled_exposition(target, tmp_path)
    text = body.decode()
    assert 'probe_success{probe="local-health",service="shop-api"} 1.0' in text
    assert 'probe_http_status_code{probe="local-health",service="shop-api"} 200.0' in text
    assert 'probe_success{probe="nothing-there",service=""} 0.0' in text
    assert re.search(r'host_process_count\{group="tests"\} [1-9]', text)
    assert re.search(r"^host_memory_total_bytes \d", text, re.M)
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    assert families <= set(APP), families - set(APP)
    names = {
        "host_cpu_utilization_ratio",
        "host_memory_used_bytes",
        "host_process_cpu_seconds_total",
        "probe_duration_seconds",
    }
    assert {n.removesuffix("_total") for n in names} <= {f.removesuffix("_total") for f in families}


@pytest.mark.integration
async def test_exposition_passes_promtool_check_metrics(target: int, tmp_path: Path) -> None:
    promtool = require("promtool")
    _, body = await polled_exposition(target, tmp_path)
    check = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    problems = [line for line in check.stderr.decode().splitlines() if line.strip()]
    # docs/metrics.md#host-processes-and-probes fixes this name; promtool's lint dislikes
    # its `_count` suffix, nothing else.
    known = (
        'host_process_count non-histogram and non-summary metrics should not have "_count" suffix'
    )
    assert problems == [known], problems
    assert check.returncode == 3  # lint findings only; a parse error would be 1


def test_no_host_and_no_probes_means_no_sources(tmp_path: Path) -> None:
    exporter = build(parse("version: 1\nproject: t\napp: {host: false}\n").app, Context(tmp_path))
    assert list(exporter.pollers) == [] and list(exporter.collectors()) == []


def test_probe_ca_file_key_is_accepted_and_unknown_keys_are_not() -> None:
    config = parse(
        "version: 1\nproject: t\napp:\n  probes:\n"
        "    - {name: p, url: 'https://x.example/', ca_file: /etc/ssl/internal.pem}\n"
    )
    assert config.app.probes[0].ca_file == "/etc/ssl/internal.pem"
    with pytest.raises(ConfigError, match=r"app\.probes\[0\]\.tls"):
        parse(
            "version: 1\nproject: t\napp:\n  probes:\n    - {name: p, url: 'https://x/', tls: 1}\n"
        )


async def test_agent_serves_app_metrics_and_source_health(
    aiohttp_client, target: int, tmp_path: Path
) -> None:
    from agent.app import create_app
    from agent.settings import Settings

    config = parse(CONFIG.format(port=target, dead=free_port()))
    settings = Settings(config=config, exporters=("app",), context=Context(data_dir=tmp_path))
    client = await aiohttp_client(create_app(settings))
    await wait_ready(client)
    text = await (await client.get("/metrics")).text()
    assert 'opslens_source_up{exporter="app",source="host"} 1.0' in text
    assert 'opslens_source_up{exporter="app",source="probe:nothing-there"} 1.0' in text
    assert 'probe_success{probe="local-health",service="shop-api"} 1.0' in text
    assert re.search(r"^host_cpu_utilization_ratio 0?\.?\d", text, re.M)
