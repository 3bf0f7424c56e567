"""The DORA event store: SQLite (WAL, synchronous=FULL) with group commit.

Every request waits for the transaction holding its records to commit, and concurrent
requests share one transaction, so durability costs one fsync per group, not per event.
Records are identified by service and key (the key names the source and its id): a
redelivered event changes nothing, the same id from another service is another event, and
a conflicting update is refused. Attribution (incident → deployment, commits → lead
times, failures → recoveries) is settled at write time, inside the same transaction, so
reads are plain aggregates. The rules are in exporters/dora/README.md#rules.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from exporters.base import Clock

from .records import (
    NEW_BRANCH,
    Batch,
    Commit,
    Coverage,
    Deployment,
    Incident,
    change_start,
    iso,
)
from .schema import (
    AFTER_DEPLOYMENT,
    BEFORE_HISTORY,
    PARAMETERS,
    PENDING,
    RECOVERED_BY_NEXT,
    RECOVERS_FAILURES,
    SchemaError,
    schema_version,
)
from .schema import migrate as _migrate

log = logging.getLogger("opslens.dora.store")

MAX_GROUP = 512
MAX_WALK = 1000  # commits walked back from a deployed SHA before giving up
DELIVERY_TTL = 30 * 86400.0  # GitHub and GitLab redeliver within days, not months
HEX = frozenset("0123456789abcdef")


# The identity of a deployment is (service, key); a repeat in another environment conflicts
# and changes nothing (RETURNING gives no row, and the caller reports the conflict).
# RETURNING also brings what the write path needs next, in the same statement (ingest is
# bound by statements per event): the previous successful deployment of the series (at
# the same instant: the one that arrived first), whether the service has any incident
# this deployment could become the cause of, and whether its series has failed before
# (most never do: then a success has no failure to recover). The subqueries take bound
# parameters, not the returned row, so that SQLite answers them from the indexes.
UPSERT_DEPLOYMENT = """
INSERT INTO deployments (key, service, environment, status, finished_at, sha, rework)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (service, key) DO UPDATE SET
    status = excluded.status,
    finished_at = excluded.finished_at,
    sha = coalesce(excluded.sha, deployments.sha),
    rework = max(deployments.rework, excluded.rework)
WHERE deployments.environment = excluded.environment
  AND excluded.status != 'pending'
  AND (deployments.status = 'pending'
       OR (deployments.status = 'failure' AND excluded.status = 'success'))
RETURNING id,
    (SELECT p.id FROM deployments p
     WHERE p.service = ?2 AND p.environment = ?3 AND p.status = 'success'
       AND p.finished_at <= ?5 AND p.key != ?1
     ORDER BY p.finished_at DESC, p.id DESC LIMIT 1),
    EXISTS (SELECT 1 FROM incidents WHERE service = ?2),
    (SELECT failed FROM series_totals WHERE service = ?2 AND environment = ?3)
"""

UPSERT_COMMIT = """
INSERT INTO commits (service, sha, committed_at, parent, rework, pull, head, started_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (service, sha) DO UPDATE SET
    committed_at = CASE
        WHEN commits.committed_at IS NULL THEN excluded.committed_at
        WHEN excluded.committed_at IS NULL THEN commits.committed_at
        ELSE min(commits.committed_at, excluded.committed_at) END,
    parent = coalesce(commits.parent, excluded.parent),
    rework = max(commits.rework, excluded.rework),
    pull = coalesce(commits.pull, excluded.pull),
    head = coalesce(commits.head, excluded.head),
    started_at = CASE
        WHEN commits.started_at IS NULL THEN excluded.started_at
        WHEN excluded.started_at IS NULL THEN commits.started_at
        ELSE min(commits.started_at, excluded.started_at) END
RETURNING committed_at, pull, head, started_at
"""

# A commit's lead time is set by the first successful deployment that shipped it; a
# pending row takes the time a later delivery of the same shipment brings.
UPSERT_LEAD_TIME = f"""
INSERT INTO lead_times (service, environment, sha, deployment_id, shipped_at, seconds, reason)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (service, environment, sha) DO UPDATE SET
    deployment_id = excluded.deployment_id,
    shipped_at = excluded.shipped_at,
    seconds = excluded.seconds,
    reason = excluded.reason
WHERE excluded.shipped_at < lead_times.shipped_at
   OR (excluded.shipped_at = lead_times.shipped_at AND lead_times.reason IS '{PENDING}'
       AND excluded.reason IS NOT '{PENDING}')
"""

# Deployments that finished at the same instant are ordered by arrival (id), so exactly
# one of them is the first of its series.
PREVIOUS = """
SELECT id, finished_at, sha FROM deployments
WHERE service = :service AND environment = :environment AND status = 'success'
  AND (finished_at < :finished OR (finished_at = :finished AND id < :id))
ORDER BY finished_at DESC, id DESC LIMIT 1
"""
FIRST = """
SELECT id FROM deployments WHERE service = ? AND environment = ? AND status = 'success'
ORDER BY finished_at, id LIMIT 1
"""

# Attribution by time, when a successful deployment arrives: it becomes the cause of the
# incidents that started after it and before the next successful deployment (within
# `failure_window`, when set) and name no cause of their own; and of those that name it.
RELINK = """
UPDATE incidents SET deployment_id = :id
WHERE (service = :service AND deployment_key = :key AND deployment_id IS NOT :id)
   OR (:success AND service = :service AND environment = :environment
       AND started_at >= :finished
       AND started_at < coalesce(
           (SELECT min(finished_at) FROM deployments
            WHERE service = :service AND environment = :environment AND status = 'success'
              AND finished_at > :finished), 1e300)
       AND (:window IS NULL OR started_at <= :finished + :window)
       AND deployment_key IS NULL AND root_cause IS NULL AND deployment_id IS NOT :id)
"""

RECOVERED_BY_NEXT_SQL = RECOVERED_BY_NEXT.format(**PARAMETERS)
RECOVERS_FAILURES_SQL = RECOVERS_FAILURES.format(**PARAMETERS)
INCIDENT_COLUMNS = "id, environment, started_at, resolved_at, deployment_key, root_cause"


class StoreError(Exception):
    """The store could not commit; the sender should retry (503)."""


class RejectedBatch(Exception):
    """One batch holds a value SQLite cannot take (a sender's error, 400); the rest commit."""


# Errors that come from a batch's values, not from the store: retrying cannot help.
DATA_ERRORS = (ValueError, OverflowError, TypeError, sqlite3.DataError)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the latest version; return it (StoreError if it is newer)."""
    try:
        return _migrate(conn)
    except SchemaError as exc:
        raise StoreError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Conflict:
    """A record that contradicts the stored one: `field` is the JSON path to name (409)."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one batch did: records that changed the store, a duplicate, or a conflict.

    A strict batch with a conflict changed nothing (`conflict` is set); a lenient one
    stored the rest and lists what it skipped in `skipped`.
    """

    changed: int = 0
    duplicate: bool = False
    conflict: Conflict | None = None
    skipped: tuple[Conflict, ...] = ()


# How ingest hands a batch to the store's group commit.
Submit = Callable[[Batch], Awaitable[Outcome]]


class Sink(Protocol):
    """What pollers need from the store: submit batches, read what a poll builds on."""

    async def submit(self, batch: Batch) -> Outcome: ...

    async def previous_sha(self, service: str, environment: str, before: float) -> str | None: ...

    async def pending_pulls(self, service: str) -> list[tuple[str, str]]: ...


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the store with the pragmas every connection needs."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def root_range(root: str) -> tuple[str, str]:
    """The SHAs a root cause names: [low, high). An abbreviated hex SHA names its extensions."""
    low = root.strip().lower()
    if 7 <= len(low) < 40 and set(low) <= HEX:
        return low, low[:-1] + chr(ord(low[-1]) + 1)
    return low, low + "\x00"  # exactly this string


T = TypeVar("T")


class EventStore:
    """Owns the write connection; `submit` group-commits, `write` commits synchronously."""

    def __init__(self, path: Path, failure_window: float | None = None, clock: Clock = time.time):
        self.path = path
        self.failure_window = failure_window
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dora-store")
        self._queue: asyncio.Queue[tuple[Batch, asyncio.Future[Outcome]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.on_commit: Callable[[], None] = lambda: None
        self.commits = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        before = schema_version(self._conn)
        migrate(self._conn)
        if 0 < before < 2:
            self._reattribute(self._conn)

    def _reattribute(self, conn: sqlite3.Connection) -> None:
        """Apply today's time attribution to incidents stored under schema 1 (24 h cap)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                """
                UPDATE incidents SET deployment_id = (
                    SELECT d.id FROM deployments d
                    WHERE d.service = incidents.service AND d.environment = incidents.environment
                      AND d.status = 'success' AND d.finished_at <= incidents.started_at
                      AND (:window IS NULL OR d.finished_at >= incidents.started_at - :window)
                    ORDER BY d.finished_at DESC LIMIT 1)
                WHERE deployment_key IS NULL AND root_cause IS NULL
                """,
                {"window": self.failure_window},
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def reader(self) -> sqlite3.Connection:
        return connect(self.path, readonly=True)

    async def start(self) -> None:
        if self._conn is None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self.open)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._committer(), name="dora-store-committer")

    async def stop(self) -> None:
        if self._task is not None:
            # Let acknowledged-to-be work finish: drain what is queued, then stop.
            while self._queue is not None and not self._queue.empty():
                await asyncio.sleep(0.01)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.get_running_loop().run_in_executor(self._executor, self.close)
        self._executor.shutdown(wait=True)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def submit(self, batch: Batch) -> Outcome:
        """Store a batch; return once its transaction has committed."""
        assert self._queue is not None, "store not started"
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((batch, future))
        # If the client goes away the future is cancelled; the batch is still committed.
        return await future

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        # On the writer's thread, between group commits: reads see every committed batch.
        conn = self._conn
        assert conn is not None, "store not open"
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, conn)

    async def previous_sha(self, service: str, environment: str, before: float) -> str | None:
        """The SHA of the last successful deployment of the series before `before`."""

        def read(conn: sqlite3.Connection) -> str | None:
            where = {"service": service, "environment": environment, "finished": before}
            row = conn.execute(PREVIOUS, {**where, "id": -1}).fetchone()
            return None if row is None else row[2]

        return await self._read(read)

    async def pending_pulls(self, service: str) -> list[tuple[str, str]]:
        """(merge SHA, pull number) of shipped commits waiting for their request's start."""

        def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT DISTINCT c.sha, c.pull FROM lead_times l "
                "JOIN commits c ON c.service = l.service AND c.sha = l.sha "
                f"WHERE l.service = ? AND l.reason = '{PENDING}' "
                "AND c.pull IS NOT NULL AND c.started_at IS NULL ORDER BY c.sha",
                (service,),
            ).fetchall()
            return [(str(sha), str(pull)) for sha, pull in rows]

        return await self._read(read)

    async def _committer(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            group = [await self._queue.get()]
            while len(group) < MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
            batches = [batch for batch, _ in group]
            try:
                results: list[Outcome | Exception] = await loop.run_in_executor(
                    self._executor, self._write_isolated, batches
                )
            except Exception as exc:  # the commit itself failed: nobody is acknowledged
                log.error("DORA store commit failed: %s", exc)
                results = [StoreError(str(exc))] * len(group)
            for (_, future), result in zip(group, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            self.on_commit()

    def write(self, batches: Sequence[Batch]) -> list[Outcome]:
        """Store batches in one transaction (backfill, tests); raise on any failure."""
        results = self._write_isolated(batches)
        for result in results:
            if isinstance(result, Exception):
                raise result
        self.on_commit()
        return results  # type: ignore[return-value]

    def _write_isolated(self, batches: Sequence[Batch]) -> list[Outcome | Exception]:
        """One transaction for all; if any batch fails, redo them one savepoint each."""
        conn = self._conn
        assert conn is not None, "store not open"
        conn.execute("BEGIN IMMEDIATE")
        try:
            try:
                results: list[Outcome | Exception] = [self._apply(conn, b) for b in batches]
            except (sqlite3.Error, *DATA_ERRORS):
                # Rare (a value SQLite cannot encode, a bug, a full disk): isolate the bad
                # batch so the others still land.
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                results = [self._apply_alone(conn, b) for b in batches]
            if self.commits % 1000 == 0:
                cutoff = self._clock() - DELIVERY_TTL
                conn.execute("DELETE FROM deliveries WHERE received_at < ?", (cutoff,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.commits += 1
        return results

    def _apply_alone(self, conn: sqlite3.Connection, batch: Batch) -> Outcome | Exception:
        conn.execute("SAVEPOINT batch")
        try:
            outcome = self._apply(conn, batch)
        except DATA_ERRORS as exc:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            log.warning("DORA store refused a batch it cannot encode: %s", exc)
            return RejectedBatch(f"a value cannot be stored: {str(exc)[:200]}")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            log.error("DORA store rejected a batch: %s", exc)
            return StoreError(str(exc))
        conn.execute("RELEASE batch")
        return outcome

    def _apply(self, conn: sqlite3.Connection, batch: Batch) -> Outcome:
        if (
            batch.delivery is not None
            and conn.execute("SELECT 1 FROM deliveries WHERE key = ?", (batch.delivery,)).fetchone()
        ):
            return Outcome(0, duplicate=True)
        # One record cannot have written anything before its own conflict is found; more
        # than one need a savepoint so a strict batch stays all or nothing.
        guarded = batch.strict and len(batch.records) > 1
        if guarded:
            conn.execute("SAVEPOINT strict")
        changed = 0
        skipped: list[Conflict] = []
        for n, record in enumerate(batch.records):
            result = self._record(conn, record)
            if isinstance(result, Conflict):
                where = batch.paths[n] if n < len(batch.paths) else ""
                conflict = Conflict(
                    f"{where}.{result.field}" if where else result.field, result.message
                )
                if batch.strict:
                    if guarded:
                        conn.execute("ROLLBACK TO strict")
                        conn.execute("RELEASE strict")
                    return Outcome(0, conflict=conflict)
                log.warning("DORA store skipped a record: %s: %s", conflict.field, conflict.message)
                skipped.append(conflict)
                continue
            changed += result
        if guarded:
            conn.execute("RELEASE strict")
        if batch.delivery is not None:
            conn.execute(
                "INSERT INTO deliveries (key, received_at) VALUES (?, ?)",
                (batch.delivery, self._clock()),
            )
        return Outcome(changed, skipped=tuple(skipped))

    def _record(self, conn: sqlite3.Connection, record: object) -> int | Conflict:
        if isinstance(record, Deployment):
            return self._deployment(conn, record)
        if isinstance(record, Incident):
            return self._incident(conn, record)
        if isinstance(record, Commit):
            return self._commit(conn, record)
        if isinstance(record, Coverage):
            return self._cover(conn, record)
        raise TypeError(f"not a DORA record: {record!r}")

    # Deployments ---------------------------------------------------------------------

    def _deployment(self, conn: sqlite3.Connection, d: Deployment) -> int | Conflict:
        row = conn.execute(
            UPSERT_DEPLOYMENT,
            (d.key, d.service, d.environment, d.status, d.finished_at, d.sha, d.rework),
        ).fetchone()
        if row is None:
            existing = conn.execute(
                "SELECT id, status, finished_at, environment FROM deployments "
                "WHERE service = ? AND key = ?",
                (d.service, d.key),
            ).fetchone()
            if existing[3] != d.environment:
                return Conflict(
                    "environment",
                    f"deployment {_show(d.key)} of service {d.service!r} is stored in "
                    f"environment {existing[3]!r}, not {d.environment!r}",
                )
            # Unchanged deployment; a poller may still bring the commits a webhook lacked.
            if d.commits and existing[1] == "success":
                before = conn.execute(
                    PREVIOUS,
                    {
                        "service": d.service,
                        "environment": d.environment,
                        "finished": existing[2],
                        "id": existing[0],
                    },
                ).fetchone()
                self._ship(conn, existing[0], d, existing[2], before[0] if before else None)
            return 0
        deployment_id, previous, has_incidents, failed = row
        # Failed deployment recovery (inserts only; status updates are schema triggers).
        if d.status == "failure" or (d.status == "success" and failed):
            conn.execute(
                RECOVERED_BY_NEXT_SQL if d.status == "failure" else RECOVERS_FAILURES_SQL,
                {
                    "id": deployment_id,
                    "service": d.service,
                    "environment": d.environment,
                    "finished": d.finished_at,
                },
            )
        if d.status == "success":
            self._ship(conn, deployment_id, d, d.finished_at, previous)
        if has_incidents:
            conn.execute(
                RELINK,
                {
                    "id": deployment_id,
                    "key": d.key,
                    "success": d.status == "success",
                    "service": d.service,
                    "environment": d.environment,
                    "finished": d.finished_at,
                    "window": self.failure_window,
                },
            )
            if d.status == "success":
                self._relink_root_causes(conn, d.service, d.environment)
        return 1

    def _ship(
        self,
        conn: sqlite3.Connection,
        deployment_id: int,
        d: Deployment,
        at: float,
        previous: int | None,
    ) -> None:
        """Record the lead time of every commit the deployment ships (or why it has none).

        `previous` is the id of the series' previous successful deployment (None: first).
        """
        if d.commits is not None:
            shipped = [
                (c.sha, self._learn(conn, c), c.rework)
                if isinstance(c, Commit)
                else (c.sha, c.committed_at, c.rework)
                for c in d.commits
            ]
        else:
            stop = None
            if previous is not None:
                (stop,) = conn.execute(
                    "SELECT sha FROM deployments WHERE id = ?", (previous,)
                ).fetchone()
            shipped = self._walk(conn, d, at, stop)
        first = previous is None
        since = self._since(conn, d.service, d.environment) if first else None
        rows = []
        rejected: dict[str, int] = {}
        for sha, start, _ in shipped:
            seconds, reason = self._judge(at, start, first, since)
            if reason is not None:
                rejected[reason] = rejected.get(reason, 0) + 1
            rows.append((d.service, d.environment, sha, deployment_id, at, seconds, reason))
        if len(rows) == 1:  # the common generic event: execute() costs less than executemany()
            conn.execute(UPSERT_LEAD_TIME, rows[0])
        else:
            conn.executemany(UPSERT_LEAD_TIME, rows)
        if rejected:
            log.info(
                "deployment %s of %s/%s: commits without a lead time: %s",
                d.key,
                d.service,
                d.environment,
                ", ".join(f"{n} {reason}" for reason, n in sorted(rejected.items())),
            )
        if not d.rework and any(rework for _, _, rework in shipped):
            conn.execute("UPDATE deployments SET rework = 1 WHERE id = ?", (deployment_id,))
        if first:
            # This deployment may have taken the place of the series' first one.
            self._reconsider_history(conn, d.service, d.environment)

    @staticmethod
    def _judge(
        at: float, start: float | None, first: bool, since: float | None
    ) -> tuple[float | None, str | None]:
        """The lead time of a commit shipped at `at`, or why it has none."""
        seconds = None if start is None else at - start
        if seconds is not None and seconds < 0:
            return seconds, AFTER_DEPLOYMENT
        if first and (since is None or (start is not None and start < since)):
            # The first deployment seen ships a backlog no earlier deployment can be
            # ruled out for, unless history (a poll or backfill) covers its commits.
            return seconds, BEFORE_HISTORY
        if seconds is None:
            return None, PENDING
        return seconds, None

    @staticmethod
    def _since(conn: sqlite3.Connection, service: str, environment: str) -> float | None:
        row = conn.execute(
            "SELECT since FROM history WHERE service = ? AND environment = ?",
            (service, environment),
        ).fetchone()
        return None if row is None else float(row[0])

    def _reconsider_history(self, conn: sqlite3.Connection, service: str, environment: str) -> None:
        """Readmit commits rejected as before_history that history or a predecessor covers."""
        first = conn.execute(FIRST, (service, environment)).fetchone()
        since = self._since(conn, service, environment)
        conn.execute(
            f"""
            UPDATE lead_times SET reason = CASE WHEN seconds IS NULL THEN '{PENDING}' END
            WHERE service = :service AND environment = :environment
              AND reason = '{BEFORE_HISTORY}'
              AND (deployment_id IS NOT :first
                   OR (:since IS NOT NULL
                       AND (seconds IS NULL OR shipped_at - seconds >= :since)))
            """,
            {
                "service": service,
                "environment": environment,
                "first": first[0] if first else None,
                "since": since,
            },
        )

    def _walk(
        self, conn: sqlite3.Connection, d: Deployment, at: float, stop: str | None
    ) -> list[tuple[str, float | None, bool]]:
        """Commits from the deployed SHA back along first parents to the last shipped one."""
        if not d.sha:
            return []
        out: list[tuple[str, float | None, bool]] = []
        sha: str | None = d.sha
        seen: set[str] = set()
        while sha and sha != stop and sha not in seen and len(seen) < MAX_WALK:
            seen.add(sha)
            row = conn.execute(
                "SELECT committed_at, parent, rework, pull, head, started_at FROM commits "
                "WHERE service = ? AND sha = ?",
                (d.service, sha),
            ).fetchone()
            if row is None:
                break
            shipped = conn.execute(
                "SELECT shipped_at FROM lead_times "
                "WHERE service = ? AND environment = ? AND sha = ?",
                (d.service, d.environment, sha),
            ).fetchone()
            if shipped is not None and shipped[0] < at:
                break
            committed, parent, rework, pull, head, started = row
            if pull is not None and started is None and head:
                started = self._branch_start(conn, d.service, str(head), sha)
            out.append((sha, change_start(committed, started, pull is not None), bool(rework)))
            sha = parent
        return out

    # Commits and coverage ------------------------------------------------------------

    def _commit(self, conn: sqlite3.Connection, c: Commit) -> int:
        start = self._learn(conn, c)
        if start is not None:
            self._resolve_pending(conn, c.service, c.sha, start)
        return 1

    def _learn(self, conn: sqlite3.Connection, c: Commit) -> float | None:
        """Merge what a source says about a commit with what is stored; return its start."""
        committed, pull, head, started = conn.execute(
            UPSERT_COMMIT,
            (
                c.service,
                c.sha,
                c.committed_at,
                c.parent,
                c.rework,
                c.pull,
                c.head,
                c.started_at,
            ),
        ).fetchone()
        if pull is not None and started is None and head:
            started = self._branch_start(conn, c.service, str(head), c.sha)
        return change_start(committed, started, pull is not None)

    def _branch_start(
        self, conn: sqlite3.Connection, service: str, head: str, merge: str
    ) -> float | None:
        """The first commit time of a request's branch, walked back from its head.

        Branch pushes chain each commit to its first parent, and a new branch's first
        commit has the parent NEW_BRANCH. Only a walk that reaches it has seen the whole
        branch; any gap (an unknown commit or parent) leaves the start unknown.
        """
        earliest: float | None = None
        sha: str | None = head
        seen: set[str] = set()
        while sha and sha not in seen and len(seen) < MAX_WALK:
            seen.add(sha)
            row = conn.execute(
                "SELECT committed_at, parent FROM commits WHERE service = ? AND sha = ?",
                (service, sha),
            ).fetchone()
            if row is None or row[0] is None:
                return None
            earliest = row[0] if earliest is None else min(earliest, row[0])
            sha = row[1]
        if sha != NEW_BRANCH:
            return None
        if earliest is not None:
            conn.execute(
                "UPDATE commits SET started_at = ? WHERE service = ? AND sha = ?",
                (earliest, service, merge),
            )
        return earliest

    def _resolve_pending(
        self, conn: sqlite3.Connection, service: str, sha: str, start: float
    ) -> None:
        """Give the shipments that waited for this commit's time their lead time."""
        rows = conn.execute(
            "SELECT environment, deployment_id, shipped_at FROM lead_times "
            f"WHERE service = ? AND sha = ? AND reason = '{PENDING}'",
            (service, sha),
        ).fetchall()
        for environment, deployment_id, shipped_at in rows:
            first = conn.execute(FIRST, (service, environment)).fetchone()
            is_first = first is not None and first[0] == deployment_id
            since = self._since(conn, service, environment) if is_first else None
            seconds, reason = self._judge(shipped_at, start, is_first, since)
            conn.execute(
                "UPDATE lead_times SET seconds = ?, reason = ? "
                "WHERE service = ? AND environment = ? AND sha = ?",
                (seconds, reason, service, environment, sha),
            )

    def _cover(self, conn: sqlite3.Connection, c: Coverage) -> int:
        row = conn.execute(
            "INSERT INTO history (service, environment, since) VALUES (?, ?, ?) "
            "ON CONFLICT DO UPDATE SET since = excluded.since "
            "WHERE excluded.since < history.since RETURNING since",
            (c.service, c.environment, c.since),
        ).fetchone()
        if row is not None:
            self._reconsider_history(conn, c.service, c.environment)
        return 0

    # Incidents -----------------------------------------------------------------------

    def _cause(
        self,
        conn: sqlite3.Connection,
        service: str,
        environment: str,
        started: float,
        deployment_key: str | None,
        root: tuple[str, str] | None,
    ) -> int | None:
        """The deployment an incident is tied to: named, else by root cause, else by time."""
        if deployment_key is not None:
            row = conn.execute(
                "SELECT id FROM deployments WHERE service = ? AND key = ?",
                (service, deployment_key),
            ).fetchone()
        elif root is not None:
            row = (
                conn.execute(
                    "SELECT deployment_id FROM lead_times WHERE service = ? AND environment = ? "
                    "AND sha >= ? AND sha < ? ORDER BY shipped_at LIMIT 1",
                    (service, environment, *root),
                ).fetchone()
                or conn.execute(
                    "SELECT id FROM deployments WHERE service = ? AND environment = ? "
                    "AND status = 'success' AND sha >= ? AND sha < ? ORDER BY finished_at LIMIT 1",
                    (service, environment, *root),
                ).fetchone()
            )
        else:
            row = conn.execute(
                "SELECT id FROM deployments WHERE service = ? AND environment = ? "
                "AND status = 'success' AND finished_at <= ? "
                "AND (? IS NULL OR finished_at >= ? - ?) ORDER BY finished_at DESC LIMIT 1",
                (service, environment, started, self.failure_window, started, self.failure_window),
            ).fetchone()
        return None if row is None else int(row[0])

    def _relink_root_causes(self, conn: sqlite3.Connection, service: str, environment: str) -> None:
        """Re-tie incidents naming a commit: a new deployment may be the one that shipped it."""
        rows = conn.execute(
            "SELECT id, root_cause, root_upper, deployment_id, started_at FROM incidents "
            "WHERE service = ? AND environment = ? AND root_cause IS NOT NULL",
            (service, environment),
        ).fetchall()
        for incident_id, low, high, current, started in rows:
            cause = self._cause(conn, service, environment, started, None, (low, high))
            if cause != current:
                conn.execute(
                    "UPDATE incidents SET deployment_id = ? WHERE id = ?", (cause, incident_id)
                )

    def _incident(self, conn: sqlite3.Connection, i: Incident) -> int | Conflict:
        root = root_range(i.root_cause) if i.root_cause else None
        old = conn.execute(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE service = ? AND key = ?",
            (i.service, i.key),
        ).fetchone()
        if old is None:
            conn.execute(
                "INSERT INTO incidents (key, service, environment, started_at, resolved_at, "
                "restored, deployment_key, deployment_id, root_cause, root_upper) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    i.key,
                    i.service,
                    i.environment,
                    i.started_at,
                    i.resolved_at,
                    None if i.resolved_at is None else i.resolved_at - i.started_at,
                    i.deployment_key,
                    self._cause(
                        conn, i.service, i.environment, i.started_at, i.deployment_key, root
                    ),
                    root[0] if root else None,
                    root[1] if root else None,
                ),
            )
            return 1
        incident_id, environment, started, resolved, deployment_key, root_cause = old
        # An incident gains its resolved_at once; a later, different one is ignored (as
        # Alertmanager may resend), so it is not part of what can conflict.
        stored = {
            "environment": environment,
            "started_at": started,
            "deployment_id": deployment_key,
            "root_cause": root_cause,
        }
        given = {
            "environment": i.environment,
            "started_at": i.started_at,
            "deployment_id": i.deployment_key,
            "root_cause": root[0] if root else None,
        }
        for name, value in given.items():
            before = stored[name]
            # What the incident already says cannot change; what it did not say can be added.
            if value is not None and before is not None and value != before:
                return Conflict(
                    name,
                    f"incident {_show(i.key)} of service {i.service!r} is stored with {name} "
                    f"{_show(before)}, not {_show(value)}",
                )
        changes: dict[str, Any] = {}
        if resolved is None and i.resolved_at is not None:
            changes |= {"resolved_at": i.resolved_at, "restored": i.resolved_at - started}
        named = deployment_key is not None or root_cause is not None
        if not named and (i.deployment_key is not None or root is not None):
            changes |= {
                "deployment_key": i.deployment_key,
                "root_cause": root[0] if root else None,
                "root_upper": root[1] if root else None,
                "deployment_id": self._cause(
                    conn, i.service, environment, started, i.deployment_key, root
                ),
            }
        if not changes:
            return 0
        assignments = ", ".join(f"{column} = :{column}" for column in changes)
        conn.execute(
            f"UPDATE incidents SET {assignments} WHERE id = :id", {**changes, "id": incident_id}
        )
        return 1


def _show(value: object) -> str:
    """A stored value as the sender wrote it: times in RFC 3339, generic ids without prefix."""
    if isinstance(value, float):
        return iso(value)
    if isinstance(value, str) and value.startswith("events:"):
        return repr(value.removeprefix("events:"))
    return repr(value)
