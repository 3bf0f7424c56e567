"""`opslens init`: write a commented starter config."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("init", help="write a commented starter opslens.yaml")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."))
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def starter_text() -> str:
    return resources.files("agent.cli").joinpath("starter.yaml").read_text(encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    target = args.dir / "opslens.yaml"
    if target.exists() and not args.force:
        print(f"{target} exists; use --force to overwrite", file=sys.stderr)
        return 1
    args.dir.mkdir(parents=True, exist_ok=True)
    target.write_text(starter_text(), encoding="utf-8")
    print(f"wrote {target}; next: opslens validate -c {target}")
    return 0
