"""The report as plain data: what each section says, independent of how it is rendered.

`None` always means "cannot be computed" (no series in Prometheus), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .period import Period

LEVEL_NAMES = {3: "elite", 2: "high", 1: "medium", 0: "low"}
SEVERITY_ORDER = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class QueryLink:
    """Where a figure comes from: its PromQL, in Prometheus, and the Grafana panels."""

    key: str
    title: str
    expr: str
    prometheus_url: str
    panels: tuple[tuple[str, str], ...] = ()  # (label, URL)

    @property
    def anchor(self) -> str:
        return "q-" + self.key.replace(".", "-")


@dataclass(frozen=True)
class ProviderCost:
    provider: str
    currency: str
    month_to_date: float
    forecast: float | None


@dataclass(frozen=True)
class BudgetStatus:
    name: str
    period: str
    currency: str
    limit: float
    spent: float
    forecast: float | None
    thresholds: tuple[float, ...]
    crossed: float | None  # the highest threshold the spend has reached
    forecast_crossed: float | None

    @property
    def used(self) -> float:
        return self.spent / self.limit if self.limit else 0.0


@dataclass(frozen=True)
class ServiceSpend:
    service: str
    currency: str
    spend: float
    previous: float | None  # None: no spend in the previous period (a new service)
    daily: tuple[float | None, ...] = ()

    @property
    def change(self) -> float:
        return self.spend - (self.previous or 0.0)

    @property
    def change_ratio(self) -> float | None:
        return None if not self.previous else self.change / self.previous


@dataclass(frozen=True)
class CostAnomaly:
    provider: str
    account: str
    service: str
    score: float


@dataclass(frozen=True)
class CostSection:
    totals: tuple[ProviderCost, ...]
    budgets: tuple[BudgetStatus, ...]
    top: tuple[ServiceSpend, ...]
    movers: tuple[ServiceSpend, ...]
    anomalies: tuple[CostAnomaly, ...]
    anomaly_threshold: float
    days: int
    days_with_data: int
    compared: bool = True  # the previous period has cost data to compare with


@dataclass(frozen=True)
class DoraKey:
    key: str
    value: float | None
    previous: float | None
    level: int | None
    previous_level: int | None = None
    note: str = ""  # why the value is N/A

    @property
    def level_name(self) -> str | None:
        return None if self.level is None else LEVEL_NAMES.get(self.level)

    @property
    def level_change(self) -> str:
        """`was high` when the level moved since the previous period, else empty."""
        if self.level is None or self.previous_level in (None, self.level):
            return ""
        return f"was {LEVEL_NAMES.get(self.previous_level or 0)}"


@dataclass(frozen=True)
class ServiceDelivery:
    service: str
    environment: str
    keys: tuple[DoraKey, ...]
    rework: DoraKey
    deployments: float | None
    daily_frequency: tuple[float | None, ...] = ()

    def key(self, name: str) -> DoraKey:
        return next(k for k in self.keys if k.key == name)


@dataclass(frozen=True)
class DeliverySection:
    window: str
    services: tuple[ServiceDelivery, ...]


@dataclass(frozen=True)
class SloStatus:
    name: str
    service: str
    objective: float  # percent, as configured
    window: str
    attainment: float | None  # ratio of good events in the period
    burn: float | None  # error ratio in the period ÷ error budget
    remaining: float | None  # of the error budget over the SLO's own window
    events: float | None
    daily_errors: tuple[float | None, ...] = ()
    key: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.attainment is None else self.attainment * 100 >= self.objective


@dataclass(frozen=True)
class ProbeStatus:
    probe: str
    service: str
    availability: float | None
    daily: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class Certificate:
    probe: str
    service: str
    days_left: float
    alert_days: int

    @property
    def urgent(self) -> bool:
        return self.days_left < self.alert_days


@dataclass(frozen=True)
class ReliabilitySection:
    slos: tuple[SloStatus, ...]
    probes: tuple[ProbeStatus, ...]
    certificates: tuple[Certificate, ...]
    horizon_days: int


@dataclass(frozen=True)
class Episode:
    """One firing of one alert: from its first to its last firing evaluation."""

    alertname: str
    severity: str
    service: str
    labels: tuple[tuple[str, str], ...]
    start: float
    end: float
    resolved: bool

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class NoisyAlert:
    alertname: str
    service: str
    severity: str
    count: int
    firing_seconds: float


@dataclass(frozen=True)
class AlertsSection:
    episodes: tuple[Episode, ...]
    by_severity: tuple[tuple[str, int], ...]
    by_service: tuple[tuple[str, int], ...]
    noisiest: tuple[NoisyAlert, ...]
    resolution_median: float | None
    resolution_p90: float | None
    resolved: int
    still_firing: int
    severity: str | None = None  # set when the section is limited to one severity


Body = CostSection | DeliverySection | ReliabilitySection | AlertsSection


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    body: Body | None
    error: str | None = None  # why the section is missing
    queries: tuple[str, ...] = ()

    @property
    def missing(self) -> bool:
        return self.body is None


@dataclass(frozen=True)
class Report:
    kind: str  # "review" or "daily_digest"
    project: str
    title: str
    period: Period
    generated_at: datetime
    sections: tuple[Section, ...]
    queries: tuple[QueryLink, ...] = field(default=())
    prometheus_url: str = ""

    @property
    def missing(self) -> tuple[Section, ...]:
        return tuple(s for s in self.sections if s.missing)

    def link(self, key: str) -> QueryLink | None:
        return next((q for q in self.queries if q.key == key), None)
