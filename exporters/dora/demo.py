"""Deterministic demo history for `opslens up --demo`: four services, every DORA level.

storefront is elite, payments high, inventory medium and legacy-billing low on all four
keys over 90 days; legacy-billing keeps one incident open. The history spans 120 days so
each service's first deployment (whose backlog has no lead time) lies outside the 90-day
window. Staging events are included and must be ignored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HISTORY = 120 * DAY


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _service(
    now: datetime,
    name: str,
    every: timedelta,
    lead: timedelta,
    fail_every: int,
    incident_every: int,
    restore: timedelta,
    burst: int = 1,
) -> list[dict[str, Any]]:
    """Releases every `every`, each `burst` deployments an hour apart (one deployment day)."""
    events: list[dict[str, Any]] = []
    n = 0
    release = now - HISTORY + 12 * HOUR + every / 2
    while release < now - burst * HOUR:
        for k in range(burst):
            at = release + k * HOUR
            n += 1
            events += _deployment(now, name, n, at, lead, fail_every, incident_every, restore)
        release += every
    return events


def _deployment(
    now: datetime,
    name: str,
    n: int,
    at: datetime,
    lead: timedelta,
    fail_every: int,
    incident_every: int,
    restore: timedelta,
) -> list[dict[str, Any]]:
    dep_id = f"demo-{name}-{n}"
    failed = fail_every > 0 and n % fail_every == 0
    events: list[dict[str, Any]] = [
        {
            "kind": "deployment",
            "id": dep_id,
            "service": name,
            "environment": "production",
            "status": "failure" if failed else "success",
            "finished_at": _ts(at),
            "rework": n % 10 == 0 or (fail_every > 0 and n % fail_every == 1 and n > 1),
            "commits": [
                {
                    "sha": f"{name[:3]}{n:05d}{k}".ljust(40, "0"),
                    "committed_at": _ts(at - lead - k * HOUR),
                }
                for k in range(2)
            ],
        },
        {
            "kind": "deployment",
            "id": f"{dep_id}-staging",
            "service": name,
            "environment": "staging",
            "status": "success",
            "finished_at": _ts(at - 2 * HOUR),
        },
    ]
    if incident_every and n % incident_every == 0 and not failed:
        started = at + 2 * HOUR
        events.append(
            {
                "kind": "incident",
                "id": f"demo-inc-{name}-{n}",
                "service": name,
                "environment": "production",
                "started_at": _ts(started),
                "resolved_at": _ts(started + restore) if started + restore < now else None,
                # Every other incident is tied by time (the last deployment before it).
                "deployment_id": dep_id if n % (2 * incident_every) == 0 else None,
            }
        )
    return events


def demo_events(now: datetime) -> list[dict[str, Any]]:
    """Generic events for the 120 days before `now`; the same `now` gives the same list.

    The schema is docs/http-api.md#generic-events.
    """
    now = now.replace(microsecond=0)
    events = [
        *_service(now, "storefront", 6 * HOUR, 3 * HOUR, 0, 40, 25 * timedelta(minutes=1)),
        *_service(now, "payments", 2 * DAY, 3 * DAY, 25, 23, 5 * HOUR),
        # Two deployments per release day every 22 days: weekly to monthly.
        *_service(now, "inventory", 22 * DAY, 12 * DAY, 0, 7, 3 * DAY, burst=2),
        *_service(now, "legacy-billing", 40 * DAY, 50 * DAY, 2, 0, 10 * DAY),
    ]
    events.append(
        {
            "kind": "incident",
            "id": "demo-inc-legacy-billing-resolved",
            "service": "legacy-billing",
            "environment": "production",
            "started_at": _ts(now - 30 * DAY),
            "resolved_at": _ts(now - 20 * DAY),
            "deployment_id": None,
        }
    )
    events.append(
        {
            "kind": "incident",
            "id": "demo-inc-legacy-billing-open",
            "service": "legacy-billing",
            "environment": "production",
            "started_at": _ts(now - 3 * DAY),
            "resolved_at": None,
            "deployment_id": None,
        }
    )
    return events
