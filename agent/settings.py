"""Runtime settings for the agent: the loaded config plus what the command line chose."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import Config
from exporters.base import Clock, Context

EXPORTER_NAMES = ("cost", "dora", "app")


@dataclass(frozen=True)
class Settings:
    config: Config
    exporters: tuple[str, ...] = EXPORTER_NAMES
    data_dir: Path = Path(".opslens")
    clock: Clock = time.time
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    demo: bool = False
    config_dir: Path = Path(".")

    def context(self) -> Context:
        return Context(
            data_dir=self.data_dir,
            clock=self.clock,
            env=self.env,
            demo=self.demo,
            config_dir=self.config_dir,
        )
