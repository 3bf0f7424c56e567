"""Exact values of every DORA metric on a hand-computed timeline, read from /metrics.

Timeline (now = 2026-11-30T00:00Z, failure_window 24h, only production counts):

shop (generic events)                      api (GitHub webhooks + Alertmanager)
  d1 ok   -40d  c1 committed -42d: first     deploy 99 ok -6d: S0 (-7d): first deployment,
          deployment seen → before_history     before_history
  d2 ok   -20d  c2 -20d6h (6h), c1 again     branch feature/x pushed: B1 -4d2h, B2 -3d12h
  d3 FAIL -10d  c3 (not shipped)             PR #7 (head B2) squash-merged as S1 (-3d)
  d4 ok   -5d   rework, c3 -11d (6d), c4 1h  deploy 100 ok -3d+1h: S1 → 1d3h (from B1)
  d5 ok   -2d   c5 30m; c6 dated 1h after    push a2 (-1d5h), a3 'Revert …' (-1d4h)
          the deployment → after_deployment  deploy 101 ok -1d: a3 4h, a2 5h; rework
  i1 -20d+2h (window → d2), restored 3h      alert firing -1d+1h → caused by 101; resolved +2h
  i2 -5d+1h deployment_id d4, restored 30m
  i3 -1d12h (window → d5), still open
  i4 -30d no deployment within 24h, restored 2d (unattributed)
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
    deployment("d5", -2 * DAY, commits=[("c5", -2 * DAY - 1800), ("c6", -2 * DAY + HOUR)]),
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


S0, S1, A2, A3 = "0" * 39 + "1", "1" * 40, "2" * 40, "3" * 40
B1, B2 = "b" * 39 + "1", "b" * 39 + "2"
NEW_BRANCH = "0" * 40
GITHUB = [
    ("push", push(NEW_BRANCH, [(S0, -7 * DAY, "Start")])),
    ("deployment_status", status(99, S0, -6 * DAY)),
    # The PR's branch: its first push creates the branch, so its first commit is known.
    ("push", {**push(NEW_BRANCH, [(B1, -4 * DAY - 2 * HOUR, "x: first")]), "ref": "refs/heads/x"}),
    ("push", {**push(B1, [(B2, -3 * DAY - 12 * HOUR, "x: second")]), "ref": "refs/heads/x"}),
    (
        "pull_request",
        {
            "action": "closed",
            "number": 7,
            "pull_request": {
                "number": 7,
                "merged": True,
                "merge_commit_sha": S1,
                "created_at": ts(-4 * DAY),  # not used: lead time starts at the first commit
                "labels": [],
                "head": {"ref": "feature/x", "sha": B2},
            },
            "repository": REPO,
        },
    ),
    ("push", push(S0, [(S1, -3 * DAY, "Add x (#7)")])),
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
    "dora_lead_time_seconds_count": 4,  # c1 (first deployment) and c6 (after it) rejected
    "dora_lead_time_seconds_sum": 21600 + 518400 + 3600 + 1800,
    "dora_lead_time_pending": 0,
    "dora_time_to_restore_seconds_count": 3,
    "dora_time_to_restore_seconds_sum": 10800 + 1800 + 172800,
}
SHOP_REJECTED = {"before_history": 1, "after_deployment": 1}
SHOP_LEAD_BUCKETS = {
    "3600.0": 2,
    "86400.0": 3,
    "604800.0": 4,
    "2592000.0": 4,
    "15552000.0": 4,
    "+Inf": 4,
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
    # window: frequency, days/week, days/month, lead median, CFR, restore median,
    # recovery median, unattributed incidents, rework, levels (DF, LT, CFR, TTR)
    "7d": (2 / 7, 2, None, 3600, 1.0, 1800, (5 * DAY + 5400) / 2, 0, 0.5, (2, 3, 0, 3)),
    "30d": (3 / 30, 0, 3, 12600, 1.0, 10800, 5 * HOUR, 1, 0.25, (1, 3, 0, 2)),
    "90d": (4 / 90, 0, 1, 12600, 0.8, 10800, 5 * HOUR, 1, 0.2, (1, 3, 0, 2)),
}
# Recovery samples: d3 failed -10d, recovered by d4 (5d); i2 from d4 to resolved (1.5h);
# i1 from d2 to resolved (5h). i3 is open and i4 tied to no deployment.
EXPECTED_API = {
    "dora_deployments_total": 3,
    "dora_failed_deployments_total": 0,
    "dora_change_failures_total": 1,
    "dora_rework_deployments_total": 1,
    "dora_incidents_total": 1,
    "dora_incidents_open": 0,
    "dora_lead_time_seconds_count": 3,
    "dora_lead_time_seconds_sum": 97200 + 18000 + 14400,
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
    for reason, count in SHOP_REJECTED.items():
        assert value(scrape, "dora_lead_time_rejected_total", reason=reason, **S) == count
    for window, expected in SHOP_WINDOWS.items():
        freq, week, month, lead, cfr, restore, recovery, unattributed, rework, levels = expected
        w = {**S, "window": window}
        assert value(scrape, "dora_deployment_frequency_per_day", **w) == pytest.approx(freq)
        assert value(scrape, "dora_deployment_day_count_per_week", **w) == week
        assert value(scrape, "dora_deployment_day_count_per_month", **w) == month
        assert value(scrape, "dora_lead_time_median_seconds", **w) == lead
        assert value(scrape, "dora_change_failure_ratio", **w) == pytest.approx(cfr)
        assert value(scrape, "dora_time_to_restore_median_seconds", **w) == restore
        assert value(scrape, "dora_failed_deployment_recovery_median_seconds", **w) == recovery
        assert value(scrape, "dora_incidents_unattributed", **w) == unattributed
        assert value(scrape, "dora_rework_ratio", **w) == pytest.approx(rework)
        for metric, level in zip(LEVEL_METRICS, levels, strict=True):
            assert value(scrape, "dora_performance_level", metric=metric, **w) == level, (
                window,
                metric,
            )
    assert not [k for k in scrape if k[0] == "dora_performance_level_unknown"]

    for name, expected in EXPECTED_API.items():
        assert value(scrape, name, **P) == expected, name
    assert value(scrape, "dora_lead_time_seconds_bucket", le="86400.0", **P) == 2
    w7 = {**P, "window": "7d"}
    assert value(scrape, "dora_lead_time_median_seconds", **w7) == 18000
    assert value(scrape, "dora_change_failure_ratio", **w7) == pytest.approx(1 / 3)
    assert value(scrape, "dora_lead_time_rejected_total", reason="before_history", **P) == 1
    assert value(scrape, "dora_time_to_restore_median_seconds", **w7) == 7200

    # Nothing from staging, no label that is not in the contract.
    assert not [k for k in scrape if ("environment", "staging") in k[1]]
    for name, labels in scrape:
        if name.startswith("dora_"):
            allowed = {"service", "environment", "window", "metric", "le", "reason"}
            assert {k for k, _ in labels} <= allowed


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
