"""`opslens up`: placeholder until the native stack lands (foundation issue)."""

from __future__ import annotations

import argparse

from .common import add_config_arg


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("up", help="run agent, Prometheus, Alertmanager (and Grafana) locally")
    add_config_arg(p)
    p.add_argument("--demo", action="store_true", help="use built-in demo data")


def run(args: argparse.Namespace) -> int:
    return 3
