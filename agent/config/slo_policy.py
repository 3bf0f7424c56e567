"""The burn-rate window policy: the (long, short, factor) conditions an SLO period gets.

The SRE workbook gives them for a 30-day period: page when 2 % of the budget goes in 1 h
(14.4×, confirmed over 5 m) or 5 % in 6 h (6×, over 30 m); ticket when 10 % goes in 1 d
(3×, over 2 h) or in 3 d (1×, over 6 h). For any other period the windows scale with it
and the factors stay, so each condition still means the same share of the budget and no
condition fires at or below the sustainable rate (a burn rate of 1). Windows are rounded
to whole minutes, at least one. The validation and the rule generator both read this
module, so what `opslens validate` accepts is exactly what the rules use.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Literal

Speed = Literal["fast", "slow"]

BASE_PERIOD = timedelta(days=30)
# The fastest page needs a long window of 2 minutes over a 1-minute short one; shorter
# periods would collapse both to the 1-minute floor.
MIN_PERIOD = timedelta(days=1)
MINUTE = timedelta(minutes=1)
# The whole-period ratio sums increases recorded once per this interval.
PERIOD_STEP = timedelta(minutes=5)
# increase() over a window needs two samples; four scrapes per window leave room for a
# missed scrape without the window going empty (and the alert with it).
SCRAPES_PER_WINDOW = 4


@dataclass(frozen=True)
class Condition:
    """Both windows' burn rates above `factor`: the budget burns too fast."""

    speed: Speed
    long: timedelta
    short: timedelta
    factor: Decimal


WORKBOOK: tuple[Condition, ...] = (
    Condition("fast", timedelta(hours=1), timedelta(minutes=5), Decimal("14.4")),
    Condition("fast", timedelta(hours=6), timedelta(minutes=30), Decimal("6")),
    Condition("slow", timedelta(days=1), timedelta(hours=2), Decimal("3")),
    Condition("slow", timedelta(days=3), timedelta(hours=6), Decimal("1")),
)


def scale(window: timedelta, period: timedelta) -> timedelta:
    """`window` of the 30-day policy for `period`, to the nearest minute (halves up), ≥ 1m."""
    exact = Fraction(int(window.total_seconds()) * int(period.total_seconds()))
    minutes = exact / int(BASE_PERIOD.total_seconds()) / 60
    whole = int(minutes + Fraction(1, 2))
    return max(MINUTE, timedelta(minutes=whole))


@functools.cache
def conditions(period: timedelta) -> tuple[Condition, ...]:
    """The workbook's conditions with their windows scaled to `period`."""
    return tuple(
        Condition(c.speed, scale(c.long, period), scale(c.short, period), c.factor)
        for c in WORKBOOK
    )


def windows(period: timedelta) -> list[timedelta]:
    """Every distinct window the conditions of `period` read, shortest first."""
    return sorted({w for c in conditions(period) for w in (c.long, c.short)})


def shortest_window(period: timedelta) -> timedelta:
    """The shortest range any SLO rule of `period` reads: a short window or the period step."""
    return min([*windows(period), PERIOD_STEP])


def enough_scrapes(period: timedelta, scrape: timedelta) -> bool:
    """Whether every window of `period` holds `SCRAPES_PER_WINDOW` scrapes of `scrape`."""
    return shortest_window(period) >= scrape * SCRAPES_PER_WINDOW


def min_period(scrape: timedelta) -> timedelta | None:
    """The shortest whole-day period whose windows all hold enough scrapes; None if none."""
    if scrape * SCRAPES_PER_WINDOW > PERIOD_STEP:
        return None
    days = 1
    # Windows grow with the period and the step is fixed, so this ends by 30d × step/5m.
    while not enough_scrapes(timedelta(days=days), scrape):
        days += 1
    return timedelta(days=days)
