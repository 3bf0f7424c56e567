"""DORA exporter: deployments, commits and incidents from GitHub, GitLab, git, generic
events and Alertmanager, kept in a durable store, exposed as the four keys and rework rate.
"""

from __future__ import annotations

from agent.config import Config
from exporters.base import Context

from .exporter import DoraExporter


def build(config: Config, ctx: Context) -> DoraExporter:
    """Build the DORA exporter from the config."""
    return DoraExporter(config, ctx)


__all__ = ["DoraExporter", "build"]
