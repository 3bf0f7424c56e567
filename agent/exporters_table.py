"""Which exporter serves which name: its builder, its config section, its web adapter.

Builders are import paths resolved on use, so `opslens run app` never imports boto3 or
duckdb, and adding an exporter is one entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporters.base import Context, Exporter

from .config import Config


@dataclass(frozen=True)
class Entry:
    build: str  # `module:function` taking (its config section, Context)
    section: Callable[[Config], Any]
    # `setup(app)` adding the exporter's HTTP routes (webhooks), if any.
    web: str | None = None


EXPORTERS: dict[str, Entry] = {
    "cost": Entry("exporters.cost.exporter:build", lambda c: c.cost),
    "dora": Entry("exporters.dora.exporter:build", lambda c: c.dora, "agent.web.dora:setup"),
    "app": Entry("exporters.app.exporter:build", lambda c: c.app),
}
EXPORTER_NAMES = tuple(EXPORTERS)


def resolve(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def build_exporter(name: str, config: Config, ctx: Context) -> Exporter:
    entry = EXPORTERS[name]
    builder: Callable[[Any, Context], Exporter] = resolve(entry.build)
    return builder(entry.section(config), ctx)


def web_setup(name: str) -> Callable[..., None] | None:
    """The web adapter of an exporter, or None when it has no routes."""
    target = EXPORTERS[name].web if name in EXPORTERS else None
    return resolve(target) if target else None
