"""Generic events (`POST /api/v1/events`): one object or a list, to records.

The schema is docs/http-api.md#generic-events.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .records import (
    BadInput,
    Batch,
    Deployment,
    Incident,
    Record,
    ShippedCommit,
    checked_text,
    label_value,
    parse_time,
)
from .records import parse_optional_time as optional_time

MAX_EVENTS = 10_000


def text(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    """A non-empty printable string field (ids), or None when optional and absent."""
    value = obj.get(key)
    if value is None and not required:
        return None
    return checked_text(value, f"{where}{key}")


def _commits(value: Any, where: str, now: float | None) -> tuple[ShippedCommit, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadInput(where, "expected a list of {sha, committed_at}")
    commits = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise BadInput(at, "expected an object with sha and committed_at")
        sha = text(item, "sha", f"{at}.")
        committed = parse_time(item.get("committed_at"), f"{at}.committed_at", now)
        commits.append(ShippedCommit(str(sha), committed))
    return tuple(commits)


def parse_event(
    obj: Any, where: str, environments: Collection[str], now: float | None = None
) -> Record | None:
    """One event to a record; None when its environment is not counted.

    The record's key is `events:<id>`; the store identifies it by service and key, so the
    same id from two services is two events.
    """
    if not isinstance(obj, dict):
        raise BadInput(where or "body", "expected a JSON object")
    prefix = f"{where}." if where else ""
    kind = obj.get("kind")
    if kind not in ("deployment", "incident"):
        raise BadInput(f"{prefix}kind", "expected 'deployment' or 'incident'")
    event_id = text(obj, "id", prefix)
    service = label_value(obj.get("service"), f"{prefix}service")
    environment = label_value(obj.get("environment"), f"{prefix}environment")
    assert event_id
    if kind == "deployment":
        status = obj.get("status")
        if status not in ("success", "failure"):
            raise BadInput(f"{prefix}status", "expected 'success' or 'failure'")
        finished = parse_time(obj.get("finished_at"), f"{prefix}finished_at", now)
        rework = obj.get("rework", False)
        if not isinstance(rework, bool):
            raise BadInput(f"{prefix}rework", "expected true or false")
        commits = _commits(obj.get("commits"), f"{prefix}commits", now)
        record: Record = Deployment(
            f"events:{event_id}", service, environment, status, finished, None, rework, commits
        )
    else:
        started = parse_time(obj.get("started_at"), f"{prefix}started_at", now)
        resolved = optional_time(obj.get("resolved_at"), f"{prefix}resolved_at", now)
        if resolved is not None and resolved < started:
            raise BadInput(f"{prefix}resolved_at", "is before started_at")
        deployment = text(obj, "deployment_id", prefix, required=False)
        root_cause = text(obj, "root_cause", prefix, required=False)
        record = Incident(
            f"events:{event_id}",
            service,
            environment,
            started,
            resolved,
            f"events:{deployment}" if deployment else None,
            root_cause,
        )
    return record if environment in environments else None


def parse_events(body: Any, environments: Collection[str], now: float | None = None) -> Batch:
    """Validate a whole body first, so a bad element rejects the request and stores nothing.

    With `now`, times outside 2000-01-01 .. now + 1 day are refused (records.in_range).
    """
    if isinstance(body, list):
        if not body:
            raise BadInput("body", "expected at least one event")
        if len(body) > MAX_EVENTS:
            raise BadInput("body", f"at most {MAX_EVENTS} events per request")
        where = [f"[{i}]" for i in range(len(body))]
        parsed = [
            parse_event(item, at, environments, now) for item, at in zip(body, where, strict=True)
        ]
    else:
        where = [""]
        parsed = [parse_event(body, "", environments, now)]
    kept = [(r, at) for r, at in zip(parsed, where, strict=True) if r is not None]
    skipped = len(parsed) - len(kept)
    return Batch(
        tuple(r for r, _ in kept),
        None,
        f"{skipped} events outside dora.environments" if skipped else None,
        paths=tuple(at for _, at in kept),
    )
