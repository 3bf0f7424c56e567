"""AWS Cost Explorer (GetCostAndUsage, GetCostForecast) and AWS Budgets (DescribeBudgets).

Cost Explorer bills $0.01 per request, and every page is a request. So: polls run in
the background only when the cached fetch is older than `poll_interval`; each request is
counted durably before it is made; a daily cap stops calls and keeps serving cached
data; responses live on disk so a restart makes no paid call for data it already has.
Each fetch re-reads the trailing `refresh_days` because AWS revises recent days
(estimated figures, late amortisation).
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from exporters.base import Clock, OneThread, SourceError

from .config import AwsCostExplorerSource
from .model import USAGE, BudgetStatus, Ledger, Line
from .store import CostCacheStore

log = logging.getLogger("opslens.cost.aws")

PROVIDER = "AWS"
PRICE_PER_REQUEST_USD = 0.01
COST_TYPES = {"UnblendedCost": "billed", "AmortizedCost": "effective"}
FORECAST_METRICS = {"UnblendedCost": "UNBLENDED_COST", "AmortizedCost": "AMORTIZED_COST"}
BUDGET_PERIODS = {"MONTHLY": "monthly", "DAILY": "daily"}
# Cost Explorer totals every record type (usage, purchases, tax, credits) together.
CHARGE_CATEGORY = ""

THROTTLED = {
    "LimitExceededException",
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}
AUTH = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AccessDenied",
    "AccessDeniedException",
    "SignatureDoesNotMatch",
    "AuthFailure",
}


# --- pure parsers -------------------------------------------------------------------


@contextlib.contextmanager
def _response_shape(operation: str) -> Iterator[None]:
    """A response of a shape AWS does not document fails the poll as `bad_response`."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise SourceError(
            "bad_response", f"{operation} response not understood ({detail})"
        ) from None


def _finite(number: Decimal) -> Decimal:
    if not number.is_finite():
        raise ValueError(f"amount {number} is not a finite number")
    return number


def _float(text: Any) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"amount {number} is not a finite number")
    return number


def group_labels(
    group_by: Sequence[str], keys: Sequence[str], tag_labels: Mapping[str, str]
) -> dict[str, str]:
    """Map a Cost Explorer group's `Keys` to label values (`TAG:team` keys read `team$x`)."""
    out: dict[str, str] = {}
    tag_to_label = {tag: label for label, tag in tag_labels.items()}
    for dimension, value in zip(group_by, keys, strict=False):
        if dimension == "SERVICE":
            out["service"] = value
        elif dimension == "LINKED_ACCOUNT":
            out["account"] = value
        elif dimension == "REGION":
            out["region"] = value
        elif dimension.startswith("TAG:"):
            tag = dimension.removeprefix("TAG:")
            if tag in tag_to_label:
                out[tag_to_label[tag]] = value.partition("$")[2]
    return out


def parse_cost_and_usage(
    pages: Iterable[Mapping[str, Any]],
    group_by: Sequence[str],
    metrics: Sequence[str],
    tag_labels: Mapping[str, str],
    account_id: str | None = None,
) -> Ledger:
    """Turn GetCostAndUsage pages (DAILY granularity) into a ledger.

    Every amount is a usage-based charge of one scope (AWS, `account_id`): Cost Explorer
    does not say which records are purchases or corrections without a RECORD_TYPE group.
    A malformed page raises SourceError `bad_response`.
    """
    with _response_shape("GetCostAndUsage"):
        return _cost_and_usage(pages, group_by, metrics, tag_labels, account_id)


def _cost_and_usage(
    pages: Iterable[Mapping[str, Any]],
    group_by: Sequence[str],
    metrics: Sequence[str],
    tag_labels: Mapping[str, str],
    account_id: str | None,
) -> Ledger:
    ledger: Ledger = {}
    for page in pages:
        for result in page.get("ResultsByTime", []):
            day = date.fromisoformat(result["TimePeriod"]["Start"])
            groups = result.get("Groups") or []
            if not group_by:
                groups = [{"Keys": [], "Metrics": result.get("Total", {})}]
            for group in groups:
                keys = group.get("Keys", [])
                if not all(isinstance(k, str) for k in keys):
                    raise ValueError(f"group keys {keys!r:.80} are not all strings")
                labels = group_labels(group_by, keys, tag_labels)
                for metric in metrics:
                    amount = group.get("Metrics", {}).get(metric)
                    if amount is None:
                        continue
                    unit = amount.get("Unit", "USD")
                    if not isinstance(unit, str):
                        raise ValueError(f"unit {unit!r:.80} is not a string")
                    key = (
                        PROVIDER,
                        labels.get("account", account_id or ""),
                        labels.get("service", ""),
                        labels.get("region", ""),
                        unit,
                        COST_TYPES[metric],
                        CHARGE_CATEGORY,
                        *(labels.get(label, "") for label in tag_labels),
                    )
                    series = ledger.setdefault(Line(key, account_id or "", "", USAGE), {})
                    value = _finite(Decimal(amount["Amount"]))
                    series[day] = series.get(day, Decimal(0)) + value
    return ledger


def parse_forecast(response: Mapping[str, Any]) -> float:
    """The total of a GetCostForecast response; SourceError `bad_response` when malformed."""
    with _response_shape("GetCostForecast"):
        return _float(response["Total"]["Amount"])


def parse_budgets(pages: Iterable[Mapping[str, Any]]) -> tuple[BudgetStatus, ...]:
    """DescribeBudgets pages → monthly and daily cost budgets (others have no period label).

    A malformed page raises SourceError `bad_response`.
    """
    with _response_shape("DescribeBudgets"):
        return _budgets(pages)


def _budgets(pages: Iterable[Mapping[str, Any]]) -> tuple[BudgetStatus, ...]:
    out = []
    for page in pages:
        for b in page.get("Budgets", []):
            period = BUDGET_PERIODS.get(b.get("TimeUnit", ""))
            limit = b.get("BudgetLimit")
            if period is None or limit is None or b.get("BudgetType", "COST") != "COST":
                continue
            spend = b.get("CalculatedSpend", {})
            actual = spend.get("ActualSpend", {}).get("Amount", "0")
            forecast = spend.get("ForecastedSpend", {}).get("Amount", actual)
            out.append(
                BudgetStatus(
                    name=b["BudgetName"],
                    period=period,
                    currency=limit.get("Unit", "USD"),
                    limit=_float(limit["Amount"]),
                    spent=_float(actual),
                    forecast=_float(forecast),
                )
            )
    return tuple(sorted(out, key=lambda b: b.name))


def classify(exc: Exception) -> SourceError:
    """Map an AWS failure to a bounded `reason` label."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLED or status == 429:
            return SourceError("throttled", f"{code}: {exc}")
        if code in AUTH or status in (401, 403):
            return SourceError("auth", f"{code}: {exc}")
        if status >= 500:
            return SourceError("server_error", f"HTTP {status} {code}: {exc}")
        return SourceError("client_error", f"{code}: {exc}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return SourceError("auth", str(exc))
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return SourceError("timeout", str(exc))
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError):
        return SourceError("connection", str(exc))
    if isinstance(exc, BotoCoreError):
        return SourceError("aws_error", str(exc))
    return SourceError(type(exc).__name__, str(exc))


def utc_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def seconds_to_midnight(ts: float) -> float:
    tomorrow = utc_day(ts) + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC).timestamp() - ts


# --- clients ------------------------------------------------------------------------


class AwsClients:
    """boto3 clients for one source: profile or env credentials, optional assumed role.

    Credentials come from the agent's environment (AWS_ACCESS_KEY_ID, ...), else boto3's
    default chain. Retries are off: every attempt is a paid request, and the agent's poll
    loop already backs off with jitter. `endpoint_url` applies to every AWS call.
    """

    REFRESH_BEFORE = 300.0

    def __init__(
        self,
        region: str,
        profile: str | None = None,
        role_arn: str | None = None,
        endpoint_url: str | None = None,
        env: Mapping[str, str] | None = None,
        clock: Clock = time.time,
    ):
        self._region = region
        self._profile = profile
        self._role_arn = role_arn
        self._endpoint_url = endpoint_url
        self._env = env or {}
        self._clock = clock
        self._lock = threading.Lock()
        self._session: boto3.Session | None = None
        self._expires = float("inf")
        self._config = BotoConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )

    def _base_session(self) -> boto3.Session:
        if self._profile:
            return boto3.Session(profile_name=self._profile, region_name=self._region)
        return boto3.Session(
            aws_access_key_id=self._env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=self._env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=self._env.get("AWS_SESSION_TOKEN"),
            region_name=self._region,
        )

    def session(self) -> boto3.Session:
        with self._lock:
            if self._session is None or self._clock() > self._expires - self.REFRESH_BEFORE:
                self._session = self._base_session()
                if self._role_arn:
                    sts = self._session.client(
                        "sts", endpoint_url=self._endpoint_url, config=self._config
                    )
                    creds = sts.assume_role(RoleArn=self._role_arn, RoleSessionName="opslens-cost")
                    c = creds["Credentials"]
                    self._expires = c["Expiration"].timestamp()
                    self._session = boto3.Session(
                        aws_access_key_id=c["AccessKeyId"],
                        aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"],
                        region_name=self._region,
                    )
            return self._session

    def ce(self) -> Any:
        return self.session().client("ce", endpoint_url=self._endpoint_url, config=self._config)

    def budgets(self) -> Any:
        return self.session().client(
            "budgets", endpoint_url=self._endpoint_url, config=self._config
        )


# --- poller -------------------------------------------------------------------------


@dataclass(frozen=True)
class PaidApi:
    """Paid request counts of a source, its daily cap, and whether today's cap is spent."""

    requests: Mapping[str, int]
    daily_cap: int
    cap_reached: bool

    @property
    def cost_usd(self) -> float:
        return round(sum(self.requests.values()) * PRICE_PER_REQUEST_USD, 2)


@dataclass(frozen=True)
class CostExplorerData:
    """What a Cost Explorer source publishes after each poll, good or bad."""

    ledger: Ledger
    paid: PaidApi
    # Cost type → forecast for the rest of `forecast_month` ("YYYY-MM"), when configured.
    forecast_remaining: Mapping[str, float]
    forecast_month: str | None
    budgets: tuple[BudgetStatus, ...]


class CostExplorerPoller:
    """The `aws_cost_explorer` source."""

    def __init__(
        self,
        config: AwsCostExplorerSource,
        *,
        interval: float,
        daily_request_cap: int,
        tag_labels: Mapping[str, str],
        clients: AwsClients,
        store: CostCacheStore,
        publish: Callable[[str, CostExplorerData], None],
        clock: Clock = time.time,
    ):
        self.exporter = "cost"
        self.name = config.name
        self._config = config
        self._interval = interval
        self._cap = daily_request_cap
        self._tag_labels = dict(tag_labels)
        self._clients = clients
        self._store = store
        self._publish = publish
        self._clock = clock
        self._operations = ["GetCostAndUsage"] + (["GetCostForecast"] if config.forecast else [])
        self._cap_logged: date | None = None
        self._last: CostExplorerData | None = None
        self._thread = OneThread()
        # Anything that changes what a fetch returns invalidates the disk cache.
        shape = {
            # 2: ledger lines carry charge_category and the billing account.
            "ledger": 2,
            "group_by": config.group_by,
            "cost_types": config.cost_types,
            "tags": self._tag_labels,
            "account_id": config.account_id,
            "forecast": config.forecast,
            "aws_budgets": config.aws_budgets,
        }
        self.fingerprint = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()

    @property
    def interval(self) -> float:
        return self._interval

    async def poll(self) -> None:
        await self._thread.run(self.poll_sync)

    def poll_sync(self) -> None:
        now = self._clock()
        cached = self._store.load(self.name, self.fingerprint)
        if cached is not None and now - cached.fetched_at < self._interval:
            self._emit(cached.ledger, cached.extras, now)
            return
        try:
            ledger, extras = self._fetch(now, cached.extras if cached else None)
        except Exception as exc:
            error = classify(exc)
            if cached is not None:
                self._emit(cached.ledger, cached.extras, now)
            elif self._last is not None:
                self._emit(self._last.ledger, {}, now)
            else:
                self._emit({}, {}, now)
            raise error from exc
        self._emit(ledger, extras, now)

    def _paid_api(self, now: float) -> PaidApi:
        totals = self._store.request_totals(self.name)
        requests = {op: totals.get(op, 0) for op in self._operations} | totals
        used = self._store.requests_on(self.name, utc_day(now))
        return PaidApi(requests, self._cap, used >= self._cap)

    def _emit(self, ledger: Ledger, extras: Mapping[str, Any], now: float) -> None:
        budgets = tuple(BudgetStatus(**b) for b in extras.get("budgets", []))
        data = CostExplorerData(
            ledger=ledger,
            paid=self._paid_api(now),
            forecast_remaining=extras.get("forecast", {}),
            forecast_month=extras.get("forecast_month"),
            budgets=budgets,
        )
        self._last = data
        self._publish(self.name, data)

    def _call(self, now: float, operation: str, call: Callable[[], dict[str, Any]]) -> Any:
        today = utc_day(now)
        if self._store.requests_on(self.name, today) >= self._cap:
            if self._cap_logged != today:
                self._cap_logged = today
                log.warning(
                    "cost source %s: daily request cap %d reached; no more paid calls until "
                    "00:00 UTC, serving cached data",
                    self.name,
                    self._cap,
                )
            raise SourceError(
                "cap_reached",
                f"daily request cap {self._cap} reached, serving cached data",
                retry_after=seconds_to_midnight(now),
            )
        self._store.count_request(self.name, today, operation)
        return call()

    def _fetch(
        self, now: float, previous: Mapping[str, Any] | None
    ) -> tuple[Ledger, dict[str, Any]]:
        cfg = self._config
        today = utc_day(now)
        keep_from = today - timedelta(days=cfg.lookback_days)
        start = keep_from
        if previous and date.fromisoformat(previous["covered_from"]) <= keep_from:
            covered_until = date.fromisoformat(previous["covered_until"])
            start = max(keep_from, min(today, covered_until) - timedelta(days=cfg.refresh_days))
        extras: dict[str, Any] = {
            "covered_from": min(start, date.fromisoformat(previous["covered_from"])).isoformat()
            if previous
            else start.isoformat(),
            "covered_until": today.isoformat(),
        }
        if cfg.aws_budgets:
            budgets = self._clients.budgets()
            pages = budgets.get_paginator("describe_budgets").paginate(AccountId=cfg.account_id)
            extras["budgets"] = [asdict(b) for b in parse_budgets(pages)]
        ce = self._clients.ce()
        params: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": today.isoformat()},
            "Granularity": "DAILY",
            "Metrics": list(cfg.cost_types),
        }
        if cfg.group_by:
            params["GroupBy"] = [
                {"Type": "TAG", "Key": g[4:]}
                if g.startswith("TAG:")
                else {"Type": "DIMENSION", "Key": g}
                for g in cfg.group_by
            ]
        pages = []
        token = None
        while True:
            page_params = params | ({"NextPageToken": token} if token else {})
            page = self._call(now, "GetCostAndUsage", partial(ce.get_cost_and_usage, **page_params))
            pages.append(page)
            token = page.get("NextPageToken")
            if not token:
                break
        ledger = parse_cost_and_usage(
            pages, cfg.group_by, cfg.cost_types, self._tag_labels, cfg.account_id
        )
        if cfg.forecast:
            extras.update(self._forecast(now, ce))
        self._store.save(
            self.name, self.fingerprint, now, (start, today), ledger, keep_from, extras
        )
        log.info(
            "cost source %s: fetched %s..%s in %d page(s)", self.name, start, today, len(pages)
        )
        cached = self._store.load(self.name, self.fingerprint)
        assert cached is not None
        return cached.ledger, extras

    def _forecast(self, now: float, ce: Any) -> dict[str, Any]:
        today = utc_day(now)
        last = calendar.monthrange(today.year, today.month)[1]
        if today.day == last:
            return {}  # nothing left to forecast after today
        end = date(today.year, today.month, last) + timedelta(days=1)
        remaining = {}
        for metric in self._config.cost_types:
            response = self._call(
                now,
                "GetCostForecast",
                partial(
                    ce.get_cost_forecast,
                    TimePeriod={"Start": today.isoformat(), "End": end.isoformat()},
                    Metric=FORECAST_METRICS[metric],
                    Granularity="MONTHLY",
                ),
            )
            remaining[COST_TYPES[metric]] = parse_forecast(response)
        return {"forecast": remaining, "forecast_month": today.strftime("%Y-%m")}
