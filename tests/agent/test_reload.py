"""Config reload: POST /-/reload and SIGHUP swap the config, or refuse it and keep running."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from agent.app import create_app
from agent.config import load
from agent.settings import Settings
from exporters.base import Context
from tests.support.procs import free_port, wait_http
from tests.support.waiting import wait_until

GOOD = """version: 1
project: p
app:
  host: false
  probes:
    - {{name: {name}, url: "http://127.0.0.1:{port}/", interval: 30s, timeout: 1s}}
"""


def settings(path: Path, tmp_path: Path) -> Settings:
    return Settings(
        config=load(path),
        context=Context(data_dir=tmp_path / "data"),
        exporters=("app", "dora"),
        config_path=path,
    )


async def test_reload_swaps_in_the_new_config(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "opslens.yaml"
    path.write_text(GOOD.format(name="old", port=free_port()))
    client = await aiohttp_client(create_app(settings(path, tmp_path)))
    body = await (await client.get("/metrics")).text()
    assert 'source="probe:old"' in body

    path.write_text(GOOD.format(name="new", port=free_port()))
    reply = await client.post("/-/reload")
    assert reply.status == 200, await reply.text()
    body = await (await client.get("/metrics")).text()
    assert 'source="probe:new"' in body and 'source="probe:old"' not in body
    assert "opslens_config_last_reload_successful 1.0" in body
    # The DORA store was closed and opened again: ingest still works after the swap.
    event = await client.post("/api/v1/events", json=[])
    assert event.status == 404  # no events source configured, answered by the new ingest


async def test_a_bad_config_is_refused_and_the_old_one_keeps_running(
    aiohttp_client,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    path = tmp_path / "opslens.yaml"
    path.write_text(GOOD.format(name="old", port=free_port()))
    client = await aiohttp_client(create_app(settings(path, tmp_path)))
    before = await (await client.get("/metrics")).text()
    stamp = next(
        line
        for line in before.splitlines()
        if line.startswith("opslens_config_last_reload_success_")
    )

    path.write_text("version: 1\nproject: p\napp: {hosst: false}\n")
    reply = await client.post("/-/reload")
    assert reply.status == 422
    assert await reply.json() == {
        "error": "config reload refused",
        "problems": [f"{path}:3: app.hosst: unknown key"],
    }
    body = await (await client.get("/metrics")).text()
    assert "opslens_config_last_reload_successful 0.0" in body
    assert 'source="probe:old"' in body
    assert stamp in body  # the last success is still the first load


async def test_reload_names_only_the_changed_restart_settings(
    aiohttp_client,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "opslens.yaml"
    text = GOOD.format(name="p", port=free_port())
    path.write_text(text)
    client = await aiohttp_client(create_app(settings(path, tmp_path)))
    path.write_text(text + "agent: {max_connections: 50}\n")
    assert (await client.post("/-/reload")).status == 200
    restart = [r.getMessage() for r in caplog.records if "next restart" in r.getMessage()]
    assert restart == ["agent.max_connections: takes effect at the next restart"]


def test_sighup_reloads_a_running_agent(tmp_path: Path) -> None:
    path = tmp_path / "opslens.yaml"
    path.write_text(GOOD.format(name="old", port=free_port()))
    port = free_port()
    log = tmp_path / "agent.log"
    argv = [sys.executable, "-m", "agent", "run", "app", "-c", str(path)]
    argv += ["--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data")]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    try:
        wait_http(url, timeout=30, proc=proc)
        path.write_text(GOOD.format(name="new", port=free_port()))
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: 'source="probe:new"' in scrape(), timeout=20)
        path.write_text("version: 2\n")
        proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: "opslens_config_last_reload_successful 0.0" in scrape(),
            timeout=20,
            what=lambda: scrape(),
        )
        assert proc.poll() is None  # SIGHUP never kills the agent
        assert 'source="probe:new"' in scrape()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(20)
    text = log.read_text()
    assert rc == 0, text
    assert "config reloaded from" in text
    assert "config reload refused, keeping the running config" in text


@pytest.mark.parametrize("kind", ["not-a-directory", "port-taken"])
def test_startup_errors_are_one_clear_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "opslens.yaml"
    path.write_text("version: 1\nproject: p\napp: {host: false}\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    data_dir = blocker / "data" if kind == "not-a-directory" else tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1] if kind == "port-taken" else free_port()
        argv = [sys.executable, "-m", "agent", "run", "app", "-c", str(path)]
        argv += ["--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    want = (
        f"opslens run: data directory {data_dir} is not writable: Not a directory"
        if kind == "not-a-directory"
        else f"opslens run: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert lines == [want]
