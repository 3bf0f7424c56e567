"""Every webhook and event parser: arbitrary JSON gives a Batch or BadInput, nothing else.

BadInput is the parsers' documented error (exporters/dora/records.py); the ingest layer
turns it into a 400 naming the field. Any other exception is a bug the ingest layer
would only hide as "could not interpret the body".
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.dora.config import AlertmanagerIncidents, GitHubSource, GitLabSource
from exporters.dora.ingest import decode_json
from exporters.dora.parse_alertmanager import parse_alertmanager
from exporters.dora.parse_events import parse_events
from exporters.dora.parse_github import parse_github
from exporters.dora.parse_gitlab import parse_gitlab
from exporters.dora.records import BadInput, Batch
from tests.hostile.strategies import json_values, payloads

# Ingest passes a source's list or the frozenset of dora.environments: both must work.
ENVS = frozenset({"production"})
ENV_LIST = ["production"]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHA = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
WHEN = "2026-11-20T10:00:00Z"

GITHUB = GitHubSource(type="github", name="gh", repo="acme/shop", service="shop")
WORKFLOW = GitHubSource(
    type="github",
    name="gh",
    repo="acme/shop",
    service="shop",
    deploy_signal="workflow_run",
    workflow="deploy",
)
GITLAB = GitLabSource(type="gitlab", name="gl", project="acme/api", service="api")
PIPELINE = GitLabSource(
    type="gitlab", name="gl", project="acme/api", service="api", deploy_signal="pipeline"
)
ALERTMANAGER = AlertmanagerIncidents(enabled=True, match={"team": "shop"})

COMMIT = {"id": SHA, "timestamp": WHEN, "message": 'Revert "x"\n\nThis reverts commit abcdef1.'}
GITHUB_EVENTS: dict[str, Any] = {
    "deployment_status": {
        "repository": {"full_name": "acme/shop"},
        "deployment": {"id": 7, "sha": SHA, "ref": "hotfix/x", "environment": "production"},
        "deployment_status": {"state": "success", "environment": "production", "created_at": WHEN},
    },
    "deployment": {
        "deployment": {"id": 7, "sha": SHA, "environment": "production", "created_at": WHEN}
    },
    "workflow_run": {
        "action": "completed",
        "workflow": {"name": "deploy"},
        "workflow_run": {
            "id": 9,
            "name": "deploy",
            "conclusion": "success",
            "head_sha": SHA,
            "head_branch": "main",
            "updated_at": WHEN,
        },
    },
    "push": {"ref": "refs/heads/main", "before": "0" * 40, "commits": [COMMIT, COMMIT]},
    "pull_request": {
        "action": "closed",
        "pull_request": {
            "merged": True,
            "number": 3,
            "merge_commit_sha": SHA,
            "labels": [{"name": "hotfix"}],
            "head": {"ref": "fix/y", "sha": SHA},
        },
    },
}
GITLAB_EVENTS: dict[str, Any] = {
    "deployment": {
        "status": "success",
        "environment": "production",
        "deployment_id": 15,
        "status_changed_at": "2026-11-20 10:00:00 +0100",
        "commit_url": f"https://gitlab.example.com/acme/api/-/commit/{SHA}",
        "ref": "main",
    },
    "pipeline": {
        "object_attributes": {"id": 5, "sha": SHA, "ref": "main", "finished_at": WHEN},
        "commit": COMMIT,
        "builds": [
            {
                "status": "success",
                "finished_at": WHEN,
                "environment": {"name": "production", "action": "start"},
            }
        ],
    },
    "push": {"ref": "refs/heads/main", "before": SHA, "commits": [COMMIT]},
    "merge_request": {
        "object_attributes": {
            "action": "merge",
            "state": "merged",
            "iid": 4,
            "merge_commit_sha": SHA,
            "source_branch": "hotfix/z",
            "last_commit": {"id": SHA},
            "labels": [{"title": "rework"}],
        },
        "labels": [{"title": "hotfix"}],
    },
}
NOTIFICATION = {
    "version": "4",
    "status": "firing",
    "alerts": [
        {
            "status": "resolved",
            "labels": {"team": "shop", "service": "shop", "environment": "production"},
            "annotations": {"summary": "root cause: abcdef1234"},
            "startsAt": WHEN,
            "endsAt": "2026-11-20T11:00:00.123456789Z",
            "fingerprint": "3f2a9c",
        }
    ],
}
DEPLOYMENT = {
    "kind": "deployment",
    "id": "d-1",
    "service": "shop",
    "environment": "production",
    "status": "success",
    "finished_at": WHEN,
    "rework": False,
    "commits": [{"sha": SHA, "committed_at": WHEN}],
}
INCIDENT = {
    "kind": "incident",
    "id": 7,
    "service": "shop",
    "environment": "production",
    "started_at": WHEN,
    "resolved_at": None,
    "deployment_id": "d-1",
    "root_cause": SHA,
}


def outcome(parse: Any, *args: Any) -> Batch | BadInput:
    """The parser's Batch or its BadInput; any other exception fails the test."""
    try:
        result = parse(*args)
    except BadInput as exc:
        assert exc.field is not None and exc.message, exc
        return exc
    assert isinstance(result, Batch)
    return result


@FAST
@given(
    st.sampled_from(sorted(GITHUB_EVENTS)).flatmap(
        lambda e: st.tuples(st.just(e), payloads(GITHUB_EVENTS[e]))
    )
)
def test_github_parser(case: tuple[str, Any]) -> None:
    event, payload = case
    source = WORKFLOW if event == "workflow_run" else GITHUB
    for envs in (ENVS, ENV_LIST):
        outcome(parse_github, event, "d-1", payload, source, envs)


@FAST
@given(
    st.sampled_from(sorted(GITLAB_EVENTS)).flatmap(
        lambda k: st.tuples(st.just(k), payloads(GITLAB_EVENTS[k]))
    )
)
def test_gitlab_parser(case: tuple[str, Any]) -> None:
    kind, payload = case
    for source in (GITLAB, PIPELINE):
        for envs in (ENVS, ENV_LIST):
            outcome(parse_gitlab, kind, "d-1", payload, source, envs)


@FAST
@given(payloads(NOTIFICATION))
def test_alertmanager_parser(payload: Any) -> None:
    outcome(parse_alertmanager, payload, ALERTMANAGER, ENVS, "production")


@FAST
@given(
    st.one_of(payloads(DEPLOYMENT), payloads(INCIDENT), st.lists(payloads(DEPLOYMENT), max_size=3))
)
def test_events_parser(payload: Any) -> None:
    outcome(parse_events, payload, ENVS)


@FAST
@given(st.binary(max_size=200) | json_values.map(lambda v: repr(v).encode()))
def test_body_decoder(body: bytes) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        try:
            decode_json(body, content_type)
        except BadInput as exc:
            assert exc.field == "body"


def test_deep_json_is_bad_input_not_a_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    try:
        decode_json(deep)
    except BadInput as exc:
        assert exc.field == "body"
