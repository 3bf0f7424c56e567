"""`opslens validate`: check the config, print every error with file and line."""

from __future__ import annotations

import argparse

from .common import EXIT_INVALID, add_config_arg, load_or_report


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate", help="validate the config")
    add_config_arg(p)


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    print(f"{args.config}: valid (project {config.project})")
    return 0
