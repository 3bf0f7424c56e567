"""Typed application keys shared by the agent's web modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from agent.runtime import Runtime
    from agent.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")
METRICS_TOKEN: web.AppKey[str | None] = web.AppKey("metrics_token")
