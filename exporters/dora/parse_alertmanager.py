"""Alertmanager webhook (v4) to incidents: firing opens, resolved closes.

An alert is one incident per `fingerprint` + `startsAt`, so Alertmanager's repeats and
retries never count twice. Only alerts whose labels equal every `match` entry count; the
service comes from `service_label` (else `job`), the environment from `environment_label`
(else the first of `dora.environments`). An alert can name the commit that caused it, as
Four Keys reads it: a `root_cause` annotation (a SHA), or `root cause: <sha>` in any
annotation.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from typing import Any

from .config import AlertmanagerIncidents
from .records import (
    BadInput,
    Batch,
    Incident,
    Record,
    label_value,
    parse_optional_time,
    parse_time,
)

ROOT_CAUSE = re.compile(r"root[ _-]?cause:\s*([0-9a-fA-F]{7,40})\b", re.I)


def root_cause(annotations: Any) -> str | None:
    """The commit SHA an alert's annotations name as its root cause, if any."""
    if not isinstance(annotations, dict):
        return None
    named = annotations.get("root_cause")
    if isinstance(named, str) and named.strip():
        return named.strip()[:200]
    for value in annotations.values():
        if isinstance(value, str) and (match := ROOT_CAUSE.search(value)):
            return match.group(1)
    return None


def parse_alertmanager(
    payload: Any,
    settings: AlertmanagerIncidents,
    envs: Collection[str],
    default_env: str,
    now: float | None = None,
) -> Batch:
    """Turn one Alertmanager notification into incidents; unmatched alerts are counted.

    With `now`, a `startsAt` (or a resolved alert's `endsAt`) outside 2000-01-01 .. now +
    1 day is refused; a firing alert's `endsAt` is only Alertmanager's guess, not checked.
    """
    if not isinstance(payload, dict):
        raise BadInput("body", "expected a JSON object")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise BadInput("alerts", "expected a list")
    records: list[Record] = []
    paths: list[str] = []
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            raise BadInput(where, "expected an object")
        labels = alert.get("labels")
        if not isinstance(labels, dict):
            raise BadInput(f"{where}.labels", "expected an object")
        # Alertmanager label values are always strings: anything else is not Alertmanager.
        for name, value in labels.items():
            if not isinstance(value, str):
                raise BadInput(f"{where}.labels.{name}", "expected a string")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise BadInput(f"{where}.status", "expected 'firing' or 'resolved'")
        started = parse_time(alert.get("startsAt"), f"{where}.startsAt", now)
        ends_now = now if status == "resolved" else None
        ended = parse_optional_time(alert.get("endsAt"), f"{where}.endsAt", ends_now)
        if any(labels.get(k) != v for k, v in settings.match.items()):
            continue
        service_key = settings.service_label if labels.get(settings.service_label) else "job"
        service = labels.get(service_key)
        environment = labels.get(settings.environment_label) or default_env
        if not isinstance(service, str) or not isinstance(environment, str):
            continue
        service = label_value(service, f"{where}.labels.{service_key}")
        environment = label_value(environment, f"{where}.labels.{settings.environment_label}")
        if environment not in envs:
            continue
        fingerprint = alert.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
        resolved = None
        if status == "resolved":
            resolved = max(ended if ended is not None else started, started)
        key = f"alertmanager:{fingerprint}:{round(started * 1000)}"
        cause = root_cause(alert.get("annotations"))
        records.append(Incident(key, service, str(environment), started, resolved, None, cause))
        paths.append(where)
    skipped = len(alerts) - len(records)
    # Alertmanager cannot change what it sends: an alert that contradicts the stored
    # incident is skipped and logged rather than failing the notification (lenient batch).
    return Batch(
        tuple(records),
        None,
        f"{skipped} alerts not matched" if skipped else None,
        strict=False,
        paths=tuple(paths),
    )
