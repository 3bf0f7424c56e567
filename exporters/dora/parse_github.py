"""GitHub webhook deliveries to records: pure functions, tested on real payloads.

Deploy signal `deployment_status` (default): a Deployments API deployment counts when it
gets a `success`, or `failure`/`error`, status; several success statuses count once.
Signal `workflow_run`: a completed run of the configured workflow counts, keyed by run id
so re-runs replace rather than add. `push` and merged `pull_request` deliveries feed the
commit history that lead time is computed from; a merged PR's commit is dated from the
PR's first commit, never from when the PR was opened.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .config import GitHubSource
from .records import (
    HOTFIX_LABELS,
    HOTFIX_REF,
    NEW_BRANCH,
    BadInput,
    Batch,
    Commit,
    Deployment,
    Record,
    ignored,
    is_revert,
    label_value,
    parse_time,
)

ZERO_SHA = "0" * 40
STATUS = {"success": "success", "failure": "failure", "error": "failure"}
CONCLUSION = {"success": "success", "failure": "failure", "timed_out": "failure"}


def sub(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional nested object; {} when absent or not an object."""
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def obj(payload: Any, key: str) -> dict[str, Any]:
    value = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(value, dict):
        raise BadInput(key, "expected an object")
    return value


def field(payload: dict[str, Any], key: str, where: str) -> Any:
    value = payload.get(key)
    if value is None or value == "":
        raise BadInput(f"{where}.{key}", "is required")
    return value


def labels_of(value: Any, where: str) -> list[Any]:
    """A request's `labels`: absent or null is none, anything but a list is a 400."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadInput(where, "expected a list")
    return value


def repo_name(payload: Any) -> str | None:
    repo = payload.get("repository") if isinstance(payload, dict) else None
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) else None


def deployment_key(source: GitHubSource, deployment_id: Any) -> str:
    return f"github:{source.repo.lower()}:{deployment_id}"


def _deployment(
    source: GitHubSource, dep: dict[str, Any], status: str, at: float, env: str
) -> Deployment:
    ref = dep.get("ref") if isinstance(dep.get("ref"), str) else ""
    sha = field(dep, "sha", "deployment")
    return Deployment(
        deployment_key(source, field(dep, "id", "deployment")),
        source.service,
        env,
        status,  # type: ignore[arg-type]
        at,
        str(sha),
        bool(HOTFIX_REF.search(ref or "")),
    )


def push_commits(service: str, payload: dict[str, Any], now: float | None = None) -> list[Commit]:
    """Commits of a push in order, each chained to its predecessor as first parent.

    The first commit of a push that creates a branch (`before` all zeros) gets the parent
    NEW_BRANCH, so a walk back along a request's branch knows it reached its start.
    """
    commits = payload.get("commits")
    if not isinstance(commits, list):
        raise BadInput("commits", "expected a list")
    before = payload.get("before")
    parent = NEW_BRANCH if before == ZERO_SHA else before if isinstance(before, str) else None
    out = []
    for i, c in enumerate(commits):
        if not isinstance(c, dict):
            raise BadInput(f"commits[{i}]", "expected an object")
        sha = str(field(c, "id", f"commits[{i}]"))
        at = parse_time(c.get("timestamp"), f"commits[{i}].timestamp", now)
        out.append(Commit(service, sha, at, parent, is_revert(c.get("message"))))
        parent = sha
    return out


def parse_github(
    event: str,
    delivery: str | None,
    payload: Any,
    source: GitHubSource,
    envs: Collection[str],
    now: float | None = None,
) -> Batch:
    """Turn one delivery into records; unused events and environments are ignored.

    With `now`, times outside 2000-01-01 .. now + 1 day are refused (records.in_range).
    """
    if not isinstance(payload, dict):
        raise BadInput("body", "expected a JSON object")
    records: list[Record] = []
    signal = source.deploy_signal
    if event == "deployment_status" and signal == "deployment_status":
        status = obj(payload, "deployment_status")
        dep = obj(payload, "deployment")
        state = STATUS.get(str(field(status, "state", "deployment_status")))
        env = (
            label_value(status["environment"], "deployment_status.environment")
            if status.get("environment")
            else label_value(field(dep, "environment", "deployment"), "deployment.environment")
        )
        if state is None:
            return ignored(f"deployment status {status.get('state')!r}", delivery)
        if env not in envs:
            return ignored(f"environment {env!r} not counted", delivery)
        at = parse_time(
            field(status, "created_at", "deployment_status"), "deployment_status.created_at", now
        )
        records.append(_deployment(source, dep, state, at, env))
    elif event == "deployment" and signal == "deployment_status":
        dep = obj(payload, "deployment")
        env = label_value(field(dep, "environment", "deployment"), "deployment.environment")
        if env not in envs:
            return ignored(f"environment {env!r} not counted", delivery)
        at = parse_time(field(dep, "created_at", "deployment"), "deployment.created_at", now)
        records.append(_deployment(source, dep, "pending", at, str(env)))
    elif event == "workflow_run" and signal == "workflow_run":
        run = obj(payload, "workflow_run")
        workflow = sub(payload, "workflow")
        name = workflow.get("name") or run.get("name")
        if name != source.workflow:
            return ignored(f"workflow {name!r} is not the deploy workflow", delivery)
        conclusion = CONCLUSION.get(str(run.get("conclusion")))
        if payload.get("action") != "completed" or conclusion is None:
            return ignored(
                f"workflow run {payload.get('action')}/{run.get('conclusion')}", delivery
            )
        env = (source.environments or list(envs))[0]
        at = parse_time(field(run, "updated_at", "workflow_run"), "workflow_run.updated_at", now)
        branch = run.get("head_branch") if isinstance(run.get("head_branch"), str) else ""
        records.append(
            Deployment(
                deployment_key(source, f"run:{field(run, 'id', 'workflow_run')}"),
                source.service,
                env,
                conclusion,  # type: ignore[arg-type]
                at,
                str(field(run, "head_sha", "workflow_run")),
                bool(HOTFIX_REF.search(branch or "")),
            )
        )
    elif event == "push":
        ref = payload.get("ref")
        if payload.get("deleted") or not isinstance(ref, str) or not ref.startswith("refs/heads/"):
            return ignored("push is not a branch update", delivery)
        records.extend(push_commits(source.service, payload, now))
    elif event == "pull_request":
        pr = obj(payload, "pull_request")
        if payload.get("action") != "closed" or not pr.get("merged"):
            return ignored("pull request not merged", delivery)
        records.append(pr_commit(source.service, pr))
    else:
        return ignored(f"event {event!r} not used", delivery)
    return Batch(tuple(records), delivery)


def pr_commit(service: str, pr: dict[str, Any]) -> Commit:
    """A merged PR's merge (or squash) commit, tied to the PR so it is dated from its start.

    The payload has no commit times: the store finds the PR's first commit by walking its
    branch back from `head` through pushed commits, else a poller asks the API.
    """
    sha = str(field(pr, "merge_commit_sha", "pull_request"))
    number = field(pr, "number", "pull_request")
    labels = {
        str(label.get("name", "")).lower()
        for label in labels_of(pr.get("labels"), "pull_request.labels")
        if isinstance(label, dict)
    }
    head = sub(pr, "head")
    branch = head.get("ref") if isinstance(head.get("ref"), str) else ""
    rework = bool(labels & HOTFIX_LABELS) or bool(HOTFIX_REF.search(branch or ""))
    head_sha = head.get("sha") if isinstance(head.get("sha"), str) else None
    return Commit(service, sha, None, None, rework, str(number), head_sha)
