"""Helpers for the cost tests: a settable clock, an independent FOCUS calculator, scraping."""

from __future__ import annotations

import calendar
import csv
import gzip
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from agent.config import Config, parse
from agent.runtime import Exposition
from exporters.base import Context
from exporters.cost.exporter import CostExporter, build
from exporters.cost.focus import FocusPoller

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NULLS = {"", "null"}
COSTS = {"BilledCost": "billed", "EffectiveCost": "effective", "ListCost": "list"}


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, when: datetime):
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += seconds


def at(day: date, hour: int = 6) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _value(row: dict[str, str], name: str) -> str:
    value = (row.get(name) or "").strip()
    return "" if value.lower() in NULLS else value


@dataclass(frozen=True)
class Charge:
    """One cost of one FOCUS row, as an independent reading gives it."""

    day: date
    provider: str
    billing_account: str
    service: str
    currency: str
    cost_type: str
    frequency: str
    category: str
    charge_class: str
    amount: Decimal

    @property
    def usage_based(self) -> bool:
        """Extrapolated to month end: usage-based, or a usage row of an older export."""
        if self.charge_class.lower() == "correction":
            return False
        return self.frequency == "usage-based" or (
            not self.frequency and self.category.lower() in ("", "usage")
        )


def independent_charges(path: Path) -> list[Charge]:
    """Every row's costs, read with csv, datetime and Decimal only (no DuckDB)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        text = fh.read()
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            start = datetime.fromisoformat(_value(row, "ChargePeriodStart"))
        except ValueError:
            continue
        if start.tzinfo is not None:
            start = start.astimezone(UTC)
        provider = _value(row, "ServiceProviderName") or _value(row, "ProviderName")
        for column, cost_type in COSTS.items():
            if column not in row:
                continue
            out.append(
                Charge(
                    start.date(),
                    provider,
                    _value(row, "BillingAccountId"),
                    _value(row, "ServiceName"),
                    _value(row, "BillingCurrency"),
                    cost_type,
                    _value(row, "ChargeFrequency").lower(),
                    _value(row, "ChargeCategory"),
                    _value(row, "ChargeClass"),
                    Decimal(_value(row, column) or "0"),
                )
            )
    return out


def sums(charges: Iterable[Charge], *fields: str) -> dict[tuple[Any, ...], Decimal]:
    """Charges summed by the named fields."""
    out: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for c in charges:
        out[tuple(getattr(c, f) for f in fields)] += c.amount
    return dict(out)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def quick_scrape(body: bytes, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one family, parsed with a regex (the full parser is slow per day)."""
    out = []
    for line in body.decode().splitlines():
        if line.startswith(name + "{") and (m := _SAMPLE.match(line)):
            labels = {
                k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m[2])
            }
            out.append((labels, float(m[3])))
    return out


def scrape(body: bytes | str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parse an exposition with prometheus_client's parser: family name → [(labels, value)]."""
    text = body.decode() if isinstance(body, bytes) else body
    out: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append((dict(sample.labels), sample.value))
    return dict(out)


def total(samples: Iterable[tuple[dict[str, str], float]], **match: str) -> float:
    return sum(v for labels, v in samples if all(labels.get(k) == x for k, x in match.items()))


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **match: str) -> float:
    """The one sample of `name` matching `match`, failing loudly if absent or ambiguous."""
    found = [
        v
        for labels, v in samples.get(name, [])
        if all(labels.get(k) == x for k, x in match.items())
    ]
    assert len(found) == 1, f"{name}{match}: {found}"
    return found[0]


def config(cost_yaml: str) -> Config:
    """A config with only the given `cost:` section (indented YAML body)."""
    return parse(f"version: 1\nproject: test\ncost:\n{cost_yaml}")


def focus_exporter(path: str, tmp_path: Path, clock: FakeClock, extra: str = "") -> CostExporter:
    """A cost exporter with one FOCUS source named `files` reading `path`."""
    cfg = config(f"  sources: [{{type: focus, name: files, path: '{path}'}}]\n{extra}")
    return build(cfg.cost, Context(data_dir=tmp_path / "data", clock=clock))


def poll(exporter: CostExporter) -> None:
    """Poll the exporter's only FOCUS source once, in this thread."""
    (source,) = exporter.pollers
    assert isinstance(source, FocusPoller)
    source.poll_sync()


@dataclass(frozen=True)
class Reconciled:
    """What a reconciliation compared: rows, days, providers, the largest gap in cents."""

    rows: int
    days: int
    providers: int
    max_cents: Decimal


def reconcile(
    pattern: str, truth: Iterable[Path], tmp_path: Path, every_day: bool = True
) -> Reconciled:
    """Check each day's, month to date's and forecast's totals against an independent sum.

    Per provider and currency, with each provider and billing account on its own day
    (`settle_days: 0`, so the reference day is the latest day before today with data), as
    the clock moves one day at a time over the data (or, without `every_day`, to the
    middle and the last day); then month to date and the month-end forecast (usage-based
    run rate, other charges once) on the day after the last one.
    """
    charges = [c for path in truth for c in independent_charges(path)]
    days = sorted({c.day for c in charges})
    scopes: dict[tuple[str, str], set[date]] = defaultdict(set)
    for c in charges:
        scopes[(c.provider, c.billing_account)].add(c.day)
    by_day = sums(charges, "day", "provider", "billing_account", "currency", "cost_type")
    clock = FakeClock(at(days[0]))
    exporter = focus_exporter(pattern, tmp_path, clock, "  settle_days: 0\n")
    exposition = Exposition(exporter.collectors(), exporter.generation)
    worst = Decimal(0)

    def check(exposed: float, expected: Decimal, what: object) -> None:
        nonlocal worst
        gap = abs(Decimal(repr(exposed)) - expected) * 100
        worst = max(worst, gap)
        assert gap < Decimal("0.5"), (what, exposed, expected)

    ref: dict[tuple[str, str], date] = {}
    for day in days if every_day else [days[len(days) // 2], days[-1]]:
        today = day + timedelta(days=1)
        clock.set(at(today))
        poll(exporter)
        ref = {s: max(d for d in ds if d < today) for s, ds in scopes.items() if min(ds) < today}
        expected: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for (d, provider, account, currency, cost_type), amount in by_day.items():
            if ref.get((provider, account)) == d:
                expected[(provider, currency, cost_type)] += amount
        daily = quick_scrape(exposition.render(openmetrics=False), "cloudcost_daily")
        assert {(lb["provider"], lb["currency"], lb["cost_type"]) for lb, _ in daily} >= set(
            expected
        )
        for (provider, currency, cost_type), amount in expected.items():
            exposed = total(daily, provider=provider, currency=currency, cost_type=cost_type)
            check(exposed, amount, (day, provider, currency, cost_type))
    samples = scrape(exposition.render(openmetrics=False))
    mtd: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    forecast: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for scope, day in ref.items():
        month = [
            c
            for c in charges
            if (c.provider, c.billing_account) == scope
            and c.day <= day
            and (c.day.year, c.day.month) == (day.year, day.month)
        ]
        left = calendar.monthrange(day.year, day.month)[1] - day.day
        for (currency, cost_type), amount in sums(month, "currency", "cost_type").items():
            mtd[(scope[0], currency, cost_type)] += amount
            forecast[(scope[0], currency, cost_type)] += amount
        usage = [c for c in month if c.usage_based]
        for (currency, cost_type), amount in sums(usage, "currency", "cost_type").items():
            forecast[(scope[0], currency, cost_type)] += amount / day.day * left
    for name, want in (
        ("cloudcost_month_to_date", mtd),
        ("cloudcost_forecast_month_end", forecast),
    ):
        for (provider, currency, cost_type), amount in want.items():
            exposed = total(
                samples[name], provider=provider, currency=currency, cost_type=cost_type
            )
            check(exposed, amount, (name, provider, currency, cost_type))
    for (provider, _), day in ref.items():
        stamp = min(d for (p, _), d in ref.items() if p == provider)
        assert value(samples, "cloudcost_data_timestamp_seconds", provider=provider) == (
            at(stamp, 0).timestamp()
        )
        assert stamp <= day
    rows = sum(1 for c in charges if c.cost_type == "billed")
    return Reconciled(rows, len(days), len({p for p, _ in scopes}), worst)
