"""Cost Explorer: pure parsers, and moto server behind a proxy for spend control and faults."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from agent.app import create_app
from agent.config import Config
from agent.runtime import Runtime
from agent.settings import Settings
from exporters.base import Context, SourceError
from exporters.cost.aws_cost_explorer import classify, parse_budgets, parse_cost_and_usage
from exporters.cost.exporter import CostExporter, build
from exporters.cost.model import Line
from tests.support.waiting import wait_ready

from .conftest import AwsProxy, ce_page
from .support import FakeClock, config, scrape, total, value

NOW = datetime(2026, 11, 20, 6, tzinfo=UTC)
D17, D18, D19 = (date(2026, 11, d) for d in (17, 18, 19))
EC2, S3, RDS = (
    "Amazon Elastic Compute Cloud - Compute",
    "Amazon Simple Storage Service",
    "Amazon RDS",
)
# Three pages, as Cost Explorer returns when there are many groups.
PAGES = [
    ce_page([D17], [(EC2, "111111111111", 100.0), (S3, "111111111111", 10.0)], token="p2"),
    ce_page([D18], [(EC2, "111111111111", 110.0), (S3, "111111111111", 11.0)], token="p3"),
    ce_page(
        [D19],
        [(EC2, "111111111111", 120.0), (S3, "111111111111", 12.0), (RDS, "222222222222", 50.0)],
    ),
]
SIX_HOURS = 6 * 3600


def ce_config(url: str, cap: int = 50, extra: str = "", budgets: str = "") -> Config:
    return config(
        f"""  poll_interval: 6h
  daily_request_cap: {cap}
  settle_days: 0
  sources:
    - type: aws_cost_explorer
      name: aws
      endpoint_url: "{url}"
      group_by: [SERVICE, LINKED_ACCOUNT]
      lookback_days: 3
      refresh_days: 2
{extra}{budgets}"""
    )


def cost_exporter(
    cfg: Config, tmp_path: Path, clock: FakeClock, env: dict[str, str]
) -> CostExporter:
    return build(cfg.cost, Context(data_dir=tmp_path / "data", clock=clock, env=env))


def body(runtime: Runtime) -> dict[str, list[tuple[dict[str, str], float]]]:
    return scrape(runtime.endpoint.body(openmetrics=False, compress=False))


# --- pure parsers ---------------------------------------------------------------------


def test_parse_pages_with_tag_groups() -> None:
    page = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-19", "End": "2026-11-20"},
                "Groups": [
                    {
                        "Keys": [EC2, "team$payments"],
                        "Metrics": {"UnblendedCost": {"Amount": "12.5", "Unit": "USD"}},
                    },
                    {
                        "Keys": [EC2, "team$"],
                        "Metrics": {"UnblendedCost": {"Amount": "0.5", "Unit": "USD"}},
                    },
                ],
            }
        ]
    }
    second = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-19", "End": "2026-11-20"},
                "Groups": [
                    {
                        "Keys": [EC2, "team$payments"],
                        "Metrics": {"UnblendedCost": {"Amount": "1.5", "Unit": "USD"}},
                    }
                ],
            }
        ]
    }
    ledger = parse_cost_and_usage(
        [page, second], ["SERVICE", "TAG:team"], ["UnblendedCost"], {"team": "team"}, "123"
    )
    day = date(2026, 11, 19)
    assert ledger == {
        Line(("AWS", "123", EC2, "", "USD", "billed", "", "payments"), "123"): {
            day: Decimal("14.0")
        },
        Line(("AWS", "123", EC2, "", "USD", "billed", "", ""), "123"): {day: Decimal("0.5")},
    }


def test_parse_without_groups_uses_total() -> None:
    page = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-19", "End": "2026-11-20"},
                "Total": {"AmortizedCost": {"Amount": "3", "Unit": "USD"}},
                "Groups": [],
            }
        ]
    }
    ledger = parse_cost_and_usage([page], [], ["AmortizedCost"], {}, None)
    key = ("AWS", "", "", "", "USD", "effective", "")
    assert ledger == {Line(key): {date(2026, 11, 19): Decimal(3)}}


def test_parse_budgets_keeps_monthly_and_daily_cost_budgets() -> None:
    pages = [
        {
            "Budgets": [
                {
                    "BudgetName": "b-month",
                    "BudgetLimit": {"Amount": "100.0", "Unit": "USD"},
                    "TimeUnit": "MONTHLY",
                    "BudgetType": "COST",
                    "CalculatedSpend": {
                        "ActualSpend": {"Amount": "80", "Unit": "USD"},
                        "ForecastedSpend": {"Amount": "120", "Unit": "USD"},
                    },
                },
                {"BudgetName": "b-year", "TimeUnit": "ANNUALLY", "BudgetType": "COST"},
                {"BudgetName": "b-usage", "TimeUnit": "DAILY", "BudgetType": "USAGE"},
            ]
        }
    ]
    (budget,) = parse_budgets(pages)
    assert (budget.name, budget.period, budget.limit, budget.spent, budget.forecast) == (
        "b-month",
        "monthly",
        100.0,
        80.0,
        120.0,
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            ClientError({"Error": {"Code": "LimitExceededException"}}, "GetCostAndUsage"),
            "throttled",
        ),
        (ClientError({"Error": {"Code": "ExpiredTokenException"}}, "GetCostAndUsage"), "auth"),
        (
            ClientError(
                {"Error": {"Code": "InternalFailure"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                "GetCostAndUsage",
            ),
            "server_error",
        ),
        (ReadTimeoutError(endpoint_url="https://ce.us-east-1.amazonaws.com"), "timeout"),
    ],
)
def test_classify(error: Exception, reason: str) -> None:
    assert classify(error).reason == reason


# --- moto server ----------------------------------------------------------------------


@pytest.mark.integration
async def test_scrapes_and_restart_make_no_extra_paid_calls(
    aws: AwsProxy, aiohttp_client: Any, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    aws.queue_cost_and_usage(PAGES)
    clock = FakeClock(NOW)
    settings = Settings(
        config=ce_config(aws.url),
        exporters=("cost",),
        context=Context(data_dir=tmp_path, clock=clock, env=aws_env),
    )
    client = await aiohttp_client(create_app(settings))
    await wait_ready(client)
    assert aws.calls == {"GetCostAndUsage": 3}  # one poll = three pages
    for i in range(100):
        headers = {"Accept-Encoding": "gzip"} if i % 2 else {}
        response = await client.get("/metrics", headers=headers)
        assert response.status == 200
        text = await response.text()
    assert aws.calls == {"GetCostAndUsage": 3}
    samples = scrape(text)
    ec2 = {"service": EC2, "account": "111111111111", "provider": "AWS", "currency": "USD"}
    assert value(samples, "cloudcost_daily", cost_type="billed", **ec2) == 120.0
    assert value(samples, "cloudcost_daily", cost_type="effective", **ec2) == pytest.approx(108.0)
    assert value(samples, "cloudcost_month_to_date", cost_type="billed", **ec2) == 330.0
    # Run rate: 330 over 19 days elapsed, 11 days left in November.
    forecast = value(samples, "cloudcost_forecast_month_end", cost_type="billed", **ec2)
    assert forecast == pytest.approx(330 + 330 / 19 * 11)
    paid = {"source": "aws", "operation": "GetCostAndUsage"}
    assert value(samples, "opslens_paid_api_requests_total", **paid) == 3
    assert value(samples, "opslens_paid_api_cost_usd_total", source="aws") == pytest.approx(0.03)
    assert value(samples, "opslens_paid_api_daily_cap", source="aws") == 50
    assert value(samples, "opslens_paid_api_cap_reached", source="aws") == 0
    assert value(samples, "opslens_source_up", exporter="cost", source="aws") == 1
    stamp = datetime(2026, 11, 19, tzinfo=UTC).timestamp()
    assert value(samples, "cloudcost_data_timestamp_seconds", source="aws") == stamp
    await client.close()

    clock.advance(3600)  # restart within the poll interval
    client = await aiohttp_client(create_app(settings))
    await wait_ready(client)
    samples = scrape(await (await client.get("/metrics")).text())
    assert aws.calls == {"GetCostAndUsage": 3}
    assert value(samples, "cloudcost_daily", cost_type="billed", **ec2) == 120.0
    assert value(samples, "opslens_paid_api_requests_total", **paid) == 3  # survives restarts
    assert value(samples, "opslens_source_up", exporter="cost", source="aws") == 1
    await client.close()


@pytest.mark.integration
async def test_daily_cap_holds_across_polls_and_restarts(
    aws: AwsProxy, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    aws.queue_cost_and_usage(PAGES)
    clock = FakeClock(NOW)
    cfg = ce_config(aws.url, cap=2)
    runtime = Runtime([cost_exporter(cfg, tmp_path, clock, aws_env)], clock=clock)
    delay = await runtime.loops[0].poll_once()
    state = runtime.loops[0].state
    assert not state.up and dict(state.errors) == {"cap_reached": 1}
    assert aws.calls == {"GetCostAndUsage": 2}
    assert delay >= 18 * 3600 - 1  # waits for 00:00 UTC instead of hammering
    samples = body(runtime)
    assert value(samples, "opslens_paid_api_cap_reached", source="aws") == 1
    assert value(samples, "opslens_paid_api_daily_cap", source="aws") == 2
    assert value(samples, "opslens_source_up", source="aws") == 0
    await runtime.loops[0].poll_once()
    assert aws.calls == {"GetCostAndUsage": 2}

    restarted = Runtime([cost_exporter(cfg, tmp_path, clock, aws_env)], clock=clock)
    await restarted.loops[0].poll_once()
    assert aws.calls == {"GetCostAndUsage": 2}
    assert value(body(restarted), "opslens_paid_api_requests_total", source="aws") == 2

    clock.set(datetime(2026, 11, 21, 0, 5, tzinfo=UTC))  # a new UTC day, a new allowance
    await restarted.loops[0].poll_once()
    assert restarted.loops[0].state.up
    assert aws.calls == {"GetCostAndUsage": 3}
    assert value(body(restarted), "opslens_paid_api_cap_reached", source="aws") == 0


@pytest.mark.integration
async def test_throttling_flips_up_and_back_while_serving_data(
    aws: AwsProxy, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    revised = ce_page(
        [D18, D19],
        [(EC2, "111111111111", 125.0), (S3, "111111111111", 12.0), (RDS, "222222222222", 50.0)],
    )
    aws.queue_cost_and_usage([*PAGES, revised])
    clock = FakeClock(NOW)
    runtime = Runtime([cost_exporter(ce_config(aws.url), tmp_path, clock, aws_env)], clock=clock)
    loop = runtime.loops[0]
    await loop.poll_once()
    before = body(runtime)
    ec2 = {"service": EC2, "cost_type": "billed"}
    assert value(before, "cloudcost_daily", **ec2) == 120.0

    clock.advance(SIX_HOURS + 60)
    aws.fault = "throttle"
    await loop.poll_once()
    during = body(runtime)
    assert value(during, "opslens_source_up", source="aws") == 0
    assert value(during, "opslens_source_errors_total", source="aws", reason="throttled") == 1
    assert value(during, "cloudcost_daily", **ec2) == 120.0  # last good data kept
    stamp = value(before, "cloudcost_data_timestamp_seconds", source="aws")
    assert value(during, "cloudcost_data_timestamp_seconds", source="aws") == stamp

    aws.fault = None
    await loop.poll_once()
    after = body(runtime)
    assert value(after, "opslens_source_up", source="aws") == 1
    # The trailing refresh window (18th-19th) picked up Cost Explorer's revision.
    assert value(after, "cloudcost_daily", **ec2) == 125.0
    assert value(after, "cloudcost_month_to_date", **ec2) == 100.0 + 125.0 + 125.0
    # Three pages, one throttled attempt (counted: it was sent), one refresh page.
    assert value(after, "opslens_paid_api_requests_total", source="aws") == 5


@pytest.mark.integration
async def test_aws_budgets_and_cost_explorer_forecast(
    aws: AwsProxy, moto_url: str, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    budgets = boto3.client("budgets", endpoint_url=moto_url, region_name="us-east-1")
    budgets.create_budget(
        AccountId="123456789012",
        Budget={
            "BudgetName": "aws-defined",
            "BudgetLimit": {"Amount": "1000", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
            "CalculatedSpend": {
                "ActualSpend": {"Amount": "850", "Unit": "USD"},
                "ForecastedSpend": {"Amount": "1200", "Unit": "USD"},
            },
        },
    )
    aws.queue_cost_and_usage(PAGES)
    aws.forecast = "600"
    cfg = ce_config(
        aws.url,
        extra="      forecast: true\n      aws_budgets: true\n      account_id: '123456789012'\n",
        budgets="  budgets:\n    - {name: total, amount: 1000, thresholds: [0.8, 1.0]}\n",
    )
    clock = FakeClock(NOW)
    runtime = Runtime([cost_exporter(cfg, tmp_path, clock, aws_env)], clock=clock)
    await runtime.loops[0].poll_once()
    assert runtime.loops[0].state.up
    samples = body(runtime)
    aws_budget = {"budget": "aws-defined", "period": "monthly", "currency": "USD"}
    assert value(samples, "cloudcost_budget_limit", **aws_budget) == 1000
    assert value(samples, "cloudcost_budget_spent", **aws_budget) == 850
    assert value(samples, "cloudcost_budget_forecast", **aws_budget) == 1200
    # Month to date billed: 330 EC2 + 33 S3 + 50 RDS; the forecast adds CE's 600 for the rest.
    total_budget = {"budget": "total", "period": "monthly", "currency": "USD"}
    assert value(samples, "cloudcost_budget_spent", **total_budget) == pytest.approx(413.0)
    assert value(samples, "cloudcost_budget_forecast", **total_budget) == pytest.approx(1013.0)
    ec2_forecast = value(samples, "cloudcost_forecast_month_end", service=EC2, cost_type="billed")
    assert ec2_forecast == pytest.approx(330 + 600 * 330 / 413)
    assert total(samples["cloudcost_forecast_month_end"], cost_type="effective") == pytest.approx(
        413 * 0.9 + 600
    )
    paid = samples["opslens_paid_api_requests_total"]
    assert total(paid, operation="GetCostForecast") == 2  # one per cost type
    assert total(paid, operation="GetCostAndUsage") == 3
    assert not [labels for labels, _ in paid if labels["operation"] == "DescribeBudgets"]
    assert aws.calls["DescribeBudgets"] == 1  # free, and not counted as paid
    assert value(samples, "opslens_paid_api_cost_usd_total", source="aws") == pytest.approx(0.05)


@pytest.mark.integration
async def test_assume_role_and_server_errors(
    aws: AwsProxy, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    aws.queue_cost_and_usage(PAGES)
    cfg = ce_config(aws.url, extra="      role_arn: arn:aws:iam::123456789012:role/opslens-cost\n")
    clock = FakeClock(NOW)
    exporter = cost_exporter(cfg, tmp_path, clock, aws_env)
    aws.fault = "server"
    runtime = Runtime([exporter], clock=clock)
    await runtime.loops[0].poll_once()
    assert dict(runtime.loops[0].state.errors) == {"server_error": 1}
    aws.fault = None
    await runtime.loops[0].poll_once()
    assert runtime.loops[0].state.up
    assert aws.calls["AssumeRole"] == 1  # credentials reused until they near expiry
    assert value(body(runtime), "cloudcost_daily", service=RDS, cost_type="billed") == 50.0


def test_source_errors_are_source_errors() -> None:
    assert isinstance(classify(RuntimeError("boom")), SourceError)
    assert classify(RuntimeError("boom")).reason == "RuntimeError"
