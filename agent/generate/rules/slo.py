"""SLOs: SLI recording rules and multi-window multi-burn-rate alerts.

Following the SRE workbook: a burn rate is how many times faster than sustainable the
error budget is spent. For a 30d SLO the workbook pages at 14.4× over 1h (2% of the
budget spent in that hour) confirmed over 5m, or 6× over 6h (5%) confirmed over 30m, and
tickets at 3× over 1d (10%) confirmed over 2h, or 1× over 3d (10%) confirmed over 6h. The
budget fractions are what carry over to other windows, so the factors scale with it.
Pages also need `alerts.packs.http.min_request_rate` of traffic over the last hour, so a
nearly idle service does not page on its one failed request.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from agent.config import Config, Duration, Severity
from agent.config.models import Slo

from ..naming import (
    SLO_ERROR_BUDGET,
    SLO_ERROR_BUDGET_REMAINING,
    SLO_OBJECTIVE,
    rule_group,
    runbook_url,
    slo_alert,
    slo_error_ratio,
    slo_runbook,
    slo_total_rate,
)
from ..naming import window as window_name
from .common import Case, Check, Group, Rule, alert, counter, fired, num, record, selector

NAME = "slo"

SHORT_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
GUARD_WINDOW = "1h"


@dataclass(frozen=True)
class Condition:
    long: str
    short: str
    budget_spent: Fraction  # of the whole error budget, within the long window


@dataclass(frozen=True)
class Policy:
    speed: str
    severity: Severity
    for_: str
    conditions: tuple[Condition, ...]


PAGE = Policy(
    "fast",
    "critical",
    "2m",
    (Condition("1h", "5m", Fraction(2, 100)), Condition("6h", "30m", Fraction(5, 100))),
)
TICKET = Policy(
    "slow",
    "high",
    "15m",
    (Condition("1d", "2h", Fraction(10, 100)), Condition("3d", "6h", Fraction(10, 100))),
)


def seconds(window: str) -> int:
    return int(Duration.parse(window).total_seconds())


def error_budget(objective: float) -> Decimal:
    """99.9 → 0.001, exactly: the objective is a percentage as written in the config."""
    return ((Decimal(100) - Decimal(repr(objective))) / 100).normalize()


def burn_factor(slo_window: Duration, long_window: str, budget_spent: Fraction) -> Decimal:
    """The burn rate spending `budget_spent` of the budget in `long_window`: 14.4 for 2%/1h/30d."""
    exact = budget_spent * Fraction(int(slo_window.total_seconds()), seconds(long_window))
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN).normalize()


def conditions(slo: Slo, policy: Policy) -> list[tuple[Condition, Decimal]]:
    """The policy's conditions that make sense for this SLO, with their factors.

    A long window beyond the SLO window, or a threshold at or above an error ratio of 1,
    can never be met honestly, so those conditions are left out.
    """
    budget = error_budget(slo.objective)
    out = []
    for c in policy.conditions:
        factor = burn_factor(slo.window, c.long, c.budget_spent)
        if seconds(c.long) <= slo.window.total_seconds() and factor * budget < 1:
            out.append((c, factor))
    return out


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


def sli_exprs(slo: Slo, window: str) -> tuple[str, str]:
    """(errors, total) increase expressions of the SLI over `window`."""
    total = f"sum(increase({total_selector(slo)}[{window}]))"
    if slo.latency is not None:
        lat = slo.latency
        bucket = f"{lat.metric}_bucket" + _with(lat.selector.strip(), _le(lat.threshold))
        return f"(\n  {total}\n  -\n  sum(increase({bucket}[{window}]))\n)", total
    assert slo.errors is not None
    # No error series yet means no errors, not an unknown SLI.
    return f"(sum(increase({slo.errors.strip()}[{window}])) or vector(0))", total


def ratio_expr(slo: Slo, window: str) -> str:
    errors, total = sli_exprs(slo, window)
    return f"{errors}\n/\n{total}"


def _alert_expr(
    slo: Slo, conds: Sequence[tuple[Condition, Decimal]], ids: str, guard: str | None
) -> str:
    budget = num(error_budget(slo.objective))
    parts = [
        f"(\n  {slo_error_ratio(c.long)}{ids} > ({num(f)} * {budget})\n"
        f"  and\n  {slo_error_ratio(c.short)}{ids} > ({num(f)} * {budget})\n)"
        for c, f in conds
    ]
    expr = "\nor\n".join(parts)
    if guard is not None:
        inner = expr.replace("\n", "\n  ")
        expr = f"(\n  {inner}\n)\nand\n{slo_total_rate(GUARD_WINDOW)}{ids} >= {guard}"
    return expr


def slo_alerts(config: Config, slo: Slo) -> dict[str, Rule]:
    """Build the burn-rate alerts of one SLO by speed, for the policies it can meet."""
    sel = selector("", {"slo": slo.name, "service": slo.service})
    # The same minimum request rate as the HTTP pack: below it a lone failure would page.
    guard = config.alerts.packs.http.min_request_rate
    alerts: dict[str, Rule] = {}
    for policy in (PAGE, TICKET):
        conds = conditions(slo, policy)
        if not conds:
            continue
        spend = " or ".join(
            f"{num(c.budget_spent * 100)}% of the budget in {c.long} "
            f"({num(f)}× the sustainable rate, confirmed over {c.short})"
            for c, f in conds
        )
        # Only pages are guarded: a ticket over days of sparse traffic is still worth a look.
        page_guard = num(guard) if policy is PAGE and guard > 0 else None
        alerts[policy.speed] = alert(
            config,
            slo_alert(slo.service, slo.name, policy.speed),
            _alert_expr(slo, conds, sel, page_guard),
            policy.for_,
            policy.severity,
            f"{slo.service} {slo.name} SLO is burning its error budget "
            + ("fast" if policy is PAGE else "steadily"),
            f"The {slo.name} SLO of {slo.service} ({num(slo.objective)}% over "
            f"{window_name(slo.window)}) is spending its error budget too fast: {spend}."
            + (f" {slo.description}" if slo.description else ""),
            labels={"service": slo.service},
            # One runbook section serves every SLO's alert of this speed.
            runbook=runbook_url(config.alerts.runbook_base_url, slo_runbook(policy.speed)),
        )
    return alerts


def slo_group(config: Config, slo: Slo) -> Group:
    """Build the rule group of one SLO: SLI and budget recording rules, then its alerts."""
    ids = {"slo": slo.name, "service": slo.service}
    sel = selector("", ids)
    budget = error_budget(slo.objective)
    sli = [record(slo_error_ratio(w), ratio_expr(slo, w), ids) for w in SHORT_WINDOWS]
    total = f"sum(rate({total_selector(slo)}[{GUARD_WINDOW}]))"
    sli.append(record(slo_total_rate(GUARD_WINDOW), total, ids))
    own = window_name(slo.window)
    budget_rules = [
        record(SLO_OBJECTIVE, f"vector({num(Decimal(repr(slo.objective)) / 100)})", ids),
        record(SLO_ERROR_BUDGET, f"vector({num(budget)})", ids),
    ]
    if own not in SHORT_WINDOWS:
        budget_rules.append(record(slo_error_ratio(own), ratio_expr(slo, own), ids))
    budget_rules.append(
        record(
            SLO_ERROR_BUDGET_REMAINING,
            f"1 - {slo_error_ratio(own)}{sel} / {SLO_ERROR_BUDGET}{sel}",
            ids,
        )
    )
    alerts = slo_alerts(config, slo).values()
    return {
        "name": rule_group(NAME, slo.service, slo.name),
        "rules": [*sli, *budget_rules, *alerts],
    }


def groups(config: Config) -> list[Group]:
    """Build one rule group per SLO, in config order."""
    return [slo_group(config, slo) for slo in config.slos]


def cases(config: Config) -> list[Case]:
    """Build the promtool cases of every SLO, in config order."""
    return [case for slo in config.slos for case in _cases(config, slo, slo_alerts(config, slo))]


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


def _series(slo: Slo, per_minute: float, ratio: float, steps: int) -> list[tuple[str, str]] | None:
    """Input series carrying `per_minute` events, `ratio` of them bad; None if unsynthesisable."""
    bad, good = per_minute * ratio, per_minute * (1 - ratio)
    if slo.latency is not None:
        lat = slo.latency
        parsed = parse_selector("{" + lat.selector + "}")
        if parsed is None:
            return None
        labels = sample_labels(parsed[1])
        if labels is None:
            return None
        le = num(lat.threshold) if "." in num(lat.threshold) else num(lat.threshold) + ".0"
        return [
            (selector(f"{lat.metric}_count", labels), counter(per_minute, steps)),
            (selector(f"{lat.metric}_bucket", {**labels, "le": le}), counter(good, steps)),
            (
                selector(f"{lat.metric}_bucket", {**labels, "le": "+Inf"}),
                counter(per_minute, steps),
            ),
        ]
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
    return [
        (selector(errors[0], bad_labels), counter(bad, steps)),
        (selector(total[0], good_labels), counter(good if bad_in_total else per_minute, steps)),
    ]


def _cases(config: Config, slo: Slo, alerts: Mapping[str, Rule]) -> list[Case]:
    title = f"slo {slo.service}/{slo.name}"
    if not alerts:
        return []
    factors = [f for p in (PAGE, TICKET) for _, f in conditions(slo, p)]
    budget = float(error_budget(slo.objective))
    guard = config.alerts.packs.http.min_request_rate
    per_minute = max(1000.0, guard * 120)
    # Pages fire 2m and tickets 15m after the first two samples show the burn.
    steps, at = 30, "20m"
    # Burning faster than the fastest condition, and slower than the slowest one.
    breach = min(1.0, 1.5 * float(max(factors)) * budget)
    healthy = 0.5 * float(min(factors)) * budget
    fire = _series(slo, per_minute, breach, steps)
    calm = _series(slo, per_minute, healthy, steps)
    if fire is None or calm is None:
        # Selectors too fancy to synthesise series for: promtool still loads the rules.
        return [Case(f"{title}: rules load (selectors too complex to synthesise)", [], [])]
    ids = {"slo": slo.name, "service": slo.service}
    cases = [
        Case(
            f"{title}: error ratio {num(round(breach / budget, 4))}× the budget",
            fire,
            [Check(r["alert"], at, [fired(r, ids)]) for r in alerts.values()],
        ),
        Case(
            f"{title}: error ratio {num(round(healthy / budget, 4))}× the budget stays silent",
            calm,
            [Check(r["alert"], at) for r in alerts.values()],
        ),
    ]
    page_f = [float(f) for _, f in conditions(slo, PAGE)]
    ticket_f = [float(f) for _, f in conditions(slo, TICKET)]
    if page_f and ticket_f and {"fast", "slow"} <= set(alerts):
        # Between the two policies: proves the ticket thresholds, not just the page's.
        ticket_only = min(1.5 * min(ticket_f), (min(ticket_f) + min(page_f)) / 2) * budget
        slow = _series(slo, per_minute, ticket_only, steps)
        if slow is not None and ticket_only < min(page_f) * budget:
            cases.append(
                Case(
                    f"{title}: error ratio {num(round(ticket_only / budget, 4))}× the budget "
                    "opens a ticket and does not page",
                    slow,
                    [
                        Check(alerts["slow"]["alert"], at, [fired(alerts["slow"], ids)]),
                        Check(alerts["fast"]["alert"], at),
                    ],
                )
            )
    if guard > 0 and "fast" in alerts:
        low = _series(slo, guard * 30, 1.0, steps)
        assert low is not None
        cases.append(
            Case(
                f"{title}: every request failing below the traffic guard does not page",
                low,
                [Check(alerts["fast"]["alert"], at)],
            )
        )
    return cases
