"""Real Prometheus and Alertmanager processes for integration tests.

Under CI=true a missing binary fails the test; elsewhere it skips with install advice.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

INSTALL = "apt-get install prometheus prometheus-alertmanager (or run `make test`)"


def require(binary: str) -> str:
    """Path of a binary; fail under CI, skip elsewhere, when it is missing."""
    path = shutil.which(binary)
    if path:
        return path
    unavailable(f"{binary} not found: {INSTALL}")


def unavailable(message: str) -> NoReturn:
    """A test's prerequisite is missing: fail under CI=true (never a silent skip there)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except Exception as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


@contextlib.contextmanager
def process(
    argv: Sequence[str], ready_url: str, log: Path, cwd: Path | None = None, timeout: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a process, wait for its ready URL, stop it (and show its log) at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        try:
            wait_http(ready_url, timeout, proc)
        except Exception as exc:
            raise RuntimeError(
                f"{argv[0]} did not start: {exc}\n{log.read_text()[-3000:]}"
            ) from exc
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def prometheus(config: Path, workdir: Path, extra: Sequence[str] = ()) -> Iterator[str]:
    """Run Prometheus on `config`; yield its base URL."""
    binary = require("prometheus")
    port = free_port()
    data = workdir / "prom-data"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        *extra,
    ]
    url = f"http://127.0.0.1:{port}"
    with process(argv, f"{url}/-/ready", workdir / "prometheus.log"):
        yield url


@contextlib.contextmanager
def alertmanager(config: Path, workdir: Path, extra: Sequence[str] = ()) -> Iterator[str]:
    """Run Alertmanager on `config` (no clustering); yield its base URL."""
    binary = require("prometheus-alertmanager")
    port = free_port()
    data = workdir / "am-data"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        *extra,
    ]
    url = f"http://127.0.0.1:{port}"
    with process(argv, f"{url}/-/ready", workdir / "alertmanager.log"):
        yield url
