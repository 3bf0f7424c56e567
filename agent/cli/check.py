"""`opslens check`: placeholder until the checker lands (foundation issue)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check", help="run promtool/amtool/kubectl on the generated files")


def run(args: argparse.Namespace) -> int:
    return 3
