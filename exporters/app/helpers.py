"""Helpers for the other metrics a service owns: caches, circuit breakers, AI usage."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

log = logging.getLogger("opslens.app")

BreakerState = Literal["closed", "half_open", "open"]
BREAKER_VALUES: dict[str, float] = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


class _Family:
    """A labelled counter or gauge kept as a dict; rendered without `_created` series."""

    def __init__(
        self,
        kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
        name: str,
        doc: str,
        labels: tuple[str, ...],
    ):
        self.kind, self.name, self.doc, self.labels = kind, name, doc, labels
        self.values: dict[tuple[str, ...], float] = {}

    def family(self, values: Mapping[tuple[str, ...], float]) -> Metric:
        metric = self.kind(self.name, self.doc, labels=list(self.labels))
        for key, value in sorted(values.items()):
            metric.add_metric(list(key), value)
        return metric


class _Helper:
    """Owns a few families on a registry; updates and scrapes share one lock."""

    def __init__(self, registry: CollectorRegistry | None, *families: _Family):
        self._families = families
        self._lock = threading.Lock()
        (REGISTRY if registry is None else registry).register(self)

    def _add(self, family: _Family, key: tuple[str, ...], amount: float) -> None:
        with self._lock:
            family.values[key] = family.values.get(key, 0.0) + amount

    def _set(self, family: _Family, key: tuple[str, ...], value: float) -> None:
        with self._lock:
            family.values[key] = value

    def describe(self) -> Iterator[Metric]:
        return (f.family({}) for f in self._families)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snapshot = [dict(f.values) for f in self._families]
        return (f.family(v) for f, v in zip(self._families, snapshot, strict=True))


class CacheMetrics(_Helper):
    """`cache_hits_total` and `cache_misses_total` by cache name."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self._hits = _Family(
            CounterMetricFamily,
            "cache_hits_total",
            "Cache hits by cache (opslens helper).",
            ("cache",),
        )
        self._misses = _Family(
            CounterMetricFamily,
            "cache_misses_total",
            "Cache misses by cache (opslens helper).",
            ("cache",),
        )
        super().__init__(registry, self._hits, self._misses)

    def hit(self, cache: str, count: int = 1) -> None:
        self._add(self._hits, (cache,), count)

    def miss(self, cache: str, count: int = 1) -> None:
        self._add(self._misses, (cache,), count)


class CircuitBreakerMetrics(_Helper):
    """`circuit_breaker_state{breaker}`: 0 closed, 1 half-open, 2 open."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self._state = _Family(
            GaugeMetricFamily,
            "circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open (opslens helper).",
            ("breaker",),
        )
        super().__init__(registry, self._state)

    def set_state(self, breaker: str, state: BreakerState) -> None:
        if state not in BREAKER_VALUES:
            raise ValueError(f"state must be one of {', '.join(BREAKER_VALUES)}, not {state!r}")
        self._set(self._state, (breaker,), BREAKER_VALUES[state])


@dataclass(frozen=True)
class ModelPrice:
    """USD per million input and output tokens of one model."""

    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1_000_000


class AiUsageMetrics(_Helper):
    """`ai_tokens_total{model,kind}` and `ai_cost_usd_total{model}` from a pricing table.

    Tokens of a model missing from `pricing` are counted, its cost is not (one warning).
    """

    def __init__(
        self, pricing: Mapping[str, ModelPrice], registry: CollectorRegistry | None = None
    ):
        self.pricing = dict(pricing)
        self._warned: set[str] = set()
        self._tokens = _Family(
            CounterMetricFamily,
            "ai_tokens_total",
            "AI model tokens by model and kind, input or output (opslens helper).",
            ("model", "kind"),
        )
        self._cost = _Family(
            CounterMetricFamily,
            "ai_cost_usd_total",
            "AI model spend in USD from the service's pricing table (opslens helper).",
            ("model",),
        )
        super().__init__(registry, self._tokens, self._cost)

    def record(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """Count one call's tokens; return its cost in USD (0 when the model has no price)."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token counts must not be negative")
        price = self.pricing.get(model)
        cost = price.cost(input_tokens, output_tokens) if price else 0.0
        with self._lock:
            values = self._tokens.values
            values[(model, "input")] = values.get((model, "input"), 0.0) + input_tokens
            values[(model, "output")] = values.get((model, "output"), 0.0) + output_tokens
            if price is not None:
                self._cost.values[(model,)] = self._cost.values.get((model,), 0.0) + cost
            elif model not in self._warned:
                self._warned.add(model)
                log.warning("no price for AI model %r: its tokens are counted, not its cost", model)
        return cost
