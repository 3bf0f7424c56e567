"""SLOs: per-window SLI recording rules, burn-rate alerts and the whole-period budget.

Each SLO gets its own rules file with two groups. The first, at the evaluation interval,
records for every window of its conditions (agent/config/slo_policy.py) the events and the
burn rate, and holds the alerts: one rule per (long, short) window pair, so an alert says
which pair fired and its value is the long window's burn rate. A condition also needs
`min_events` events in its long window; the SLO's constants (objective, budget, info)
follow, so they exist from the first evaluation. The second group runs every 5 minutes: it
records the increases of those 5 minutes and sums them over the SLO period, which gives
the period's error ratio traffic-weighted, at a cost of one sample per 5 minutes of
history instead of one per evaluation, and without the NaN an average of ratios takes
from one idle interval. Ratios are 0, not NaN, over windows without events.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from agent.config import Config, Severity
from agent.config.models import Slo
from agent.config.slo_policy import PERIOD_STEP, Condition
from agent.config.slo_policy import conditions as policy_conditions

from ..naming import (
    SLO_ERROR_BUDGET,
    SLO_ERROR_BUDGET_REMAINING,
    SLO_INFO,
    SLO_OBJECTIVE,
    SLO_PERIOD_ERROR_RATIO,
    SLO_PERIOD_ERRORS,
    SLO_PERIOD_EVENTS,
    rule_group,
    runbook_url,
    slo_alert,
    slo_burn_rate,
    slo_events,
    slo_interval_errors,
    slo_interval_events,
    slo_pack,
    slo_runbook,
)
from ..naming import window as window_name
from .common import Case, Check, Group, Pack, Rule, Sample, TestFile, alert, num, record, selector

NAME = "slo"

SEVERITY: dict[str, Severity] = {"fast": "critical", "slow": "high"}
SPEED_WORD = {"fast": "fast", "slow": "steadily"}
# The alert's value is the long window's burn rate (the first operand of its `and`).
VALUE = '{{ printf "%.1f" $value }}'
ABSENT_FOR = timedelta(minutes=10)
STEP = window_name(PERIOD_STEP)


def error_budget(objective: float) -> Decimal:
    """99.9 → 0.001, exactly: the objective is a percentage as written in the config."""
    return ((Decimal(100) - Decimal(repr(objective))) / 100).normalize()


def conditions(slo: Slo) -> list[Condition]:
    """Return the policy's conditions this SLO can meet, pages first."""
    # A threshold of factor × budget at or above an error ratio of 1 can never be
    # exceeded, so such a condition is left out (a 50 % objective gets no page).
    budget = error_budget(slo.objective)
    return [c for c in policy_conditions(slo.window) if c.factor * budget < 1]


def windows(slo: Slo) -> list[timedelta]:
    """Return the windows the SLO's conditions read, shortest first."""
    return sorted({w for c in conditions(slo) for w in (c.long, c.short)})


def ids(slo: Slo) -> dict[str, str]:
    """Return the labels every series of this SLO carries."""
    return {"slo": slo.name, "service": slo.service}


def _sel(slo: Slo) -> str:
    return selector("", ids(slo))


# --- SLI expressions ---------------------------------------------------------------------


def _le(threshold: float) -> str:
    # Go clients write le="1", client_python le="1.0": an integral bound matches both.
    text = num(threshold)
    if "." in text:
        return f'le="{text}"'
    return f'le=~"{text}|{text}\\\\.0"'


def _with(sel: str, extra: str) -> str:
    return f"{{{sel},{extra}}}" if sel else f"{{{extra}}}"


def total_selector(slo: Slo) -> str:
    """The series counting every event of the SLI."""
    if slo.latency is not None:
        sel = slo.latency.selector.strip()
        return f"{slo.latency.metric}_count" + (f"{{{sel}}}" if sel else "")
    assert slo.total is not None
    return slo.total.strip()


def good_selector(slo: Slo) -> str:
    """Select the histogram bucket counting the events fast enough (latency SLOs)."""
    assert slo.latency is not None
    lat = slo.latency
    return f"{lat.metric}_bucket" + _with(lat.selector.strip(), _le(lat.threshold))


def events_expr(slo: Slo, window: str) -> str:
    return f"sum(increase({total_selector(slo)}[{window}]))"


def sli_exprs(slo: Slo, window: str) -> tuple[str, str]:
    """Return the (bad events, events) increase expressions of the SLI over `window`."""
    total = events_expr(slo, window)
    if slo.latency is not None:
        good = f"sum(increase({good_selector(slo)}[{window}]))"
        return f"(\n  {total}\n  -\n  {good}\n)", total
    assert slo.errors is not None
    return f"(sum(increase({slo.errors.strip()}[{window}])) or vector(0))", total


def errors_expr(slo: Slo, window: str, events: str) -> str:
    """Count the bad events over `window`, given the recorded events series of `window`."""
    if slo.latency is not None:
        good = f"sum(increase({good_selector(slo)}[{window}]))"
        # group_left keeps the events' slo and service labels (plain matching would drop them).
        return f"(\n  {events}{_sel(slo)}\n  - on () group_left\n  {good}\n)"
    assert slo.errors is not None
    # No error series yet means no errors, not an unknown SLI.
    return f"(sum(increase({slo.errors.strip()}[{window}])) or vector(0))"


def ratio_expr(slo: Slo, errors: str, events: str) -> str:
    """Divide `errors` by `events`: 0 rather than NaN when there were no events."""
    sel = _sel(slo)
    # A ratio SLO's errors are a label-less sum; match it to the events on nothing else.
    on = " ignoring (slo, service)" if slo.latency is None else ""
    return f"{errors}\n/{on}\n({events}{sel} > 0)\nor{on}\n({events}{sel} == 0)"


def _window_rules(slo: Slo, window: timedelta, budget: str) -> list[Rule]:
    """Record the events and the burn rate over one window (the error ratio is burn × budget)."""
    w = window_name(window)
    labels = ids(slo)
    events = slo_events(w)
    ratio = ratio_expr(slo, errors_expr(slo, w, events), events)
    return [
        record(events, events_expr(slo, w), labels),
        record(slo_burn_rate(w), f"(\n{_indent(ratio)}\n)\n/ {budget}", labels),
    ]


def _indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ")


# --- alerts ---------------------------------------------------------------------------------


def _spent(c: Condition, period: timedelta) -> str:
    """Give the share of the period's budget, in %, that the factor burns in the long window."""
    share = c.factor * Decimal(c.long.total_seconds()) / Decimal(period.total_seconds()) * 100
    return num(share.quantize(Decimal("0.01")))


def burn_alert(config: Config, slo: Slo, c: Condition) -> Rule:
    """Build one window pair's rule of the page (`fast`) or ticket (`slow`) alert."""
    sel, long, short = _sel(slo), window_name(c.long), window_name(c.short)
    factor = num(c.factor)
    expr = (
        f"{slo_burn_rate(long)}{sel} > {factor}\n"
        f"and\n{slo_burn_rate(short)}{sel} > {factor}\n"
        f"and\n{slo_events(long)}{sel} >= {slo.min_events}"
    )
    period = window_name(slo.window)
    return alert(
        config,
        slo_alert(slo.service, slo.name, c.speed),
        expr,
        "0s",
        SEVERITY[c.speed],
        f"{slo.service} {slo.name} SLO is burning its error budget {SPEED_WORD[c.speed]} "
        f"({long}/{short})",
        f"The {slo.name} SLO of {slo.service} ({num(slo.objective)}% over {period}) burned "
        f"its error budget at {VALUE}× the sustainable rate over the last {long}, and above "
        f"{factor}× over the last {short} ({slo.min_events} events or more in {long}). At "
        f"{factor}× the {long} window spends {_spent(c, slo.window)}% of the budget."
        + (f" {slo.description}" if slo.description else ""),
        labels={"service": slo.service, "long": long, "short": short},
        # One runbook section serves every SLO's alert of this kind.
        runbook=runbook_url(config.alerts.runbook_base_url, slo_runbook(c.speed)),
    )


def absent_alert(config: Config, slo: Slo) -> Rule:
    """Build the alert on the SLI's events being gone, which silences every burn-rate alert."""
    shortest = window_name(windows(slo)[0])
    return alert(
        config,
        slo_alert(slo.service, slo.name, "absent"),
        f"absent({slo_events(shortest)}{_sel(slo)})",
        window_name(ABSENT_FOR),
        "high",
        f"{slo.service} {slo.name} SLO has no SLI data",
        f"No series of {total_selector(slo)} reached Prometheus for the last {shortest}: "
        f"the {slo.name} SLO of {slo.service} is blind and its burn-rate alerts cannot fire.",
        labels={"service": slo.service},
        runbook=runbook_url(config.alerts.runbook_base_url, slo_runbook("absent")),
    )


def exhausted_alert(config: Config, slo: Slo) -> Rule:
    """Build the alert on the period's errors exceeding its whole budget."""
    period = window_name(slo.window)
    return alert(
        config,
        slo_alert(slo.service, slo.name, "exhausted"),
        f"{SLO_ERROR_BUDGET_REMAINING}{_sel(slo)} <= 0",
        "0s",
        "high",
        f"{slo.service} {slo.name} SLO has spent its error budget",
        f"Over the last {period} the {slo.name} SLO of {slo.service} failed more than its "
        f"{num(Decimal(100) - Decimal(repr(slo.objective)))}% error budget "
        f"({num(slo.objective)}% objective).",
        labels={"service": slo.service},
        runbook=runbook_url(config.alerts.runbook_base_url, slo_runbook("exhausted")),
    )


# --- groups ---------------------------------------------------------------------------------


def slo_groups(config: Config, slo: Slo) -> list[Group]:
    """Build the two rule groups of one SLO: per-window SLIs and alerts, then the period."""
    labels, sel = ids(slo), _sel(slo)
    budget = num(error_budget(slo.objective))
    fast = [r for w in windows(slo) for r in _window_rules(slo, w, budget)]
    fast += [burn_alert(config, slo, c) for c in conditions(slo)]
    fast.append(absent_alert(config, slo))
    period = window_name(slo.window)
    # Constants, cheap to evaluate: here they exist from Prometheus' first evaluation,
    # where the period group would leave the SLO panels empty for up to its interval.
    fast += [
        record(SLO_OBJECTIVE, f"vector({num(Decimal(repr(slo.objective)) / 100)})", labels),
        record(SLO_ERROR_BUDGET, f"vector({budget})", labels),
        record(
            SLO_INFO, "vector(1)", {**labels, "objective": num(slo.objective), "window": period}
        ),
    ]

    errors, events = slo_interval_errors(STEP), slo_interval_events(STEP)
    summed_errors = f"sum_over_time({errors}{sel}[{period}])"
    slow = [
        record(events, events_expr(slo, STEP), labels),
        record(errors, errors_expr(slo, STEP, events), labels),
        record(SLO_PERIOD_EVENTS, f"sum_over_time({events}{sel}[{period}])", labels),
        record(SLO_PERIOD_ERRORS, summed_errors, labels),
        record(
            SLO_PERIOD_ERROR_RATIO,
            ratio_expr(slo, SLO_PERIOD_ERRORS + sel, SLO_PERIOD_EVENTS),
            labels,
        ),
        record(SLO_ERROR_BUDGET_REMAINING, f"1 - {SLO_PERIOD_ERROR_RATIO}{sel} / {budget}", labels),
        exhausted_alert(config, slo),
    ]
    return [
        {"name": rule_group(NAME, slo.service, slo.name), "rules": fast},
        {
            "name": rule_group(NAME, slo.service, slo.name, "period"),
            "interval": STEP,
            "rules": slow,
        },
    ]


def groups(config: Config) -> list[Group]:
    """Build every SLO's rule groups, in config order."""
    return [g for slo in config.slos for g in slo_groups(config, slo)]


def cases(config: Config) -> list[Case]:
    """Build the promtool cases of every SLO, in config order."""
    return [c for pack in packs(config) for c in pack.all_cases()]


def pack_groups(config: Config) -> dict[str, list[Group]]:
    """Map each SLO's pack name to its rule groups, without building its cases."""
    return {slo_pack(slo.service, slo.name): slo_groups(config, slo) for slo in config.slos}


def packs(config: Config) -> list[Pack]:
    """Build one pack per SLO, with a test file per evaluation interval its cases need."""
    out = []
    for slo in config.slos:
        by_every: dict[int, list[Case]] = {}
        for every, case in SloCases(config, slo).build():
            by_every.setdefault(every, []).append(case)
        (first, cases_), *more = sorted(by_every.items())
        out.append(
            Pack(
                slo_pack(slo.service, slo.name),
                slo_groups(config, slo),
                cases_,
                _dur(first),
                [TestFile(_dur(every), c, _dur(every)) for every, c in more],
            )
        )
    return out


# --- promtool cases: synthetic series that satisfy the SLO's own selectors ---------------

_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.S)
_MATCHER = re.compile(
    r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"
    r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*(,|$)"
)
Matcher = tuple[str, str, str]


def parse_selector(text: str) -> tuple[str | None, list[Matcher]] | None:
    """`name{a="b",c=~"d"}` → (name, matchers); None for anything fancier."""
    match = _SELECTOR.match(text)
    if match is None:
        inner = text.strip()
        if not (inner.startswith("{") and inner.endswith("}")):
            return None
        name, body = None, inner[1:-1]
    else:
        name, body = match.group(1), match.group(2) or ""
    matchers: list[Matcher] = []
    pos = 0
    while pos < len(body.rstrip()):
        m = _MATCHER.match(body, pos)
        if m is None:
            return None
        raw = m.group(3)
        if raw[0] == '"':
            value = json.loads(raw)
        elif raw[0] == "'":
            value = json.loads('"' + raw[1:-1].replace('"', '\\"').replace("\\'", "'") + '"')
        else:
            value = raw[1:-1]
        matchers.append((m.group(1), m.group(2), value))
        pos = m.end()
    return name, matchers


def matches(labels: Mapping[str, str], matchers: Sequence[Matcher]) -> bool:
    for label, op, value in matchers:
        have = labels.get(label, "")
        try:
            hit = re.fullmatch(value, have) is not None if op in ("=~", "!~") else have == value
        except re.error:
            return False
        if hit != (op in ("=", "=~")):
            return False
    return True


def _guesses(value: str) -> list[str]:
    """Strings likely to match a regex: `5..` → 500, `GET|POST` → GET."""
    out: list[str] = []
    for alt in value.split("|"):
        alt = alt.strip("^$()")
        alt = re.sub(r"\\d|\[[^\]]*\]|\.", "0", alt)
        out.append(re.sub(r"[*+?]|\\", "", alt))
    return out


def sample_labels(
    want: Sequence[Matcher], avoid: Sequence[Matcher] | None = None
) -> dict[str, str] | None:
    """Concrete labels matching `want` (and, given `avoid`, not matching all of it)."""
    names = sorted({m[0] for m in [*want, *(avoid or [])]} - {"__name__"})
    pools = []
    for name in names:
        pool = []
        for label, op, value in [*want, *(avoid or [])]:
            if label == name:
                pool += [value] if op in ("=", "!=") else _guesses(value)
        pools.append(list(dict.fromkeys([*pool, "200", "OK", "500", "x", ""])))
    for combo in itertools.islice(itertools.product(*pools), 20000):
        labels = {n: v for n, v in zip(names, combo, strict=True) if v}
        if matches(labels, want) and (avoid is None or not matches(labels, avoid)):
            return labels
    return None


@dataclass(frozen=True)
class Synth:
    """The input series of an SLO, and what each counts.

    `parts` pairs each series selector with what it counts: "events", "errors" or
    "good" (events − errors).
    """

    parts: tuple[tuple[str, str], ...]


def synth(slo: Slo) -> Synth | None:
    """Find series that satisfy the SLO's own selectors; None when they are too fancy."""
    if slo.latency is not None:
        lat = slo.latency
        parsed = parse_selector("{" + lat.selector + "}")
        labels = sample_labels(parsed[1]) if parsed is not None else None
        if labels is None:
            return None
        le = num(lat.threshold) if "." in num(lat.threshold) else num(lat.threshold) + ".0"
        return Synth(
            (
                (selector(f"{lat.metric}_count", labels), "events"),
                (selector(f"{lat.metric}_bucket", {**labels, "le": le}), "good"),
                (selector(f"{lat.metric}_bucket", {**labels, "le": "+Inf"}), "events"),
            )
        )
    assert slo.errors is not None and slo.total is not None
    errors, total = parse_selector(slo.errors), parse_selector(slo.total)
    if errors is None or total is None or errors[0] is None or total[0] is None:
        return None
    bad_labels = None
    if errors[0] == total[0]:
        bad_labels = sample_labels([*errors[1], *total[1]])
    bad_labels = bad_labels or sample_labels(errors[1])
    # Good events must count in the total without counting as errors.
    avoid = errors[1] if errors[0] == total[0] else None
    good_labels = sample_labels(total[1], avoid)
    if bad_labels is None or good_labels is None:
        return None
    bad_in_total = errors[0] == total[0] and matches(bad_labels, total[1])
    return Synth(
        (
            (selector(errors[0], bad_labels), "errors"),
            (selector(total[0], good_labels), "good" if bad_in_total else "events"),
        )
    )


@dataclass(frozen=True)
class Phase:
    """`minutes` of traffic: `per_minute` events, `ratio` of them bad; or no series at all."""

    minutes: int
    per_minute: Fraction
    ratio: Fraction
    present: bool = True


@dataclass
class Run:
    """What the SLO's rules compute on a case's series, evaluation by evaluation.

    The series are sampled every `step` minutes from 0, every window is a multiple of it
    and counters start at 0, so Prometheus' increase() over a window is exactly the
    difference of two samples (no extrapolation): these are the values promtool computes,
    float operation for float operation.
    """

    slo: Slo
    phases: Sequence[Phase]
    step: int
    every: int  # the evaluation interval of the test file, minutes
    events: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    # Per evaluation: cumulative (period-step samples, events, errors); absent() since.
    _sums: list[tuple[int, int, int]] = field(default_factory=list)
    _absent: list[int | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events, self.errors = [0], [0]
        for p in self.phases:
            if not p.present:
                break
            assert p.minutes % self.step == 0, p
            n, bad = p.per_minute * self.step, p.per_minute * self.step * p.ratio
            assert n.denominator == 1 and bad.denominator == 1, p
            self.events.extend(_ramp(self.events[-1], int(n), p.minutes // self.step))
            self.errors.extend(_ramp(self.errors[-1], int(bad), p.minutes // self.step))
        self.end = sum(p.minutes for p in self.phases)
        self.shortest = _minutes(windows(self.slo)[0])
        self.budget = float(num(error_budget(self.slo.objective)))

    def increase(self, counts: Sequence[int], t: int, window: int) -> float | None:
        """Return increase(counter[window]) at minute `t`; None without two samples in range."""
        last = min(t // self.step, len(counts) - 1)
        first = max(0, -(-(t - window) // self.step))
        if last - first < 1:
            return None
        return float(counts[last] - counts[first])

    def burn(self, t: int, window: int) -> float | None:
        events = self.increase(self.events, t, window)
        if events is None:
            return None
        errors = self.increase(self.errors, t, window)
        assert errors is not None
        ratio = errors / events if events > 0 else 0.0
        return ratio / self.budget

    def fires(self, c: Condition, t: int) -> float | None:
        """Return the alert's value if condition `c` holds at minute `t`, else None."""
        long, short = _minutes(c.long), _minutes(c.short)
        burn_long, burn_short = self.burn(t, long), self.burn(t, short)
        events = self.increase(self.events, t, long)
        if burn_long is None or burn_short is None or events is None:
            return None
        factor = float(num(c.factor))
        if burn_long > factor and burn_short > factor and events >= self.slo.min_events:
            return burn_long
        return None

    def absent(self, t: int) -> bool:
        return self.increase(self.events, t, self.shortest) is None

    def exhausted(self, t: int) -> bool:
        """Tell whether the period group's remaining budget is ≤ 0 at `t`."""
        # promtool runs that group at every evaluation, so its 5-minute increases are
        # summed at the test's evaluation interval, not every 5 minutes: the ratio of the
        # sums is what matters, and that is what this repeats.
        if not self._sums:
            step = _minutes(PERIOD_STEP)
            errors = events = seen = 0
            for tau in range(0, self.end + 1, self.every):
                ev = self.increase(self.events, tau, step)
                if ev is not None:
                    seen += 1
                    events += int(ev)
                    errors += int(self.increase(self.errors, tau, step) or 0)
                self._sums.append((seen, events, errors))
        period = _minutes(self.slo.window)
        now = self._sums[t // self.every]
        start = (t - period - 1) // self.every
        before = self._sums[start] if start >= 0 else (0, 0, 0)
        seen, events, errors = (a - b for a, b in zip(now, before, strict=True))
        if not seen:
            return False
        ratio = errors / events if events > 0 else 0.0
        return 1 - ratio / self.budget <= 0

    def absent_since(self, t: int) -> int | None:
        """Return since when `absent()` has held at every evaluation up to `t`, or None."""
        if not self._absent:
            since = None
            for tau in range(0, self.end + 1, self.every):
                since = (tau if since is None else since) if self.absent(tau) else None
                self._absent.append(since)
        return self._absent[t // self.every]

    def values(self) -> list[tuple[str, str]]:
        """Return the promtool input series."""
        out = []
        bad = [b - a for a, b in itertools.pairwise(self.errors)]
        all_ = [b - a for a, b in itertools.pairwise(self.events)]
        good = [e - x for e, x in zip(all_, bad, strict=True)]
        made = synth(self.slo)
        assert made is not None
        for series, counts in made.parts:
            steps = {"events": all_, "errors": bad, "good": good}[counts]
            out.append((series, counter_values(steps)))
        return out


def _ramp(start: int, per_step: int, steps: int) -> Sequence[int]:
    """Return the `steps` counter values after `start`, growing by `per_step` each."""
    if per_step == 0:
        return [start] * steps
    return range(start + per_step, start + per_step * steps + 1, per_step)


def _minutes(d: timedelta) -> int:
    return int(d.total_seconds()) // 60


def counter_values(increments: Sequence[int]) -> str:
    """Write a counter at 0, then growing by each increment, in promtool's expanding notation."""
    parts, value = [], 0
    for i, (inc, run) in enumerate(itertools.groupby(increments)):
        n = len(list(run))
        if i == 0:
            parts.append(f"0+{inc}x{n}")  # the sample at 0, then n steps
        elif n == 1:
            parts.append(str(value + inc))
        else:
            parts.append(f"{value + inc}+{inc}x{n - 1}")
        value += inc * n
    return " ".join(parts) or "0"


def _dur(minutes: int) -> str:
    return window_name(timedelta(minutes=minutes))


def _up(minutes: float, every: int) -> int:
    return max(every, math.ceil(minutes / every) * every)


class SloCases:
    """The promtool cases of one SLO, each with the evaluation interval it needs.

    promtool evaluates every rule of a file at every step from 0 to the last check, and
    one interval serves a whole file. Page cases need minute-scale evaluation over hours;
    telling the ticket window pairs apart needs the ticket short windows' scale; the cases
    that need days of warm history (at least each condition's long window) or "3 days"
    of errors are checked hourly or coarser. So an SLO has up to three test files. The
    expected alerts, values included, come from `Run`.
    """

    # Burn rates of the cases, as multiples of the error budget: for a 99.9 % objective,
    # 5 % and 0.3 % errors, then half, 1.5× and 5× the budget.
    PAGE, TICKET, HALF, OVER, BOTH = 50, 3, Fraction(1, 2), Fraction(3, 2), 5
    ALL = ("fast", "slow", "absent", "exhausted")

    def __init__(self, config: Config, slo: Slo) -> None:
        self.config, self.slo = config, slo
        self.conds = conditions(slo)
        self.pages = [c for c in self.conds if c.speed == "fast"]
        self.tickets = [c for c in self.conds if c.speed == "slow"]
        self.budget = Fraction(error_budget(slo.objective))
        self.made = synth(slo)
        self.step = math.gcd(*(_minutes(w) for w in [*windows(slo), PERIOD_STEP]))
        self.fast_every = _minutes(windows(slo)[0])
        # Tickets are never dropped (their 1× factor needs a budget of 1 or more).
        self.ticket_every = min(_minutes(c.short) for c in self.tickets)
        self.day_every = max(self.ticket_every, 1440)
        self.longest = max(_minutes(c.long) for c in self.conds)
        self.names = {kind: slo_alert(slo.service, slo.name, kind) for kind in self.ALL}
        self.groups = slo_groups(config, slo)
        self.rules = {
            (r["alert"], r["labels"].get("long"), r["labels"].get("short")): r
            for g in self.groups
            for r in g["rules"]
            if "alert" in r
        }
        # (alert, long/short) of every rule that fires in some check so far.
        self.fired: set[tuple[str, str]] = set()
        self.runs: dict[tuple[tuple[Phase, ...], int], Run] = {}

    def run(self, phases: Sequence[Phase], every: int) -> Run:
        key = (tuple(phases), every)
        if key not in self.runs:
            self.runs[key] = Run(self.slo, phases, self.step, every)
        return self.runs[key]

    def title(self, text: str) -> str:
        return f"slo {self.slo.service}/{self.slo.name}: {text}"

    # -- traffic -----------------------------------------------------------------------------

    def ratio(self, burn: Fraction | int) -> Fraction:
        return min(Fraction(1), Fraction(burn) * self.budget)

    def rate(self, burns: Sequence[Fraction | int]) -> Fraction:
        """Pick events per minute, 1000 or more, so that every burn's errors are whole counts."""
        scale = math.lcm(*((self.ratio(b) * 1000 * self.step).denominator for b in burns))
        return Fraction(1000 * scale)

    def traffic(self, minutes: int, burn: Fraction | int, rate: Fraction) -> Phase:
        return Phase(minutes, rate, self.ratio(burn))

    def errors(self, burn: Fraction | int) -> str:
        """Describe a burn rate as `5% errors (50× the budget)`."""
        share = num(round(float(self.ratio(burn) * 100), 4))
        return f"{share}% errors ({num(round(float(burn), 4))}× the budget)"

    # -- expectations ------------------------------------------------------------------------

    def absent_firing(self, run: Run, t: int) -> bool:
        """Tell whether `absent()` held at every evaluation of the last `for`."""
        since = run.absent_since(t)
        return since is not None and t - since >= _minutes(ABSENT_FOR)

    def firing(self, run: Run, kind: str, t: int) -> list[tuple[Rule, float | None]]:
        """Return the rules of alert `kind` firing at minute `t`, with their values."""
        if kind in ("fast", "slow"):
            out: list[tuple[Rule, float | None]] = []
            for c in self.conds:
                value = run.fires(c, t) if c.speed == kind else None
                if value is not None:
                    key = (self.names[kind], window_name(c.long), window_name(c.short))
                    out.append((self.rules[key], value))
            return out
        on = self.absent_firing(run, t) if kind == "absent" else run.exhausted(t)
        return [(self.rules[(self.names[kind], None, None)], None)] if on else []

    def expected(self, run: Run, kind: str, t: int) -> list[dict[str, Any]]:
        """Return the promtool exp_alerts of alert `kind` at minute `t`."""
        out = []
        for rule, value in self.firing(run, kind, t):
            labels = rule["labels"]
            self.fired.add((rule["alert"], f"{labels.get('long')}/{labels.get('short')}"))
            annotations = dict(rule["annotations"])
            if value is not None:
                text = annotations["description"].replace(VALUE, f"{value:.1f}")
                annotations["description"] = text
            out.append({"exp_labels": {**ids(self.slo), **labels}, "exp_annotations": annotations})
        return out

    def first(self, phases: Sequence[Phase], every: int, kind: str, since: int) -> str:
        """Say when alert `kind` first fires from minute `since` on, for a case's title."""
        run = self.run(phases, every)
        for t in range(since, run.end + 1, every):
            if self.firing(run, kind, t):
                return f"after {_dur(t - since)}" if t > since else "at once"
        return "never"

    def case(
        self,
        title: str,
        phases: Sequence[Phase],
        every: int,
        kinds: Sequence[str],
        extra: Sequence[int] = (),
        exprs: Sequence[tuple[int, bool]] = (),
        edges: bool = True,
    ) -> tuple[int, Case]:
        """Build a case checked wherever what fires changes, and at chosen times."""
        # Checks fall on each change and the evaluation before it, at `extra`, at the end,
        # and unless `edges` is off at the phases' edges and middles.
        run = self.run(phases, every)
        times = {run.end, *extra}
        edge = 0
        for p in phases if edges else ():
            times |= {every, edge, edge + every, edge + p.minutes // 2 // every * every}
            edge += p.minutes
        previous = None
        for t in range(0, run.end + 1, every):
            now = [[r["labels"].get("long") for r, _ in self.firing(run, k, t)] for k in kinds]
            if previous is not None and now != previous:
                times |= {t - every, t}
            previous = now
        # Before its `for` has passed, an alert cannot fire: a silent check there proves nothing.
        hold = {"absent": _minutes(ABSENT_FOR) + self.step}
        checks = [
            Check(self.names[kind], _dur(t), self.expected(run, kind, t))
            for t in sorted(x for x in times if 0 < x <= run.end and x % every == 0)
            for kind in kinds
            if t >= hold.get(kind, 0)
        ]
        samples = [s for t, idle in exprs for s in self.no_nan(t, idle)]
        return every, Case(self.title(title), run.values(), checks, _dur(self.step), samples)

    def no_nan(self, t: int, idle: bool) -> list[Sample]:
        """Check that every series of the SLO exists and is a number."""
        # NaN == NaN is false, so `==` drops NaN series from the count. While `idle`, no
        # window holds an event: the burn rates must then be 0, not NaN.
        every = '{__name__=~"opslens_slo:.+",' + _sel(self.slo)[1:]
        named = f'label_replace({every}, "name", "$1", "__name__", "(.+)")'
        records = {r["record"] for g in self.groups for r in g["rules"] if "record" in r}
        burn = selector(slo_burn_rate(window_name(max(windows(self.slo)))), ids(self.slo))
        count = Sample(f"count({named} == {named})", _dur(t), [("{}", float(len(records)))])
        return [count, Sample(burn, _dur(t), [(burn, 0.0)])] if idle else [count]

    # -- the cases ---------------------------------------------------------------------------

    def build(self) -> list[tuple[int, Case]]:
        """Build every case of this SLO with the evaluation interval (minutes) it needs."""
        if self.made is None:
            # Selectors too fancy to synthesise series for: promtool still loads the rules.
            text = self.title("rules load (selectors too complex to synthesise)")
            return [(self.fast_every, Case(text, [], []))]
        made = [*self.page_cases(), self.absent_case(), *self.ticket_cases()]
        return made + self.uncovered()

    def page_cases(self) -> list[tuple[int, Case]]:
        if not self.pages:
            return []
        e = self.fast_every
        rate = self.rate([self.PAGE])
        warm = _up(max(_minutes(c.long) for c in self.pages), e)
        outage = _up(60, e)
        tail = _up(max(_minutes(c.short) for c in self.pages), e) + e
        burst = [
            self.traffic(warm, 0, rate),
            self.traffic(outage, self.PAGE, rate),
            self.traffic(tail, 0, rate),
        ]
        # The workbook's promise for a 99.9 % SLO: 5 % errors for an hour page in 20m.
        within = warm + 20 // e * e
        page = self.case(
            f"{self.errors(self.PAGE)} for {_dur(outage)} after {_dur(warm)} of clean "
            f"traffic page {self.first(burst, e, 'fast', warm)}, each window pair at its own "
            "time, until the short windows are clean again",
            burst,
            e,
            ("fast", "absent"),
            extra=[within],
        )
        # Minutes matter less here than the onset and the outage's whole length: 5m steps.
        e = max(e, 5)
        warm = _up(max(_minutes(c.long) for c in self.pages), e)
        tail = _up(max(_minutes(c.short) for c in self.pages), e) + e
        lull = _up(120, e)
        idle, failing, fine = Fraction(0), Fraction(2), Fraction(0)
        quiet = [
            Phase(warm, idle, fine),
            Phase(lull, failing, Fraction(1)),
            Phase(tail, failing, fine),
        ]
        low = self.case(
            f"2 events a minute, all failing, for {_dur(lull)} after {_dur(warm)} without "
            f"traffic page {self.first(quiet, e, 'fast', warm)} and while it lasts "
            f"({self.slo.min_events} events needed in a long window)",
            quiet,
            e,
            ("fast", "absent"),
            extra=[warm + q * lull // 4 // e * e for q in (1, 2, 3)] + [warm + lull - e],
        )
        return [page, low]

    def absent_case(self) -> tuple[int, Case]:
        e = max(self.fast_every, 5)
        shortest = _minutes(windows(self.slo)[0])
        live = _up(max(30, 2 * shortest), e)
        gone = _up(shortest + _minutes(ABSENT_FOR), e) + 2 * e
        rate = self.rate([0])
        return self.case(
            f"the SLI's series stop after {_dur(live)}: no data is an alert of its own",
            [self.traffic(live, 0, rate), Phase(gone, rate, Fraction(0), present=False)],
            e,
            ("fast", "absent"),
        )

    def ticket_cases(self) -> list[tuple[int, Case]]:
        e = self.day_every
        rate = self.rate([self.TICKET, self.HALF, self.OVER, self.BOTH])
        warm = _up(self.longest, e)
        days3 = _up(3 * 1440, e)
        steady = warm + 2 * e
        slow_burn = [self.traffic(warm, 0, rate), self.traffic(days3, self.TICKET, rate)]
        ticket = self.case(
            f"{self.errors(self.TICKET)} for {_dur(days3)} after {_dur(warm)} of clean traffic "
            f"open a ticket {self.first(slow_burn, e, 'slow', warm)} and page nothing",
            slow_burn,
            e,
            ("fast", "slow", "absent"),
        )
        page_long = max((_minutes(c.long) for c in self.pages), default=e)
        half = self.case(
            f"steady {self.errors(self.HALF)} for {_dur(steady)} fire nothing",
            [self.traffic(steady, self.HALF, rate)],
            e,
            self.ALL,
            extra=[_up(page_long, e), warm],
        )
        # Steady rates need no more than the first warm evaluation and the last.
        steady = warm + e
        over = self.case(
            f"steady {self.errors(self.OVER)} for {_dur(steady)}: a ticket, no page, and "
            "the period's budget spent",
            [self.traffic(steady, self.OVER, rate)],
            e,
            self.ALL,
            extra=[warm],
            edges=False,
        )
        # Between every two factors, under the smallest and over the largest: each
        # condition fires exactly when the burn rate exceeds its own factor.
        factors = sorted({Fraction(c.factor) for c in self.conds})
        levels = [factors[0] * Fraction(3, 4), factors[-1] * Fraction(5, 4)]
        levels += [(a + b) / 2 for a, b in itertools.pairwise(factors)]
        thresholds = [
            self.case(
                f"steady {self.errors(level)} for {_dur(steady)}: only the window pairs with "
                f"a factor under {num(round(float(level), 4))}× fire",
                [self.traffic(steady, level, self.rate([level]))],
                e,
                self.ALL,
                extra=[warm],
                edges=False,
            )
            for level in sorted(set(levels) - {self.OVER})
        ]
        busy = 2 * e
        after = _up(max(_minutes(c.short) for c in self.conds), e) + e
        gap = warm + e
        idle = self.case(
            f"no traffic for {_dur(gap)}, longer than every window: no series is NaN, "
            "during the idle spell or after it",
            [
                self.traffic(busy, self.HALF, rate),
                Phase(gap, Fraction(0), Fraction(0)),
                self.traffic(after, self.HALF, rate),
            ],
            e,
            self.ALL,
            exprs=[(busy + gap, True), (busy + gap + after, False)],
        )
        # Telling the ticket pairs apart needs their short windows' resolution.
        e = self.ticket_every
        warm = _up(self.longest, e)
        burst = _up(min(_minutes(c.long) for c in self.tickets), e)
        tail = _up(max(_minutes(c.short) for c in self.tickets), e) + e
        both = self.case(
            f"{self.errors(self.BOTH)} for {_dur(burst)} after {_dur(warm)} of clean traffic: "
            "both ticket window pairs fire, and the one with the shorter short window stops "
            "first",
            [
                self.traffic(warm, 0, rate),
                self.traffic(burst, self.BOTH, rate),
                self.traffic(tail, 0, rate),
            ],
            e,
            ("fast", "slow", "absent"),
        )
        return [ticket, half, over, *thresholds, idle, both]

    def uncovered(self) -> list[tuple[int, Case]]:
        """Add a case for each window pair no case made fire (objectives far from 99.9 %)."""
        out = []
        for c in self.conds:
            name = self.names[c.speed]
            pair = f"{window_name(c.long)}/{window_name(c.short)}"
            if (name, pair) in self.fired:
                continue
            e = self.fast_every if c.speed == "fast" else self.ticket_every
            burn = min(1 / self.budget, 2 * Fraction(c.factor))
            rate = self.rate([burn])
            warm = _up(self.longest if c.speed == "slow" else _minutes(c.long), e)
            phases = [
                self.traffic(warm, 0, rate),
                self.traffic(_up(_minutes(c.long), e), burn, rate),
                self.traffic(_up(_minutes(c.short), e) + e, 0, rate),
            ]
            out.append(
                self.case(
                    f"{self.errors(burn)} for {_dur(phases[1].minutes)} after {_dur(warm)} of "
                    f"clean traffic fire the {pair} pair",
                    phases,
                    e,
                    ("fast", "absent") if c.speed == "fast" else ("fast", "slow", "absent"),
                )
            )
            if (name, pair) not in self.fired:
                raise AssertionError(f"{name} {pair}: no synthetic series make it fire")
        return out
