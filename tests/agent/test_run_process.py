"""`opslens run` as a real process: serves, then exits 0 on SIGTERM and on SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.procs import free_port, wait_http

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_agent_serves_and_shuts_down_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    config = tmp_path / "opslens.yaml"
    config.write_text("version: 1\nproject: p\napp: {host: true}\n")
    port = free_port()
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent",
                "run",
                "app",
                "-c",
                str(config),
                "--listen",
                f"127.0.0.1:{port}",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30, proc=proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
        assert 'opslens_source_up{exporter="app",source="host"} 1.0' in body
        assert "host_memory_total_bytes" in body
    finally:
        proc.send_signal(sig)
        rc = proc.wait(20)
    assert rc == 0, log.read_text()
    assert "shutting down" in log.read_text()
