"""`opslens backfill dora --since 90d`: pull history into the DORA store."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.config import Duration
from agent.exporters_table import resolve
from exporters.base import Context

from .common import EXIT_INVALID, add_config_arg, load_or_report


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("backfill", help="pull DORA history from GitHub/GitLab/git")
    p.add_argument("exporter", choices=["dora"])
    add_config_arg(p)
    p.add_argument("--since", type=Duration.parse, default=Duration.parse("90d"))
    p.add_argument("--data-dir", type=Path, help="state folder (default: agent.data_dir)")


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    config_dir = args.config.resolve().parent
    ctx = Context(
        data_dir=args.data_dir or config_dir / config.agent.data_dir, config_dir=config_dir
    )
    # Imported on use: the store and pollers pull in aiohttp and SQLite setup.
    backfill = resolve("exporters.dora.backfill:run")
    return int(backfill(config.dora, ctx, args.since.seconds_f))
