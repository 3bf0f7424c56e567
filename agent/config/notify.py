"""`notify:` section: receivers, escalation per severity, team overrides."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from exporters.config import SEVERITIES, Duration, LabelName, Name, Severity, Strict

# Secrets are always *_file paths that Alertmanager reads itself: the generated
# alertmanager.yml must never hold a secret (docs/config.md#secrets). OpsLens generates for
# Alertmanager 0.25, so only fields that release accepts are modelled.

ALERTMANAGER_VERSION = "0.25"
# The root route's receiver; it only receives alerts while no escalation exists.
NULL_RECEIVER = "null"
# The agent's own receiver for `dora.incidents.alertmanager`, generated when enabled.
INCIDENTS_RECEIVER = "opslens-incidents"
_HOSTPORT = r"^(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}$"


def _credential_free(url: str) -> str:
    """Refuse a URL that carries a credential: it would be copied into generated files."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL carries credentials (user:password@): use a *_file setting")
    if parts.query:
        raise ValueError(
            "the URL has a query string, where tokens travel, and generated files would copy "
            "it: put credentials in a *_file setting"
        )
    return url


# An http(s) URL that holds no secret, safe to write into generated files.
PublicUrl = Annotated[str, Field(pattern=r"^https?://"), AfterValidator(_credential_free)]


class _SecretFree(Strict):
    """A model whose secret fields exist only as `*_file` paths."""

    inline_secrets: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        # Caught before the generic "unknown key" so the message says what to write instead.
        for key in cls.inline_secrets:
            if isinstance(data, dict) and key in data:
                raise ValueError(
                    f"{key!r} would put a secret in the config: use {key}_file, "
                    "a path Alertmanager reads"
                )
        return data


class PagerDuty(_SecretFree):
    inline_secrets = ("routing_key", "service_key")
    routing_key_file: str
    url: PublicUrl | None = None  # events API, tests and proxies


class Slack(_SecretFree):
    inline_secrets = ("api_url",)
    api_url_file: str
    channel: str | None = None


class Email(Strict):
    to: str = Field(pattern=r"^[^@\s,]+@[^@\s,]+(,\s*[^@\s,]+@[^@\s,]+)*$")


class Sns(Strict):
    # Credentials come from the environment or the instance role, never from the config.
    topic_arn: str = Field(pattern=r"^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w.-]+$")
    region: str | None = None
    api_url: PublicUrl | None = None

    @property
    def signing_region(self) -> str:
        return self.region or self.topic_arn.split(":")[3]


class Webhook(Strict):
    url: PublicUrl  # credentials go in bearer_token_file
    bearer_token_file: str | None = None


class Opsgenie(_SecretFree):
    inline_secrets = ("api_key",)
    api_key_file: str
    api_url: PublicUrl | None = None


class Telegram(Strict):
    bot_token_file: str
    chat_id: int


class Discord(Strict):
    webhook_url_file: str


KINDS = ("pagerduty", "slack", "email", "sns", "webhook", "opsgenie", "telegram", "discord")
# Alertmanager 0.25 only takes these secrets inline (their *_file fields came in 0.26),
# and an inline secret would land in the generated file.
_NEEDS_NEWER = {"telegram": "bot_token_file", "discord": "webhook_url_file"}


class Receiver(Strict):
    pagerduty: PagerDuty | None = None
    slack: Slack | None = None
    email: Email | None = None
    sns: Sns | None = None
    webhook: Webhook | None = None
    opsgenie: Opsgenie | None = None
    telegram: Telegram | None = None
    discord: Discord | None = None

    @field_validator("telegram", "discord", mode="before")
    @classmethod
    def _unsupported(cls, value: Any, info: Any) -> Any:
        raise ValueError(
            f"{info.field_name} receivers need Alertmanager ≥ 0.26 for "
            f"{_NEEDS_NEWER[info.field_name]}; OpsLens generates for {ALERTMANAGER_VERSION}: "
            "use a webhook receiver with a relay"
        )

    @model_validator(mode="after")
    def _exactly_one(self) -> Receiver:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if not given:
            raise ValueError(f"a receiver needs one of {', '.join(KINDS)}")
        if len(given) > 1:
            raise ValueError(f"a receiver takes exactly one kind, got {' and '.join(given)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)


class Smtp(_SecretFree):
    inline_secrets = ("auth_password",)
    smarthost: str = Field(default="localhost:25", pattern=_HOSTPORT)
    sender: str = Field(default="opslens@localhost", alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    auth_username: str | None = None
    auth_password_file: str | None = None
    require_tls: bool = True


# An empty list would leave a severity to the catch-all: say "no receivers" loudly instead.
Escalation = dict[Severity, Annotated[list[Name], Field(min_length=1)]]


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

    @model_validator(mode="before")
    @classmethod
    def _no_receivers_no_escalation(cls, data: object) -> object:
        # Without receivers the default escalation would name receivers that do not
        # exist; alerts then go to the root's null receiver until notify is configured.
        if isinstance(data, dict) and not data.get("receivers") and "escalation" not in data:
            return {**data, "escalation": {}}
        return data

    @field_validator("receivers")
    @classmethod
    def _reserved(cls, value: dict[str, Receiver]) -> dict[str, Receiver]:
        for reserved in (NULL_RECEIVER, INCIDENTS_RECEIVER):
            if reserved in value:
                raise ValueError(f"receiver name {reserved!r} is reserved for generated routes")
        return value

    def severities(self) -> tuple[Severity, ...]:
        return SEVERITIES
