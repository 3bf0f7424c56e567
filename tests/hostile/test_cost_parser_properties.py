"""Cost Explorer responses, export manifests, durations and config text: any input gives a
result or the documented error (SourceError `bad_response`, ValueError, ConfigError)."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config import Config, ConfigError, parse
from exporters.base import SourceError
from exporters.config import Duration
from exporters.cost.aws_cost_explorer import parse_budgets, parse_cost_and_usage, parse_forecast
from exporters.cost.exports import Manifest, parse_manifest
from tests.hostile.strategies import payloads

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GROUP_BY = ("SERVICE", "REGION", "TAG:team")
METRICS = ("UnblendedCost", "AmortizedCost")
TAGS = {"team": "team"}

CE_PAGE = {
    "ResultsByTime": [
        {
            "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
            "Total": {},
            "Groups": [
                {
                    "Keys": ["Amazon EC2", "eu-west-1", "team$shop"],
                    "Metrics": {
                        "UnblendedCost": {"Amount": "12.5", "Unit": "USD"},
                        "AmortizedCost": {"Amount": "11.0", "Unit": "USD"},
                    },
                }
            ],
            "Estimated": False,
        }
    ],
    "NextPageToken": None,
}
FORECAST = {"Total": {"Amount": "431.2", "Unit": "USD"}}
BUDGETS = {
    "Budgets": [
        {
            "BudgetName": "monthly",
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
            "BudgetLimit": {"Amount": "1000", "Unit": "USD"},
            "CalculatedSpend": {
                "ActualSpend": {"Amount": "400", "Unit": "USD"},
                "ForecastedSpend": {"Amount": "900", "Unit": "USD"},
            },
        }
    ]
}
AZURE_MANIFEST = {
    "exportConfig": {"exportName": "daily", "resourceId": "/subscriptions/x/exports/daily"},
    "runInfo": {
        "runId": "r-1",
        "submittedTime": "2026-11-02T03:00:00.1234567Z",
        "startDate": "2026-11-01T00:00:00",
    },
    "blobs": [{"blobName": "daily/20261101-20261130/r-1/part_0.parquet", "byteCount": 1024}],
}
AWS_MANIFEST = {
    "exportArn": "arn:aws:bcm-data-exports:us-east-1:1:export/focus",
    "executionId": "e-1",
    "billingPeriod": {"start": "2026-11-01T00:00:00Z"},
    "dataFiles": ["s3://bucket/focus/data/BILLING_PERIOD=2026-11/focus-00001.snappy.parquet"],
}


def bad_response_or(call: Any) -> Any:
    """The parser's result, or its SourceError with reason bad_response; nothing else."""
    try:
        return call()
    except SourceError as exc:
        assert exc.reason == "bad_response", exc
        return exc


@FAST
@given(st.lists(payloads(CE_PAGE), max_size=2))
def test_cost_and_usage_pages(pages: list[Any]) -> None:
    result = bad_response_or(lambda: parse_cost_and_usage(pages, GROUP_BY, METRICS, TAGS, "1"))
    if isinstance(result, dict):
        for line, series in result.items():
            assert all(isinstance(v, str) for v in line.key), line
            assert all(isinstance(a, Decimal) and a.is_finite() for a in series.values())


@FAST
@given(payloads(FORECAST))
def test_forecast(response: Any) -> None:
    bad_response_or(lambda: parse_forecast(response))


@FAST
@given(st.lists(payloads(BUDGETS), max_size=2))
def test_budgets(pages: list[Any]) -> None:
    bad_response_or(lambda: parse_budgets(pages))


@FAST
@given(st.one_of(payloads(AZURE_MANIFEST), payloads(AWS_MANIFEST)))
def test_export_manifest(doc: Any) -> None:
    text = json.dumps(doc)
    try:
        result = parse_manifest("exports/x/manifest.json", text)
    except ValueError:
        return
    assert result is None or isinstance(result, Manifest)


@FAST
@given(st.text(max_size=200))
def test_export_manifest_from_any_text(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_manifest("manifest.json", text)


@FAST
@given(st.from_regex(r"\A(\d{1,25}(y|w|d|h|m|s|ms)){1,3}\Z", fullmatch=True) | st.text(max_size=20))
def test_duration(text: str) -> None:
    try:
        duration = Duration.parse(text)
    except ValueError as exc:
        assert text in str(exc) or repr(text) in str(exc)
        return
    assert Duration.parse(duration.prom()) == duration


AGENT_CONFIG = {
    "version": 1,
    "project": "p",
    "agent": {"body_timeout": "30s", "max_body_bytes": 5242880, "metrics_token_env": "TOKEN"},
    "prometheus": {"scrape_interval": "15s", "retention": "15d"},
    "dora": {
        "environments": ["production"],
        "sources": [{"type": "events", "name": "ev", "token_env": "EVENTS_TOKEN"}],
        "incidents": {"alertmanager": {"enabled": True, "token_env": "AM_TOKEN"}},
    },
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads(AGENT_CONFIG))
def test_config(doc: Any) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    try:
        assert isinstance(parse(text), Config)
    except ConfigError as exc:
        assert exc.problems


@FAST
@given(st.text(max_size=300))
def test_config_from_any_text(text: str) -> None:
    try:
        parse(text)
    except ConfigError as exc:
        assert exc.problems
