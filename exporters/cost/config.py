"""`cost:` section: AWS Cost Explorer and FOCUS sources, budgets, anomaly detection."""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from exporters.config import Duration, LabelName, Name, Severity, Strict

_GROUP_BY = re.compile(r"^(SERVICE|LINKED_ACCOUNT|REGION|TAG:[\w.:/=+@-]+)$")


CostType = Literal["UnblendedCost", "AmortizedCost"]


def _cost_types() -> list[CostType]:
    return ["UnblendedCost", "AmortizedCost"]


class AwsCostExplorerSource(Strict):
    type: Literal["aws_cost_explorer"]
    name: Name
    region: str = "us-east-1"
    profile: str | None = None
    role_arn: str | None = Field(default=None, pattern=r"^arn:aws[\w-]*:iam::\d{12}:role/.+$")
    endpoint_url: str | None = None
    group_by: list[str] = Field(default_factory=lambda: ["SERVICE", "LINKED_ACCOUNT"])
    cost_types: list[CostType] = Field(default_factory=_cost_types, min_length=1)
    lookback_days: int = Field(default=35, ge=2, le=365)
    # Re-fetch this many trailing days each poll: Cost Explorer revises recent figures.
    refresh_days: int = Field(default=3, ge=1, le=30)
    # GetCostForecast is another paid call per poll; off unless asked for.
    forecast: bool = False
    # DescribeBudgets is free; reads budgets defined in AWS next to the YAML ones.
    aws_budgets: bool = False
    account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    # Overrides cost.settle_days for this source.
    settle_days: int | None = Field(default=None, ge=0, le=7)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str]) -> list[str]:
        if len(value) > 2:
            raise ValueError("Cost Explorer accepts at most 2 group_by keys")
        for key in value:
            if not _GROUP_BY.match(key):
                raise ValueError(
                    f"unknown group_by key {key!r}: use SERVICE, LINKED_ACCOUNT, REGION or TAG:key"
                )
        if len(set(value)) != len(value):
            raise ValueError("group_by keys must be distinct")
        return value

    @model_validator(mode="after")
    def _budgets_need_account(self) -> AwsCostExplorerSource:
        if self.aws_budgets and not self.account_id:
            raise ValueError("aws_budgets needs account_id")
        return self


class FocusSource(Strict):
    type: Literal["focus"]
    name: Name
    # A glob (`**` allowed); relative paths resolve against the config file's folder.
    path: str = Field(min_length=1)
    # Overrides cost.settle_days for this source (GCP's daily export lags more than AWS's).
    settle_days: int | None = Field(default=None, ge=0, le=7)

    @field_validator("path")
    @classmethod
    def _suffix(cls, value: str) -> str:
        if not value.endswith((".csv", ".csv.gz", ".parquet", "*")):
            raise ValueError("path must match .csv, .csv.gz or .parquet files")
        return value


CostSource = Annotated[AwsCostExplorerSource | FocusSource, Field(discriminator="type")]


class Budget(Strict):
    name: Name
    amount: float = Field(gt=0)
    period: Literal["monthly", "daily"] = "monthly"
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    cost_type: Literal["billed", "effective", "list"] = "billed"
    match: dict[LabelName, str] = Field(default_factory=dict)
    thresholds: list[float] = Field(default_factory=lambda: [0.8, 1.0], min_length=1)
    severity: Severity = "high"

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[float]) -> list[float]:
        for t in value:
            if not 0 < t <= 2:
                raise ValueError(f"threshold {t} must be in (0, 2]")
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("thresholds must be strictly ascending")
        return value


class Anomaly(Strict):
    enabled: bool = True
    window_days: int = Field(default=14, ge=7, le=90)
    min_daily_cost: float = Field(default=1.0, ge=0)
    # Robust z-score (median/MAD) above which the anomaly alert fires.
    threshold: float = Field(default=4.0, gt=0)
    severity: Severity = "medium"


ChargeCategory = Literal["Usage", "Purchase", "Tax", "Credit", "Adjustment"]


class CostConfig(Strict):
    poll_interval: Duration = Duration.parse("6h")
    max_series: int = Field(default=5000, ge=10)
    daily_request_cap: int = Field(default=50, ge=1)
    sources: list[CostSource] = Field(default_factory=list)
    labels_from_tags: dict[LabelName, str] = Field(default_factory=dict)
    budgets: list[Budget] = Field(default_factory=list)
    anomaly: Anomaly = Anomaly()
    stale_after: Duration = Duration.parse("36h")
    # The newest day with data is partial until a later day appears or this many whole days
    # have passed since it ended; partial days stay out of the daily cost and budgets.
    settle_days: int = Field(default=1, ge=0, le=7)
    # FOCUS charge categories that count; None counts every row (including rows whose
    # category is missing or non-standard).
    include_charge_categories: list[ChargeCategory] | None = Field(default=None, min_length=1)

    @field_validator("include_charge_categories")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("charge categories must be distinct")
        return value
