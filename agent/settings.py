"""Runtime settings for the agent: the loaded config, the chosen exporters, the context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.config import Config
from agent.exporters_table import EXPORTER_NAMES
from exporters.base import Context


@dataclass(frozen=True)
class Settings:
    config: Config
    context: Context
    exporters: tuple[str, ...] = EXPORTER_NAMES
    # Where `config` came from: a reload (SIGHUP, POST /-/reload) reads this file again.
    config_path: Path | None = None
