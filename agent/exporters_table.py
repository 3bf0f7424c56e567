"""Which exporter package serves which name, and which web adapter it has.

Entries are import paths resolved on use, so `opslens run app` never imports boto3
or duckdb, and adding an exporter is one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from exporters.base import Context, Exporter

from .config import Config

EXPORTERS: dict[str, str] = {
    "cost": "exporters.cost:build",
    "dora": "exporters.dora:build",
    "app": "exporters.app:build",
}

# Web adapters: `setup(app, exporter)` adds an exporter's HTTP routes (webhooks).
WEB_ROUTES: dict[str, str] = {
    "dora": "agent.web.dora:setup",
}


def resolve(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def build_exporter(name: str, config: Config, ctx: Context) -> Exporter:
    builder: Callable[[Config, Context], Exporter] = resolve(EXPORTERS[name])
    return builder(config, ctx)
