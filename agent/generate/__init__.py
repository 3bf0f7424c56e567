"""The generator pipeline: config → pure renderers → artefacts → one writer."""

from __future__ import annotations

from collections.abc import Callable

from agent.config import Config

from . import alertmanager, compose, grafana, k8s, prometheus, rules
from .artefact import HEADER, Artefact, drift, serialise, write
from .hosts import COMPOSE, Hosts

Renderer = Callable[[Config, Hosts], list[Artefact]]

RENDERERS: tuple[Renderer, ...] = (
    prometheus.render,
    rules.render,
    alertmanager.render,
    grafana.render,
    compose.render,
    k8s.render,
)


def render_all(config: Config, hosts: Hosts = COMPOSE) -> list[Artefact]:
    """Every artefact for this config, sorted by path; paths are unique."""
    artefacts = [a for render in RENDERERS for a in render(config, hosts)]
    paths = [a.path for a in artefacts]
    if len(paths) != len(set(paths)):
        raise ValueError("two renderers produced the same path")
    return sorted(artefacts, key=lambda a: a.path)


__all__ = ["HEADER", "Artefact", "Hosts", "drift", "render_all", "serialise", "write"]
