"""`reports:` section: where reports read from, and the reports `opslens run` mails itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, field_validator, model_validator

from exporters.config import Name, Strict

PERIODS = ("1d", "7d", "30d", "month", "previous-month")
Period = Literal["1d", "7d", "30d", "month", "previous-month"]
Kind = Literal["review", "daily_digest"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_ADDRESS = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+$")


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name like Europe/Berlin"
        ) from None
    return name


TimeZone = Annotated[str, AfterValidator(_zone)]


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


Address = Annotated[str, AfterValidator(_address)]


@dataclass(frozen=True)
class When:
    """A parsed schedule: every day, one weekday or one day of the month, at hour:minute."""

    every: Literal["daily", "weekly", "monthly"]
    hour: int
    minute: int
    weekday: int | None = None  # 0 Monday, as datetime.weekday()
    day: int | None = None


def _clock(text: str) -> tuple[int, int]:
    match = _CLOCK.match(text.strip())
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a 24-hour time like 09:00")
    return int(match.group(1)), int(match.group(2))


class Schedule(Strict):
    """`daily: 08:00`, `weekly: friday 09:00` or `monthly: 1 09:00`, in the report's time zone."""

    daily: str | None = None
    weekly: str | None = None
    monthly: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        # `schedule: "weekly: friday 09:00"` (quoted, as people write it in prose) is the
        # same as the mapping `schedule: {weekly: friday 09:00}`.
        if isinstance(data, str):
            every, sep, rest = data.partition(":")
            if not sep:
                raise ValueError(
                    f"{data!r} is not a schedule: write daily: 08:00, weekly: friday 09:00 "
                    "or monthly: 1 09:00"
                )
            return {every.strip(): rest.strip()}
        return data

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        given = [k for k in ("daily", "weekly", "monthly") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a schedule takes exactly one of daily, weekly, monthly")
        self.when()  # raises on a malformed time, day or weekday
        return self

    def when(self) -> When:
        if self.daily is not None:
            return When("daily", *_clock(self.daily))
        if self.weekly is not None:
            day, _, clock = self.weekly.strip().partition(" ")
            if day.lower() not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday: use monday … sunday")
            return When("weekly", *_clock(clock), weekday=WEEKDAYS.index(day.lower()))
        assert self.monthly is not None
        day, _, clock = self.monthly.strip().partition(" ")
        # Days 29–31 are missing from some months; a report silently skipped in February
        # is worse than asking for the 28th.
        if not day.isdigit() or not 1 <= int(day) <= 28:
            raise ValueError(f"day of month {day!r} must be 1 to 28, so that every month has it")
        return When("monthly", *_clock(clock), day=int(day))


class ScheduledReport(Strict):
    name: Name
    kind: Kind = "review"
    period: Period | None = None
    schedule: Schedule
    timezone: TimeZone | None = None
    recipients: list[Address] = Field(min_length=1)

    @model_validator(mode="after")
    def _digest_period(self) -> ScheduledReport:
        if self.kind == "daily_digest" and self.period not in (None, "1d"):
            raise ValueError("a daily_digest covers the last day: leave period out")
        return self

    @property
    def effective_period(self) -> Period:
        if self.period is not None:
            return self.period
        return "1d" if self.kind == "daily_digest" else "7d"


class ReportsConfig(Strict):
    # The Prometheus the reports query and link to; `opslens up` serves it here.
    prometheus_url: str = Field(default="http://127.0.0.1:9090", pattern=r"^https?://\S+$")
    # Figures link to their Grafana panels under this URL.
    grafana_url: str = Field(default="http://127.0.0.1:3000", pattern=r"^https?://\S+$")
    timezone: TimeZone = "UTC"
    scheduled: list[ScheduledReport] = Field(default_factory=list)

    @field_validator("scheduled")
    @classmethod
    def _unique(cls, value: list[ScheduledReport]) -> list[ScheduledReport]:
        seen: set[str] = set()
        for report in value:
            if report.name in seen:
                raise ValueError(f"duplicate report name {report.name!r}")
            seen.add(report.name)
        return value

    def zone(self, report: ScheduledReport | None = None) -> ZoneInfo:
        """Return the time zone of a report: its own, else the section's."""
        return ZoneInfo((report.timezone if report else None) or self.timezone)

    def get(self, name: str) -> ScheduledReport | None:
        return next((r for r in self.scheduled if r.name == name), None)
