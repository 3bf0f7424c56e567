"""The pure cost model: reference day, forecast, anomaly score, folding, budgets."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from exporters.cost.model import (
    BudgetRule,
    Ledger,
    SeriesSummary,
    budget_statuses,
    fold,
    robust_z,
    summarise,
)

LABELS = ("provider", "account", "service", "region", "currency", "cost_type", "team")


def key(service: str, cost_type: str = "billed", team: str = "", account: str = "1") -> tuple:
    return ("AWS", account, service, "us-east-1", "USD", cost_type, team)


def daily(start: date, amounts: list[float]) -> dict[date, float]:
    return {start + timedelta(days=i): a for i, a in enumerate(amounts)}


def test_reference_day_is_latest_complete_day_and_ignores_today() -> None:
    ledger: Ledger = {key("ec2"): daily(date(2026, 11, 1), [10.0] * 20)}  # 1st..20th
    summary = summarise(ledger, today=date(2026, 11, 20))
    assert summary.day == date(2026, 11, 19)  # the 20th is still accruing
    (s,) = summary.series
    assert (s.daily, s.month_to_date) == (10.0, 190.0)
    assert s.forecast == pytest.approx(300.0)  # 190 + 190/19 * 11


def test_forecast_is_robust_to_a_missing_latest_day() -> None:
    # Cost Explorer lags: nothing for the 19th yet. The reference day moves back to the
    # 18th and the run rate stays 10/day instead of counting the 19th as free.
    ledger: Ledger = {key("ec2"): daily(date(2026, 11, 1), [10.0] * 18)}
    summary = summarise(ledger, today=date(2026, 11, 20))
    assert summary.day == date(2026, 11, 18)
    assert summary.series[0].forecast == pytest.approx(300.0)
    # One series missing on the reference day reads 0 for that day, not a stale value.
    ledger[key("s3")] = daily(date(2026, 11, 1), [5.0] * 10)
    summary = summarise(ledger, today=date(2026, 11, 20))
    s3 = next(s for s in summary.series if s.key == key("s3"))
    assert s3.daily == 0.0 and s3.month_to_date == 50.0


def test_month_to_date_resets_at_month_start() -> None:
    ledger: Ledger = {key("ec2"): daily(date(2026, 10, 25), [10.0] * 8)}  # 25 Oct..1 Nov
    summary = summarise(ledger, today=date(2026, 11, 2))
    assert summary.day == date(2026, 11, 1)
    assert summary.series[0].month_to_date == 10.0
    assert summary.series[0].forecast == pytest.approx(300.0)


def test_cost_explorer_forecast_is_shared_by_run_rate() -> None:
    ledger: Ledger = {
        key("ec2"): daily(date(2026, 11, 1), [30.0] * 10),
        key("s3"): daily(date(2026, 11, 1), [10.0] * 10),
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
        key("ec2"): daily(date(2026, 11, 1), [*history, 400.0]),
        key("ec2", "effective"): daily(date(2026, 11, 1), [*history, 400.0]),
        key("tiny"): daily(date(2026, 11, 1), [0.1] * 14 + [0.5]),
    }
    summary = summarise(
        ledger, today=date(2026, 11, 16), anomaly_window_days=14, anomaly_min_daily_cost=1.0
    )
    scores = {a.service: a.score for a in summary.anomalies}
    assert set(scores) == {"ec2"}  # one score per service, cheap series skipped
    assert scores["ec2"] > 4
    short = summarise({key("ec2"): daily(date(2026, 11, 1), [1.0] * 5)}, today=date(2026, 11, 6))
    assert short.anomalies == ()
    off = summarise(ledger, today=date(2026, 11, 16), anomaly_enabled=False)
    assert off.anomalies == ()


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


def test_fold_collapses_further_when_buckets_alone_exceed_the_cap() -> None:
    items = [
        SeriesSummary(("AWS", f"acct{i}", "svc", "r", "USD", "billed"), 1, 1.0, 1.0, 1)
        for i in range(50)
    ]
    kept, folded = fold(items, 10)
    assert len(kept) <= 10 and folded > 0
    assert sum(s.month_to_date for s in kept) == pytest.approx(50.0)


def test_fold_is_a_no_op_under_the_cap() -> None:
    items = series(5)
    assert fold(items, 10) == (tuple(items), 0)


def test_budgets_monthly_and_daily_with_matchers() -> None:
    start = date(2026, 11, 1)
    ledger: Ledger = {
        key("ec2", team="payments"): daily(start, [100.0] * 10),
        key("ec2", "effective", team="payments"): daily(start, [80.0] * 10),
        key("s3", team="search"): daily(start, [10.0] * 9 + [50.0]),
    }
    summary = summarise(ledger, today=date(2026, 11, 11))
    rules = [
        BudgetRule("payments", 2000, "monthly", "USD", "billed", {"team": "payments"}),
        BudgetRule("all-effective", 5000, "monthly", "USD", "effective"),
        BudgetRule("daily", 120, "daily", "USD", "billed"),
        BudgetRule("eur", 10, "monthly", "EUR", "billed"),
    ]
    out = {b.name: b for b in budget_statuses(rules, [summary], LABELS)}
    assert (out["payments"].spent, out["payments"].forecast) == (1000.0, pytest.approx(3000.0))
    assert out["all-effective"].spent == 800.0
    assert out["daily"].spent == 150.0  # the latest complete day
    assert out["daily"].forecast == pytest.approx(100 + (10 * 6 + 50) / 7)
    assert out["eur"].spent == 0.0  # other currency: nothing matches


def test_budgets_ignore_a_stale_source_from_an_older_month() -> None:
    fresh = summarise({key("ec2"): daily(date(2026, 11, 1), [10.0] * 5)}, date(2026, 11, 6))
    stale = summarise({key("s3"): daily(date(2026, 10, 1), [99.0] * 5)}, date(2026, 11, 6))
    (b,) = budget_statuses(
        [BudgetRule("all", 1, "monthly", "USD", "billed")], [fresh, stale], LABELS
    )
    assert b.spent == 50.0
