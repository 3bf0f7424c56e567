"""The root of `opslens.yaml` (docs/config.md): one immutable, strict, versioned model."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from exporters.app.config import AppConfig
from exporters.config import Duration, EnvName, LabelName, Name, Severity, Strict
from exporters.cost.config import CostConfig
from exporters.dora.config import DoraConfig

from .notify import NotifyConfig, PublicUrl
from .reports import ReportsConfig
from .slo_policy import MIN_PERIOD

DASHBOARDS = ("executive", "cost", "dora", "application", "infrastructure", "alerts")
Dashboard = Literal["executive", "cost", "dora", "application", "infrastructure", "alerts"]


def _all_dashboards() -> list[Dashboard]:
    return ["executive", "cost", "dora", "application", "infrastructure", "alerts"]


_HOSTPORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[\w.-]+):(\d{1,5})$")
# The metric selector grammar is PromQL's; promtool checks it for real, this only
# catches the obvious mistakes early with a line number.
_SELECTOR = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$", re.S)


def _hostport(value: str) -> str:
    match = _HOSTPORT.match(value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return value


class AgentConfig(Strict):
    listen: str = "127.0.0.1:10470"
    data_dir: str = ".opslens"
    # Optional bearer token protecting GET /metrics; read from this variable.
    metrics_token_env: EnvName | None = None
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # A sender that stops half-way is answered 408 after this, and its connection freed.
    body_timeout: Duration = Duration.parse("30s")
    # Open connections past this are answered 503 and closed, so a flood of clients
    # cannot use up the agent's file descriptors.
    max_connections: int = Field(default=200, ge=1, le=100_000)
    # A keep-alive connection idle this long is closed (Prometheus scrapes every few seconds).
    idle_timeout: Duration = Duration.parse("75s")
    # Longest one poll may run before it fails with reason `timeout`; unset, the source's
    # interval clamped to 60s..15m (a large FOCUS export may take longer than its interval).
    poll_timeout: Duration | None = None

    _listen = field_validator("listen")(classmethod(lambda cls, v: _hostport(v)))


class Target(Strict):
    job: Name
    static: list[str] = Field(min_length=1)
    service: Name | None = None
    metrics_path: str = "/metrics"
    scheme: Literal["http", "https"] = "http"

    @field_validator("static")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        return [_hostport(v) for v in value]


class Latency(Strict):
    metric: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    threshold: float = Field(gt=0)
    selector: str = ""


class Slo(Strict):
    name: Name
    service: Name
    objective: float
    window: Duration = Duration.parse("30d")
    description: str = ""
    errors: str | None = None
    total: str | None = None
    latency: Latency | None = None
    # A burn-rate condition needs this many events in its long window: one failure among
    # a handful of requests does not page, a low-traffic service that fails still does.
    min_events: int = Field(default=10, ge=1)

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: float) -> float:
        if not 0 < value < 100:
            raise ValueError("objective is a percentage in (0, 100), e.g. 99.9")
        return value

    @field_validator("errors", "total")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is not None and not _SELECTOR.match(value.strip()):
            raise ValueError(f"{value!r} is not a metric selector like http_requests_total{{...}}")
        return value

    @model_validator(mode="after")
    def _kind(self) -> Slo:
        ratio = self.errors is not None or self.total is not None
        if ratio == (self.latency is not None):
            raise ValueError("an SLO needs either errors and total, or latency")
        if ratio and (self.errors is None or self.total is None):
            raise ValueError("a ratio SLO needs both errors and total")
        if self.window < MIN_PERIOD:
            raise ValueError(
                "window must be at least 1d: the alert windows scale with it, and a 1d "
                "window already pages on 2m and 1m"
            )
        return self


class CustomRule(Strict):
    alert: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    expr: str = Field(min_length=1)
    for_: Duration = Field(default=Duration.parse("5m"), alias="for")
    severity: Severity
    service: Name | None = None
    summary: str
    description: str = ""
    runbook_url: str | None = None
    labels: dict[LabelName, str] = Field(default_factory=dict)


class PackCost(Strict):
    enabled: bool = True


class PackHttp(Strict):
    enabled: bool = True
    error_ratio: float = Field(default=0.001, gt=0, lt=1)
    p95_latency_seconds: float = Field(default=0.2, gt=0)
    min_request_rate: float = Field(default=0.1, ge=0)
    severity: Severity = "high"


class PackProbes(Strict):
    enabled: bool = True
    slow_seconds: float = Field(default=1.0, gt=0)
    cert_expiry_days: int = Field(default=14, ge=1)
    severity: Severity = "high"


class PackHost(Strict):
    enabled: bool = True
    cpu_ratio: float = Field(default=0.9, gt=0, le=1)
    memory_ratio: float = Field(default=0.9, gt=0, le=1)
    disk_ratio: float = Field(default=0.85, gt=0, le=1)
    severity: Severity = "medium"


class PackDora(Strict):
    enabled: bool = True


class PackExporters(Strict):
    enabled: bool = True
    severity: Severity = "high"


class Packs(Strict):
    cost: PackCost = PackCost()
    dora: PackDora = PackDora()
    http: PackHttp = PackHttp()
    probes: PackProbes = PackProbes()
    host: PackHost = PackHost()
    exporters: PackExporters = PackExporters()


class AlertsConfig(Strict):
    packs: Packs = Packs()
    rules: list[CustomRule] = Field(default_factory=list)
    runbook_base_url: str = "https://github.com/opslens/opslens/blob/main/docs/runbooks.md"
    # Caps every generated rule's `for:`; a demo or test stack fires in seconds, not hours.
    max_for: Duration | None = None


# Set by Prometheus itself or carrying credentials: Prometheus refuses to send the first
# kind, and credentials come from files (`bearer_token_file`), never from the YAML.
_RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "host",
        "content-encoding",
        "content-length",
        "content-type",
        "user-agent",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "x-prometheus-remote-write-version",
    }
)
_SECRET_HEADER = re.compile(r"auth|token|secret|key|password|cookie", re.I)


class RemoteWrite(Strict):
    url: PublicUrl
    name: Name | None = None
    bearer_token_file: str | None = None
    # Tenant headers: Mimir's X-Scope-OrgID, Thanos Receive's THANOS-TENANT.
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9-]+", name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if name.lower() in _RESERVED_HEADERS or _SECRET_HEADER.search(name):
                raise ValueError(
                    f"header {name} is reserved or carries a credential: use "
                    "bearer_token_file for credentials"
                )
        return value


class PrometheusConfig(Strict):
    scrape_interval: Duration = Duration.parse("15s")
    evaluation_interval: Duration | None = None
    retention: Duration = Duration.parse("15d")
    # False where the SLO rules run against long-term storage (a Thanos or Mimir ruler
    # over remote_write data) rather than this Prometheus' own TSDB.
    retention_covers_slos: bool = True
    external_labels: dict[LabelName, str] = Field(default_factory=dict)
    remote_write: list[RemoteWrite] = Field(default_factory=list)
    # More agents (HOST:PORT) scraped as job "opslens" beside this config's own: shards
    # that run with their own configs (docs/scaling.md#several-agents).
    extra_agents: list[str] = Field(default_factory=list)

    @field_validator("extra_agents")
    @classmethod
    def _agents(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("extra_agents must be distinct")
        return [_hostport(v) for v in value]

    @property
    def eval_interval(self) -> Duration:
        return self.evaluation_interval or self.scrape_interval


class Images(Strict):
    prometheus: str = "prom/prometheus:v2.53.2"
    alertmanager: str = "prom/alertmanager:v0.27.0"
    grafana: str = "grafana/grafana:11.2.0"


class ComposeConfig(Strict):
    images: Images = Images()
    grafana_admin_password_file: str = "./secrets/grafana_admin_password"


class KubernetesConfig(Strict):
    namespace: Name = "monitoring"
    release_label: str = "kube-prometheus-stack"
    image: str = "ghcr.io/opslens/agent:0.1.0"
    storage: str = Field(default="1Gi", pattern=r"^\d+(Mi|Gi|Ti)$")


class DeployConfig(Strict):
    compose: ComposeConfig = ComposeConfig()
    kubernetes: KubernetesConfig = KubernetesConfig()


class Config(Strict):
    version: Literal[1]
    project: Name
    agent: AgentConfig = AgentConfig()
    cost: CostConfig = CostConfig()
    dora: DoraConfig = DoraConfig()
    app: AppConfig = AppConfig()
    targets: list[Target] = Field(default_factory=list)
    slos: list[Slo] = Field(default_factory=list)
    alerts: AlertsConfig = AlertsConfig()
    notify: NotifyConfig = NotifyConfig()
    dashboards: list[Dashboard] = Field(default_factory=_all_dashboards)
    reports: ReportsConfig = ReportsConfig()

    prometheus: PrometheusConfig = PrometheusConfig()
    deploy: DeployConfig = DeployConfig()


__all__ = ["DASHBOARDS", "Config", "LabelName", "Severity"]
