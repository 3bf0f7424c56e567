"""The DORA event store: SQLite (WAL, synchronous=FULL) with group commit.

Every request waits for the transaction holding its records to commit, and concurrent
requests share one transaction, so durability costs one fsync per group, not per event.
Natural keys make writes idempotent: a redelivered event changes nothing. Attribution
(incident → deployment, commits → lead times) is settled at write time, inside the same
transaction, so reads are plain aggregates.
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

from exporters.base import Clock

from .records import Batch, Commit, Deployment, Incident

log = logging.getLogger("opslens.dora.store")

MAX_GROUP = 512
MAX_WALK = 1000  # commits walked back from a deployed SHA before giving up
DELIVERY_TTL = 30 * 86400.0  # GitHub and GitLab redeliver within days, not months

# DORA-aligned histogram buckets (seconds): 1 hour, 1 day, 1 week, 30 days, 180 days.
BUCKETS: tuple[float, ...] = (3600.0, 86400.0, 604800.0, 2592000.0, 15552000.0)


def _bucket_columns(prefix: str) -> str:
    return ", ".join(
        f"{prefix}_b{i} INTEGER NOT NULL DEFAULT 0" for i in range(1, len(BUCKETS) + 1)
    )


# What one deployment row adds to its series' totals (pending deployments add nothing).
_DEPLOYMENT_TERMS = {
    "deployments": "({r}.status != 'pending')",
    "failed": "({r}.status = 'failure')",
    "change_failures": "({r}.status = 'failure' OR ({r}.status = 'success' AND {r}.incidents > 0))",
    "rework": "({r}.status != 'pending' AND {r}.rework != 0)",
}


_DAY_TERMS = {
    "deployments": _DEPLOYMENT_TERMS["deployments"],
    "succeeded": "({r}.status = 'success')",
    "change_failures": _DEPLOYMENT_TERMS["change_failures"],
    "rework": _DEPLOYMENT_TERMS["rework"],
}
_DAY = "CAST({r}.finished_at / 86400 AS INTEGER)"
_LAST = "max(coalesce({old}, {new}), coalesce({new}, {old}))"  # max() that ignores NULL
_TOTAL_TERMS = {
    **_DEPLOYMENT_TERMS,
    "last_deployment": "CASE WHEN {r}.status = 'success' THEN {r}.finished_at END",
}
_LEAD_TERMS = {
    "lead_count": "1",
    "lead_sum": "{r}.seconds",
    **{f"lead_b{i}": f"({{r}}.seconds <= {b!r})" for i, b in enumerate(BUCKETS, start=1)},
}
_INCIDENT_TERMS = {
    "incidents": "1",
    "open": "({r}.restored IS NULL)",
    "restore_count": "({r}.restored IS NOT NULL)",
    "restore_sum": "coalesce({r}.restored, 0)",
    **{
        f"restore_b{i}": f"coalesce({{r}}.restored <= {b!r}, 0)"
        for i, b in enumerate(BUCKETS, start=1)
    },
}
_NEW_LAST = _TOTAL_TERMS["last_deployment"].format(r="NEW")
_RESOLVE_TERMS = {k: v for k, v in _INCIDENT_TERMS.items() if k != "incidents"}
_KEYS = {"environment": "{r}.environment", "service": "{r}.service", "day": _DAY}


def _upsert(table: str, keys: tuple[str, ...], terms: dict[str, str]) -> str:
    """Add NEW's contribution to `table`, creating the row on first use (one statement)."""
    columns = [*keys, *terms]
    values = [_KEYS[k].format(r="NEW") for k in keys] + [t.format(r="NEW") for t in terms.values()]
    updates = [
        f"{c} = "
        + (
            _LAST.format(old=c, new=f"excluded.{c}")
            if c == "last_deployment"
            else f"{c} + excluded.{c}"
        )
        for c in terms
    ]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(values)}) "
        f"ON CONFLICT DO UPDATE SET {', '.join(updates)}"
    )


def _delta(terms: dict[str, str]) -> str:
    return ", ".join(
        f"{col} = {col} + {t.format(r='NEW')} - {t.format(r='OLD')}" for col, t in terms.items()
    )


SCHEMA_1 = f"""
CREATE TABLE deployments (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failure')),
    finished_at REAL NOT NULL,
    sha TEXT,
    rework INTEGER NOT NULL DEFAULT 0,
    incidents INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deployments_series ON deployments (service, environment, status, finished_at);
CREATE TABLE commits (
    service TEXT NOT NULL,
    sha TEXT NOT NULL,
    committed_at REAL,
    parent TEXT,
    rework INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service, sha)
) WITHOUT ROWID;
CREATE TABLE lead_times (
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    sha TEXT NOT NULL,
    deployment_id INTEGER NOT NULL,
    shipped_at REAL NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (service, environment, sha)
) WITHOUT ROWID;
-- Count in a window by time; find the median by walking values in order (no sort).
CREATE INDEX lead_times_window ON lead_times (environment, service, shipped_at);
CREATE INDEX lead_times_value ON lead_times (environment, service, seconds, shipped_at);
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    started_at REAL NOT NULL,
    resolved_at REAL,
    restored REAL,  -- resolved_at - started_at
    deployment_key TEXT,
    deployment_id INTEGER
);
CREATE INDEX incidents_series ON incidents (service, environment, started_at);
CREATE INDEX incidents_window ON incidents (environment, service, resolved_at);
CREATE INDEX incidents_value ON incidents (environment, service, restored, resolved_at);
CREATE INDEX incidents_deployment_key ON incidents (deployment_key)
    WHERE deployment_key IS NOT NULL;
CREATE TABLE deliveries (key TEXT PRIMARY KEY, received_at REAL NOT NULL) WITHOUT ROWID;

-- Per-series counters and histograms, kept exact by triggers in the writing transaction,
-- so a scrape reads one row per series instead of aggregating every stored event.
CREATE TABLE series_totals (
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    deployments INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    change_failures INTEGER NOT NULL DEFAULT 0,
    rework INTEGER NOT NULL DEFAULT 0,
    last_deployment REAL,
    incidents INTEGER NOT NULL DEFAULT 0,
    open INTEGER NOT NULL DEFAULT 0,
    lead_count INTEGER NOT NULL DEFAULT 0,
    lead_sum REAL NOT NULL DEFAULT 0,
    {_bucket_columns("lead")},
    restore_count INTEGER NOT NULL DEFAULT 0,
    restore_sum REAL NOT NULL DEFAULT 0,
    {_bucket_columns("restore")},
    PRIMARY KEY (service, environment)
) WITHOUT ROWID;

-- The same per UTC day, so windowed counts add up whole days and scan one partial day.
CREATE TABLE deployment_days (
    environment TEXT NOT NULL,
    day INTEGER NOT NULL,
    service TEXT NOT NULL,
    {", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in _DAY_TERMS)},
    PRIMARY KEY (environment, service, day)
) WITHOUT ROWID;

CREATE TRIGGER deployment_added AFTER INSERT ON deployments BEGIN
    {_upsert("deployment_days", ("environment", "day", "service"), _DAY_TERMS)};
    {_upsert("series_totals", ("service", "environment"), _TOTAL_TERMS)};
END;
CREATE TRIGGER deployment_changed AFTER UPDATE ON deployments BEGIN
    UPDATE deployment_days SET
        {", ".join(f"{c} = {c} - {t.format(r='OLD')}" for c, t in _DAY_TERMS.items())}
    WHERE environment = OLD.environment AND day = {_DAY.format(r="OLD")}
      AND service = OLD.service;
    {_upsert("deployment_days", ("environment", "day", "service"), _DAY_TERMS)};
    UPDATE series_totals SET
        {_delta(_DEPLOYMENT_TERMS)},
        last_deployment = {_LAST.format(old="last_deployment", new=_NEW_LAST)}
    WHERE service = NEW.service AND environment = NEW.environment;
END;
CREATE TRIGGER lead_time_added AFTER INSERT ON lead_times BEGIN
    {_upsert("series_totals", ("service", "environment"), _LEAD_TERMS)};
END;
CREATE TRIGGER lead_time_changed AFTER UPDATE OF seconds ON lead_times BEGIN
    UPDATE series_totals SET {_delta({k: v for k, v in _LEAD_TERMS.items() if k != "lead_count"})}
    WHERE service = NEW.service AND environment = NEW.environment;
END;
CREATE TRIGGER incident_added AFTER INSERT ON incidents BEGIN
    {_upsert("series_totals", ("service", "environment"), _INCIDENT_TERMS)};
    UPDATE deployments SET incidents = incidents + 1 WHERE id = NEW.deployment_id;
END;
CREATE TRIGGER incident_resolved AFTER UPDATE OF restored ON incidents BEGIN
    UPDATE series_totals SET {_delta(_RESOLVE_TERMS)}
    WHERE service = NEW.service AND environment = NEW.environment;
END;
-- deployments.incidents counts the incidents attributed to it, whoever changes the link.
CREATE TRIGGER incident_relinked AFTER UPDATE OF deployment_id ON incidents
WHEN OLD.deployment_id IS NOT NEW.deployment_id BEGIN
    UPDATE deployments SET incidents = incidents - 1 WHERE id = OLD.deployment_id;
    UPDATE deployments SET incidents = incidents + 1 WHERE id = NEW.deployment_id;
END;
"""

MIGRATIONS: tuple[str, ...] = (SCHEMA_1,)

UPSERT_DEPLOYMENT = """
INSERT INTO deployments (key, service, environment, status, finished_at, sha, rework)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    status = excluded.status,
    finished_at = excluded.finished_at,
    sha = coalesce(excluded.sha, deployments.sha),
    rework = max(deployments.rework, excluded.rework)
WHERE excluded.status != 'pending'
  AND (deployments.status = 'pending'
       OR (deployments.status = 'failure' AND excluded.status = 'success'))
RETURNING id
"""

UPSERT_COMMIT = """
INSERT INTO commits (service, sha, committed_at, parent, rework) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (service, sha) DO UPDATE SET
    committed_at = CASE
        WHEN commits.committed_at IS NULL THEN excluded.committed_at
        WHEN excluded.committed_at IS NULL THEN commits.committed_at
        ELSE min(commits.committed_at, excluded.committed_at) END,
    parent = coalesce(commits.parent, excluded.parent),
    rework = max(commits.rework, excluded.rework)
"""

# A commit's lead time is set by the first successful deployment that shipped it.
UPSERT_LEAD_TIME = """
INSERT INTO lead_times (service, environment, sha, deployment_id, shipped_at, seconds)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (service, environment, sha) DO UPDATE SET
    deployment_id = excluded.deployment_id,
    shipped_at = excluded.shipped_at,
    seconds = excluded.seconds
WHERE excluded.shipped_at < lead_times.shipped_at
"""

INSERT_INCIDENT = """
INSERT INTO incidents
    (key, service, environment, started_at, resolved_at, restored, deployment_key, deployment_id)
VALUES (:key, :service, :environment, :started, :resolved, :resolved - :started, :dkey,
    CASE WHEN :dkey IS NOT NULL THEN (SELECT id FROM deployments WHERE key = :dkey)
    ELSE (SELECT id FROM deployments
          WHERE service = :service AND environment = :environment AND status = 'success'
            AND finished_at <= :started AND finished_at >= :started - :window
          ORDER BY finished_at DESC LIMIT 1) END)
ON CONFLICT (key) DO UPDATE SET resolved_at = excluded.resolved_at, restored = excluded.restored
WHERE incidents.resolved_at IS NULL AND excluded.resolved_at IS NOT NULL
RETURNING id
"""

# A deployment that arrives after an incident can still be the one that caused it: the
# incident names it, or (successful deployments only) it is the latest one in the window.
RELINK = """
UPDATE incidents SET deployment_id = :id
WHERE (deployment_key = :key AND deployment_id IS NOT :id)
   OR (:success AND deployment_key IS NULL
       AND service = :service AND environment = :environment
       AND started_at >= :finished AND started_at <= :finished + :window
       AND (deployment_id IS NULL
            OR (SELECT finished_at FROM deployments WHERE id = incidents.deployment_id)
               < :finished))
"""


class StoreError(Exception):
    """The store could not commit; the sender should retry (503)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one batch did: records that changed the store, or a duplicate delivery."""

    changed: int = 0
    duplicate: bool = False


# How pollers and ingest hand a batch to the store's group commit.
Submit = Callable[[Batch], Awaitable[Outcome]]


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


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the latest version; return it."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise StoreError(f"store schema {version} is newer than this agent ({len(MIGRATIONS)})")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("DORA store migrated to schema %d", number)
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    # Triggers contain ';' inside BEGIN…END, so split with sqlite's own completeness test.
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                out.append(current.strip())
            current = ""
    return out


class EventStore:
    """Owns the write connection; `submit` group-commits, `write` commits synchronously."""

    def __init__(self, path: Path, failure_window: float, clock: Clock = time.time):
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
        migrate(self._conn)

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
            except sqlite3.Error:
                # Rare (a bug or a full disk): isolate the bad batch so the others still land.
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
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            log.error("DORA store rejected a batch: %s", exc)
            return StoreError(str(exc))
        conn.execute("RELEASE batch")
        return outcome

    def _apply(self, conn: sqlite3.Connection, batch: Batch) -> Outcome:
        if batch.delivery is not None:
            cur = conn.execute(
                "INSERT OR IGNORE INTO deliveries (key, received_at) VALUES (?, ?)",
                (batch.delivery, self._clock()),
            )
            if cur.rowcount == 0:
                return Outcome(0, duplicate=True)
        changed = 0
        for record in batch.records:
            if isinstance(record, Deployment):
                changed += self._deployment(conn, record)
            elif isinstance(record, Incident):
                changed += self._incident(conn, record)
            elif isinstance(record, Commit):
                conn.execute(
                    UPSERT_COMMIT,
                    (record.service, record.sha, record.committed_at, record.parent, record.rework),
                )
                changed += 1
        return Outcome(changed)

    def _deployment(self, conn: sqlite3.Connection, d: Deployment) -> int:
        row = conn.execute(
            UPSERT_DEPLOYMENT,
            (d.key, d.service, d.environment, d.status, d.finished_at, d.sha, d.rework),
        ).fetchone()
        if row is None:
            # Unchanged deployment; a poller may still bring the commits a webhook lacked.
            existing = conn.execute(
                "SELECT id, status, finished_at FROM deployments WHERE key = ?", (d.key,)
            ).fetchone()
            if d.commits and existing and existing[1] == "success":
                self._ship(conn, existing[0], d, existing[2])
            return 0
        deployment_id = int(row[0])
        if d.status == "success":
            self._ship(conn, deployment_id, d, d.finished_at)
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
        return 1

    def _ship(self, conn: sqlite3.Connection, deployment_id: int, d: Deployment, at: float) -> None:
        if d.commits is not None:
            shipped = [(c.sha, c.committed_at, c.rework) for c in d.commits]
        else:
            shipped = self._walk(conn, d, at)
        conn.executemany(
            UPSERT_LEAD_TIME,
            [
                (d.service, d.environment, sha, deployment_id, at, max(0.0, at - committed))
                for sha, committed, _ in shipped
            ],
        )
        if not d.rework and any(rework for _, _, rework in shipped):
            conn.execute("UPDATE deployments SET rework = 1 WHERE id = ?", (deployment_id,))

    def _walk(
        self, conn: sqlite3.Connection, d: Deployment, at: float
    ) -> list[tuple[str, float, bool]]:
        """Commits from the deployed SHA back along first parents to the last shipped one."""
        if not d.sha:
            return []
        previous = conn.execute(
            "SELECT sha FROM deployments WHERE service = ? AND environment = ? "
            "AND status = 'success' AND finished_at < ? ORDER BY finished_at DESC LIMIT 1",
            (d.service, d.environment, at),
        ).fetchone()
        stop = previous[0] if previous else None
        out: list[tuple[str, float, bool]] = []
        sha: str | None = d.sha
        seen: set[str] = set()
        while sha and sha != stop and sha not in seen and len(seen) < MAX_WALK:
            seen.add(sha)
            row = conn.execute(
                "SELECT committed_at, parent, rework FROM commits WHERE service = ? AND sha = ?",
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
            if row[0] is not None:
                out.append((sha, float(row[0]), bool(row[2])))
            sha = row[1]
        return out

    def _incident(self, conn: sqlite3.Connection, i: Incident) -> int:
        row = conn.execute(
            INSERT_INCIDENT,
            {
                "key": i.key,
                "service": i.service,
                "environment": i.environment,
                "started": i.started_at,
                "resolved": i.resolved_at,
                "dkey": i.deployment_key,
                "window": self.failure_window,
            },
        ).fetchone()
        return 0 if row is None else 1
