"""`notify:` section: receivers, escalation per severity, team overrides."""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import Strict
from .types import SEVERITIES, Duration, LabelName, Name, Severity

# Secrets are always *_file paths that Alertmanager reads itself: the generated
# alertmanager.yml must never hold a secret (DESIGN §4).


class PagerDuty(Strict):
    routing_key_file: str
    url: str | None = None  # events API override, used by tests and proxies


class Slack(Strict):
    api_url_file: str
    channel: str | None = None


class Email(Strict):
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class Sns(Strict):
    topic_arn: str = Field(pattern=r"^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]+$")
    region: str | None = None
    api_url: str | None = None


class Webhook(Strict):
    url: str = Field(pattern=r"^https?://")
    bearer_token_file: str | None = None


class Opsgenie(Strict):
    api_key_file: str
    api_url: str | None = None


class Telegram(Strict):
    bot_token_file: str
    chat_id: int


class Discord(Strict):
    webhook_url_file: str


_KINDS = ("pagerduty", "slack", "email", "sns", "webhook", "opsgenie", "telegram", "discord")


class Receiver(Strict):
    pagerduty: PagerDuty | None = None
    slack: Slack | None = None
    email: Email | None = None
    sns: Sns | None = None
    webhook: Webhook | None = None
    opsgenie: Opsgenie | None = None
    telegram: Telegram | None = None
    discord: Discord | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Receiver:
        given = [k for k in _KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a receiver needs exactly one of {', '.join(_KINDS)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in _KINDS if getattr(self, k) is not None)


class Smtp(Strict):
    smarthost: str = "localhost:25"
    sender: str = Field(default="opslens@localhost", alias="from")
    auth_username: str | None = None
    auth_password_file: str | None = None
    require_tls: bool = True


Escalation = dict[Severity, list[Name]]


def _default_escalation() -> Escalation:
    return {
        "critical": ["pager", "chat", "sms"],
        "high": ["chat", "mail"],
        "medium": ["chat"],
        "low": ["mail"],
    }


class Team(Strict):
    services: list[Name] = Field(min_length=1)
    escalation: Escalation = Field(default_factory=dict)


class RepeatIntervals(Strict):
    critical: Duration = Duration.parse("1h")
    high: Duration = Duration.parse("4h")
    medium: Duration = Duration.parse("12h")
    low: Duration = Duration.parse("3d")


class NotifyConfig(Strict):
    receivers: dict[Name, Receiver] = Field(default_factory=dict)
    escalation: Escalation = Field(default_factory=_default_escalation)
    teams: dict[Name, Team] = Field(default_factory=dict)
    group_by: list[LabelName] = Field(default_factory=lambda: ["alertname", "service"])
    group_wait: Duration = Duration.parse("30s")
    group_interval: Duration = Duration.parse("5m")
    repeat_interval: RepeatIntervals = RepeatIntervals()
    inhibit: bool = True
    smtp: Smtp = Smtp()

    def severities(self) -> tuple[Severity, ...]:
        return SEVERITIES
