"""One test per concrete parser finding of the property tests: a 400 naming the field."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.config import ConfigError, parse
from agent.runtime import Exposition
from exporters.base import Context, SourceError
from exporters.config import Duration
from exporters.cost.aws_cost_explorer import parse_budgets, parse_cost_and_usage, parse_forecast
from exporters.cost.exports import parse_manifest
from exporters.dora.config import AlertmanagerIncidents, DoraConfig, GitHubSource, GitLabSource
from exporters.dora.forge import GitHubPoller, GitLabPoller
from exporters.dora.parse_alertmanager import parse_alertmanager
from exporters.dora.parse_github import parse_github
from exporters.dora.parse_gitlab import parse_gitlab
from exporters.dora.records import BadInput, is_revert
from tests.cost.support import focus_exporter, poll, scrape, value
from tests.cost.test_exports import NOV_7, copy_exports
from tests.hostile import test_forge_properties as forge
from tests.hostile.test_parser_properties import ENVS, GITHUB, GITLAB, PIPELINE, SHA, WHEN


def bad_field(call: Any) -> str:
    with pytest.raises(BadInput) as caught:
        call()
    return caught.value.field


@pytest.mark.parametrize(
    ("status", "deployment", "field"),
    [
        ({"environment": ["production"]}, {}, "deployment_status.environment"),
        ({}, {"environment": {"name": "production"}}, "deployment.environment"),
    ],
)
def test_github_environment_of_another_type(
    status: dict[str, Any], deployment: dict[str, Any], field: str
) -> None:
    payload = {
        "deployment": {"id": 1, "sha": SHA} | deployment,
        "deployment_status": {"state": "success", "created_at": WHEN} | status,
    }
    assert bad_field(lambda: parse_github("deployment_status", None, payload, GITHUB, ENVS)) == (
        field
    )


def test_github_deployment_event_environment_of_another_type() -> None:
    payload = {"deployment": {"id": 1, "sha": SHA, "environment": [1], "created_at": WHEN}}
    field = bad_field(lambda: parse_github("deployment", None, payload, GITHUB, ENVS))
    assert field == "deployment.environment"


@pytest.mark.parametrize("labels", [5, "hotfix", {"name": "hotfix"}])
def test_github_pull_request_labels_not_a_list(labels: Any) -> None:
    pr = {"merged": True, "number": 1, "merge_commit_sha": SHA, "labels": labels}
    payload = {"action": "closed", "pull_request": pr}
    field = bad_field(lambda: parse_github("pull_request", None, payload, GITHUB, ENVS))
    assert field == "pull_request.labels"


@pytest.mark.parametrize("message", [42, ['Revert "x"'], {"a": 1}, None])
def test_revert_detection_on_a_message_that_is_not_text(message: Any) -> None:
    assert is_revert(message) is False
    commit = {"id": SHA, "timestamp": WHEN, "message": message}
    batch = parse_github(
        "push", None, {"ref": "refs/heads/main", "commits": [commit]}, GITHUB, ENVS
    )
    assert len(batch.records) == 1


@pytest.mark.parametrize("where", ["payload", "attrs"])
def test_gitlab_merge_request_labels_not_a_list(where: str) -> None:
    attrs: dict[str, Any] = {"action": "merge", "iid": 1, "merge_commit_sha": SHA}
    payload: dict[str, Any] = {"object_attributes": attrs}
    (payload if where == "payload" else attrs)["labels"] = 7
    field = bad_field(lambda: parse_gitlab("merge_request", None, payload, GITLAB, ENVS))
    assert field == ("labels" if where == "payload" else "object_attributes.labels")


def test_gitlab_build_environment_name_of_another_type_is_not_counted() -> None:
    build = {"status": "success", "finished_at": WHEN}
    build["environment"] = {"name": ["production"], "action": "start"}  # type: ignore[assignment]
    payload = {"object_attributes": {"id": 1, "sha": SHA}, "builds": [build]}
    assert parse_gitlab("pipeline", None, payload, PIPELINE, ENVS).records == ()


@pytest.mark.parametrize("value", [["production"], 5, None, {"a": "b"}, True])
def test_alertmanager_label_value_not_a_string(value: Any) -> None:
    alert = {"status": "firing", "startsAt": WHEN, "labels": {"service": "s", "environment": value}}
    settings = AlertmanagerIncidents(enabled=True)
    field = bad_field(lambda: parse_alertmanager({"alerts": [alert]}, settings, ENVS, "production"))
    assert field == "alerts[0].labels.environment"


@pytest.mark.parametrize("text", ["99999999999999999999d", "9999999999y", "1" + "0" * 30 + "ms"])
def test_duration_overflow_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match=f"duration {text!r} is too long"):
        Duration.parse(text)


def test_duration_overflow_in_the_config_names_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("version: 1\nproject: p\nagent: {body_timeout: 99999999999999999999d}\n")
    assert "agent.body_timeout" in str(caught.value)
    assert "too long" in str(caught.value)


def test_longest_duration_still_parses() -> None:
    assert Duration.parse("999999999d") == timedelta(days=999_999_999)


@pytest.mark.parametrize(
    "page",
    [
        {"ResultsByTime": [{"TimePeriod": {"Start": 20261101}}]},
        {"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01"}, "Total": {"UnblendedCost": 5}}]},
        {"ResultsByTime": 7},
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": "2026-11-01"},
                    "Total": {"UnblendedCost": {"Amount": "Infinity"}},
                }
            ]
        },
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": "2026-11-01"},
                    "Total": {"UnblendedCost": {"Amount": "12", "Unit": ["USD"]}},
                }
            ]
        },
        ["not", "a", "page"],
    ],
)
def test_cost_explorer_malformed_page_is_bad_response(page: Any) -> None:
    with pytest.raises(SourceError) as caught:
        parse_cost_and_usage([page], (), ("UnblendedCost",), {}, "1")
    assert caught.value.reason == "bad_response"
    assert "GetCostAndUsage response not understood" in str(caught.value)


@pytest.mark.parametrize(
    ("parser", "response"),
    [
        (lambda r: parse_forecast(r), {"Total": 5}),
        (lambda r: parse_forecast(r), {"Total": {"Amount": "NaN"}}),
        (lambda r: parse_budgets([r]), {"Budgets": [{"TimeUnit": "MONTHLY", "BudgetLimit": 1}]}),
        (lambda r: parse_budgets([r]), {"Budgets": [{"TimeUnit": "DAILY", "BudgetLimit": {}}]}),
    ],
)
def test_forecast_and_budgets_malformed_are_bad_response(parser: Any, response: Any) -> None:
    with pytest.raises(SourceError) as caught:
        parser(response)
    assert caught.value.reason == "bad_response"


@pytest.mark.parametrize(
    "text",
    [
        '{"runInfo": {}, "blobs": [{"blobName": "a/b.csv", "byteCount": 1e400}]}',
        '{"runInfo": {}, "blobs": [{"blobName": "a/b.csv", "byteCount": [1]}]}',
        '{"runInfo": {}, "blobs": [], "exportConfig": ["x"]}',
        '{"dataFiles": []}' + "",
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_malformed_manifest_is_a_value_error(text: str) -> None:
    try:
        parse_manifest("m/manifest.json", text)
    except ValueError:
        return
    # Only a document that is simply not an export manifest may pass, as "not one".
    assert text == '{"dataFiles": []}'


def test_malformed_manifest_fails_the_poll_as_bad_manifest_and_keeps_data(
    tmp_path: Path,
) -> None:
    root = copy_exports(tmp_path)
    manifest = next(root.rglob("7c1d*/manifest.json"))
    doc = json.loads(manifest.read_text())
    doc["blobs"][0]["byteCount"] = "many"
    manifest.write_text(json.dumps(doc).replace('"many"', "1e400"))
    exporter = focus_exporter(str(root / "azure" / "**" / "*.csv"), tmp_path, NOV_7)
    with pytest.raises(SourceError) as failed:
        poll(exporter)
    assert failed.value.reason == "bad_manifest"
    samples = scrape(Exposition(exporter.collectors(), exporter.generation).render(False))
    assert value(samples, "cloudcost_data_timestamp_seconds", provider="Microsoft") > 0


def test_cost_explorer_group_keys_that_are_not_text_are_bad_response() -> None:
    page = {"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01"}, "Groups": [{"Keys": [5]}]}]}
    with pytest.raises(SourceError) as caught:
        parse_cost_and_usage([page], ("SERVICE",), ("UnblendedCost",), {}, "1")
    assert caught.value.reason == "bad_response"


@pytest.mark.parametrize(
    ("poller_class", "answers"),
    [
        (GitHubPoller, forge.GITHUB | {"/deployments": [None]}),
        (GitHubPoller, forge.GITHUB | {"/deployments": [{"sha": forge.SHA, "created_at": WHEN}]}),
        (GitLabPoller, forge.GITLAB | {"/deployments": [{"status": "success", "sha": 5}]}),
        (GitLabPoller, forge.GITLAB | {"compare": {"commits": "none"}, "commit": []}),
    ],
)
def test_forge_answer_of_the_wrong_shape_is_bad_response(poller_class: Any, answers: Any) -> None:
    source = (
        GitHubSource(type="github", name="gh", repo="a/b", service="s")
        if poller_class is GitHubPoller
        else GitLabSource(type="gitlab", name="gl", project="a/b", service="s")
    )
    ctx = Context(Path("."), clock=lambda: forge.NOW, env={})
    poller = poller_class(
        source, DoraConfig(), ctx, forge.Sink(forge.OLD), forge.FakeClient(answers)
    )
    with pytest.raises(SourceError) as caught:
        asyncio.run(poller.poll())
    assert caught.value.reason == "bad_response"
