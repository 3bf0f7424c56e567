"""The agent as a real process: a temp config and data dir, a free port, parsed scrapes.

Fault, crash and disk tests need what a user runs (`python -m agent run`): signals, a
process that can be SIGKILLed, its log. `Agent` starts it, waits until it answers,
scrapes `/metrics` into `{(name, labels): value}`, and stops or kills it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.procs import free_port, wait_http
from tests.support.waiting import wait_until

# The checkout under test, ahead of any installed copy: the process runs in its workdir.
ROOT = Path(__file__).resolve().parents[2]

Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]


def parse(text: str) -> Samples:
    """Every sample of a text exposition, keyed by name and label set."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def pick(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of the one sample of `name` whose labels include `labels`, else None."""
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= ls]
    if len(found) > 1:
        raise AssertionError(f"{len(found)} samples of {name} match {labels}")
    return found[0] if found else None


class Agent:
    """One `python -m agent run` process on 127.0.0.1 with its own data dir."""

    def __init__(
        self,
        workdir: Path,
        config: str,
        exporters: str = "all",
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "opslens.yaml"
        self.config_path.write_text(config)
        self.data_dir = workdir / "data"
        self.log_path = workdir / "agent.log"
        self.exporters = exporters
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        self.env = {**os.environ, "PYTHONPATH": path, **(env or {})}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready: bool = True, timeout: float = 30.0) -> Agent:
        """Start the process; wait for `/-/ready` (every source polled once) or `/-/healthy`."""
        argv = [
            sys.executable,
            "-m",
            "agent",
            "run",
            self.exporters,
            "-c",
            str(self.config_path),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--data-dir",
            str(self.data_dir),
        ]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir
            )
        try:
            wait_http(f"{self.url}/-/{'ready' if ready else 'healthy'}", timeout, self.proc)
        except Exception as exc:
            self.kill()
            raise RuntimeError(f"the agent did not start: {exc}\n{self.log()[-4000:]}") from exc
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        """Send one request; return the status and body, whatever the status."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def scrape(self, timeout: float = 10.0) -> Samples:
        """`GET /metrics`, parsed; fails unless it answers 200."""
        status, body = self.request("GET", "/metrics", timeout=timeout)
        assert status == 200, f"/metrics answered {status}: {body[:500]!r}"
        return parse(body.decode())

    def value(self, name: str, **labels: str) -> float | None:
        return pick(self.scrape(), name, **labels)

    def wait_for(self, name: str, expected: float, timeout: float = 20.0, **labels: str) -> Samples:
        """Scrape until `name{labels}` equals `expected`; return that scrape."""
        seen: list[float | None] = []

        def probe() -> Samples | None:
            samples = self.scrape()
            seen.append(pick(samples, name, **labels))
            return samples if seen[-1] == expected else None

        return wait_until(
            probe,
            timeout,
            lambda: f"{name}{labels} == {expected}; last seen {seen[-1:]}",
            interval=0.1,
        )

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; return the exit code (SIGKILL if it does not exit in time)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def rss_bytes(self) -> int:
        """Resident memory of the process, from /proc."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")

    def __enter__(self) -> Agent:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def age(samples: Samples, exporter: str, source: str) -> float | None:
    """Seconds since the source's last successful poll, by the scrape's own numbers."""
    last = pick(
        samples, "opslens_source_last_success_timestamp_seconds", exporter=exporter, source=source
    )
    return None if last is None else time.time() - last
