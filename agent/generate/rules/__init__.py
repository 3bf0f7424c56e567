"""`rules/<pack>.rules.yml` and `rules/tests/<pack>.test.yml`, one pair per rule pack.

Each pack module turns the config into Prometheus rule groups plus the promtool cases
that make every alert fire on a synthetic breach and stay silent on healthy series.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.config import Config

from ..artefact import Artefact
from ..hosts import Hosts
from ..naming import rules_file, rules_test_file
from . import cost, custom, dora, exporters, host, http, probes, slo
from .common import Pack
from .promtool import test_file

PackBuilder = Callable[[Config], Pack | None]

PACKS: tuple[PackBuilder, ...] = (
    slo.build,
    http.build,
    probes.build,
    host.build,
    cost.build,
    dora.build,
    exporters.build,
    custom.build,
)


def packs(config: Config) -> list[Pack]:
    """The packs this config enables and has inputs for, in a stable order."""
    return [p for build in PACKS if (p := build(config)) is not None]


def rule_groups(config: Config) -> dict[str, list[dict[str, Any]]]:
    """Pack name (the `<pack>` of rules/<pack>.rules.yml) → its Prometheus rule groups."""
    return {p.name: p.groups for p in packs(config)}


def render(config: Config, hosts: Hosts) -> list[Artefact]:
    out = []
    for pack in packs(config):
        out.append(Artefact(rules_file(pack.name), {"groups": pack.groups}))
        out.append(Artefact(rules_test_file(pack.name), test_file(pack)))
    return out


__all__ = ["Pack", "packs", "render", "rule_groups"]
