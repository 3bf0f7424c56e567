"""Coverage instead of silent levels; deployment days; restore time both ways."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporters.dora.config import Levels
from exporters.dora.records import Batch, Deployment, Incident, Record, ShippedCommit
from exporters.dora.snapshot import Snapshot, compute, deployment_days, lower_median
from exporters.dora.store import EventStore

from .conftest import AgentFactory, value

# A Monday noon, so "yesterday" and whole weeks are easy to count by hand.
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp()
DAY = 86400.0
HOUR = 3600.0
KEYS = ("deployment_frequency", "lead_time", "change_failure_ratio", "time_to_restore")


def store(tmp_path: Path) -> EventStore:
    s = EventStore(tmp_path / "events.db", clock=lambda: NOW)
    s.open()
    return s


def dep(key: str, at: float, status: str = "success", service: str = "svc") -> Deployment:
    commits = (ShippedCommit(f"{key}-c", NOW + at - 2 * HOUR),)
    return Deployment(key, service, "production", status, NOW + at, None, False, commits)  # type: ignore[arg-type]


def snap(s: EventStore, incident_source: bool = True) -> Snapshot:
    return compute(s.reader(), NOW, {"production"}, Levels(), incident_source)


def levels(snapshot: Snapshot, window: str, service: str = "svc") -> dict[str, object]:
    """Per key metric: its level, or the reason it has none."""
    out: dict[str, object] = {}
    for (svc, _, w, metric), v in snapshot.gauges["dora_performance_level"].items():
        if svc == service and w == window:
            out[metric] = v
    for (svc, _, w, metric, reason), v in snapshot.gauges["dora_performance_level_unknown"].items():
        if svc == service and w == window:
            assert v == 1 and metric not in out
            out[metric] = reason
    assert set(out) == set(KEYS)  # every key is either a level or unknown, never missing
    return out


def write(s: EventStore, *records: Record) -> None:
    s.write([Batch(tuple(records))])


def test_no_incident_source_leaves_failure_and_restore_levels_unknown(tmp_path: Path) -> None:
    s = store(tmp_path)
    write(s, *(dep(f"d{n}", -n * DAY) for n in range(1, 40)))
    without = levels(snap(s, incident_source=False), "30d")
    assert without["change_failure_ratio"] == "no_incident_source"
    assert without["time_to_restore"] == "no_incident_source"
    assert isinstance(without["deployment_frequency"], int)
    # The ratio itself (failed deployments only) is still exposed, as a lower bound.
    assert snap(s, False).gauges["dora_change_failure_ratio"][("svc", "production", "30d")] == 0
    with_source = levels(snap(s), "30d")
    assert with_source["change_failure_ratio"] == 3  # a source, and no incident: elite
    assert with_source["time_to_restore"] == "no_resolved_incidents"


def test_a_window_without_deployments_has_no_levels(tmp_path: Path) -> None:
    s = store(tmp_path)
    write(s, dep("d1", -40 * DAY), dep("d2", -20 * DAY))
    snapshot = snap(s)
    assert levels(snapshot, "7d") == {
        "deployment_frequency": "no_deployments",
        "lead_time": "no_deployments",
        "change_failure_ratio": "no_deployments",
        "time_to_restore": "no_resolved_incidents",
    }
    # The per-day rate is still 0: the service has deployed, just not in these 7 days.
    assert snapshot.gauges["dora_deployment_frequency_per_day"][("svc", "production", "7d")] == 0
    assert isinstance(levels(snapshot, "30d")["deployment_frequency"], int)


def test_incidents_tied_to_no_deployment_are_counted_and_hide_a_level_they_could_change(
    tmp_path: Path,
) -> None:
    s = store(tmp_path)
    # Six open incidents of a service before its first deployment: nothing to tie them to.
    write(s, *(Incident(f"i{n}", "svc", "production", NOW - 25 * DAY + n) for n in range(6)))
    write(s, *(dep(f"d{n}", -n * DAY / 2) for n in range(1, 41)))
    snapshot = snap(s)
    unattributed = snapshot.gauges["dora_incidents_unattributed"]
    assert unattributed[("svc", "production", "30d")] == 6
    assert unattributed[("svc", "production", "7d")] == 0
    # 30d: 0 change failures of 40 deployments, but six could be: 0 to 0.15 is not one level.
    assert levels(snapshot, "30d")["change_failure_ratio"] == "unattributed_incidents"
    # 7d has none of them: its level stands.
    assert levels(snapshot, "7d")["change_failure_ratio"] == 3


def test_unattributed_incidents_that_cannot_change_the_level_leave_it(tmp_path: Path) -> None:
    s = store(tmp_path)
    write(s, Incident("orphan", "svc", "production", NOW - 25 * DAY))
    write(s, *(dep(f"d{n}", -n * DAY / 2, "failure" if n % 2 else "success") for n in range(1, 41)))
    # Half of them failed: low either way.
    assert levels(snap(s), "30d")["change_failure_ratio"] == 0


def burst_and_steady(s: EventStore) -> None:
    """Steady: one deployment every weekday for 12 weeks. Bursty: 20 in one day, fortnightly."""
    steady = [
        dep(f"s{n}", -(n + 1) * DAY, service="steady")
        for n in range(84)
        if datetime.fromtimestamp(NOW - (n + 1) * DAY, UTC).weekday() < 5
    ]
    bursty = [
        dep(f"b{w}-{k}", -(14 * w + 2) * DAY + k * 60, service="bursty")
        for w in range(6)
        for k in range(20)
    ]
    write(s, *steady, *bursty)


def test_deployment_days_rate_a_steady_team_above_a_bursty_one(tmp_path: Path) -> None:
    s = store(tmp_path)
    burst_and_steady(s)
    snapshot = snap(s)
    g = snapshot.gauges
    rate = g["dora_deployment_frequency_per_day"]
    per_week = g["dora_deployment_day_count_per_week"]
    per_month = g["dora_deployment_day_count_per_month"]
    # Per day, the bursty team deploys more (120 vs 60 in 90 days) ...
    assert rate[("bursty", "production", "90d")] == pytest.approx(120 / 90)
    assert rate[("steady", "production", "90d")] == pytest.approx(60 / 90)
    # ... but on fewer days: 5 days every week against 1 day every other week.
    assert per_week[("steady", "production", "90d")] == 5
    assert per_week[("bursty", "production", "90d")] == 0  # lower median of 6 ones, 6 zeros
    assert per_month[("bursty", "production", "90d")] == 2
    assert per_month[("steady", "production", "90d")] == 20  # weekdays: 18, 20, 22
    assert ("steady", "production", "7d") not in per_month  # no whole month in 7 days
    assert levels(snapshot, "90d", "steady")["deployment_frequency"] == 2  # daily to weekly
    assert levels(snapshot, "90d", "bursty")["deployment_frequency"] == 1  # weekly to monthly


def test_deployment_days_count_whole_days_back_from_yesterday() -> None:
    today = 1000
    every_day = set(range(today - 90, today + 1))
    assert deployment_days(every_day, today, 7).per_week == 7  # today itself is left out
    assert deployment_days({today}, today, 7).days == 0
    d = deployment_days({today - 1, today - 8, today - 9, today - 40}, today, 30)
    assert (d.days, d.per_week, d.per_month) == (3, 0, 3)  # weeks 1, 2, 0, 0: lower median 0
    assert lower_median([3, 1, 2, 0]) == 1 and lower_median([5]) == 5


def test_restore_time_both_ways(tmp_path: Path) -> None:
    s = store(tmp_path)
    write(
        s,
        dep("d1", -10 * DAY),
        dep("bad", -6 * DAY, "failure"),
        dep("fix", -6 * DAY + 2 * HOUR),  # recovers the failed deployment: 2 h
        dep("d3", -3 * DAY),
        # Tied to d3 by time; open 1 h, 2 days after d3: recovery from d3 is 2 d 1 h.
        Incident("i1", "svc", "production", NOW - DAY, NOW - DAY + HOUR),
    )
    g = snap(s).gauges
    key = ("svc", "production", "7d")
    assert g["dora_time_to_restore_median_seconds"][key] == HOUR  # incident duration
    assert (
        g["dora_failed_deployment_recovery_median_seconds"][key]
        == (2 * HOUR + (2 * DAY + HOUR)) / 2
    )
    # A re-run that turns the failure into a success leaves nothing to recover from.
    write(s, Deployment("bad", "svc", "production", "success", NOW - 6 * DAY + HOUR))
    assert snap(s).gauges["dora_failed_deployment_recovery_median_seconds"][key] == (2 * DAY + HOUR)


async def test_levels_and_unknowns_over_http(agent: AgentFactory) -> None:
    config = """
version: 1
project: test
dora:
  sources:
    - {type: github, name: api-github, repo: acme/api, service: api, allow_unauthenticated: true}
"""
    a = await agent(config)
    scrape = await a.scrape()
    assert not [k for k in scrape if k[0].startswith("dora_performance_level")]
    store = a.exporter.store
    store.write([Batch((dep("d1", -3 * DAY, service="api"), dep("d2", -DAY, service="api")))])
    scrape = await a.scrape()
    labels = {"service": "api", "environment": "production", "window": "7d"}
    for metric in ("change_failure_ratio", "time_to_restore"):
        assert (
            value(
                scrape,
                "dora_performance_level_unknown",
                metric=metric,
                reason="no_incident_source",
                **labels,
            )
            == 1
        )
        assert value(scrape, "dora_performance_level", metric=metric, **labels) is None
    assert value(scrape, "dora_performance_level", metric="deployment_frequency", **labels) == 2
