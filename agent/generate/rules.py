"""Placeholder until the rules renderer lands (foundation issue, in progress)."""

from agent.config import Config

from .artefact import Artefact
from .hosts import Hosts


def render(config: Config, hosts: Hosts) -> list[Artefact]:
    return []
