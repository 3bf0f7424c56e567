"""The `git` source: every tag matching `deploy_tags` in a local repository is a deployment.

A tag's deployment time is its creation date (the tagger date for annotated tags, the
commit date otherwise); its commits are those reachable from it and not from the previous
matching tag, dated by author time so rebases keep their lead time. The first tag has no
previous one: what it ships is a backlog, kept out of lead time (`before_history`). Tags
named like a hotfix, and ranges containing a revert, count as rework.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections import Counter
from pathlib import Path

from exporters.base import Clock, SourceError

from .config import DoraConfig, GitSource
from .records import (
    OUT_OF_RANGE,
    Batch,
    Deployment,
    OutOfRange,
    Record,
    ShippedCommit,
    in_range,
    is_revert,
)
from .store import Submit

log = logging.getLogger("opslens.dora.git")

MAX_COMMITS = 1000
FIELD = "\x1f"
RECORD = "\x1e"


async def git(path: str, *args: str) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            path,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise SourceError("git", "git is not installed") from None
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SourceError(
            "git", f"git {args[0]} failed: {err.decode(errors='replace').strip()[:300]}"
        )
    return out.decode(errors="replace")


def parse_tags(text: str, pattern: str) -> list[tuple[str, str, float]]:
    """`for-each-ref` output to (tag, commit sha, created) sorted oldest first."""
    tags = []
    for line in text.splitlines():
        parts = line.split(FIELD)
        if len(parts) != 4 or not fnmatch.fnmatchcase(parts[0], pattern):
            continue
        name, obj, peeled, created = parts
        if not created.strip():
            continue
        tags.append((name, peeled or obj, float(created)))
    return sorted(tags, key=lambda t: (t[2], t[0]))


def parse_log(text: str) -> list[ShippedCommit]:
    commits = []
    for entry in text.split(RECORD):
        parts = entry.strip("\n").split(FIELD)
        if len(parts) >= 3 and parts[0]:
            commits.append(ShippedCommit(parts[0], float(parts[1]), is_revert(parts[2])))
    return commits


class GitTagPoller:
    """Read deploy tags from a local repository into the store (idempotent per tag)."""

    exporter = "dora"

    def __init__(
        self, source: GitSource, dora: DoraConfig, submit: Submit, clock: Clock = time.time
    ):
        self.source = source
        self._clock = clock
        self.name = source.name
        self._interval = min(dora.poll_interval.seconds_f, 300.0)
        self._submit = submit
        self._done: set[str] = set()
        # Tags and commits dated outside the sane range, by reason, since the agent started.
        self.dropped: Counter[str] = Counter()

    @property
    def interval(self) -> float:
        return self._interval

    async def poll(self) -> None:
        await self.sync()

    async def backfill(self, since: float, progress: object = None) -> str:
        """Read every deploy tag: a local repository is cheap to read whole, whatever `since`."""
        return f"{await self.sync()} new tags"

    async def close(self) -> None:
        """Nothing to release: each git command is its own process."""

    def _sane(self, ts: float, what: str) -> bool:
        """Whether `ts` is in range; if not, the item is counted and logged as dropped."""
        try:
            in_range(ts, what, self._clock())
        except OutOfRange as exc:
            self.dropped[OUT_OF_RANGE] += 1
            log.warning("dora %s: dropped %s", self.name, exc)
            return False
        return True

    async def sync(self) -> int:
        path = str(Path(self.source.path).expanduser())
        fmt = FIELD.join(
            ["%(refname:short)", "%(objectname)", "%(*objectname)", "%(creatordate:unix)"]
        )
        text = await git(path, "for-each-ref", f"--format={fmt}", "refs/tags")
        tags = parse_tags(text, self.source.deploy_tags)
        records: list[Record] = []
        previous: str | None = None
        for name, sha, created in tags:
            if name not in self._done and self._sane(created, f"tag {name}"):
                span = f"{previous}..{sha}" if previous else sha
                text_log = await git(
                    path,
                    "log",
                    f"--max-count={MAX_COMMITS}",
                    f"--format=%H{FIELD}%at{FIELD}%s{RECORD}",
                    span,
                )
                commits = tuple(
                    c
                    for c in parse_log(text_log)
                    if c.committed_at is None or self._sane(c.committed_at, f"commit {c.sha}")
                )
                rework = "hotfix" in name.lower() or any(c.rework for c in commits)
                records.append(
                    Deployment(
                        f"git:{self.source.name}:{name}",
                        self.source.service,
                        self.source.environment,
                        "success",
                        created,
                        sha,
                        rework,
                        commits,
                    )
                )
            previous = sha
        if records:
            outcome = await self._submit(Batch(tuple(records), strict=False))
            if outcome.skipped:
                # e.g. the source's `environment` changed: its tags are stored under the old one.
                raise SourceError(
                    "conflict", f"{len(outcome.skipped)} tags skipped: {outcome.skipped[0].message}"
                )
        self._done.update(name for name, _, _ in tags)
        return len(records)
