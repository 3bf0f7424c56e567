"""Helpers shared by subcommands: config loading with the standard error print."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.config import Config, ConfigError, load

EXIT_INVALID = 2


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, default=Path("opslens.yaml"), help="config file")


def load_or_report(path: Path) -> Config | None:
    """Load the config; on errors print each as FILE:LINE: path: message and return None."""
    try:
        return load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None
