"""Deterministic demo history for `opslens up --demo`: four services, every DORA level.

storefront is elite, payments high, inventory medium and legacy-billing low on all four
keys over 90 days; legacy-billing keeps one incident open. Staging events are included
and must be ignored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


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
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    n = 0
    at = now - timedelta(days=89, hours=12) + every / 2
    while at < now - HOUR:
        n += 1
        dep_id = f"demo-{name}-{n}"
        failed = fail_every > 0 and n % fail_every == 0
        events.append(
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
            }
        )
        events.append(
            {
                "kind": "deployment",
                "id": f"{dep_id}-staging",
                "service": name,
                "environment": "staging",
                "status": "success",
                "finished_at": _ts(at - 2 * HOUR),
            }
        )
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
                    # Every other incident is linked by time (failure_window), not by id.
                    "deployment_id": dep_id if n % (2 * incident_every) == 0 else None,
                }
            )
        at += every
    return events


def demo_events(now: datetime) -> list[dict[str, Any]]:
    """Generic events for the 90 days before `now`; the same `now` gives the same list.

    The schema is docs/http-api.md#generic-events.
    """
    now = now.replace(microsecond=0)
    events = [
        *_service(now, "storefront", 6 * HOUR, 3 * HOUR, 0, 40, 25 * timedelta(minutes=1)),
        *_service(now, "payments", 2 * DAY, 3 * DAY, 15, 23, 5 * HOUR),
        *_service(now, "inventory", 11 * DAY, 12 * DAY, 0, 8, 3 * DAY),
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
