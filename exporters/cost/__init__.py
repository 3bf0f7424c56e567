"""Cloud cost exporter: AWS Cost Explorer and FOCUS billing files → Prometheus."""

from __future__ import annotations

from agent.config import Config
from exporters.base import Context

from .exporter import SOURCES, CostExporter, CostSnapshot

__all__ = ["SOURCES", "CostExporter", "CostSnapshot", "build"]


def build(config: Config, ctx: Context) -> CostExporter:
    """Build the cost exporter and its sources from the config."""
    return CostExporter.from_config(config, ctx)
