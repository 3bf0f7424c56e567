"""The cost exporter: its sources (from an explicit type → class table) and its snapshot.

Pollers publish ledgers from worker threads; each publish recomputes that source's
summary and the budgets, swaps in a new immutable snapshot and bumps the generation,
so the agent renders `/metrics` once per poll that changed something. Charge categories
left out by `include_charge_categories` are removed here, before anything is summed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from prometheus_client.registry import Collector

from exporters.base import Clock, Context, Poller, SourceFactory, build_sources

from .aws_cost_explorer import AwsClients, CostExplorerData, CostExplorerPoller, PaidApi, utc_day
from .collector import CostCollector
from .config import AwsCostExplorerSource, CostConfig, FocusSource
from .focus import FocusData, FocusPoller, FocusReader, Problem
from .model import (
    BASE_LABELS,
    CHARGE_CATEGORY,
    BudgetRule,
    BudgetStatus,
    Ledger,
    SeriesSummary,
    SourceSummary,
    budget_statuses,
    fold,
    summarise,
)
from .store import CostCacheStore

log = logging.getLogger("opslens.cost")


@dataclass(frozen=True)
class RowTrace:
    """What a file source could not use, or used with a placeholder (FOCUS sources)."""

    dropped_total: Mapping[str, int] = field(default_factory=dict)
    defaulted_total: Mapping[str, int] = field(default_factory=dict)
    problem: Problem | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceView:
    """One source's part of a scrape: its summary, the folded series it exposes, its spend."""

    summary: SourceSummary
    series: tuple[SeriesSummary, ...]
    folded: int
    paid: PaidApi | None = None
    rows: RowTrace | None = None


@dataclass(frozen=True)
class CostSnapshot:
    """Everything the cost collector exposes; replaced whole, never mutated."""

    labels: tuple[str, ...]
    sources: Mapping[str, SourceView] = field(default_factory=dict)
    budgets: tuple[BudgetStatus, ...] = ()


@dataclass
class _SourceInput:
    ledger: Ledger
    paid: PaidApi | None = None
    forecast_remaining: Mapping[str, float] = field(default_factory=dict)
    forecast_month: str | None = None
    budgets: tuple[BudgetStatus, ...] = ()
    rows: RowTrace | None = None


class CostWiring:
    """What source constructors need from the exporter: config, context, shared resources."""

    def __init__(self, exporter: CostExporter, config: CostConfig, ctx: Context):
        self.exporter = exporter
        self.config = config
        self.ctx = ctx
        self._store: CostCacheStore | None = None

    @property
    def tag_labels(self) -> Mapping[str, str]:
        return self.config.labels_from_tags

    @property
    def store(self) -> CostCacheStore:
        if self._store is None:
            self._store = CostCacheStore(self.ctx.data_dir / "cost" / "cache.sqlite")
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _cost_explorer(config: AwsCostExplorerSource, wiring: CostWiring) -> Poller:
    clients = AwsClients(
        region=config.region,
        profile=config.profile,
        role_arn=config.role_arn,
        endpoint_url=config.endpoint_url,
        env=wiring.ctx.env,
        clock=wiring.ctx.clock,
    )
    return CostExplorerPoller(
        config,
        interval=wiring.config.poll_interval.total_seconds(),
        daily_request_cap=wiring.config.daily_request_cap,
        tag_labels=wiring.tag_labels,
        clients=clients,
        store=wiring.store,
        publish=wiring.exporter.publish_cost_explorer,
        clock=wiring.ctx.clock,
    )


def _focus(config: FocusSource, wiring: CostWiring) -> Poller:
    reader = FocusReader(temp_dir=wiring.ctx.data_dir / "cost" / "duckdb")
    wiring.exporter.on_stop(reader.close)
    return FocusPoller(
        config.name,
        str(wiring.ctx.resolve(config.path)),
        interval=wiring.config.poll_interval.total_seconds(),
        tag_keys=list(wiring.tag_labels.values()),
        reader=reader,
        publish=wiring.exporter.publish_focus,
    )


# Source type (the `type` key in `cost.sources`) → poller factory; `build` uses nothing else.
SOURCES: dict[str, SourceFactory[CostWiring]] = {
    "aws_cost_explorer": _cost_explorer,
    "focus": _focus,
}


class CostExporter:
    """Cloud cost: AWS Cost Explorer and FOCUS files → daily, MTD, forecast, budgets."""

    name = "cost"

    def __init__(self, config: CostConfig, clock: Clock = time.time):
        self._config = config
        self._clock = clock
        self._labels = (*BASE_LABELS, *config.labels_from_tags)
        self._rules = [
            BudgetRule(b.name, b.amount, b.period, b.currency, b.cost_type, dict(b.match))
            for b in config.budgets
        ]
        self._settle = {
            s.name: s.settle_days if s.settle_days is not None else config.settle_days
            for s in config.sources
        }
        included = config.include_charge_categories
        # Cost Explorer's series have no category (""): a filter cannot apply to them.
        self._categories = None if included is None else {*included, ""}
        self._inputs: dict[str, tuple[_SourceInput, date]] = {}
        self._views: dict[str, SourceView] = {}
        self._snapshot = CostSnapshot(self._labels)
        self._generation = 0
        self._lock = threading.Lock()
        self._pollers: list[Poller] = []
        self._on_stop: list[Any] = []

    @property
    def pollers(self) -> Sequence[Poller]:
        return self._pollers

    @property
    def snapshot(self) -> CostSnapshot:
        return self._snapshot

    def collectors(self) -> Iterable[Collector]:
        return [CostCollector(lambda: self._snapshot)]

    def generation(self) -> int:
        return self._generation

    def on_stop(self, callback: Any) -> None:
        self._on_stop.append(callback)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for callback in reversed(self._on_stop):
            callback()
        self._on_stop.clear()

    def publish_ledger(self, source: str, ledger: Ledger) -> None:
        """Take a source's new ledger alone."""
        self._update(source, _SourceInput(ledger))

    def publish_focus(self, source: str, data: FocusData) -> None:
        """Take a FOCUS source's ledger and the trace of the rows it could not use."""
        rows = RowTrace(data.dropped_total, data.defaulted_total, data.problem, data.notes)
        self._update(source, _SourceInput(data.ledger, rows=rows))

    def publish_cost_explorer(self, source: str, data: CostExplorerData) -> None:
        """Take a Cost Explorer source's ledger, forecast, AWS budgets and API spend."""
        self._update(
            source,
            _SourceInput(
                data.ledger, data.paid, data.forecast_remaining, data.forecast_month, data.budgets
            ),
        )

    def _update(self, source: str, data: _SourceInput) -> None:
        today = utc_day(self._clock())
        with self._lock:
            # Same data on the same day renders the same: keep the generation, skip a render.
            if self._inputs.get(source) == (data, today):
                return
            self._inputs[source] = (data, today)
            self._views[source] = self._view(source, data, today)
            budgets = budget_statuses(
                self._rules, (v.summary for v in self._views.values()), self._labels
            )
            yaml_names = {b.name for b in budgets}
            aws = {
                b.name: b
                for d, _ in self._inputs.values()
                for b in d.budgets
                if b.name not in yaml_names
            }
            self._snapshot = CostSnapshot(
                self._labels, dict(self._views), budgets + tuple(aws[n] for n in sorted(aws))
            )
            self._generation += 1

    def _view(self, source: str, data: _SourceInput, today: date) -> SourceView:
        anomaly = self._config.anomaly
        forecast = None
        if data.forecast_month == today.strftime("%Y-%m"):
            forecast = data.forecast_remaining
        ledger = data.ledger
        if self._categories is not None:
            keep = self._categories
            ledger = {k: v for k, v in ledger.items() if k.key[CHARGE_CATEGORY] in keep}
        summary = summarise(
            ledger,
            today,
            settle_days=self._settle.get(source, self._config.settle_days),
            anomaly_window_days=anomaly.window_days,
            anomaly_min_daily_cost=anomaly.min_daily_cost,
            anomaly_enabled=anomaly.enabled,
            forecast_remaining=forecast,
        )
        series, folded = fold(summary.series, self._config.max_series)
        return SourceView(summary, series, folded, data.paid, data.rows)


def build(config: CostConfig, ctx: Context) -> CostExporter:
    """Build the cost exporter and its sources from the `cost:` section."""
    exporter = CostExporter(config, clock=ctx.clock)
    wiring = CostWiring(exporter, config, ctx)
    exporter.on_stop(wiring.close)
    exporter._pollers, _ = build_sources(
        "cost", ((s.type, s) for s in config.sources), SOURCES, wiring
    )
    return exporter
