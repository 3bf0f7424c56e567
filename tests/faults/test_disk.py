"""A full or read-only data directory: ingest answers 503, /metrics answers, nothing torn.

The data directory is a small tmpfs mounted for the test (root only; under CI=true a
machine that cannot mount fails the test rather than skipping it). Filling it leaves
SQLite no room to commit: every delivery must be answered 503 with a JSON error (the
sender retries), nothing acknowledged is lost, nothing refused is half-stored, and once
space returns the same deliveries are stored without a restart. A filesystem that turns
read-only under the running agent (a loop-mounted ext4 with `errors=remount-ro` and an
injected error, as the kernel does on a disk fault; `mount -o remount,ro` is refused
while the store is open for writing) gets the same 503s, and after fsck and a restart
every acknowledged event is there. A data directory that is read-only at start is
refused with one clear line, not a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import Agent, pick
from tests.support.procs import unavailable

pytestmark = pytest.mark.integration

TOKEN = "disk-test-token"
CONFIG = """\
version: 1
project: disk
dora:
  sources:
    - {type: events, name: events, token_env: DISK_EVENTS_TOKEN}
"""
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def mount_tmpfs(path: Path, size: str, *options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    argv = ["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        message = f"cannot mount a tmpfs for the disk tests (needs root): {result.stderr.strip()}"
        unavailable(message)


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *options: str) -> Iterator[Path]:
    mount_tmpfs(path, size, *options)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def events(prefix: str, n: int) -> list[dict[str, object]]:
    return [
        {
            "kind": "deployment",
            "id": f"{prefix}-{i}",
            "service": "checkout",
            "environment": "production",
            "status": "success",
            "finished_at": "2026-11-01T10:00:00Z",
            # Long shas make each event take real room in the store.
            "commits": [
                {
                    "sha": f"{prefix}{i}x{c}".ljust(40, "0")[:40],
                    "committed_at": "2026-11-01T08:00:00Z",
                }
                for c in range(5)
            ],
        }
        for i in range(n)
    ]


def fill(folder: Path) -> Path:
    """Write a file until the filesystem says it is full."""
    filler = folder / "filler"
    with filler.open("wb") as out:
        chunk = b"\0" * 65536
        while True:
            try:
                out.write(chunk)
                out.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    # Single bytes too: nothing may be left for SQLite to grow into.
    with filler.open("ab", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 512)
    return filler


def deployments(agent: Agent) -> float:
    return pick(agent.scrape(), "dora_deployments_total", service="checkout") or 0.0


def test_full_data_dir_answers_503_and_recovers(tmp_path: Path) -> None:
    agent = Agent(tmp_path, CONFIG, exporters="dora", env={"DISK_EVENTS_TOKEN": TOKEN})
    with tmpfs(agent.data_dir, "3m"), agent.start():
        status, _ = agent.request("POST", "/api/v1/events", events("before", 50), HEADERS)
        assert status == 200
        agent.wait_for("dora_deployments_total", 50.0, service="checkout")

        filler = fill(agent.data_dir)
        refused = events("full", 400)
        status, body = agent.request("POST", "/api/v1/events", refused, HEADERS)
        assert status == 503, body
        error = json.loads(body)["error"]
        assert "retry" in error and "store" in error, error
        # Scrapes, health and the status page do not need the disk.
        assert deployments(agent) == 50.0
        assert agent.request("GET", "/-/healthy")[0] == 200
        assert agent.request("GET", "/")[0] == 200
        assert agent.alive

        filler.unlink()  # space returns; the sender retries the same delivery
        status, body = agent.request("POST", "/api/v1/events", refused, HEADERS)
        assert status == 200, body
        assert json.loads(body)["stored"] == 400
        agent.wait_for("dora_deployments_total", 450.0, service="checkout")
        assert agent.stop() == 0

        store = sqlite3.connect(agent.data_dir / "dora" / "events.db")
        assert store.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        keys = [k for (k,) in store.execute("SELECT key FROM deployments")]
        assert len(keys) == len(set(keys)) == 450  # nothing lost, nothing stored twice
        store.close()
    assert "Traceback" not in agent.log()
    assert "DORA store commit failed" in agent.log() or "rejected a batch" in agent.log()


def test_read_only_data_dir_at_start_is_one_clear_line(tmp_path: Path) -> None:
    agent = Agent(tmp_path, CONFIG, exporters="dora", env={"DISK_EVENTS_TOKEN": TOKEN})
    with tmpfs(agent.data_dir, "1m", "ro"):
        with pytest.raises(RuntimeError, match="did not start"):
            agent.start()
        assert agent.proc is not None and agent.proc.returncode not in (0, None)
        lines = [line for line in agent.log().splitlines() if line.strip()]
        assert lines == [
            f"opslens run: data directory {agent.data_dir} is not writable: Read-only file system"
        ], lines
        assert not any(agent.data_dir.iterdir())  # nothing half-written

        subprocess.run(["mount", "-o", "remount,rw", str(agent.data_dir)], check=True)
        agent.log_path.unlink()
        with agent.start():
            status, _ = agent.request("POST", "/api/v1/events", events("rw", 3), HEADERS)
            assert status == 200
            agent.wait_for("dora_deployments_total", 3.0, service="checkout")


@contextlib.contextmanager
def ext4(path: Path, image: Path) -> Iterator[str]:
    """A small loop-mounted ext4 that turns read-only on its first error, like a real disk."""
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-o", "loop,errors=remount-ro", str(image), str(path)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        message = f"cannot loop-mount an ext4 image (needs root): {result.stderr.strip()}"
        unavailable(message)
    device = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield os.path.basename(device)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_data_dir_turning_read_only_answers_503_and_keeps_every_ack(tmp_path: Path) -> None:
    agent = Agent(tmp_path / "run", CONFIG, exporters="dora", env={"DISK_EVENTS_TOKEN": TOKEN})
    image = tmp_path / "disk.img"
    with ext4(agent.data_dir, image) as device:
        with agent.start():
            status, _ = agent.request("POST", "/api/v1/events", events("before", 50), HEADERS)
            assert status == 200
            agent.wait_for("dora_deployments_total", 50.0, service="checkout")

            # What the kernel does on a disk error: the filesystem goes read-only under it.
            Path(f"/sys/fs/ext4/{device}/trigger_fs_error").write_text("opslens test")
            refused = events("ro", 20)
            status, body = agent.request("POST", "/api/v1/events", refused, HEADERS)
            assert status == 503, body
            assert "retry" in json.loads(body)["error"]
            assert deployments(agent) == 50.0
            assert agent.request("GET", "/-/healthy")[0] == 200
            assert agent.alive
        # Repaired and mounted again (fsck, remount), the agent restarts on the same store.
        subprocess.run(["umount", str(agent.data_dir)], check=True)
        subprocess.run(["e2fsck", "-fy", str(image)], capture_output=True, check=False)
        subprocess.run(["mount", "-o", "loop", str(image), str(agent.data_dir)], check=True)
        with agent.start():
            agent.wait_for("dora_deployments_total", 50.0, service="checkout")
            status, body = agent.request("POST", "/api/v1/events", refused, HEADERS)
            assert status == 200, body
            agent.wait_for("dora_deployments_total", 70.0, service="checkout")
        store = sqlite3.connect(agent.data_dir / "dora" / "events.db")
        assert store.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert store.execute("SELECT count(*) FROM deployments").fetchone() == (70,)
        store.close()
    assert "Traceback" not in agent.log()
