"""One lead-time rule for webhooks, pollers, backfill and generic events; no distortions.

A change starts at its first commit: a pull request's merge or squash commit is dated
from the PR's first commit, whoever reports it. The first deployment seen ships a backlog
that counts only where history covers it; a commit dated after its deployment is
rejected and counted, never given 0 s.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from pathlib import Path
from typing import Any

from agent.config import parse
from exporters.base import Context
from exporters.dora.backfill import backfill
from exporters.dora.config import Levels
from exporters.dora.forge import GitHubPoller
from exporters.dora.ingest import Ingestor
from exporters.dora.records import Batch, Coverage, Deployment, ShippedCommit
from exporters.dora.snapshot import Snapshot, compute
from exporters.dora.store import EventStore

from .fakes import FakeCommit, FakeDeployment, Forge, GitHubFake, iso

NOW = 1_800_000_000.0
DAY = 86400.0
HOUR = 3600.0
SECRET = "hook-secret"
SERIES = ("api", "production")


def sha(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


# One history. Main: m0, s1 (squash of PR 1), d1 (direct), s2 (squash of PR 2), f1 (its
# clock is ahead: dated after the deployment that ships it), s3 (squash of PR 3).
BRANCHES = {
    1: [("b11", -15 * DAY), ("b12", -14 * DAY)],
    2: [("b21", -8 * DAY), ("b22", -7 * DAY)],
    3: [("b31", -4 * DAY)],
}
MAIN = [
    ("m0", -30 * DAY, "Initial import"),
    ("s1", -12 * DAY, "Feature one (#1)"),
    ("d1", -11 * DAY, "Direct fix"),
    ("s2", -6 * DAY, "Feature two (#2)"),
    ("f1", -2 * DAY + 2 * HOUR, "Commit from a machine whose clock is ahead"),
    ("s3", -3 * DAY, "Feature three (#3)"),
]
# (deployment id, deployed commit, status, finished)
DEPLOYS = [
    (10, "m0", "success", -25 * DAY),  # first deployment: m0 is a backlog
    (11, "d1", "success", -10 * DAY),  # s1 (PR 1 from b11: 5d), d1 (1d)
    (12, "s2", "failure", -5 * DAY),
    (13, "s2", "success", -4 * DAY),  # s2 (PR 2 from b21: 4d)
    (14, "s3", "success", -2 * DAY),  # f1 after the deployment; s3 (PR 3 from b31: 2d)
]
EXPECTED_LEAD = {"s1": 5 * DAY, "d1": DAY, "s2": 4 * DAY, "s3": 2 * DAY}
BACKFILL = 28 * DAY  # reaches D10 but not m0's commit time: m0 is before history


def forge() -> Forge:
    branch = [
        FakeCommit(sha(name), NOW + at, f"{name} work") for c in BRANCHES.values() for name, at in c
    ]
    main = [FakeCommit(sha(name), NOW + at, message) for name, at, message in MAIN]
    deployments = [
        FakeDeployment(n, sha(commit), "production", NOW + at - 600, [(status, NOW + at)])
        for n, commit, status, at in DEPLOYS
    ]
    # Branch commits sit before m0 so that no compare between main commits lists them.
    return Forge(
        branch + main,
        deployments,
        pulls={n: [sha(name) for name, _ in c] for n, c in BRANCHES.items()},
        pull_of={sha(f"s{n}"): n for n in BRANCHES},
    )


def config_text(url: str) -> str:
    return (
        "version: 1\nproject: t\ndora:\n  sources:\n"
        "    - {type: github, name: gh, repo: acme/api, service: api, token_env: GH_TOKEN, "
        f"webhook_secret_env: GH_HOOK, api_url: '{url}'}}\n"
    )


def context(data_dir: Path) -> Context:
    return Context(
        data_dir=data_dir, clock=lambda: NOW, env={"GH_TOKEN": "gh-token", "GH_HOOK": SECRET}
    )


def push(ref: str, before: str, commits: list[tuple[str, float, str]]) -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{ref}",
        "before": before,
        "deleted": False,
        "repository": {"full_name": "acme/api"},
        "commits": [
            {"id": sha(name), "timestamp": iso(NOW + at), "message": message}
            for name, at, message in commits
        ],
    }


def merged(number: int) -> dict[str, Any]:
    head = BRANCHES[number][-1][0]
    return {
        "action": "closed",
        "number": number,
        "pull_request": {
            "number": number,
            "merged": True,
            "merge_commit_sha": sha(f"s{number}"),
            "created_at": iso(NOW - 20 * DAY),  # ignored: lead time starts at the first commit
            "labels": [],
            "head": {"ref": f"pr{number}", "sha": sha(head)},
        },
        "repository": {"full_name": "acme/api"},
    }


def deployment_status(n: int, commit: str, status: str, at: float) -> dict[str, Any]:
    return {
        "deployment_status": {
            "state": status,
            "environment": "production",
            "created_at": iso(NOW + at),
        },
        "deployment": {
            "id": n,
            "sha": sha(commit),
            "ref": "main",
            "environment": "production",
            "created_at": iso(NOW + at - 600),
        },
        "repository": {"full_name": "acme/api"},
    }


def webhooks(deliver_pr3_branch: bool) -> list[tuple[str, dict[str, Any]]]:
    zero = "0" * 40
    main = {name: (name, at, message) for name, at, message in MAIN}
    deploys = {n: deployment_status(n, c, s, at) for n, c, s, at in DEPLOYS}
    branch_pushes = {
        n: push(f"pr{n}", zero, [(name, at, f"{name} work") for name, at in commits])
        for n, commits in BRANCHES.items()
    }
    events = [
        ("push", push("main", zero, [main["m0"]])),
        ("deployment_status", deploys[10]),
        ("push", branch_pushes[1]),
        ("pull_request", merged(1)),
        ("push", push("main", sha("m0"), [main["s1"], main["d1"]])),
        ("deployment_status", deploys[11]),
        ("push", branch_pushes[2]),
        ("pull_request", merged(2)),
        ("push", push("main", sha("d1"), [main["s2"]])),
        ("deployment_status", deploys[12]),
        ("deployment_status", deploys[13]),
        ("pull_request", merged(3)),
        ("push", push("main", sha("s2"), [main["f1"], main["s3"]])),
        ("deployment_status", deploys[14]),
    ]
    if deliver_pr3_branch:
        events.insert(11, ("push", branch_pushes[3]))
    return events


async def deliver(store: EventStore, text: str, data_dir: Path, deliver_pr3: bool) -> None:
    ingestor = Ingestor(parse(text).dora, context(data_dir), store.submit)
    for n, (event, payload) in enumerate(webhooks(deliver_pr3)):
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": f"d-{n}",
            "X-Hub-Signature-256": signature,
        }
        reply = await ingestor.github(headers, body)
        assert reply.status == 200, (event, reply)


def snapshot(data_dir: Path) -> Snapshot:
    store = EventStore(data_dir / "dora" / "events.db")
    return compute(store.reader(), NOW, {"production"}, Levels(), incident_source=False)


def lead_rows(data_dir: Path) -> dict[str, tuple[float | None, str | None]]:
    names = {sha(name): name for name, _, _ in MAIN}
    store = EventStore(data_dir / "dora" / "events.db")
    rows = store.reader().execute("SELECT sha, seconds, reason FROM lead_times").fetchall()
    return {names[s]: (seconds, reason) for s, seconds, reason in rows}


async def test_webhooks_and_poller_give_identical_metrics(tmp_path: Path) -> None:
    with GitHubFake("acme/api", forge()) as fake:
        text = config_text(fake.url)
        hooks, polled = tmp_path / "webhooks", tmp_path / "poller"

        # 1. Webhooks only; PR 3's branch pushes never arrived, so s3 waits for its start.
        store = EventStore(hooks / "dora" / "events.db", clock=lambda: NOW)
        await store.start()
        await deliver(store, text, hooks, deliver_pr3=False)
        waiting = snapshot(hooks)
        assert waiting.gauges["dora_lead_time_pending"][SERIES] == 1
        assert lead_rows(hooks)["s3"] == (None, "pending")
        # ... until the poller of the same source completes it from the API.
        poller = GitHubPoller(parse(text).dora.sources[0], parse(text).dora, context(hooks), store)  # type: ignore[arg-type]
        assert await poller.complete() == 1
        await poller.close()
        await store.stop()

        # 2. The poller alone, by `opslens backfill dora`.
        out = io.StringIO()
        assert await backfill(parse(text).dora, context(polled), BACKFILL, out) == 0, out.getvalue()

    expected = {
        **{name: (seconds, None) for name, seconds in EXPECTED_LEAD.items()},
        "m0": (5 * DAY, "before_history"),
        "f1": (-2 * HOUR, "after_deployment"),
    }
    assert lead_rows(hooks) == lead_rows(polled) == expected
    by_hook, by_poll = snapshot(hooks), snapshot(polled)
    assert by_hook.counters == by_poll.counters
    assert by_hook.histograms == by_poll.histograms
    assert by_hook.gauges == by_poll.gauges
    medians = by_hook.gauges["dora_lead_time_median_seconds"]
    assert medians[(*SERIES, "7d")] == 3 * DAY  # s3 2d, s2 4d
    assert medians[(*SERIES, "30d")] == 3 * DAY  # also d1 1d, s1 5d
    assert by_hook.counters["dora_lead_time_rejected"] == {
        (*SERIES, "after_deployment"): 1,
        (*SERIES, "before_history"): 1,
    }


async def test_a_webhook_pr_is_dated_from_its_branch_when_pushes_arrived(tmp_path: Path) -> None:
    with GitHubFake("acme/api", forge()) as fake:
        text = config_text(fake.url)
        store = EventStore(tmp_path / "dora" / "events.db", clock=lambda: NOW)
        await store.start()
        await deliver(store, text, tmp_path, deliver_pr3=True)
        await store.stop()
        assert fake.hits == []  # no API call was needed
    assert lead_rows(tmp_path)["s3"] == (2 * DAY, None)
    assert snapshot(tmp_path).gauges["dora_lead_time_pending"][SERIES] == 0


def dep(key: str, at: float, commits: list[tuple[str, float]]) -> Deployment:
    return Deployment(
        key,
        "svc",
        "production",
        "success",
        NOW + at,
        None,
        False,
        tuple(ShippedCommit(name, NOW + t) for name, t in commits),
    )


def store_rows(store: EventStore) -> dict[str, tuple[float | None, str | None]]:
    rows = store.reader().execute("SELECT sha, seconds, reason FROM lead_times").fetchall()
    return {s: (seconds, reason) for s, seconds, reason in rows}


def rejected(store: EventStore) -> tuple[int, int]:
    snap = compute(store.reader(), NOW, {"production"}, Levels())
    counts = snap.counters["dora_lead_time_rejected"]
    return counts[("svc", "production", "before_history")], counts[
        ("svc", "production", "after_deployment")
    ]


def test_the_first_deployments_backlog_counts_once_history_covers_it(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.db", clock=lambda: NOW)
    store.open()
    # Webhooks brought the first deployment seen: a 455-day-old commit is a backlog.
    store.write([Batch((dep("d2", -10 * DAY, [("old", -465 * DAY), ("new", -11 * DAY)]),))])
    assert store_rows(store) == {
        "old": (455 * DAY, "before_history"),
        "new": (DAY, "before_history"),
    }
    assert rejected(store) == (2, 0)
    # A backfill covering the last 30 days: `new` is covered, `old` is not.
    store.write([Batch((Coverage("svc", "production", NOW - 30 * DAY),))])
    assert store_rows(store) == {"old": (455 * DAY, "before_history"), "new": (DAY, None)}
    # ... and one that finds an earlier deployment: d2 is no longer the first.
    store.write([Batch((dep("d1", -40 * DAY, [("older", -41 * DAY)]),))])
    assert store_rows(store) == {
        "old": (455 * DAY, None),
        "new": (DAY, None),
        "older": (DAY, "before_history"),
    }
    # A rejection is counted once and stays counted: the counter never goes down.
    assert rejected(store) == (3, 0)


def test_a_commit_dated_after_its_deployment_is_rejected_not_zero(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.db", clock=lambda: NOW)
    store.open()
    store.write([Batch((dep("d1", -5 * DAY, [("a", -6 * DAY)]),))])
    store.write([Batch((dep("d2", -2 * DAY, [("b", -3 * DAY), ("skewed", -2 * DAY + 60)]),))])
    rows = store_rows(store)
    assert rows["skewed"] == (-60.0, "after_deployment")
    assert rows["b"] == (DAY, None)
    assert rejected(store) == (1, 1)
    snap = compute(store.reader(), NOW, {"production"}, Levels())
    histogram = snap.histograms["dora_lead_time_seconds"][("svc", "production")]
    assert (histogram.count, histogram.sum) == (1, DAY)  # b only: not a 0 s sample
    assert snap.gauges["dora_lead_time_median_seconds"][("svc", "production", "7d")] == DAY
