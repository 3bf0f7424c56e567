"""Cross-field rules that need the whole config: names that refer to other names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from exporters.config import SEVERITIES
from exporters.cost.model import BASE_LABELS as COST_LABELS

from .models import Config

Path = tuple[str | int, ...]
Issue = tuple[Path, str]


def _duplicates(items: Iterable[tuple[Path, str]], what: str) -> Iterator[Issue]:
    seen: dict[str, Path] = {}
    for path, name in items:
        if name in seen:
            yield path, f"duplicate {what} {name!r}"
        else:
            seen[name] = path


def cross_check(config: Config) -> list[Issue]:
    """Return every cross-reference problem, in file order as far as sections go."""
    return [*_sources(config), *_cost(config), *_slos(config), *_app(config), *_notify(config)]


def _sources(config: Config) -> Iterator[Issue]:
    named: list[tuple[Path, str]] = [
        (("cost", "sources", i, "name"), s.name) for i, s in enumerate(config.cost.sources)
    ]
    named += [(("dora", "sources", i, "name"), s.name) for i, s in enumerate(config.dora.sources)]
    yield from _duplicates(named, "source name")
    events = [i for i, s in enumerate(config.dora.sources) if s.type == "events"]
    for i in events[1:]:
        yield ("dora", "sources", i, "type"), "only one events source is allowed"
    jobs = [(("targets", i, "job"), t.job) for i, t in enumerate(config.targets)]
    reserved = {"opslens", "prometheus", "alertmanager"}
    for path, job in jobs:
        if job in reserved:
            yield path, f"job name {job!r} is reserved for the generated scrape configs"
    yield from _duplicates(jobs, "job")


def _cost(config: Config) -> Iterator[Issue]:
    budgets = config.cost.budgets
    yield from _duplicates(
        ((("cost", "budgets", i, "name"), b.name) for i, b in enumerate(budgets)), "budget"
    )
    allowed = set(COST_LABELS) | set(config.cost.labels_from_tags)
    for i, budget in enumerate(budgets):
        for label in budget.match:
            if label not in allowed:
                yield (
                    ("cost", "budgets", i, "match", label),
                    f"unknown cost label {label!r}: use one of {', '.join(sorted(allowed))}",
                )
    for label in config.cost.labels_from_tags:
        if label in COST_LABELS:
            yield ("cost", "labels_from_tags", label), f"{label!r} is already a cost label"
    included = config.cost.include_charge_categories
    for i, budget in enumerate(budgets):
        category = budget.match.get("charge_category")
        # Such a budget would read 0 for ever: the category is removed before any sum.
        if included is not None and category is not None and category not in included:
            yield (
                ("cost", "budgets", i, "match", "charge_category"),
                f"charge category {category!r} is left out by cost.include_charge_categories",
            )


def _slos(config: Config) -> Iterator[Issue]:
    yield from _duplicates(
        ((("slos", i, "name"), f"{s.service}/{s.name}") for i, s in enumerate(config.slos)),
        "SLO",
    )


def _app(config: Config) -> Iterator[Issue]:
    yield from _duplicates(
        ((("app", "probes", i, "name"), p.name) for i, p in enumerate(config.app.probes)), "probe"
    )
    yield from _duplicates(
        ((("app", "processes", i, "group"), p.group) for i, p in enumerate(config.app.processes)),
        "process group",
    )


def _notify(config: Config) -> Iterator[Issue]:
    notify = config.notify
    for severity in SEVERITIES if notify.receivers else ():
        if not notify.escalation.get(severity):
            yield ("notify", "escalation"), f"severity {severity!r} has no receivers"
    chains: list[tuple[Path, dict[Any, list[str]]]] = [
        (("notify", "escalation"), notify.escalation)
    ]
    chains += [
        (("notify", "teams", team, "escalation"), t.escalation) for team, t in notify.teams.items()
    ]
    for base, escalation in chains:
        for severity, names in escalation.items():
            for i, name in enumerate(names):
                if name not in notify.receivers:
                    yield (*base, severity, i), f"unknown receiver {name!r}"
            yield from _duplicates(
                (((*base, severity, i), n) for i, n in enumerate(names)), "receiver"
            )
    owner: dict[str, str] = {}
    for team, t in notify.teams.items():
        for i, service in enumerate(t.services):
            if service in owner:
                yield (
                    ("notify", "teams", team, "services", i),
                    f"service {service!r} already belongs to team {owner[service]!r}",
                )
            owner.setdefault(service, team)
