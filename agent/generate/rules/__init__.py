"""`rules/<pack>.rules.yml` and `rules/tests/<pack>.test.yml`, one pair per rule pack.

Each pack module has two builders over the config: `groups`, the Prometheus rule groups
(none when the pack is off or has no inputs), and `cases`, the promtool cases that make
every alert fire on a synthetic breach and stay silent on healthy series. The SLO pack
instead builds one pack per SLO (`rules/slo-<service>-<name>.rules.yml`): promtool
evaluates every rule of a file at every step of every case, so one file per SLO keeps
the tests linear in the number of SLOs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.config import Config

from ..artefact import Artefact
from ..hosts import Hosts
from ..naming import rules_file, rules_test_file
from . import cost, custom, dora, exporters, host, http, probes, slo
from .common import Case, Group, Pack
from .promtool import test_file


@dataclass(frozen=True)
class Builders:
    """The two builders of one rule pack, and how often its promtool cases evaluate."""

    name: str
    groups: Callable[[Config], list[Group]]
    cases: Callable[[Config], list[Case]]
    evaluation_interval: str = "1m"
    # Build the packs (and, without their cases, their groups) one per item, in place of
    # one pack named `name`.
    split: Callable[[Config], list[Pack]] | None = None
    split_groups: Callable[[Config], dict[str, list[Group]]] | None = None

    def packs(self, config: Config) -> list[Pack]:
        if self.split is not None:
            return self.split(config)
        if groups := self.groups(config):
            return [Pack(self.name, groups, self.cases(config), self.evaluation_interval)]
        return []


PACKS: tuple[Builders, ...] = (
    Builders(slo.NAME, slo.groups, slo.cases, split=slo.packs, split_groups=slo.pack_groups),
    Builders(http.NAME, http.groups, http.cases),
    Builders(probes.NAME, probes.groups, probes.cases),
    Builders(host.NAME, host.groups, host.cases),
    Builders(cost.NAME, cost.groups, cost.cases),
    Builders(dora.NAME, dora.groups, dora.cases, dora.EVALUATION_INTERVAL),
    Builders(exporters.NAME, exporters.groups, exporters.cases),
    Builders(custom.NAME, custom.groups, custom.cases),
)


def packs(config: Config) -> list[Pack]:
    """Assemble the packs this config enables and has inputs for, in a stable order."""
    return [pack for b in PACKS for pack in b.packs(config)]


def rule_groups(config: Config) -> dict[str, list[Group]]:
    """Map each pack name (the `<pack>` of rules/<pack>.rules.yml) to its rule groups."""
    out: dict[str, list[Group]] = {}
    for b in PACKS:
        if b.split_groups is not None:
            out |= b.split_groups(config)
        elif groups := b.groups(config):
            out[b.name] = groups
    return out


def groups(config: Config) -> list[Group]:
    """Return the groups of every rules file, in the order of the files' paths."""
    by_pack = rule_groups(config)
    return [group for name in sorted(by_pack, key=rules_file) for group in by_pack[name]]


def render(config: Config, hosts: Hosts) -> list[Artefact]:
    out = []
    for pack in packs(config):
        out.append(Artefact(rules_file(pack.name), {"groups": pack.groups}))
        out.append(Artefact(rules_test_file(pack.name), test_file(pack)))
        for more in pack.more_tests:
            out.append(
                Artefact(rules_test_file(f"{pack.name}.{more.suffix}"), test_file(pack, more))
            )
    return out


__all__ = ["PACKS", "Builders", "Pack", "groups", "packs", "render", "rule_groups"]
