"""The pure cost model: reference days, settling, forecast, anomaly score, folding, budgets."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from exporters.cost.model import (
    CORRECTION,
    ONCE,
    BudgetRule,
    Ledger,
    Line,
    SeriesSummary,
    budget_statuses,
    fold,
    reference_day,
    robust_z,
    summarise,
)

LABELS = (
    "provider",
    "account",
    "service",
    "region",
    "currency",
    "cost_type",
    "charge_category",
    "team",
)


def key(
    service: str,
    cost_type: str = "billed",
    team: str = "",
    account: str = "1",
    provider: str = "AWS",
    currency: str = "USD",
    category: str = "Usage",
) -> tuple[str, ...]:
    return (provider, account, service, "us-east-1", currency, cost_type, category, team)


def line(service: str, **kw: str) -> Line:
    billing = kw.pop("billing_account", "b")
    kind = kw.pop("kind", "usage")
    period = kw.pop("period", "")
    return Line(key(service, **kw), billing, period, kind)


def daily(start: date, amounts: list[float]) -> dict[date, Decimal]:
    return {start + timedelta(days=i): Decimal(str(a)) for i, a in enumerate(amounts)}


def test_reference_day_ignores_today_and_waits_for_the_newest_day_to_settle() -> None:
    today = date(2026, 11, 20)
    days = [date(2026, 11, d) for d in range(1, 20)]  # 1st..19th
    # settle_days 1: the 19th ended hours ago and nothing later has appeared.
    assert reference_day(days, today, 1) == date(2026, 11, 18)
    assert reference_day(days, today, 0) == date(2026, 11, 19)
    # A later day in the data (today's first hours) completes the 19th.
    assert reference_day([*days, today], today, 1) == date(2026, 11, 19)
    # A day older than settle_days whole days is complete even with nothing after it.
    assert reference_day(days[:-1], today, 1) == date(2026, 11, 18)
    assert reference_day(days[:-2], today, 1) == date(2026, 11, 17)
    assert reference_day(days[:-1], today, 2) == date(2026, 11, 17)
    assert reference_day([date(2026, 11, 19)], today, 1) is None
    assert reference_day([today], today, 0) is None


def test_reference_day_and_month_to_date() -> None:
    ledger: Ledger = {line("ec2"): daily(date(2026, 11, 1), [10.0] * 20)}  # 1st..20th
    summary = summarise(ledger, today=date(2026, 11, 20))
    assert summary.days == {("AWS", "b"): date(2026, 11, 19)}  # the 20th is still accruing
    (s,) = summary.series
    assert (s.daily, s.month_to_date) == (10.0, 190.0)
    assert s.forecast == pytest.approx(300.0)  # 190 + 190/19 * 11


def test_each_provider_and_billing_account_is_on_its_own_day() -> None:
    today = date(2026, 11, 20)
    ledger: Ledger = {
        line("ec2"): daily(date(2026, 11, 1), [10.0] * 20),
        # Azure's export is two days behind AWS's under the same glob.
        line("vm", provider="Azure", billing_account="ea"): daily(date(2026, 11, 1), [7.0] * 17),
        line("sql", provider="Azure", billing_account="mca"): daily(date(2026, 11, 1), [1.0] * 18),
    }
    summary = summarise(ledger, today)
    assert summary.days == {
        ("AWS", "b"): date(2026, 11, 19),
        ("Azure", "ea"): date(2026, 11, 17),
        ("Azure", "mca"): date(2026, 11, 18),
    }
    # The provider's timestamp is its oldest billing account's day: the stale one shows.
    assert summary.provider_days() == {"AWS": date(2026, 11, 19), "Azure": date(2026, 11, 17)}
    by_service = {s.key[2]: s for s in summary.series}
    assert by_service["vm"].daily == 7.0  # not 0 because AWS has moved on
    assert by_service["vm"].month_to_date == 7.0 * 17
    assert by_service["vm"].forecast == pytest.approx(7.0 * 30)


def test_forecast_is_robust_to_a_missing_latest_day() -> None:
    # Nothing for the 19th yet: the reference day moves back instead of reading zero.
    ledger: Ledger = {line("ec2"): daily(date(2026, 11, 1), [10.0] * 18)}
    summary = summarise(ledger, today=date(2026, 11, 20))
    assert summary.days[("AWS", "b")] == date(2026, 11, 18)
    assert summary.series[0].forecast == pytest.approx(300.0)
    # One series missing on the reference day reads 0 for that day, not a stale value.
    ledger[line("s3")] = daily(date(2026, 11, 1), [5.0] * 10)
    summary = summarise(ledger, today=date(2026, 11, 20))
    s3 = next(s for s in summary.series if s.key == key("s3"))
    assert s3.daily == 0.0 and s3.month_to_date == 50.0


def test_month_to_date_resets_at_month_start() -> None:
    ledger: Ledger = {line("ec2"): daily(date(2026, 10, 25), [10.0] * 9)}  # 25 Oct..2 Nov
    summary = summarise(ledger, today=date(2026, 11, 2))
    assert summary.days[("AWS", "b")] == date(2026, 11, 1)
    assert summary.series[0].month_to_date == 10.0
    assert summary.series[0].forecast == pytest.approx(300.0)


def test_one_time_and_recurring_charges_count_once() -> None:
    start = date(2026, 11, 1)
    ledger: Ledger = {
        line("ec2"): daily(start, [100.0, 100.0, 100.0]),
        # A one-time purchase of 3,000 on the 1st and a recurring fee: billed once.
        line("ri", kind=ONCE, category="Purchase"): {start: Decimal(3000)},
        line("support", kind=ONCE, category="Purchase"): {start: Decimal(300)},
    }
    summary = summarise(ledger, today=date(2026, 11, 3))  # reference day: the 2nd
    by_service = {s.key[2]: s for s in summary.series}
    assert by_service["ri"].forecast == 3000.0  # not 3000 / 2 * 30 = 45,000
    assert by_service["support"].forecast == 300.0
    assert by_service["ec2"].forecast == pytest.approx(3000.0)
    total = sum(s.forecast for s in summary.series)
    assert total == pytest.approx(6300.0)
    # A series of one-time purchases alone: forecast = month to date.
    only = summarise(
        {line("ri", kind=ONCE): daily(start, [500.0, 0.0, 700.0, 0.0])}, date(2026, 11, 5)
    )
    assert only.series[0].forecast == only.series[0].month_to_date == 1200.0


def test_corrections_count_in_the_billing_period_they_are_billed_in() -> None:
    ledger: Ledger = {
        line("vm", period="2025-05"): {date(2025, 5, 1): Decimal(1500)},
        line("vm", period="2025-06"): {date(2025, 6, 10): Decimal(100)},
        # Billed on June's invoice for May usage.
        line("vm", period="2025-06", kind=CORRECTION): {date(2025, 5, 1): Decimal(1500)},
    }
    summary = summarise(ledger, today=date(2025, 6, 12))  # reference day: 10 June
    (s,) = summary.series
    assert s.month_to_date == 1600.0  # June: 100 of usage + 1,500 of corrections
    assert s.daily == 100.0  # a correction is no day's spend
    assert s.forecast == pytest.approx(1500 + 100 / 10 * 30)  # corrections count once
    assert summary.corrections == {("AWS", "1", "USD", "billed", "2025-06"): 1500.0}
    # Before June, May's month to date did not include the later correction.
    may = summarise(ledger, today=date(2025, 5, 3), settle_days=0)
    assert may.series[0].month_to_date == 1500.0


def test_cost_explorer_forecast_is_shared_by_run_rate() -> None:
    ledger: Ledger = {
        line("ec2"): daily(date(2026, 11, 1), [30.0] * 11),
        line("s3"): daily(date(2026, 11, 1), [10.0] * 11),
    }
    summary = summarise(ledger, today=date(2026, 11, 11), forecast_remaining={"billed": 1000.0})
    by_service = {s.key[2]: s.forecast for s in summary.series}
    assert by_service == {"ec2": pytest.approx(300 + 750), "s3": pytest.approx(100 + 250)}


def test_robust_z_flags_spikes_not_weekly_rhythm() -> None:
    weeks = [100, 102, 98, 101, 99, 70, 72] * 2
    assert abs(robust_z(100, weeks)) < 1
    assert robust_z(1000, weeks) > 100
    # A flat history has MAD 0: the floored scale keeps the score finite.
    assert robust_z(100, [50.0] * 14) == pytest.approx(100.0)


def test_anomaly_scores_skip_cheap_series_and_short_history() -> None:
    history = [100.0, 101.0, 99.0, 100.0, 102.0, 98.0, 100.0] * 2
    ledger: Ledger = {
        line("ec2"): daily(date(2026, 11, 1), [*history, 400.0, 100.0]),
        line("ec2", cost_type="effective"): daily(date(2026, 11, 1), [*history, 400.0, 100.0]),
        line("tiny"): daily(date(2026, 11, 1), [0.1] * 14 + [0.5]),
    }
    summary = summarise(
        ledger, today=date(2026, 11, 16), anomaly_window_days=14, anomaly_min_daily_cost=1.0
    )
    scores = {a.service: a.score for a in summary.anomalies}
    assert set(scores) == {"ec2"}  # one score per service, cheap series skipped
    assert scores["ec2"] > 4
    short = summarise({line("ec2"): daily(date(2026, 11, 1), [1.0] * 6)}, today=date(2026, 11, 6))
    assert short.anomalies == ()
    off = summarise(ledger, today=date(2026, 11, 16), anomaly_enabled=False)
    assert off.anomalies == ()


def test_anomaly_scores_are_per_currency() -> None:
    # The same service bills in USD and KRW; USD doubles on the 15th.
    usd = [100.0] * 14 + [200.0, 100.0]
    krw = [130000.0] * 16
    ledger: Ledger = {
        line("ec2"): daily(date(2026, 11, 1), usd),
        line("ec2", currency="KRW"): daily(date(2026, 11, 1), krw),
    }
    summary = summarise(ledger, today=date(2026, 11, 16))
    scores = {a.currency: a.score for a in summary.anomalies}
    assert scores["USD"] == pytest.approx(100.0)  # (200 - 100) / (1 % of 100)
    assert scores["KRW"] == pytest.approx(0.0)
    # A one-time purchase is not an anomaly.
    ledger[line("ec2", kind=ONCE, category="Purchase")] = {date(2026, 11, 15): Decimal(50000)}
    again = summarise(ledger, today=date(2026, 11, 16))
    assert {a.currency: a.score for a in again.anomalies} == scores


def series(n: int) -> list[SeriesSummary]:
    return [
        SeriesSummary(key(f"svc{i:03}", account=str(i % 3)), i, i * 10.0, i * 20.0, i)
        for i in range(1, n + 1)
    ]


def test_fold_keeps_the_most_expensive_and_preserves_totals() -> None:
    items = series(100)
    kept, folded = fold(items, 20)
    assert len(kept) <= 20
    assert folded == len(items) - sum(1 for s in kept if s.key[2] != "other")
    assert sum(s.month_to_date for s in kept) == pytest.approx(sum(s.month_to_date for s in items))
    assert sum(s.forecast for s in kept) == pytest.approx(sum(s.forecast for s in items))
    names = {s.key[2] for s in kept}
    assert "svc100" in names and "svc001" not in names and "other" in names
    others = [s for s in kept if s.key[2] == "other"]
    assert {s.key[1] for s in others} == {"0", "1", "2"}  # folded per account


def test_fold_collapses_further_but_never_across_currencies() -> None:
    items = [
        SeriesSummary(key("svc", account=f"acct{i}", currency=c), 1, 1.0, 1.0, 1)
        for i in range(50)
        for c in ("USD", "KRW")
    ]
    kept, folded = fold(items, 10)
    assert len(kept) <= 10 and folded > 0
    for currency in ("USD", "KRW"):
        assert sum(s.month_to_date for s in kept if s.key[4] == currency) == pytest.approx(50.0)


def test_fold_is_a_no_op_under_the_cap() -> None:
    items = series(5)
    assert fold(items, 10) == (tuple(items), 0)


def test_budgets_monthly_and_daily_with_matchers() -> None:
    start = date(2026, 11, 1)
    ledger: Ledger = {
        line("ec2", team="payments"): daily(start, [100.0] * 11),
        line("ec2", cost_type="effective", team="payments"): daily(start, [80.0] * 11),
        line("s3", team="search"): daily(start, [10.0] * 9 + [50.0, 10.0]),
    }
    summary = summarise(ledger, today=date(2026, 11, 11))
    rules = [
        BudgetRule("payments", 2000, "monthly", "USD", "billed", {"team": "payments"}),
        BudgetRule("all-effective", 5000, "monthly", "USD", "effective"),
        BudgetRule("daily", 120, "daily", "USD", "billed"),
        BudgetRule("eur", 10, "monthly", "EUR", "billed"),
        BudgetRule("tax", 10, "monthly", "USD", "billed", {"charge_category": "Tax"}),
    ]
    out = {b.name: b for b in budget_statuses(rules, [summary], LABELS)}
    assert (out["payments"].spent, out["payments"].forecast) == (1000.0, pytest.approx(3000.0))
    assert out["all-effective"].spent == 800.0
    assert out["daily"].spent == 150.0  # the latest complete day
    assert out["daily"].forecast == pytest.approx(100 + (10 * 6 + 50) / 7)
    assert out["eur"].spent == 0.0  # other currency: nothing matches
    assert out["tax"].spent == 0.0


def test_daily_budgets_take_each_provider_on_its_own_day() -> None:
    start = date(2026, 11, 1)
    ledger: Ledger = {
        line("ec2"): daily(start, [100.0] * 20),
        line("vm", provider="Azure", billing_account="ea"): daily(start, [40.0] * 17),
    }
    summary = summarise(ledger, today=date(2026, 11, 20))
    (b,) = budget_statuses([BudgetRule("d", 1, "daily", "USD", "billed")], [summary], LABELS)
    assert b.spent == 140.0  # AWS's 19th + Azure's 17th, not AWS alone


def test_budgets_ignore_a_stale_source_from_an_older_month() -> None:
    fresh = summarise({line("ec2"): daily(date(2026, 11, 1), [10.0] * 6)}, date(2026, 11, 6))
    stale = summarise({line("s3"): daily(date(2026, 10, 1), [99.0] * 5)}, date(2026, 11, 6))
    (b,) = budget_statuses(
        [BudgetRule("all", 1, "monthly", "USD", "billed")], [fresh, stale], LABELS
    )
    assert b.spent == 50.0
