"""Deterministic demo FOCUS data for `opslens up --demo`.

Six weeks of daily charges up to yesterday (UTC) for two AWS accounts, a handful of
services and three teams (the `team` tag), with weekday/weekend seasonality and a few
percent of noise, plus today's first quarter day, as a real export has it: the partial
day is what makes yesterday complete under the default `settle_days: 1`. Two things are
planted for the demo's alerts: yesterday's CloudFront spend is twenty times its norm (an
anomaly that also breaks a daily budget), and the payments team runs well above a
6,000 USD monthly budget (its forecast breaches it).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import date, timedelta
from pathlib import Path

DAYS = 42
ANOMALY_FACTOR = 20.0
# The share of today's cost already in the export when the demo starts.
PARTIAL_DAY = 0.25
COLUMNS = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingCategory",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ServiceCategory",
    "ServiceName",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]
BILLING_ACCOUNT = "999900001111"
ACCOUNTS = {"111111111111": "shop-prod", "222222222222": "shop-staging"}
REGIONS = {"us-east-1": "US East (N. Virginia)", "eu-west-1": "Europe (Ireland)"}

# (account, region, service, category, team, weekday cost, follows the working week)
SERIES = (
    ("111111111111", "us-east-1", "Amazon Elastic Compute Cloud", "Compute", "payments", 180, True),
    ("111111111111", "us-east-1", "Amazon Relational Database Service", "Databases", "payments",
     90, False),
    ("111111111111", "us-east-1", "Amazon Elastic Compute Cloud", "Compute", "search", 150, True),
    ("111111111111", "us-east-1", "Amazon OpenSearch Service", "Analytics", "search", 70, False),
    ("111111111111", "us-east-1", "Amazon CloudFront", "Networking", "search", 40, True),
    ("111111111111", "us-east-1", "Amazon Simple Storage Service", "Storage", "platform", 45,
     False),
    ("111111111111", "us-east-1", "Amazon Elastic Kubernetes Service", "Compute", "platform", 60,
     True),
    ("222222222222", "eu-west-1", "Amazon Elastic Compute Cloud", "Compute", "platform", 50, True),
    ("222222222222", "eu-west-1", "Amazon Relational Database Service", "Databases", "payments",
     20, False),
)  # fmt: skip
ANOMALOUS_SERVICE = "Amazon CloudFront"


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _month_bounds(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def demo_rows(today: date) -> list[dict[str, str]]:
    """FOCUS 1.0 rows, one per series and UTC day, for the DAYS days before `today` and today."""
    latest = today - timedelta(days=1)
    rows = []
    for offset in range(DAYS, -1, -1):
        day = today - timedelta(days=offset)
        period_start, period_end = _month_bounds(day)
        for account, region, service, category, team, base, weekly in SERIES:
            rng = random.Random(f"{day.isoformat()}/{account}/{service}/{team}")
            cost = base * (0.96 + 0.08 * rng.random())
            if service == ANOMALOUS_SERVICE and day == latest:
                cost *= ANOMALY_FACTOR  # on any weekday, so the demo's alerts always fire
            elif weekly and day.weekday() >= 5:
                cost *= 0.7
            if day == today:
                cost *= PARTIAL_DAY
            # Compute runs partly on a savings plan: effective below billed, list above.
            effective = cost * (0.85 if category == "Compute" else 1.0)
            listed = cost * (1.15 if category == "Compute" else 1.0)
            rows.append(
                {
                    "BilledCost": f"{cost:.10f}",
                    "BillingAccountId": BILLING_ACCOUNT,
                    "BillingAccountName": "Acme Shop",
                    "BillingCurrency": "USD",
                    "BillingPeriodEnd": _stamp(period_end),
                    "BillingPeriodStart": _stamp(period_start),
                    "ChargeCategory": "Usage",
                    "ChargeClass": "NULL",
                    "ChargeDescription": f"{service} usage",
                    "ChargeFrequency": "Usage-Based",
                    "ChargePeriodEnd": _stamp(day + timedelta(days=1)),
                    "ChargePeriodStart": _stamp(day),
                    "EffectiveCost": f"{effective:.10f}",
                    "InvoiceIssuerName": "Amazon Web Services, Inc.",
                    "ListCost": f"{listed:.10f}",
                    "PricingCategory": "Standard",
                    "ProviderName": "AWS",
                    "PublisherName": "Amazon Web Services, Inc.",
                    "RegionId": region,
                    "RegionName": REGIONS[region],
                    "ServiceCategory": category,
                    "ServiceName": service,
                    "SubAccountId": account,
                    "SubAccountName": ACCOUNTS[account],
                    "Tags": json.dumps({"team": team, "environment": "production"}),
                }
            )
    return rows


def write_demo_focus(directory: Path, today: date) -> list[Path]:
    """Write the demo rows as one gzipped FOCUS CSV per billing month; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    by_month: dict[str, list[dict[str, str]]] = {}
    for row in demo_rows(today):
        by_month.setdefault(row["BillingPeriodStart"][:7], []).append(row)
    paths = []
    for month, rows in sorted(by_month.items()):
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path = directory / f"focus-{month}.csv.gz"
        # mtime=0 keeps the bytes identical from run to run.
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(text.getvalue().encode())
        paths.append(path)
    return paths
