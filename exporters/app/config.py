"""`app:` section: host/process metrics and HTTP/TLS probes."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from exporters.config import Duration, Name, Strict


class Process(Strict):
    group: Name
    match: str = Field(min_length=1)

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
        return value


class Probe(Strict):
    name: Name
    url: str = Field(pattern=r"^https?://[^\s/$.?#].[^\s]*$")
    interval: Duration = Duration.parse("30s")
    timeout: Duration = Duration.parse("5s")
    expect_status: list[int] = Field(default_factory=lambda: [200], min_length=1)
    service: Name | None = None
    follow_redirects: bool = True
    # PEM bundle to verify the target's certificate with (an internal CA); default: system CAs.
    ca_file: str | None = None

    @field_validator("expect_status")
    @classmethod
    def _status(cls, value: list[int]) -> list[int]:
        for code in value:
            if not 100 <= code <= 599:
                raise ValueError(f"status {code} is not an HTTP status code")
        return value

    @model_validator(mode="after")
    def _timeout(self) -> Probe:
        if self.timeout > self.interval:
            raise ValueError("timeout must not exceed interval")
        return self


class AppConfig(Strict):
    host: bool = True
    host_interval: Duration = Duration.parse("15s")
    processes: list[Process] = Field(default_factory=list)
    probes: list[Probe] = Field(default_factory=list)
