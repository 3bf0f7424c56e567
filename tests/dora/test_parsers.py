"""Pure parsers on every real webhook payload in ../shared/data/webhooks, and on edge cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from exporters.dora.config import AlertmanagerIncidents, GitHubSource, GitLabSource
from exporters.dora.parse_alertmanager import parse_alertmanager
from exporters.dora.parse_github import parse_github
from exporters.dora.parse_gitlab import parse_gitlab
from exporters.dora.records import NEW_BRANCH, BadInput, Commit, Deployment, Incident, parse_time
from tests.conftest import SHARED_DATA
from tests.support.procs import unavailable

WEBHOOKS = SHARED_DATA / "webhooks"
PROD = ["production"]


def t(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def load(name: str) -> Any:
    path = WEBHOOKS / name
    if not path.exists():
        unavailable(f"shared sample data not present: {path}")
    return json.loads(path.read_text())


HELLO = GitHubSource(type="github", name="gh", repo="Codertocat/Hello-World", service="hello")
WORKFLOW = GitHubSource(
    type="github",
    name="gh",
    repo="octo-org/octo-repo",
    service="octo",
    deploy_signal="workflow_run",
    workflow="test",
)
STATS = GitHubSource(type="github", name="gh", repo="sish8075/statistics-source", service="stats")
GITLAB = GitLabSource(
    type="gitlab", name="gl", project="root/test-deployment-webhooks", service="web"
)
PIPELINE = GitLabSource(
    type="gitlab", name="gl", project="x", service="web", deploy_signal="pipeline"
)


def test_github_deployment_created_is_pending() -> None:
    batch = parse_github("deployment", "g:1", load("github/deployment.created.json"), HELLO, PROD)
    assert batch.records == (
        Deployment(
            "github:codertocat/hello-world:145988746",
            "hello",
            "production",
            "pending",
            t("2019-05-15T15:20:53+00:00"),
            "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        ),
    )
    assert batch.delivery == "g:1"


def test_github_deployment_status_success() -> None:
    payload = load("github/deployment_status.created.success.json")
    (record,) = parse_github("deployment_status", None, payload, HELLO, PROD).records
    assert record == Deployment(
        "github:codertocat/hello-world:145988746",
        "hello",
        "production",
        "success",
        t("2019-05-15T15:20:55+00:00"),
        "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
    )
    staging = parse_github("deployment_status", None, payload, HELLO, ["staging"])
    assert staging.empty and "not counted" in str(staging.ignored)
    payload["deployment_status"]["state"] = "in_progress"
    assert parse_github("deployment_status", None, payload, HELLO, PROD).empty


def test_github_push_feeds_history_and_tag_deletion_is_ignored() -> None:
    (commit,) = parse_github(
        "push", None, load("github/push.branch_with_commit.json"), HELLO, PROD
    ).records
    # The push created the branch (`before` all zeros): its first commit starts the branch.
    assert commit == Commit(
        "hello",
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        t("2019-05-15T15:19:25+00:00"),
        NEW_BRANCH,
    )
    assert parse_github("push", None, load("github/push.tag_deleted.json"), HELLO, PROD).empty


def test_github_merged_pull_request_ties_the_merge_commit_to_the_pr() -> None:
    payload = load("github/pull_request.closed.merged.json")
    (commit,) = parse_github("pull_request", None, payload, STATS, PROD).records
    # No time from the PR's creation: the store dates it from the PR's first commit.
    assert commit == Commit(
        "stats",
        "18936fb4b760b985e35fae9aa953a349703a4c53",
        None,
        pull="17",
        head="f359e26935437fa800e73cd5e4cf69b1c26c5b5c",
    )
    payload["pull_request"]["labels"] = [{"name": "hotfix"}]
    assert parse_github("pull_request", None, payload, STATS, PROD).records[0].rework  # type: ignore[union-attr]
    closed = load("github/pull_request.closed.not_merged.json")
    assert parse_github("pull_request", None, closed, HELLO, PROD).empty


def test_github_workflow_run_as_deploy_signal() -> None:
    done = load("github/workflow_run.completed.with_pull_requests.json")
    (record,) = parse_github("workflow_run", None, done, WORKFLOW, PROD).records
    assert record == Deployment(
        "github:octo-org/octo-repo:run:289782451",
        "octo",
        "production",
        "success",
        t("2020-10-05T16:33:49+00:00"),
        "3484a3fb816e0859fd6e1cea078d76385ff50625",
    )
    assert parse_github(
        "workflow_run", None, load("github/workflow_run.requested.json"), WORKFLOW, PROD
    ).empty
    assert parse_github("workflow_run", None, done, HELLO, PROD).empty  # not the configured signal


def test_github_unused_events_are_ignored() -> None:
    assert parse_github("release", None, load("github/release.published.json"), HELLO, PROD).empty


def test_gitlab_deployment() -> None:
    payload = load("gitlab/deployment.json")
    assert parse_gitlab("deployment", None, payload, GITLAB, PROD).empty  # staging
    (record,) = parse_gitlab("deployment", "gl:1", payload, GITLAB, ["staging"]).records
    assert record == Deployment(
        "gitlab:root/test-deployment-webhooks:15",
        "web",
        "staging",
        "success",
        t("2021-04-28T19:50:00+00:00"),
        "279484c09fbe69ededfced8c1bb6e6d24616b468",
    )


def test_gitlab_pipeline_merge_request_push() -> None:
    pipeline = load("gitlab/pipeline.json")
    (commit,) = parse_gitlab("pipeline", None, pipeline, GITLAB, PROD).records
    assert commit == Commit(
        "web", "bcbb5ec396a2c0f828686f14fac9b80b780504f2", t("2016-08-12T15:23:21+00:00")
    )
    # As deploy signal: the production job was skipped (manual), so no deployment.
    assert [type(r) for r in parse_gitlab("pipeline", None, pipeline, PIPELINE, PROD).records] == [
        Commit
    ]
    pipeline["builds"][0]["status"] = "success"
    pipeline["builds"][0]["finished_at"] = "2016-08-12 15:26:29 UTC"
    deployments = [
        r
        for r in parse_gitlab("pipeline", None, pipeline, PIPELINE, PROD).records
        if isinstance(r, Deployment)
    ]
    assert deployments == [
        Deployment(
            "gitlab:x:pipeline:31:production",
            "web",
            "production",
            "success",
            t("2016-08-12T15:26:29+00:00"),
            "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
        )
    ]

    (merged,) = parse_gitlab(
        "merge_request", None, load("gitlab/merge_request.merge.json"), GITLAB, PROD
    ).records
    assert merged == Commit(
        "web",
        "78a76ee6b4992a6baf64c59fc4c44c7323d60438",
        None,
        pull="1",
        head="c4c79227ed610f1151f05bbc5be33b4f340d39c8",
    )
    assert parse_gitlab(
        "merge_request", None, load("gitlab/merge_request.open.json"), GITLAB, PROD
    ).empty

    first, second = parse_gitlab("push", None, load("gitlab/push.json"), GITLAB, PROD).records
    assert first == Commit(
        "web",
        "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
        t("2011-12-12T12:27:31+00:00"),
        "95790bf891e76fee5e1747ab589903a6a1f80f22",
    )
    assert second == Commit(
        "web",
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        t("2012-01-03T21:36:29+00:00"),
        "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
    )


@pytest.mark.parametrize("name", ["gitlab/job.deploy_production.json", "gitlab/release.json"])
def test_gitlab_unused_events_are_ignored(name: str) -> None:
    payload = load(name)
    assert parse_gitlab(payload["object_kind"], None, payload, GITLAB, PROD).empty


def test_alertmanager_firing_and_resolved() -> None:
    payload = load("alertmanager/v4.firing_and_resolved.truncatedAlerts.json")
    every = AlertmanagerIncidents(enabled=True, service_label="product")
    records = parse_alertmanager(payload, every, PROD, "production").records
    start = t("2021-03-30T20:17:50.814674+08:00")
    key = f"alertmanager:83eb2c81e0da3faf:{round(start * 1000)}"
    assert records[0] == Incident(key, "product-x", "production", start, None)
    assert records[1] == Incident(
        key, "product-y", "production", start, t("2021-03-30T21:17:50.814674+08:00")
    )
    critical = AlertmanagerIncidents(
        enabled=True, match={"severity": "critical"}, service_label="product"
    )
    batch = parse_alertmanager(payload, critical, PROD, "production")
    assert [r.service for r in batch.records] == ["product-x"]  # type: ignore[union-attr]
    assert batch.ignored == "3 alerts not matched"
    # Without a service (or job) label there is nobody to attribute the incident to.
    assert parse_alertmanager(
        payload, AlertmanagerIncidents(enabled=True), PROD, "production"
    ).empty


def test_alertmanager_prometheus_payload_without_truncated_alerts() -> None:
    payload = load("alertmanager/v4.firing.prometheus_generated.json")
    settings = AlertmanagerIncidents(enabled=True, service_label="name")
    records = parse_alertmanager(payload, settings, PROD, "production").records
    assert [r.service for r in records] == ["grafana", "nginx", "prometheus"]  # type: ignore[union-attr]
    assert all(isinstance(r, Incident) and r.resolved_at is None for r in records)


def test_alertmanager_alert_names_its_root_cause() -> None:
    payload = load("alertmanager/v4.firing.prometheus_generated.json")
    settings = AlertmanagerIncidents(enabled=True, service_label="name")
    first, second, third = payload["alerts"][:3]
    first["annotations"] = {"root_cause": "  0ABC123def  "}
    second["annotations"] = {"description": "Bad deploy. Root cause: 4f8cdefc9a9d53af16dd"}
    third["annotations"] = {"description": "no commit named here"}
    batch = parse_alertmanager(payload, settings, PROD, "production")
    causes = [r.root_cause for r in batch.records]  # type: ignore[union-attr]
    assert causes == ["0ABC123def", "4f8cdefc9a9d53af16dd", None]
    # Alertmanager cannot fix what it sends: a conflict skips the alert, not the request.
    assert not batch.strict and batch.paths == ("alerts[0]", "alerts[1]", "alerts[2]")


def test_generic_events_keep_each_records_place_for_a_409() -> None:
    from exporters.dora.parse_events import parse_events

    def event(n: int, environment: str) -> dict[str, Any]:
        return {
            "kind": "incident",
            "id": f"i{n}",
            "service": "s",
            "environment": environment,
            "started_at": "2026-11-20T10:00:00Z",
            "root_cause": "abc1234",
        }

    body = [event(0, "production"), event(1, "staging"), event(2, "production")]
    batch = parse_events(body, PROD)
    assert batch.strict and batch.paths == ("[0]", "[2]")
    assert [r.root_cause for r in batch.records] == ["abc1234", "abc1234"]  # type: ignore[union-attr]
    assert parse_events(event(0, "production"), PROD).paths == ("",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-04-28 21:50:00 +0200", "2021-04-28T19:50:00+00:00"),
        ("2017-12-10 17:01:11 UTC", "2017-12-10T17:01:11+00:00"),
        ("2017-12-10T08:28:36-08:00", "2017-12-10T16:28:36+00:00"),
        ("2020-10-11T14:34:11.279383004Z", "2020-10-11T14:34:11.279383+00:00"),
        ("2026-11-20T10:00:00z", "2026-11-20T10:00:00+00:00"),
    ],
)
def test_every_timestamp_format(text: str, expected: str) -> None:
    assert parse_time(text, "x") == t(expected)


@pytest.mark.parametrize(
    "text", ["2026-11-20", "2026-11-20T10:00:00", "soon", "", None, 1700000000]
)
def test_bad_timestamps_name_the_field(text: Any) -> None:
    with pytest.raises(BadInput) as err:
        parse_time(text, "deployment.created_at")
    assert err.value.field == "deployment.created_at"


def test_samples_cover_every_file() -> None:
    """Every real payload is used by a test above (new samples must get a test)."""
    if not WEBHOOKS.exists():
        pytest.skip("shared sample data not present")
    used = {
        "deployment.created.json",
        "deployment_status.created.success.json",
        "push.branch_with_commit.json",
        "push.tag_deleted.json",
        "pull_request.closed.merged.json",
        "pull_request.closed.not_merged.json",
        "workflow_run.completed.with_pull_requests.json",
        "workflow_run.requested.json",
        "release.published.json",
        "deployment.json",
        "pipeline.json",
        "merge_request.merge.json",
        "merge_request.open.json",
        "push.json",
        "job.deploy_production.json",
        "release.json",
        "v4.firing_and_resolved.truncatedAlerts.json",
        "v4.firing.prometheus_generated.json",
    }
    assert {p.name for p in Path(WEBHOOKS).rglob("*.json")} == used


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
