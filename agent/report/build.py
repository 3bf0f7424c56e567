"""Turn query results into the report model: pure, so every rule is tested on plain data."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from agent.config import Config
from agent.generate.naming import window as window_name

from .model import (
    SEVERITY_ORDER,
    AlertsSection,
    BudgetStatus,
    Certificate,
    CostAnomaly,
    CostSection,
    DeliverySection,
    DoraKey,
    Episode,
    NoisyAlert,
    ProbeStatus,
    ProviderCost,
    QueryLink,
    ReliabilitySection,
    Report,
    Section,
    ServiceDelivery,
    ServiceSpend,
    SloStatus,
)
from .period import Period
from .prometheus import QueryError, Result, Sample, Series
from .queries import CERT_HORIZON_DAYS, DORA_GAUGES, DORA_KEYS, Plan, slo_key
from .queries import Query as PlannedQuery

Results = Mapping[str, Result | QueryError]
TOP_SERVICES = 10
TOP_MOVERS = 5
NOISIEST = 5
TITLES = {
    "cost": "Cost",
    "delivery": "Delivery (DORA)",
    "reliability": "Reliability",
    "alerts": "Alerts",
}
# Why a DORA key has no value, in the exporter's terms (see exporters/dora/README.md).
NA_NOTES = {
    "deployment_frequency": "no deployment recorded",
    "lead_time": "no commit history for the window's deployments",
    "change_failure_ratio": "no deployment in the window",
    "time_to_restore": "no incident resolved in the window",
    "rework": "no deployment in the window",
}


class _Missing(Exception):
    """A query of the section failed: the section is reported missing."""


def _samples(results: Results, key: str) -> list[Sample]:
    result = results[key]
    if isinstance(result, QueryError):
        raise _Missing(f"{key}: {result}")
    return [r for r in result if isinstance(r, Sample)]


def _series(results: Results, key: str) -> list[Series]:
    result = results[key]
    if isinstance(result, QueryError):
        raise _Missing(f"{key}: {result}")
    return [r for r in result if isinstance(r, Series)]


def _daily_values(series: Series, query: PlannedQuery) -> tuple[float | None, ...]:
    """Return the value at each step of a daily range query, None where there was none."""
    assert query.start is not None and query.step is not None
    steps = round((query.at - query.start) / query.step) + 1
    by_step = {round((t - query.start) / query.step): v for t, v in series.points}
    return tuple(by_step.get(i) for i in range(steps))


def _sum(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) if present else None


def _crossed(ratio: float, thresholds: Sequence[float]) -> float | None:
    reached = [t for t in thresholds if ratio >= t]
    return max(reached) if reached else None


# --- cost ---------------------------------------------------------------------------------


def cost_section(config: Config, plan: Plan, results: Results) -> CostSection:
    queries = {q.key: q for q in plan.sections["cost"]}
    forecasts = {
        (s.labels.get("provider", ""), s.labels.get("currency", "")): s.value
        for s in _samples(results, "cost.forecast")
    }
    totals = tuple(
        sorted(
            (
                ProviderCost(
                    s.labels.get("provider", ""),
                    s.labels.get("currency", ""),
                    s.value,
                    forecasts.get((s.labels.get("provider", ""), s.labels.get("currency", ""))),
                )
                for s in _samples(results, "cost.month_to_date")
            ),
            key=lambda p: (p.provider, p.currency),
        )
    )
    budgets = _budgets(config, results)
    current = _spend(_series(results, "cost.daily"), queries["cost.daily"])
    previous = _spend(_series(results, "cost.daily_previous"), queries["cost.daily_previous"])
    spends = []
    for (service, currency), daily in current.items():
        prev_daily = previous.get((service, currency))
        spend = _sum(daily)
        if spend is None:
            continue
        prev = _sum(prev_daily) if prev_daily else None
        spends.append(ServiceSpend(service, currency, spend, prev, daily))
    # A service that spent last period and nothing now is a mover too (down to zero).
    for (service, currency), prev_daily in previous.items():
        prev = _sum(prev_daily)
        if (service, currency) not in current and prev:
            days = _daily_steps(queries["cost.daily"])
            spends.append(ServiceSpend(service, currency, 0.0, prev, (None,) * days))
    # Amounts in different currencies are never ranked against each other.
    top = _per_currency((s for s in spends if s.spend > 0), lambda s: -s.spend, TOP_SERVICES)
    # Without any figure for the previous period every service would look "new".
    compared = bool(previous)
    movers = _per_currency(
        (s for s in spends if compared and s.change != 0), lambda s: -abs(s.change), TOP_MOVERS
    )
    anomalies = tuple(
        sorted(
            (
                CostAnomaly(
                    s.labels.get("provider", ""),
                    s.labels.get("account", ""),
                    s.labels.get("service", ""),
                    s.value,
                )
                for s in _samples(results, "cost.anomalies")
            ),
            key=lambda a: -a.score,
        )
    )
    covered = max(
        (sum(v is not None for v in daily) for daily in current.values()),
        default=0,
    )
    return CostSection(
        totals,
        budgets,
        top,
        movers,
        anomalies,
        config.cost.anomaly.threshold,
        _daily_steps(queries["cost.daily"]),
        covered,
        compared,
    )


def _per_currency(
    items: Iterable[ServiceSpend], order: Callable[[ServiceSpend], float], limit: int
) -> tuple[ServiceSpend, ...]:
    """The first `limit` of each currency by `order`; the currency spending most first."""
    groups: dict[str, list[ServiceSpend]] = defaultdict(list)
    for item in items:
        groups[item.currency].append(item)
    currencies = sorted(groups, key=lambda c: (-sum(s.spend for s in groups[c]), c))
    return tuple(s for c in currencies for s in sorted(groups[c], key=order)[:limit])


def _daily_steps(query: PlannedQuery) -> int:
    assert query.start is not None and query.step is not None
    return round((query.at - query.start) / query.step) + 1


def _spend(
    series: Sequence[Series], query: PlannedQuery
) -> dict[tuple[str, str], tuple[float | None, ...]]:
    return {
        (s.labels.get("service", ""), s.labels.get("currency", "")): _daily_values(s, query)
        for s in series
    }


def _budgets(config: Config, results: Results) -> tuple[BudgetStatus, ...]:
    configured = {b.name: b for b in config.cost.budgets}

    def by_budget(key: str) -> dict[str, Sample]:
        return {s.labels.get("budget", ""): s for s in _samples(results, key)}

    limits, spent, forecast = (
        by_budget("cost.budget_limit"),
        by_budget("cost.budget_spent"),
        by_budget("cost.budget_forecast"),
    )
    out = []
    for name, limit in limits.items():
        if name not in spent or limit.value <= 0:
            continue
        budget = configured.get(name)
        # A budget Prometheus knows but this config does not: only its limit is a line.
        thresholds = tuple(budget.thresholds) if budget else (1.0,)
        used = spent[name].value / limit.value
        projected = forecast[name].value if name in forecast else None
        out.append(
            BudgetStatus(
                name,
                limit.labels.get("period", budget.period if budget else ""),
                limit.labels.get("currency", budget.currency if budget else ""),
                limit.value,
                spent[name].value,
                projected,
                thresholds,
                _crossed(used, thresholds),
                None if projected is None else _crossed(projected / limit.value, thresholds),
            )
        )
    return tuple(sorted(out, key=lambda b: -b.used))


# --- delivery -----------------------------------------------------------------------------


def delivery_section(
    config: Config, plan: Plan, results: Results, period: Period
) -> DeliverySection:
    queries = {q.key: q for q in plan.sections["delivery"]}

    def values(key: str) -> dict[tuple[str, str], float]:
        return {
            (s.labels.get("service", ""), s.labels.get("environment", "")): s.value
            for s in _samples(results, key)
        }

    def levels(key: str) -> dict[tuple[str, str, str], int]:
        return {
            (
                s.labels.get("service", ""),
                s.labels.get("environment", ""),
                s.labels.get("metric", ""),
            ): int(s.value)
            for s in _samples(results, key)
        }

    current = {k: values(f"dora.{k}") for k in DORA_GAUGES}
    previous = {k: values(f"dora.{k}.previous") for k in DORA_GAUGES}
    level_now, level_before = levels("dora.level"), levels("dora.level.previous")
    deployments = values("dora.deployments")
    daily = {
        (s.labels.get("service", ""), s.labels.get("environment", "")): _daily_values(
            s, queries["dora.frequency_daily"]
        )
        for s in _series(results, "dora.frequency_daily")
    }
    series = sorted(
        {pair for per_key in current.values() for pair in per_key}
        | {(s, e) for s, e, _ in level_now}
        | set(deployments)
    )

    def key(name: str, pair: tuple[str, str]) -> DoraKey:
        value = current[name].get(pair)
        return DoraKey(
            name,
            value,
            previous[name].get(pair),
            level_now.get((*pair, name)),
            level_before.get((*pair, name)),
            "" if value is not None else NA_NOTES[name],
        )

    services = tuple(
        ServiceDelivery(
            service,
            environment,
            tuple(key(name, (service, environment)) for name in DORA_KEYS),
            key("rework", (service, environment)),
            deployments.get((service, environment)),
            daily.get((service, environment), ()),
        )
        for service, environment in series
    )
    return DeliverySection(period.dora_window, services)


# --- reliability --------------------------------------------------------------------------


def reliability_section(config: Config, plan: Plan, results: Results) -> ReliabilitySection:
    queries = {q.key: q for q in plan.sections["reliability"]}
    slos = []
    for slo in config.slos:
        k = slo_key(slo)
        errors = _samples(results, f"{k}.errors")
        total = _samples(results, f"{k}.total")
        remaining = _samples(results, f"{k}.remaining")
        daily = _series(results, f"{k}.daily")
        events = total[0].value if total else None
        bad = errors[0].value if errors else None
        attainment = burn = None
        if events and bad is not None:
            ratio = min(max(bad / events, 0.0), 1.0)
            attainment = 1 - ratio
            budget = (100 - slo.objective) / 100
            burn = ratio / budget
        slos.append(
            SloStatus(
                slo.name,
                slo.service,
                slo.objective,
                window_name(slo.window),
                attainment,
                burn,
                remaining[0].value if remaining else None,
                events,
                _daily_values(daily[0], queries[f"{k}.daily"]) if daily else (),
                k,
            )
        )
    daily_probe = {
        (s.labels.get("probe", ""), s.labels.get("service", "")): _daily_values(
            s, queries["probes.daily"]
        )
        for s in _series(results, "probes.daily")
    }
    probes = tuple(
        sorted(
            (
                ProbeStatus(
                    s.labels.get("probe", ""),
                    s.labels.get("service", ""),
                    s.value,
                    daily_probe.get((s.labels.get("probe", ""), s.labels.get("service", "")), ()),
                )
                for s in _samples(results, "probes.availability")
            ),
            key=lambda p: (p.availability if p.availability is not None else 2, p.probe),
        )
    )
    alert_days = config.alerts.packs.probes.cert_expiry_days
    certificates = tuple(
        sorted(
            (
                Certificate(
                    s.labels.get("probe", ""),
                    s.labels.get("service", ""),
                    s.value / 86400,
                    alert_days,
                )
                for s in _samples(results, "probes.certificates")
            ),
            key=lambda c: c.days_left,
        )
    )
    return ReliabilitySection(tuple(slos), probes, certificates, CERT_HORIZON_DAYS)


# --- alerts -------------------------------------------------------------------------------


def episodes(series: Sequence[Series], gap: float, end: float) -> list[Episode]:
    """Split each alert's firing samples into episodes at gaps longer than `gap` seconds.

    An episode whose last sample is within `gap` of `end` is still firing.
    """
    out = []
    for s in series:
        labels = {k: v for k, v in s.labels.items() if k not in ("__name__", "alertstate")}
        times = sorted(t for t, _ in s.points)
        if not times:
            continue
        start = prev = times[0]
        runs = []
        for t in times[1:]:
            if t - prev > gap:
                runs.append((start, prev))
                start = t
            prev = t
        runs.append((start, prev))
        for first, last in runs:
            out.append(
                Episode(
                    labels.get("alertname", ""),
                    labels.get("severity", ""),
                    labels.get("service", ""),
                    tuple(sorted(labels.items())),
                    first,
                    last,
                    resolved=end - last > gap,
                )
            )
    return sorted(out, key=lambda e: (e.start, e.alertname))


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Take the nearest-rank percentile: one of the values, as resolution times are quoted."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def alerts_section(
    config: Config, plan: Plan, results: Results, period: Period, severity: str | None = None
) -> AlertsSection:
    # Rules are evaluated every evaluation interval; two missed evaluations and more
    # mean the alert resolved and fired again.
    gap = 3 * config.prometheus.eval_interval.total_seconds()
    found = episodes(_series(results, "alerts.firing"), gap, period.end.timestamp())
    by_severity = Counter(e.severity for e in found)
    ordered_severities = [s for s in SEVERITY_ORDER if by_severity[s]] + sorted(
        s for s in by_severity if s not in SEVERITY_ORDER
    )
    by_service = Counter(e.service or "no service" for e in found)
    groups: dict[tuple[str, str, str], list[Episode]] = defaultdict(list)
    for e in found:
        groups[(e.alertname, e.service, e.severity)].append(e)
    noisiest = sorted(
        (
            NoisyAlert(name, service, sev, len(es), sum(e.seconds for e in es))
            for (name, service, sev), es in groups.items()
        ),
        key=lambda n: (-n.count, -n.firing_seconds, n.alertname),
    )[:NOISIEST]
    resolved = [e.seconds for e in found if e.resolved]
    return AlertsSection(
        tuple(found),
        tuple((s, by_severity[s]) for s in ordered_severities),
        tuple(sorted(by_service.items(), key=lambda kv: (-kv[1], kv[0]))),
        tuple(noisiest),
        _percentile(resolved, 0.5),
        _percentile(resolved, 0.9),
        len(resolved),
        sum(not e.resolved for e in found),
        severity,
    )


# --- the whole report ---------------------------------------------------------------------


def _failures(results: Results) -> str:
    """Failed queries, one line per distinct reason: an unreachable server is said once."""
    reasons: dict[str, list[str]] = defaultdict(list)
    for key, result in results.items():
        if isinstance(result, QueryError):
            reasons[str(result)].append(key)
    parts = []
    for reason, keys in reasons.items():
        which = keys[0] if len(keys) == 1 else f"{len(keys)} of {len(results)} queries"
        parts.append(f"{reason} ({which})")
    return "; ".join(parts)


def build_report(
    config: Config,
    kind: str,
    period: Period,
    plan: Plan,
    results: Results,
    links: Sequence[QueryLink],
    generated_at: datetime,
    prometheus_url: str,
) -> Report:
    """Assemble every planned section; a section whose queries failed is marked missing."""
    builders: dict[str, Callable[[], object]] = {
        "cost": lambda: cost_section(config, plan, results),
        "delivery": lambda: delivery_section(config, plan, results, period),
        "reliability": lambda: reliability_section(config, plan, results),
        "alerts": lambda: alerts_section(
            config, plan, results, period, "low" if kind == "daily_digest" else None
        ),
    }
    sections = []
    for name, queries in plan.sections.items():
        keys = tuple(q.key for q in queries)
        failures = _failures({k: results[k] for k in keys})
        title = TITLES[name]
        if kind == "daily_digest" and name == "alerts":
            title = "Low-severity alerts"
        if failures:
            sections.append(Section(name, title, None, failures, keys))
            continue
        try:
            body = builders[name]()
        except _Missing as exc:
            sections.append(Section(name, title, None, str(exc), keys))
            continue
        sections.append(Section(name, title, body, None, keys))  # type: ignore[arg-type]
    if kind == "daily_digest":
        title = f"{config.project}: daily alert digest"
    else:
        title = f"{config.project}: review, {period.title}"
    return Report(
        kind,
        config.project,
        title,
        period,
        generated_at,
        tuple(sections),
        tuple(links),
        prometheus_url,
    )
