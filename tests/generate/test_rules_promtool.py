"""The generated rules and their unit tests, run through the real promtool."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.config import Config, load
from agent.generate import rules
from agent.generate.artefact import dump_yaml, write
from agent.generate.hosts import COMPOSE
from agent.generate.rules.common import num
from tests.support.procs import require

from .test_rules import periods, small

pytestmark = pytest.mark.integration

FAILED_ALERT = re.compile(r"alertname: ([A-Za-z0-9]+),")
CONFIGS: dict[str, Callable[[], Config]] = {"small": small, "periods": periods}


def generated(config: Config, outdir: Path) -> Path:
    write(rules.render(config, COMPOSE), outdir)
    return outdir / "rules"


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def pack_test_files(folder: Path, pack: rules.Pack) -> list[str]:
    """The pack's promtool test files, relative to the rules folder."""
    names = [
        f"{pack.name}.test.yml",
        *(f"{pack.name}.{t.suffix}.test.yml" for t in pack.more_tests),
    ]
    assert all((folder / "tests" / n).exists() for n in names), names
    return [f"tests/{n}" for n in names]


def promtool_tests(folder: Path, files: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Run `promtool test rules` on each file, as many at once as there are cores."""
    promtool = require("promtool")
    results: dict[str, tuple[int, str]] = {}
    pending = list(files)
    running: dict[str, subprocess.Popen[str]] = {}
    while pending or running:
        while pending and len(running) < (os.cpu_count() or 1):
            name = pending.pop(0)
            running[name] = subprocess.Popen(
                [promtool, "test", "rules", name],
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        name = next(iter(running))
        output, _ = running[name].communicate(timeout=300)
        results[name] = (running.pop(name).returncode, output)
    return results


@pytest.fixture(scope="module")
def reference_config(request: pytest.FixtureRequest) -> Config:
    return load(Path(request.config.rootpath) / "opslens.yaml")


@pytest.fixture(params=["reference", "small", "periods"])
def config(request: pytest.FixtureRequest, reference_config: Config) -> Config:
    return reference_config if request.param == "reference" else CONFIGS[request.param]()


def test_promtool_checks_every_rules_file(config: Config, tmp_path: Path) -> None:
    promtool = require("promtool")
    folder = generated(config, tmp_path)
    files = sorted(p.name for p in folder.glob("*.rules.yml"))
    assert files
    result = run([promtool, "check", "rules", *files], folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_promtool_unit_tests_pass(config: Config, tmp_path: Path) -> None:
    folder = generated(config, tmp_path)
    packs = rules.packs(config)
    files = [f for pack in packs for f in pack_test_files(folder, pack)]
    assert sorted(files) == sorted(str(p.relative_to(folder)) for p in folder.glob("tests/*.yml"))
    assert len(packs) == len(list(folder.glob("*.rules.yml")))
    for name, (code, output) in promtool_tests(folder, files).items():
        assert code == 0 and "SUCCESS" in output, f"{name}:\n{output}"


def _mutate(folder: Path, pack: rules.Pack, change: Callable[[dict[str, Any]], str]) -> None:
    groups = [
        {**g, "rules": [{**r, "expr": change(r)} if "alert" in r else r for r in g["rules"]]}
        for g in pack.groups
    ]
    (folder / f"{pack.name}.rules.yml").write_text(dump_yaml({"groups": groups}))


@pytest.mark.parametrize(
    ("mutation", "expr"),
    [("never fire", "vector(1) == 0"), ("always fire", "vector(1)")],
)
def test_promtool_cases_catch_broken_alerts(
    reference_config: Config, tmp_path: Path, mutation: str, expr: str
) -> None:
    """Every alert's cases fail when its rule never fires, and when it always fires."""
    folder = generated(reference_config, tmp_path)
    packs = [p for p in rules.packs(reference_config) if p.name != "custom"]
    for pack in packs:
        _mutate(folder, pack, lambda rule: expr)
    results = promtool_tests(folder, [f for pack in packs for f in pack_test_files(folder, pack)])
    for pack in packs:
        outputs = [results[f] for f in pack_test_files(folder, pack)]
        assert any(code == 1 for code, _ in outputs), f"{pack.name} ({mutation})"
        caught = {name for _, out in outputs for name in FAILED_ALERT.findall(out)}
        missed = {r["alert"] for r in pack.alerts()} - caught
        assert not missed, f"{pack.name}: {mutation} went unnoticed for {sorted(missed)}"


# --- SLO window pairs: a wrong window or a wrong factor must fail the pair's own checks ---

_BLOCK = re.compile(
    r"alertname: (\w+), time: ([^,]+),\s*\n\s*exp:(.*?)\n\s*got:(.*?)"
    r"(?=\n\s*(?:name:|alertname:|expr:)|\Z)",
    re.S,
)
_ALERT = re.compile(r"Labels:(\{[^\n]*\})\s*\n\s*Annotations:(\{[^\n]*\}),?\n")
_PAIR = re.compile(r'long="([^"]+)".*short="([^"]+)"')


def differing_pairs(output: str) -> set[tuple[str, str]]:
    """(alert, long/short) of every alert that promtool saw differ from its expectation."""
    out = set()
    for alert, _, exp, got in _BLOCK.findall(output):
        # Each pair is its own rule, so an alert on one side only is that pair's doing.
        for labels, _ in set(_ALERT.findall(exp + "\n")) ^ set(_ALERT.findall(got + "\n")):
            if match := _PAIR.search(labels):
                out.add((alert, f"{match.group(1)}/{match.group(2)}"))
    return out


def _windows(pack: rules.Pack) -> list[str]:
    """The windows the pack records a burn rate for, shortest first (rule order)."""
    prefix = "opslens_slo:burn_rate:ratio_rate"
    return [
        r["record"].removeprefix(prefix)
        for r in pack.groups[0]["rules"]
        if r.get("record", "").startswith(prefix)
    ]


def _other(window: str, windows: list[str]) -> str:
    """A neighbouring window: the next longer one, or the next shorter for the longest."""
    i = windows.index(window)
    return windows[i + 1] if i + 1 < len(windows) else windows[i - 1]


def _wrong(kind: str, windows: list[str]) -> Callable[[dict[str, Any]], str]:
    def change(rule: dict[str, Any]) -> str:
        expr: str = rule["expr"]
        long, short = rule["labels"].get("long"), rule["labels"].get("short")
        if long is None or short is None:
            return expr  # not a burn-rate pair
        if kind == "long window":
            other = _other(long, windows)
            lines = expr.split("\n")
            lines[0] = lines[0].replace(f"ratio_rate{long}{{", f"ratio_rate{other}{{")
            lines[-1] = lines[-1].replace(f"increase{long}{{", f"increase{other}{{")
            return "\n".join(lines)
        if kind == "short window":
            other = _other(short, windows)
            return (
                expr.replace(f"ratio_rate{short}{{", f"ratio_rate{other}{{", 1)
                if short != long
                else expr
            )
        scale = Decimal(2) if kind == "factor doubled" else Decimal("0.5")
        return re.sub(r"> ([0-9.]+)\n", lambda m: f"> {num(Decimal(m.group(1)) * scale)}\n", expr)

    return change


@pytest.mark.parametrize("kind", ["long window", "short window", "factor doubled", "factor halved"])
def test_slo_cases_catch_a_wrong_window_or_factor(tmp_path: Path, kind: str) -> None:
    """For 1d, 7d, 28d and 30d SLOs, each window pair's checks fail when its rule is wrong."""
    config = periods()
    folder = generated(config, tmp_path)
    packs = [p for p in rules.packs(config) if p.name.startswith("slo-")]
    assert len(packs) == 4
    for pack in packs:
        _mutate(folder, pack, _wrong(kind, _windows(pack)))
    results = promtool_tests(folder, [f for pack in packs for f in pack_test_files(folder, pack)])
    for pack in packs:
        outputs = [results[f][1] for f in pack_test_files(folder, pack)]
        caught = {pair for output in outputs for pair in differing_pairs(output)}
        pairs = {
            (r["alert"], f"{r['labels']['long']}/{r['labels']['short']}")
            for r in pack.alerts()
            if "long" in r["labels"]
        }
        assert len(pairs) == 4
        assert not pairs - caught, (
            f"{pack.name}: a {kind} went unnoticed for {sorted(pairs - caught)}"
        )
