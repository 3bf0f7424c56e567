"""Report periods: `1d`, `7d`, `30d`, `month` and `previous-month`, resolved against a clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

DAY = 86400.0
FIXED_DAYS = {"1d": 1, "7d": 7, "30d": 30}


@dataclass(frozen=True)
class Period:
    """A half-open time range [start, end) in a time zone, and the one it is compared with."""

    name: str
    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime

    @property
    def seconds(self) -> int:
        # Timestamps, not datetime subtraction: that ignores a DST change in between.
        return round(self.end.timestamp() - self.start.timestamp())

    @property
    def days(self) -> int:
        """Whole days in the period, at least one: how many daily cost figures it holds."""
        return max(1, int(self.seconds // DAY))

    @property
    def previous_days(self) -> int:
        seconds = self.previous_end.timestamp() - self.previous_start.timestamp()
        return max(1, int(seconds // DAY))

    @property
    def range(self) -> str:
        """Return the period as a PromQL range, e.g. `604800s`."""
        return f"{self.seconds}s"

    @property
    def dora_window(self) -> str:
        """Pick the exporter's rolling DORA window closest to the period (7d, 30d or 90d exist)."""
        return "7d" if self.seconds <= 7 * DAY else "30d"

    @property
    def title(self) -> str:
        if self.name == "previous-month":
            return self.start.strftime("%B %Y")
        if self.name == "month":
            return self.start.strftime("%B %Y") + " to date"
        return f"last {FIXED_DAYS[self.name]} day" + ("s" if FIXED_DAYS[self.name] > 1 else "")

    @property
    def label(self) -> str:
        fmt = "%a %d %b %Y %H:%M %Z"
        return f"{self.start.strftime(fmt)} → {self.end.strftime(fmt)}"


def _month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _previous_month_start(first: datetime) -> datetime:
    before = (first - timedelta(days=1)).replace(tzinfo=None)
    return _month_start(before).replace(tzinfo=first.tzinfo)


def resolve(name: str, now: float, tz: ZoneInfo) -> Period:
    """Resolve the period `name` ending at `now` (months start at local midnight on the 1st)."""
    end = datetime.fromtimestamp(now, tz)
    if name in FIXED_DAYS:
        length = timedelta(days=FIXED_DAYS[name])
        start = end - length
        return Period(name, start, end, start - length, start)
    # Local wall-clock arithmetic, then back to aware datetimes: months are calendar
    # months in the report's zone, whatever DST did in between.
    this_month = _month_start(end.replace(tzinfo=None)).replace(tzinfo=tz)
    last_month = _previous_month_start(this_month)
    if name == "month":
        elapsed = end - this_month
        # The same stretch of the previous month, cut at its end (31 → 28 days).
        return Period(name, this_month, end, last_month, min(last_month + elapsed, this_month))
    if name == "previous-month":
        return Period(name, last_month, this_month, _previous_month_start(last_month), last_month)
    raise ValueError(f"unknown period {name!r}")
