"""The generated rules and their unit tests, run through the real promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from agent.config import Config, load
from agent.generate import rules
from agent.generate.artefact import dump_yaml, write
from agent.generate.hosts import COMPOSE
from tests.support.procs import require

from .test_rules import small

pytestmark = pytest.mark.integration

FAILED_ALERT = re.compile(r"alertname: ([A-Za-z0-9]+),")


def generated(config: Config, outdir: Path) -> Path:
    write(rules.render(config, COMPOSE), outdir)
    return outdir / "rules"


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def reference_config(request: pytest.FixtureRequest) -> Config:
    return load(Path(request.config.rootpath) / "opslens.yaml")


@pytest.fixture(params=["reference", "small"])
def config(request: pytest.FixtureRequest, reference_config: Config) -> Config:
    return reference_config if request.param == "reference" else small()


def test_promtool_checks_every_rules_file(config: Config, tmp_path: Path) -> None:
    promtool = require("promtool")
    folder = generated(config, tmp_path)
    files = sorted(p.name for p in folder.glob("*.rules.yml"))
    assert files
    result = run([promtool, "check", "rules", *files], folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_promtool_unit_tests_pass(config: Config, tmp_path: Path) -> None:
    promtool = require("promtool")
    folder = generated(config, tmp_path)
    tests = sorted(str(p.relative_to(folder)) for p in folder.glob("tests/*.test.yml"))
    assert len(tests) == len(list(folder.glob("*.rules.yml")))
    result = run([promtool, "test", "rules", *tests], folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def _mutate(folder: Path, pack: rules.Pack, expr: str) -> None:
    groups = [
        {**g, "rules": [{**r, "expr": expr} if "alert" in r else r for r in g["rules"]]}
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
    promtool = require("promtool")
    folder = generated(reference_config, tmp_path)
    packs = [p for p in rules.packs(reference_config) if p.name != "custom"]
    for pack in packs:
        _mutate(folder, pack, expr)
    procs = {
        pack.name: subprocess.Popen(
            [promtool, "test", "rules", f"tests/{pack.name}.test.yml"],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for pack in packs
    }
    for pack in packs:
        output, _ = procs[pack.name].communicate(timeout=120)
        assert procs[pack.name].returncode == 1, f"{pack.name} ({mutation}):\n{output}"
        caught = set(FAILED_ALERT.findall(output))
        missed = {r["alert"] for r in pack.alerts()} - caught
        assert not missed, f"{pack.name}: {mutation} went unnoticed for {sorted(missed)}"
