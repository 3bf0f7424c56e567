"""The cost collector exposes exactly the catalogued families, and sums overlapping sources."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from agent.runtime import Exposition
from exporters import catalogue
from exporters.cost.aws_cost_explorer import CostExplorerData, PaidApi
from exporters.cost.exporter import CostExporter
from exporters.cost.model import BudgetStatus, Line

from .support import FakeClock, at, config, scrape, value

DAY = date(2026, 11, 19)
KEY = Line(("AWS", "111", "ec2", "us-east-1", "USD", "billed", ""))


def exporter() -> CostExporter:
    cfg = config("  budgets: [{name: all, amount: 100}]\n  sources: []\n  settle_days: 0\n")
    exp = CostExporter(cfg.cost, clock=FakeClock(at(date(2026, 11, 20))))
    ledger = {KEY: {date(2026, 11, d): Decimal(10) for d in range(1, 20)}}
    exp.publish_ledger("files", ledger)
    exp.publish_cost_explorer(
        "aws",
        CostExplorerData(
            ledger={KEY: {DAY: Decimal(5)}},
            paid=PaidApi({"GetCostAndUsage": 7}, daily_cap=50, cap_reached=False),
            forecast_remaining={},
            forecast_month=None,
            budgets=(BudgetStatus("aws-defined", "monthly", "USD", 10.0, 8.0, 12.0),),
        ),
    )
    return exp


def test_exposes_exactly_the_catalogued_cost_families() -> None:
    exp = exporter()
    text = Exposition(exp.collectors(), exp.generation).render(openmetrics=False).decode()
    families = re.findall(r"^# TYPE (\S+) ", text, flags=re.M)
    assert sorted(families) == sorted(catalogue.COST)


def test_overlapping_sources_sum_into_one_series() -> None:
    exp = exporter()
    samples = scrape(Exposition(exp.collectors(), exp.generation).render(openmetrics=False))
    assert value(samples, "cloudcost_daily", service="ec2") == 15.0
    assert value(samples, "cloudcost_month_to_date", service="ec2") == 195.0
    assert value(samples, "cloudcost_budget_spent", budget="all") == 195.0
    assert value(samples, "cloudcost_budget_limit", budget="aws-defined") == 10.0
    assert value(samples, "opslens_paid_api_cost_usd_total", source="aws") == 0.07
    assert [labels for labels, _ in samples["opslens_paid_api_daily_cap"]] == [{"source": "aws"}]


def test_generation_changes_only_when_data_changes() -> None:
    exp = exporter()
    before = exp.generation()
    exp.publish_ledger("files", {KEY: {date(2026, 11, d): Decimal(10) for d in range(1, 20)}})
    assert exp.generation() == before
    exp.publish_ledger("files", {KEY: {date(2026, 11, d): Decimal(11) for d in range(1, 20)}})
    assert exp.generation() == before + 1
