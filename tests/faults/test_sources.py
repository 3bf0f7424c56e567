"""Fault injection per source against one real agent process.

One agent polls eighteen sources every second, each with its own fake upstream or files,
so each test breaks exactly one source while the rest keep working. For every fault:
the agent stays up, `/metrics` answers, the source shows `opslens_source_up 0` and an
`opslens_source_errors_total` increase with the documented reason (docs/metrics.md),
its last good data is still served while its last success ages, and it recovers by
itself once the fault clears. Probes follow blackbox instead: a broken target is data
(`probe_success 0`), the probe source stays up.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.agent import Agent, Samples, pick
from tests.support.waiting import wait_until

from .rigs import (
    ENV,
    FakeCostExplorer,
    FaultyGitHub,
    FaultyGitLab,
    ProbeTarget,
    focus_csv,
    git_repo,
    one_deployment_forge,
)

pytestmark = pytest.mark.integration

POLL_TIMEOUT = 8  # seconds: longer than a rate-limited forge poll (6 attempts, 1 s apart)
CE_FAULTS = {"throttle": "throttled", "server": "server_error", "hang": "timeout", "auth": "auth"}
FORGE_FAULTS = {"server": "server_error", "ratelimit": "throttled", "hang": "timeout"}
PROBE_FAULTS = ("refuse", "hang", "expired")
# The reason `opslens_probe_failure` gives for each fault.
PROBE_REASONS = {"refuse": "refused", "hang": "timeout", "expired": "tls"}


@dataclass
class Rig:
    agent: Agent
    root: Path
    ce: dict[str, FakeCostExplorer]
    github: dict[str, FaultyGitHub]
    gitlab: dict[str, FaultyGitLab]
    probes: dict[str, ProbeTarget]


def config(ce: dict, github: dict, gitlab: dict, probes: dict) -> str:
    cost = [
        f"    - {{type: aws_cost_explorer, name: ce-{f}, endpoint_url: '{fake.url}', "
        "cost_types: [UnblendedCost], lookback_days: 10, refresh_days: 3}"
        for f, fake in ce.items()
    ]
    cost += [
        "    - {type: focus, name: focus-truncated, path: focus/truncated/*.csv.gz}",
        "    - {type: focus, name: focus-vanish, path: focus/vanish/*.csv}",
        "    - {type: focus, name: focus-dir, path: focus/dir/costs.csv}",
        "    - {type: focus, name: focus-fifo, path: focus/fifo/*.csv}",
    ]
    dora = [
        f"    - {{type: github, name: gh-{f}, repo: acme/web, service: gh-{f}, "
        f"token_env: GH_TOKEN, webhook_secret_env: GH_HOOK, api_url: '{fake.url}'}}"
        for f, fake in github.items()
    ]
    dora += [
        f"    - {{type: gitlab, name: gl-{f}, project: acme/web, service: gl-{f}, "
        f"token_env: GL_TOKEN, webhook_token_env: GL_HOOK, url: '{fake.url}'}}"
        for f, fake in gitlab.items()
    ]
    dora.append("    - {type: git, name: git-vanish, path: repos/vanish, service: git-vanish}")
    probe_lines = [
        f"    - {{name: probe-{f}, url: '{t.url}', interval: 1s, timeout: 1s, "
        f"ca_file: '{t.ca_file}'}}"
        for f, t in probes.items()
    ]
    return "\n".join(
        [
            "version: 1",
            "project: faults",
            f"agent: {{poll_timeout: {POLL_TIMEOUT}s}}",
            "cost:",
            "  poll_interval: 1s",
            "  daily_request_cap: 100000",
            "  settle_days: 0",
            "  sources:",
            *cost,
            "dora:",
            "  poll_interval: 1s",
            "  sources:",
            *dora,
            "app:",
            "  host: false",
            "  probes:",
            *probe_lines,
            "",
        ]
    )


def write_gz(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()))


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("faults")
    with ExitStack() as stack:
        ce = {f: stack.enter_context(FakeCostExplorer(f"svc-ce-{f}")) for f in CE_FAULTS}
        github = {
            f: stack.enter_context(FaultyGitHub("acme/web", one_deployment_forge()))
            for f in FORGE_FAULTS
        }
        gitlab = {
            f: stack.enter_context(FaultyGitLab("acme/web", one_deployment_forge()))
            for f in FORGE_FAULTS
        }
        probes = {f: stack.enter_context(ProbeTarget(root, f)) for f in PROBE_FAULTS}
        for name in ("truncated", "vanish", "dir", "fifo"):
            (root / "focus" / name).mkdir(parents=True)
        write_gz(root / "focus/truncated/costs.csv.gz", focus_csv("svc-focus-truncated"))
        (root / "focus/vanish/costs.csv").write_text(focus_csv("svc-focus-vanish"))
        (root / "focus/dir/costs.csv").write_text(focus_csv("svc-focus-dir"))
        (root / "focus/fifo/costs.csv").write_text(focus_csv("svc-focus-fifo"))
        git_repo(root / "repos/vanish")
        agent = Agent(root, config(ce, github, gitlab, probes), env=ENV)
        stack.callback(agent.stop)
        agent.start(timeout=60)
        yield Rig(agent, root, ce, github, gitlab, probes)


def data_value(samples: Samples, source: str) -> float | None:
    """The source's own data: its service's daily cost, or its deployments."""
    if source.startswith(("ce-", "focus-")):
        return pick(samples, "cloudcost_daily", service=f"svc-{source}", cost_type="billed")
    return pick(samples, "dora_deployments_total", service=source, environment="production")


def up(samples: Samples, exporter: str, source: str) -> float | None:
    return pick(samples, "opslens_source_up", exporter=exporter, source=source)


def errors(samples: Samples, exporter: str, source: str, reason: str) -> float:
    found = pick(
        samples, "opslens_source_errors_total", exporter=exporter, source=source, reason=reason
    )
    return found or 0.0


def unblock_fifo(path: Path) -> None:
    """Let every reader stuck opening the FIFO go (it reads EOF), then remove it."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader left
            break
        os.close(fd)
        time.sleep(0.05)
    path.unlink()


def focus_fault(root: Path, source: str) -> tuple[Callable[[], None], Callable[[], None], str]:
    """Break and repair one FOCUS source's files; the reason the break must give."""
    folder = root / "focus" / source.removeprefix("focus-")
    service = f"svc-{source}"
    if source == "focus-truncated":
        good = gzip.compress(focus_csv(service).encode())
        target = folder / "costs.csv.gz"
        return (
            lambda: target.write_bytes(good[: len(good) // 2]),
            lambda: target.write_bytes(good),
            "corrupt_file",
        )
    if source == "focus-vanish":
        target = folder / "costs.csv"
        return target.unlink, lambda: target.write_text(focus_csv(service)), "no_files"
    if source == "focus-dir":
        target = folder / "costs.csv"

        def to_dir() -> None:
            target.unlink()
            target.mkdir()

        def to_file() -> None:
            target.rmdir()
            target.write_text(focus_csv(service))

        return to_dir, to_file, "no_files"
    # A FIFO where an export manifest is looked for: opening it never returns.
    fifo = folder / "manifest.json"
    return lambda: os.mkfifo(fifo), lambda: unblock_fifo(fifo), "timeout"


def check_fault(
    rig: Rig,
    exporter: str,
    source: str,
    reason: str,
    inject: Callable[[], None],
    clear: Callable[[], None],
    stranded: bool = False,
) -> None:
    """Break one source, check it is down with its data kept, repair it, see it recover.

    `stranded`: the poll blocks a worker thread that cannot be stopped; the next polls
    must fail at once instead of stranding one more thread each.
    """
    agent = rig.agent
    # DORA data reaches /metrics with the store's next snapshot (every 15 s at most).
    before = wait_until(
        lambda: (
            s if up(s := agent.scrape(), exporter, source) == 1 and data_value(s, source) else None
        ),
        30,
        f"{source} up with data",
        interval=0.2,
    )
    good = data_value(before, source)
    errors_before = errors(before, exporter, source, reason)
    inject()
    try:
        broken = wait_until(
            lambda: (
                s
                if up(s := agent.scrape(), exporter, source) == 0
                and errors(s, exporter, source, reason) > errors_before
                else None
            ),
            POLL_TIMEOUT + 15,
            f"{source} down with reason {reason}",
            interval=0.1,
        )
        last = pick(
            broken,
            "opslens_source_last_success_timestamp_seconds",
            exporter=exporter,
            source=source,
        )
        assert last is not None
        assert data_value(broken, source) == good, "the last good data is no longer served"
        down = {
            dict(ls)["source"]
            for (n, ls), v in broken.items()
            if n == "opslens_source_up" and v == 0
        }
        assert down == {source}, "a fault in one source spilled over to others"
        # A second look half a second later: still down, same data, the same old last success.
        seen_down = time.time()
        later = wait_until(
            lambda: agent.scrape() if time.time() > seen_down + 0.5 else None,
            5,
            "a later scrape",
        )
        assert up(later, exporter, source) == 0
        assert data_value(later, source) == good
        assert (
            pick(
                later,
                "opslens_source_last_success_timestamp_seconds",
                exporter=exporter,
                source=source,
            )
            == last
        )
        assert time.time() - last > 1.0  # its data age grows
        assert agent.alive
        if stranded:
            line = f"source {exporter}/{source} failed (timeout: the previous poll is still running"
            wait_until(lambda: line in agent.log(), 10, line)
    finally:
        clear()
    recovered = agent.wait_for(
        "opslens_source_up", 1.0, timeout=POLL_TIMEOUT + 20, exporter=exporter, source=source
    )
    assert data_value(recovered, source) == good
    new_last = pick(
        recovered, "opslens_source_last_success_timestamp_seconds", exporter=exporter, source=source
    )
    assert new_last is not None and new_last > last
    assert "Traceback" not in agent.log()


@pytest.mark.parametrize("fault", CE_FAULTS)
def test_cost_explorer_fault(rig: Rig, fault: str) -> None:
    fake = rig.ce[fault]

    def inject() -> None:
        fake.fault = fault

    def clear() -> None:
        fake.fault = None

    check_fault(rig, "cost", f"ce-{fault}", CE_FAULTS[fault], inject, clear, fault == "hang")


@pytest.mark.parametrize("forge", ["github", "gitlab"])
@pytest.mark.parametrize("fault", FORGE_FAULTS)
def test_forge_fault(rig: Rig, forge: str, fault: str) -> None:
    fake = (rig.github if forge == "github" else rig.gitlab)[fault]
    source = f"{'gh' if forge == 'github' else 'gl'}-{fault}"

    def inject() -> None:
        fake.fault = fault

    def clear() -> None:
        fake.fault = None

    check_fault(rig, "dora", source, FORGE_FAULTS[fault], inject, clear)
    if fault == "server":
        # One retry, then the poll fails: not a minute of retries against a sick forge.
        assert fake.faulted >= 2


@pytest.mark.parametrize("source", ["focus-truncated", "focus-vanish", "focus-dir", "focus-fifo"])
def test_focus_file_fault(rig: Rig, source: str) -> None:
    inject, clear, reason = focus_fault(rig.root, source)
    check_fault(rig, "cost", source, reason, inject, clear, source == "focus-fifo")


def test_git_repository_vanishes(rig: Rig) -> None:
    repo = rig.root / "repos/vanish"
    moved = rig.root / "repos/vanish.moved"
    check_fault(
        rig,
        "dora",
        "git-vanish",
        "git",
        lambda: shutil.move(repo, moved),
        lambda: shutil.move(moved, repo),
    )


@pytest.mark.parametrize("fault", PROBE_FAULTS)
def test_probe_target_fault_is_data(rig: Rig, fault: str) -> None:
    agent, target, probe = rig.agent, rig.probes[fault], f"probe-{fault}"
    agent.wait_for("probe_success", 1.0, probe=probe)
    target.set_fault(fault)
    try:
        failed = agent.wait_for("probe_success", 0.0, probe=probe)
        # The prober worked: the source stays up, as blackbox's probe does.
        assert up(failed, "app", f"probe:{probe}") == 1
        # ...and says why the target failed.
        reason = PROBE_REASONS[fault]
        assert pick(failed, "opslens_probe_failure", probe=probe, reason=reason) == 1
        if fault == "hang":
            duration = pick(failed, "probe_duration_seconds", probe=probe)
            assert duration is not None and 0.9 < duration < 3
        assert agent.alive
    finally:
        target.set_fault(None)
    recovered = agent.wait_for("probe_success", 1.0, probe=probe)
    assert pick(recovered, "opslens_probe_failure", probe=probe) is None
