"""Typed application keys shared by the agent's web modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from agent.app import AgentState

# One mutable holder, not one key per part: a reload swaps the settings, the runtime and
# the token together, and aiohttp forbids changing an application's keys once started.
AGENT: web.AppKey[AgentState] = web.AppKey("agent")
