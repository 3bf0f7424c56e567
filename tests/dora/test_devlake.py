"""Apache DevLake's own DORA e2e fixtures, translated into OpsLens events and checked.

The fixtures (tests/fixtures/shared/devlake-dora-e2e, provenance in its SOURCE.md) are a
peer's test suite: inputs plus the values DevLake expects. Each test below posts the
inputs to a real agent as generic events and compares OpsLens's numbers with DevLake's.
Where they differ, the difference is by design and exporters/dora/README.md#devlake
states both values and why.

Translation: a DevLake project is an OpsLens service; a DevLake deployment
(`cicd_deployment_id`, one pipeline) is an OpsLens deployment in the lower-cased
environment, successful when any of its production rows succeeded (DevLake's rule), and
finished when its last successful row finished; it ships the PR merge commits that
`commits_diffs` lists for its successful rows, each dated from its PR's first commit
(`pull_request_commits`). Incidents belong to the project their board or repo maps to.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import SHARED_DATA
from tests.support.procs import unavailable

from .conftest import CONFIG, Agent, AgentFactory, value

FIXTURES = SHARED_DATA / "devlake-dora-e2e"
MINUTE = 60.0


def rows(name: str) -> list[dict[str, str]]:
    path = FIXTURES / name
    if not path.exists():
        unavailable(f"DevLake fixtures not present: {path}")
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def when(text: str) -> float:
    """DevLake's timestamps: ISO with an offset, or `2023-4-10 4:51:47` in UTC."""
    text = text.strip()
    if "T" in text:
        return datetime.fromisoformat(text).timestamp()
    day, clock = text.split(" ")
    y, m, d = (int(p) for p in day.split("-"))
    hh, mm, ss = (int(p) for p in clock.split(":"))
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def projects(directory: str) -> dict[tuple[str, str], str]:
    """(table, row id) → project name."""
    return {
        (r["table"], r["row_id"]): r["project_name"]
        for r in rows(f"{directory}/project_mapping.csv")
    }


def deployments(directory: str, commits: dict[str, list[dict[str, str]]]) -> list[dict[str, Any]]:
    """One generic deployment event per DevLake deployment (pipeline) and environment."""
    mapping = projects(directory)
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows(f"{directory}/cicd_deployment_commits.csv"):
        project = mapping.get(("cicd_scopes", r["cicd_scope_id"]))
        if project and r["environment"]:
            groups[(project, r["environment"].lower(), r["cicd_deployment_id"])].append(r)
    events = []
    for (project, environment, pipeline), group in groups.items():
        ok = [r for r in group if r["result"] == "SUCCESS"]
        finished = max(when(r["finished_date"]) for r in ok or group)
        events.append(
            {
                "kind": "deployment",
                "id": pipeline,
                "service": project,
                "environment": environment,
                "status": "success" if ok else "failure",
                "finished_at": iso(finished),
                "commits": [c for r in ok for c in commits.get(r["commit_sha"], [])],
            }
        )
    return sorted(events, key=lambda e: e["finished_at"])


def config(*, failure_window: str | None = None) -> str:
    text = CONFIG.replace("  failure_window: 24h\n", "")
    if failure_window:
        text = text.replace("dora:\n", f"dora:\n  failure_window: {failure_window}\n")
    return text


async def post(agent: Agent, events: list[dict[str, Any]]) -> None:
    response = await agent.events(events)
    assert response.status == 200, await response.text()


# change_lead_time ---------------------------------------------------------------------


def shipped_merge_commits() -> dict[str, list[dict[str, str]]]:
    """Deployed SHA → the PR merge commits it ships, each dated by its PR's first commit."""
    first: dict[str, float] = {}
    for r in rows("change_lead_time/pull_request_commits.csv"):
        at = when(r["commit_authored_date"])
        first[r["pull_request_id"]] = min(first.get(r["pull_request_id"], at), at)
    pr_of = {r["merge_commit_sha"]: r["id"] for r in rows("change_lead_time/pull_requests.csv")}
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows("change_lead_time/commits_diffs.csv"):
        pr = pr_of[r["commit_sha"]]
        out[r["new_commit_sha"]].append({"sha": r["commit_sha"], "committed_at": iso(first[pr])})
    return out


LEAD_NOW = when("2023-04-14T00:00:00+00:00")
P1 = {"service": "project1", "environment": "production"}


async def test_change_lead_time(agent: AgentFactory) -> None:
    a = await agent(config(), clock=LEAD_NOW)
    await post(a, deployments("change_lead_time", shipped_merge_commits()))
    expected = {r["id"]: r for r in rows("change_lead_time/project_pr_metrics.csv")}
    deployed = {pr: int(r["pr_cycle_time"]) for pr, r in expected.items() if r["pr_deployed_date"]}
    assert deployed == {"pr1": 4478, "pr2": 1598, "pr3": 10203}

    conn = a.exporter.store.reader()
    lead = dict(
        conn.execute(
            "SELECT sha, seconds FROM lead_times WHERE service = 'project1' AND reason IS NULL"
        ).fetchall()
    )
    # OpsLens: first commit of the PR → the deployment (pipeline 4) finished 07:30:34.
    assert {sha: round(s / MINUTE, 2) for sha, s in lead.items()} == {
        "pr_merge_commit1": 4478.78,  # DevLake 4478: to the job of its repo, 07:29:14
        "pr_merge_commit2": 158.78,  # DevLake 1598: starts at PR creation, a day earlier
        "pr_merge_commit3": 8798.78,  # DevLake 10203: deployed before merged, so to the merge
    }
    # pr0 shipped with the first deployment seen: a backlog, rejected as DevLake drops it;
    # pr4 went to staging only and pr5 with a failed row: no lead time, as in DevLake.
    rejected = conn.execute("SELECT sha, reason FROM lead_times WHERE reason IS NOT NULL")
    assert rejected.fetchall() == [("pr_merge_commit0", "before_history")]
    scrape = await a.scrape()
    median = value(scrape, "dora_lead_time_median_seconds", window="7d", **P1)
    assert median is not None and round(median / MINUTE, 2) == 4478.78  # DevLake: 4478
    assert value(scrape, "dora_lead_time_rejected_total", reason="before_history", **P1) == 1


# connect_incident_to_deployment ---------------------------------------------------------

INCIDENT_NOW = when("2022-12-01T00:00:00+00:00")


def incidents(with_links: bool) -> list[dict[str, Any]]:
    mapping = projects("connect_incident_to_deployment")
    links = {
        r["id"]: r["deployment_id"]
        for r in rows(
            "connect_incident_to_deployment/project_incident_deployment_relationships.csv"
        )
    }
    events = []
    for r in rows("connect_incident_to_deployment/incidents.csv"):
        project = mapping.get((r["table"], r["scope_id"]))
        if project is None:
            continue  # repo3 belongs to no project
        events.append(
            {
                "kind": "incident",
                "id": r["id"],
                "service": project,
                "environment": "production",
                "started_at": iso(when(r["created_date"])),
                "resolved_at": None,  # the fixture has no resolution dates
                "deployment_id": links.get(r["id"]) if with_links else None,
            }
        )
    return events


def causes(a: Agent) -> dict[str, str | None]:
    conn = a.exporter.store.reader()
    return dict(
        conn.execute(
            "SELECT i.key, d.key FROM incidents i "
            "LEFT JOIN deployments d ON d.id = i.deployment_id WHERE i.service = 'project1'"
        ).fetchall()
    )


def expected_links() -> dict[str, str]:
    return {
        f"events:{r['id']}": f"events:{r['deployment_id']}"
        for r in rows(
            "connect_incident_to_deployment/project_incident_deployment_relationships.csv"
        )
    }


@pytest.mark.parametrize("with_links", [True, False], ids=["devlake-links", "opslens-rule"])
async def test_connect_incident_to_deployment(agent: AgentFactory, with_links: bool) -> None:
    a = await agent(config(), clock=INCIDENT_NOW)
    await post(a, deployments("connect_incident_to_deployment", {}))
    await post(a, incidents(with_links))
    expected = expected_links()
    got = causes(a)
    if with_links:
        assert got == expected
    else:
        # OpsLens's rule (the last deployment finished before the incident started) agrees on
        # five of six. 1373792478 started 2022-09-15 01:56, while pipeline2 was still
        # deploying (its last job finished 06:51): OpsLens ties it to pipeline1, DevLake to
        # pipeline2, whose first job had finished.
        late = "events:github:GithubIssue:1:1373792478"
        assert {k: v for k, v in got.items() if k != late} == {
            k: v for k, v in expected.items() if k != late
        }
        assert (got[late], expected[late]) == ("events:pipeline1", "events:pipeline2")
    scrape = await a.scrape()
    # Five project1 deployments (pipelines 1, 2, 4, 6, 7), two caused incidents: 0.4 both ways.
    assert value(scrape, "dora_change_failure_ratio", window="90d", **P1) == 0.4
    assert value(scrape, "dora_deployments_total", **P1) == 5
    assert value(scrape, "dora_incidents_unattributed", window="90d", **P1) == 0
    assert value(scrape, "dora_incidents_open", **P1) == 6


async def test_a_24h_failure_window_ties_none_and_says_so(agent: AgentFactory) -> None:
    """The old default: no incident came within 24 h of a deployment, so CFR read 0 (elite)."""
    a = await agent(config(failure_window="24h"), clock=INCIDENT_NOW)
    await post(a, deployments("connect_incident_to_deployment", {}))
    await post(a, incidents(with_links=False))
    scrape = await a.scrape()
    w = {"window": "90d", **P1}
    assert value(scrape, "dora_change_failure_ratio", **w) == 0
    assert value(scrape, "dora_incidents_unattributed", **w) == 6
    # Not elite: six incidents tied to nothing could make it 1.0, so the level is unknown.
    assert value(scrape, "dora_performance_level", metric="change_failure_ratio", **w) is None
    unknown = {"metric": "change_failure_ratio", "reason": "unattributed_incidents", **w}
    assert value(scrape, "dora_performance_level_unknown", **unknown) == 1


# pagerduty / opsgenie -------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["pagerduty", "opsgenie"])
async def test_incident_duration(agent: AgentFactory, tool: str) -> None:
    issues = rows(f"{tool}/issues.csv")
    now = max(when(r["updated_date"]) for r in issues) + 3600
    a = await agent(config(), clock=now)
    events = [
        {
            "kind": "incident",
            "id": r["issue_key"],
            "service": tool,
            "environment": "production",
            "started_at": iso(when(r["created_date"])),
            "resolved_at": iso(when(r["resolution_date"])) if r["resolution_date"] else None,
        }
        for r in issues
    ]
    await post(a, events)
    scrape = await a.scrape()
    labels = {"service": tool, "environment": "production"}
    resolved = [r for r in issues if r["resolution_date"]]
    assert value(scrape, "dora_incidents_total", **labels) == len(issues)
    assert value(scrape, "dora_incidents_open", **labels) == len(issues) - len(resolved)
    (r,) = resolved
    seconds = when(r["resolution_date"]) - when(r["created_date"])
    median = value(scrape, "dora_time_to_restore_median_seconds", window="7d", **labels)
    assert median == pytest.approx(seconds)
    # DevLake stores whole minutes, truncated: 6 min for 368 s, 0 min for 53.487 s.
    assert int(median // MINUTE) == int(r["lead_time_minutes"])
