"""`opslens` command line: `main(argv) -> int`, one module per subcommand."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from agent import __version__

from . import backfill, check, generate, init, report, run, up, validate

COMMANDS = {
    "init": init,
    "validate": validate,
    "generate": generate,
    "check": check,
    "run": run,
    "up": up,
    "backfill": backfill,
    "report": report,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="opslens",
        description="Cost, DORA and application metrics with a generated Prometheus stack.",
    )
    p.add_argument("--version", action="version", version=f"opslens {__version__}")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for _name, module in COMMANDS.items():
        module.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return int(COMMANDS[args.command].run(args))


def entrypoint() -> None:
    sys.exit(main())
