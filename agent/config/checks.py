"""Cross-field rules that need the whole config: names that refer to other names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from exporters.config import SEVERITIES, Duration
from exporters.cost.model import BASE_LABELS as COST_LABELS

from . import slo_policy
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
    return [
        *_sources(config),
        *_open_routes(config),
        *_cost(config),
        *_focus_paths(config),
        *_slos(config),
        *_app(config),
        *_notify(config),
    ]


OPEN = "allow_unauthenticated: true to accept it without one (a trusted network only)"


def _open_routes(config: Config) -> Iterator[Issue]:
    """Ingest routes that would accept anyone: refused unless explicitly allowed.

    A GitHub/GitLab source with a `token_env` and no webhook secret is a poller; its
    webhook deliveries are refused (401), so it is not an open route.
    """
    for i, s in enumerate(config.dora.sources):
        at: Path = ("dora", "sources", i)
        if s.type == "events" and not (s.token_env or s.allow_unauthenticated):
            yield (*at, "token_env"), f"POST /api/v1/events would be open: set token_env, or {OPEN}"
        elif s.type == "github" and not (
            s.webhook_secret_env or s.token_env or s.allow_unauthenticated
        ):
            yield (
                (*at, "webhook_secret_env"),
                f"POST /webhooks/github would be open: set webhook_secret_env, or {OPEN}",
            )
        elif s.type == "gitlab" and not (
            s.webhook_token_env or s.token_env or s.allow_unauthenticated
        ):
            yield (
                (*at, "webhook_token_env"),
                f"POST /webhooks/gitlab would be open: set webhook_token_env, or {OPEN}",
            )
    am = config.dora.incidents.alertmanager
    if am.enabled and not (am.token_env or am.allow_unauthenticated):
        yield (
            ("dora", "incidents", "alertmanager", "token_env"),
            f"POST /webhooks/alertmanager would be open: set token_env, or {OPEN}",
        )


def _focus_paths(config: Config) -> Iterator[Issue]:
    """FOCUS globs stay under their folder: a `..` component could read any file."""
    for i, s in enumerate(config.cost.sources):
        if s.type == "focus" and ".." in re.split(r"[/\\]", s.path):
            yield (
                ("cost", "sources", i, "path"),
                "'..' is not allowed in a FOCUS path: point at the export folder itself",
            )


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
    slos = list(enumerate(config.slos))
    yield from _duplicates(((("slos", i, "name"), f"{s.service}/{s.name}") for i, s in slos), "SLO")
    yield from _same_alert_names(config)
    scrape = config.prometheus.scrape_interval
    for i, slo in slos:
        if not slo_policy.enough_scrapes(slo.window, scrape):
            yield ("slos", i, "window"), _too_few_scrapes(slo.window, scrape)
    yield from _retention(config)


def _camel(text: str) -> str:
    # As the alert names spell it (agent.generate.naming.camel): shop-api → ShopApi.
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[-_.]", text) if w)


def _same_alert_names(config: Config) -> Iterator[Issue]:
    seen: dict[str, str] = {}
    for i, slo in enumerate(config.slos):
        key, name = _camel(slo.service) + _camel(slo.name), f"{slo.service}/{slo.name}"
        if key in seen and seen[key] != name:
            yield (
                ("slos", i, "name"),
                f"SLO {name!r} gets the same alert names as {seen[key]!r} (Slo{key}…): rename one",
            )
        seen.setdefault(key, name)


def _days(period: Duration | timedelta) -> str:
    """`28d` as written in SLO windows, where Prometheus would print `4w`."""
    seconds = int(period.total_seconds())
    return f"{seconds // 86400}d" if seconds % 86400 == 0 else Duration.of(seconds).prom()


def _too_few_scrapes(window: Duration, scrape: Duration) -> str:
    shortest = Duration.of(slo_policy.shortest_window(window).total_seconds())
    need = slo_policy.SCRAPES_PER_WINDOW
    fix = f"scrape every {Duration.of(shortest.total_seconds() / need).prom()} or faster"
    longer = slo_policy.min_period(scrape)
    if longer is not None:
        fix += f", or make the window at least {_days(longer)}"
    return (
        f"a {_days(window)} SLO alerts on windows down to {shortest.prom()}, which must hold "
        f"{need} scrapes of prometheus.scrape_interval ({scrape.prom()}): {fix}"
    )


def _retention(config: Config) -> Iterator[Issue]:
    prom = config.prometheus
    if not config.slos or not prom.retention_covers_slos:
        return
    i, longest = max(enumerate(config.slos), key=lambda item: (item[1].window, -item[0]))
    if prom.retention >= longest.window:
        return
    fix = (
        f"set prometheus.retention to at least {_days(longest.window)}, or "
        "prometheus.retention_covers_slos: false if the SLO rules run against long-term "
        "storage (remote_write)"
    )
    given = "prometheus" in config.model_fields_set and "retention" in prom.model_fields_set
    if given:
        yield (
            ("prometheus", "retention"),
            f"retention {prom.retention.prom()} is shorter than the longest SLO window, "
            f"{_days(longest.window)} (slos[{i}] {longest.service}/{longest.name}): {fix}",
        )
    else:
        yield (
            ("slos", i, "window"),
            f"window {_days(longest.window)} is longer than prometheus.retention "
            f"({prom.retention.prom()} by default): {fix}",
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
