"""The dependency direction of docs/architecture.md, read from the code's own imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "exporters")


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, with its line: top level, in functions, under TYPE_CHECKING."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            # importlib.import_module("agent.x") is an import too, just a late one.
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def edges() -> Counter[tuple[str, str]]:
    """(importing package, imported package) → number of import statements."""
    counts: Counter[tuple[str, str]] = Counter()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for _, module in imports(path):
                top = module.split(".")[0]
                if top in PACKAGES and top != package:
                    counts[(package, top)] += 1
    return counts


def test_exporters_never_import_agent() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in sorted((ROOT / "exporters").rglob("*.py"))
        for line, module in imports(path)
        if module.split(".")[0] == "agent"
    ]
    assert offenders == []


def test_the_agent_depends_on_the_exporters() -> None:
    # The other half of the direction: the walk must see real imports, or the test above
    # would pass on a walker that finds nothing.
    counts = edges()
    assert counts[("agent", "exporters")] > 0
    assert counts[("exporters", "agent")] == 0


def test_walker_sees_every_kind_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import agent.config\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from agent.settings import Settings\n"
        "def late():\n"
        "    from agent import app\n"
        "    return importlib.import_module('agent.runtime')\n",
        encoding="utf-8",
    )
    assert [m for _, m in imports(sample)] == [
        "agent.config",
        "typing",
        "agent.settings",
        "agent",
        "agent.runtime",
    ]


@pytest.mark.parametrize("section", ["cost", "dora", "app"])
def test_config_models_import_no_exporter_machinery(section: str) -> None:
    # `agent.config` assembles the sections: loading a config must not pull in boto3,
    # duckdb, aiohttp or psutil (validate and generate stay fast, and work without them).
    code = (
        f"import sys, exporters.{section}.config; "
        "heavy = {'boto3', 'duckdb', 'aiohttp', 'psutil', 'agent'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
