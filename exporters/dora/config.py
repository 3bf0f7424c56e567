"""`dora:` section: deployment/incident sources and the DORA level thresholds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from exporters.config import Duration, EnvName, Name, Severity, Strict


class GitHubSource(Strict):
    type: Literal["github"]
    name: Name
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    service: Name
    token_env: EnvName | None = None
    webhook_secret_env: EnvName | None = None
    environments: list[str] | None = None
    api_url: str = "https://api.github.com"
    # Which signal marks a deployment: Deployments API statuses, or a named workflow's runs.
    deploy_signal: Literal["deployment_status", "workflow_run"] = "deployment_status"
    workflow: str | None = None

    @model_validator(mode="after")
    def _workflow(self) -> GitHubSource:
        if self.deploy_signal == "workflow_run" and not self.workflow:
            raise ValueError("deploy_signal workflow_run needs workflow (the workflow name)")
        return self


class GitLabSource(Strict):
    type: Literal["gitlab"]
    name: Name
    project: str | int
    url: str = "https://gitlab.com"
    service: Name
    token_env: EnvName | None = None
    webhook_token_env: EnvName | None = None
    environments: list[str] | None = None
    # Which signal marks a deployment: Deployment Hook events, or a pipeline's deploy jobs.
    deploy_signal: Literal["deployment", "pipeline"] = "deployment"


class GitSource(Strict):
    type: Literal["git"]
    name: Name
    path: str
    service: Name
    deploy_tags: str = "v*"
    environment: str = "production"


class EventsSource(Strict):
    type: Literal["events"]
    name: Name
    token_env: EnvName | None = None


DoraSource = Annotated[
    GitHubSource | GitLabSource | GitSource | EventsSource, Field(discriminator="type")
]


class AlertmanagerIncidents(Strict):
    enabled: bool = False
    match: dict[str, str] = Field(default_factory=dict)
    token_env: EnvName | None = None
    # Label carrying the owning service; falls back to `job` when absent.
    service_label: str = "service"
    environment_label: str = "environment"


class Incidents(Strict):
    alertmanager: AlertmanagerIncidents = AlertmanagerIncidents()


class Thresholds(Strict):
    elite: float
    high: float
    medium: float


class DurationThresholds(Strict):
    elite: Duration
    high: Duration
    medium: Duration

    @model_validator(mode="after")
    def _monotone(self) -> DurationThresholds:
        if not self.elite < self.high < self.medium:
            raise ValueError("levels must satisfy elite < high < medium")
        return self


class DeploymentDays(Strict):
    """Deployment frequency levels from the median number of days with a deployment."""

    elite_per_week: float = Field(default=7, gt=0, le=7)
    high_per_week: float = Field(default=1, gt=0, le=7)
    medium_per_month: float = Field(default=1, gt=0, le=30)

    @model_validator(mode="after")
    def _monotone(self) -> DeploymentDays:
        if not self.elite_per_week > self.high_per_week:
            raise ValueError("deployment_days must satisfy elite_per_week > high_per_week")
        return self


class Levels(Strict):
    """2023 State of DevOps clusters, made monotone (docs/metrics.md#performance-levels)."""

    # Colours the per-day rate on the dashboard; the level comes from `deployment_days`.
    deployment_frequency_per_day: Thresholds = Thresholds(elite=1.0, high=1 / 7, medium=1 / 30)
    deployment_days: DeploymentDays = DeploymentDays()
    lead_time: DurationThresholds = DurationThresholds(
        elite=Duration.parse("1d"), high=Duration.parse("7d"), medium=Duration.parse("30d")
    )
    change_failure_ratio: Thresholds = Thresholds(elite=0.05, high=0.10, medium=0.15)
    time_to_restore: DurationThresholds = DurationThresholds(
        elite=Duration.parse("1h"), high=Duration.parse("1d"), medium=Duration.parse("7d")
    )

    @model_validator(mode="after")
    def _monotone(self) -> Levels:
        f = self.deployment_frequency_per_day
        if not f.elite > f.high > f.medium > 0:
            raise ValueError("deployment_frequency_per_day must satisfy elite > high > medium > 0")
        c = self.change_failure_ratio
        if not 0 < c.elite < c.high < c.medium <= 1:
            raise ValueError("change_failure_ratio must satisfy 0 < elite < high < medium <= 1")
        return self


class DoraConfig(Strict):
    environments: list[str] = Field(default_factory=lambda: ["production"], min_length=1)
    # None: an incident's cause is the last successful deployment before it, however old.
    failure_window: Duration | None = None
    poll_interval: Duration = Duration.parse("5m")
    sources: list[DoraSource] = Field(default_factory=list)
    incidents: Incidents = Incidents()
    levels: Levels = Levels()
    # Alert when the 30d change failure ratio exceeds this.
    change_failure_ratio_alert: float = Field(default=0.15, gt=0, le=1)
    severity: Severity = "medium"


def has_incident_source(config: DoraConfig) -> bool:
    """Whether incidents can arrive at all: Alertmanager, or generic events."""
    return config.incidents.alertmanager.enabled or any(
        isinstance(s, EventsSource) for s in config.sources
    )
