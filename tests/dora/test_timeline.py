"""Exact values of every DORA metric on a hand-computed timeline, read from /metrics.

Timeline (now = 2026-11-30T00:00Z, failure_window 24h, only production counts):

shop (generic events)                      api (GitHub webhooks + Alertmanager)
  d1 ok   -40d  c1 committed -42d  (2d)      PR #7 opened -4d, squash-merged as s1 (pushed -3d)
  d2 ok   -20d  c2 -20d6h (6h), c1 again     deploy 100 ok -3d+1h: s1 → lead 1d1h (PR start)
  d3 FAIL -10d  c3 (not shipped)             push a2 (-1d5h), a3 'Revert …' (-1d4h)
  d4 ok   -5d   rework, c3 -11d (6d), c4 1h  deploy 101 ok -1d: a3 4h, a2 5h (walks to s1); rework
  d5 ok   -2d   c5 30m                       alert firing -1d+1h → caused by 101; resolved +2h
  i1 -20d+2h (window → d2), restored 3h
  i2 -5d+1h deployment_id d4, restored 30m
  i3 -1d12h (window → d5), still open
  i4 -30d no deployment within 24h, restored 2d
plus staging deployments and a non-critical alert, all ignored; every delivery sent twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import DAY, HOUR, Agent, AgentFactory, ts, value

S, P = (
    {"service": "shop", "environment": "production"},
    {"service": "api", "environment": "production"},
)


def deployment(
    id_: str,
    at: float,
    status: str = "success",
    commits: list[tuple[str, float]] = (),
    **extra: Any,
) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "kind": "deployment",
        "id": id_,
        "service": extra.pop("service", "shop"),
        "environment": extra.pop("environment", "production"),
        "status": status,
        "finished_at": ts(at),
        "commits": [{"sha": sha, "committed_at": ts(t)} for sha, t in commits],
        **extra,
    }


def incident(
    id_: str, start: float, restored: float | None, deployment_id: str | None = None
) -> dict[str, Any]:
    return {
        "kind": "incident",
        "id": id_,
        "service": "shop",
        "environment": "production",
        "started_at": ts(start),
        "resolved_at": ts(start + restored) if restored is not None else None,
        "deployment_id": deployment_id,
    }


SHOP_EVENTS = [
    deployment("d1", -40 * DAY, commits=[("c1", -42 * DAY)]),
    deployment("d2", -20 * DAY, commits=[("c2", -20 * DAY - 6 * HOUR), ("c1", -42 * DAY)]),
    deployment("d3", -10 * DAY, "failure", commits=[("c3", -11 * DAY)]),
    deployment("d4", -5 * DAY, rework=True, commits=[("c3", -11 * DAY), ("c4", -5 * DAY - HOUR)]),
    deployment("d5", -2 * DAY, commits=[("c5", -2 * DAY - 1800)]),
    deployment("d5-staging", -2 * DAY, environment="staging", commits=[("c9", -9 * DAY)]),
    incident("i1", -20 * DAY + 2 * HOUR, 3 * HOUR),
    incident("i2", -5 * DAY + HOUR, 1800, "d4"),
    incident("i3", -DAY - 12 * HOUR, None),
    incident("i4", -30 * DAY, 2 * DAY),
]

REPO = {"full_name": "acme/api", "name": "api"}


def push(before: str, commits: list[tuple[str, float, str]]) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": commits[-1][0],
        "deleted": False,
        "repository": REPO,
        "commits": [{"id": sha, "timestamp": ts(t), "message": m} for sha, t, m in commits],
    }


def status(
    deployment_id: int, sha: str, at: float, env: str = "production", state: str = "success"
) -> dict[str, Any]:
    return {
        "action": "created",
        "deployment_status": {"state": state, "environment": env, "created_at": ts(at)},
        "deployment": {
            "id": deployment_id,
            "sha": sha,
            "ref": "main",
            "environment": env,
            "created_at": ts(at - 600),
        },
        "repository": REPO,
    }


def alert(state: str, severity: str = "critical", ends: float | None = None) -> dict[str, Any]:
    return {
        "version": "4",
        "status": state,
        "alerts": [
            {
                "status": state,
                "labels": {"alertname": "ApiDown", "service": "api", "severity": severity},
                "startsAt": ts(-DAY + HOUR),
                "endsAt": ts(ends) if ends is not None else "0001-01-01T00:00:00Z",
                "fingerprint": f"fp-{severity}",
            }
        ],
    }


S1, A2, A3 = "1" * 40, "2" * 40, "3" * 40
GITHUB = [
    (
        "pull_request",
        {
            "action": "closed",
            "pull_request": {
                "merged": True,
                "merge_commit_sha": S1,
                "created_at": ts(-4 * DAY),
                "labels": [],
                "head": {"ref": "feature/x"},
            },
            "repository": REPO,
        },
    ),
    ("push", push("0" * 40, [(S1, -3 * DAY, "Add x (#7)")])),
    ("deployment", status(100, S1, -3 * DAY + HOUR)),
    ("deployment_status", status(100, S1, -3 * DAY + HOUR)),
    ("deployment_status", status(100, S1, -3 * DAY + 2 * HOUR)),  # a second success status
    ("deployment_status", status(100, S1, -3 * DAY, env="staging")),
    ("push", push(S1, [(A2, -DAY - 5 * HOUR, "Fix y"), (A3, -DAY - 4 * HOUR, 'Revert "Add z"')])),
    ("deployment_status", status(101, A3, -DAY)),
]


async def load_timeline(agent: Agent) -> None:
    # Incident i1 first arrives unresolved, then resolved: one incident, restored once.
    first = [dict(SHOP_EVENTS[6], resolved_at=None), *SHOP_EVENTS]
    for _ in range(2):  # every delivery twice: counted once
        response = await agent.events(first)
        assert response.status == 200, await response.text()
        for n, (event, payload) in enumerate(GITHUB):
            response = await agent.github(event, payload, f"delivery-{n}")
            assert response.status in (200, 202), await response.text()
        for payload in (
            alert("firing"),
            alert("firing", "warning"),
            alert("resolved", ends=-DAY + 3 * HOUR),
        ):
            response = await agent.alertmanager(payload)
            assert response.status in (200, 202), await response.text()


EXPECTED_SHOP = {
    "dora_deployments_total": 5,
    "dora_failed_deployments_total": 1,
    "dora_change_failures_total": 4,
    "dora_rework_deployments_total": 1,
    "dora_incidents_total": 4,
    "dora_incidents_open": 1,
    "dora_last_deployment_timestamp_seconds": None,  # checked below against the clock
    "dora_lead_time_seconds_count": 5,
    "dora_lead_time_seconds_sum": 172800 + 21600 + 518400 + 3600 + 1800,
    "dora_time_to_restore_seconds_count": 3,
    "dora_time_to_restore_seconds_sum": 10800 + 1800 + 172800,
}
SHOP_LEAD_BUCKETS = {
    "3600.0": 2,
    "86400.0": 3,
    "604800.0": 5,
    "2592000.0": 5,
    "15552000.0": 5,
    "+Inf": 5,
}
SHOP_RESTORE_BUCKETS = {
    "3600.0": 1,
    "86400.0": 2,
    "604800.0": 3,
    "2592000.0": 3,
    "15552000.0": 3,
    "+Inf": 3,
}
SHOP_WINDOWS = {
    # window: frequency, lead median, CFR, restore median, rework, levels (DF, LT, CFR, TTR)
    "7d": (2 / 7, 3600, 1.0, 1800, 0.5, (2, 3, 0, 3)),
    "30d": (3 / 30, 12600, 1.0, 10800, 0.25, (1, 3, 0, 2)),
    "90d": (4 / 90, 21600, 0.8, 10800, 0.2, (1, 3, 0, 2)),
}
EXPECTED_API = {
    "dora_deployments_total": 2,
    "dora_failed_deployments_total": 0,
    "dora_change_failures_total": 1,
    "dora_rework_deployments_total": 1,
    "dora_incidents_total": 1,
    "dora_incidents_open": 0,
    "dora_lead_time_seconds_count": 3,
    "dora_lead_time_seconds_sum": 90000 + 18000 + 14400,
    "dora_time_to_restore_seconds_count": 1,
    "dora_time_to_restore_seconds_sum": 7200,
}
LEVEL_METRICS = ("deployment_frequency", "lead_time", "change_failure_ratio", "time_to_restore")


async def test_every_metric_on_the_timeline(agent: AgentFactory) -> None:
    a = await agent()
    await load_timeline(a)
    scrape = await a.scrape()

    for name, expected in EXPECTED_SHOP.items():
        if expected is not None:
            assert value(scrape, name, **S) == expected, name
    assert (
        value(scrape, "dora_last_deployment_timestamp_seconds", **S)
        == a.exporter.ctx.clock() - 2 * DAY
    )
    for le, count in SHOP_LEAD_BUCKETS.items():
        assert value(scrape, "dora_lead_time_seconds_bucket", le=le, **S) == count, le
    for le, count in SHOP_RESTORE_BUCKETS.items():
        assert value(scrape, "dora_time_to_restore_seconds_bucket", le=le, **S) == count, le
    for window, (freq, lead, cfr, restore, rework, levels) in SHOP_WINDOWS.items():
        w = {**S, "window": window}
        assert value(scrape, "dora_deployment_frequency_per_day", **w) == pytest.approx(freq)
        assert value(scrape, "dora_lead_time_median_seconds", **w) == lead
        assert value(scrape, "dora_change_failure_ratio", **w) == pytest.approx(cfr)
        assert value(scrape, "dora_time_to_restore_median_seconds", **w) == restore
        assert value(scrape, "dora_rework_ratio", **w) == pytest.approx(rework)
        for metric, level in zip(LEVEL_METRICS, levels, strict=True):
            assert value(scrape, "dora_performance_level", metric=metric, **w) == level, (
                window,
                metric,
            )

    for name, expected in EXPECTED_API.items():
        assert value(scrape, name, **P) == expected, name
    assert value(scrape, "dora_lead_time_seconds_bucket", le="86400.0", **P) == 2
    w7 = {**P, "window": "7d"}
    assert value(scrape, "dora_lead_time_median_seconds", **w7) == 18000
    assert value(scrape, "dora_change_failure_ratio", **w7) == 0.5
    assert value(scrape, "dora_time_to_restore_median_seconds", **w7) == 7200

    # Nothing from staging, no label that is not in the contract.
    assert not [k for k in scrape if ("environment", "staging") in k[1]]
    for name, labels in scrape:
        if name.startswith("dora_"):
            assert {k for k, _ in labels} <= {"service", "environment", "window", "metric", "le"}


async def test_counts_survive_a_restart(agent: AgentFactory, tmp_path: Any) -> None:
    a = await agent(data_dir=tmp_path / "state")
    await load_timeline(a)
    before = await a.scrape()
    await a.client.close()

    b = await agent(data_dir=tmp_path / "state")
    response = await b.client.get("/metrics")  # no refresh: the first scrape is already right
    from .conftest import samples

    after = samples(await response.text())
    dora = {k: v for k, v in before.items() if k[0].startswith("dora_")}
    assert dora and all(after.get(k) == v for k, v in dora.items())


@pytest.mark.integration
async def test_scrape_matches_golden_and_promtool(
    agent: AgentFactory, golden: Any, tmp_path: Any
) -> None:
    import subprocess

    from tests.support.procs import require

    a = await agent()
    await load_timeline(a)
    await a.exporter.refresh()
    text = await (await a.client.get("/metrics")).text()
    dora = "".join(line + "\n" for line in text.splitlines() if "dora_" in line)
    golden("dora/metrics.txt", dora)
    promtool = require("promtool")
    check = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
