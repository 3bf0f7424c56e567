"""GitLab webhook deliveries to records: pure functions, tested on real payloads.

Deploy signal `deployment` (default): Deployment Hook events with status success/failed.
Signal `pipeline`: a pipeline's jobs that start a counted environment. Push, merge request
and pipeline events feed the commit history. GitLab sends three timestamp formats
(`2021-04-28 21:50:00 +0200`, `2017-12-10 17:01:11 UTC`, ISO 8601); all are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from .config import GitLabSource
from .parse_github import field, labels_of, obj, push_commits, sub
from .records import (
    HOTFIX_LABELS,
    HOTFIX_REF,
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

STATUS = {"success": "success", "failed": "failure"}
_COMMIT_URL = re.compile(r"/commit/([0-9a-f]{40})\b")


def project_matches(payload: Any, source: GitLabSource) -> bool:
    if not isinstance(payload, dict):
        return False
    project = sub(payload, "project")
    wanted = str(source.project).lower()
    ids = {str(project.get("id", "")), str(payload.get("project_id", ""))}
    path = str(project.get("path_with_namespace", "")).lower()
    return wanted == path or wanted in ids


def deployment_key(source: GitLabSource, deployment_id: Any) -> str:
    return f"gitlab:{str(source.project).lower()}:{deployment_id}"


def parse_gitlab(
    kind: str,
    delivery: str | None,
    payload: Any,
    source: GitLabSource,
    envs: Collection[str],
    now: float | None = None,
) -> Batch:
    """Turn one delivery (`object_kind`) into records; unused events are ignored.

    With `now`, times outside 2000-01-01 .. now + 1 day are refused (records.in_range).
    """
    if not isinstance(payload, dict):
        raise BadInput("body", "expected a JSON object")
    records: list[Record] = []
    if kind == "deployment" and source.deploy_signal == "deployment":
        status = STATUS.get(str(field(payload, "status", "body")))
        env = label_value(field(payload, "environment", "body"), "environment")
        if status is None:
            return ignored(f"deployment status {payload.get('status')!r}", delivery)
        if env not in envs:
            return ignored(f"environment {env!r} not counted", delivery)
        at = parse_time(payload.get("status_changed_at"), "status_changed_at", now)
        match = _COMMIT_URL.search(str(payload.get("commit_url", "")))
        ref = payload.get("ref") if isinstance(payload.get("ref"), str) else ""
        records.append(
            Deployment(
                deployment_key(source, field(payload, "deployment_id", "body")),
                source.service,
                env,
                status,  # type: ignore[arg-type]
                at,
                match.group(1) if match else None,
                bool(HOTFIX_REF.search(ref or "")),
            )
        )
    elif kind == "pipeline":
        records.extend(_pipeline(payload, source, envs, now))
    elif kind == "push":
        ref = payload.get("ref")
        if not isinstance(ref, str) or not ref.startswith("refs/heads/"):
            return ignored("push is not a branch update", delivery)
        records.extend(push_commits(source.service, payload, now))
    elif kind == "merge_request":
        attrs = obj(payload, "object_attributes")
        if attrs.get("action") != "merge" and attrs.get("state") != "merged":
            return ignored("merge request not merged", delivery)
        records.extend(_merged(payload, attrs, source.service))
    else:
        return ignored(f"event {kind!r} not used", delivery)
    if not records:
        return ignored("nothing to count", delivery)
    return Batch(tuple(records), delivery)


def _merged(payload: dict[str, Any], attrs: dict[str, Any], service: str) -> list[Commit]:
    """The MR's merge commit (else its squash commit), tied to the MR for its start time.

    With a merge commit, the squash commit is the merge commit's second parent and its own
    change; the merge commit names the MR (`See merge request …!N`), as pollers read it.
    """
    sha = attrs.get("merge_commit_sha") or attrs.get("squash_commit_sha")
    if not sha:
        return []
    iid = field(attrs, "iid", "object_attributes")
    where = "labels" if payload.get("labels") else "object_attributes.labels"
    labels = labels_of(payload.get("labels") or attrs.get("labels"), where)
    names = {str(label.get("title", "")).lower() for label in labels if isinstance(label, dict)}
    branch = attrs.get("source_branch") if isinstance(attrs.get("source_branch"), str) else ""
    rework = bool(names & HOTFIX_LABELS) or bool(HOTFIX_REF.search(branch or ""))
    last = sub(attrs, "last_commit")
    head = last.get("id") if isinstance(last.get("id"), str) else None
    return [Commit(service, str(sha), None, None, rework, str(iid), head)]


def _pipeline(
    payload: dict[str, Any], source: GitLabSource, envs: Collection[str], now: float | None
) -> list[Record]:
    attrs = obj(payload, "object_attributes")
    records: list[Record] = []
    commit = payload.get("commit")
    if isinstance(commit, dict) and commit.get("id") and commit.get("timestamp"):
        at = parse_time(commit["timestamp"], "commit.timestamp", now)
        records.append(
            Commit(source.service, str(commit["id"]), at, None, is_revert(commit.get("message")))
        )
    if source.deploy_signal != "pipeline":
        return records
    builds = payload.get("builds")
    if not isinstance(builds, list):
        raise BadInput("builds", "expected a list")
    ref = attrs.get("ref") if isinstance(attrs.get("ref"), str) else ""
    for i, build in enumerate(builds):
        env = build.get("environment") if isinstance(build, dict) else None
        if not isinstance(env, dict) or env.get("action") != "start":
            continue
        name = env.get("name")
        if (
            not isinstance(name, str)
            or label_value(name, f"builds[{i}].environment.name") not in envs
        ):
            continue
        status = STATUS.get(str(build.get("status")))
        if status is None:
            continue
        finished = build.get("finished_at") or attrs.get("finished_at")
        records.append(
            Deployment(
                deployment_key(
                    source, f"pipeline:{field(attrs, 'id', 'object_attributes')}:{env['name']}"
                ),
                source.service,
                str(env["name"]),
                status,  # type: ignore[arg-type]
                parse_time(finished, f"builds[{i}].finished_at", now),
                str(field(attrs, "sha", "object_attributes")),
                bool(HOTFIX_REF.search(ref or "")),
            )
        )
    return records
