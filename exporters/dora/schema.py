"""The DORA store's schema: tables, indexes and the triggers that keep totals exact.

Schema 1 is kept as it was shipped, so a new store and a migrated one run the same
script (1, then 2) and end up identical. `migrate()` brings any store to the latest
version, one transaction per version, recorded in `PRAGMA user_version`.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger("opslens.dora.store")

# DORA-aligned histogram buckets (seconds): 1 hour, 1 day, 1 week, 30 days, 180 days.
BUCKETS: tuple[float, ...] = (3600.0, 86400.0, 604800.0, 2592000.0, 15552000.0)

# Why a shipped commit has no lead time (the `reason` of `dora_lead_time_rejected_total`).
AFTER_DEPLOYMENT = "after_deployment"
BEFORE_HISTORY = "before_history"
PENDING = "pending"  # its pull request's first commit time is not known yet


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
# Schema 1 counted every lead-time row; schema 2 counts only rows without a `reason`.
_LEAD_TERMS_1 = {
    "lead_count": "1",
    "lead_sum": "{r}.seconds",
    **{f"lead_b{i}": f"({{r}}.seconds <= {b!r})" for i, b in enumerate(BUCKETS, start=1)},
}
_LEAD_TERMS = {
    "lead_count": "({r}.reason IS NULL)",
    "lead_sum": "(CASE WHEN {r}.reason IS NULL THEN {r}.seconds ELSE 0 END)",
    **{
        f"lead_b{i}": f"({{r}}.reason IS NULL AND {{r}}.seconds <= {b!r})"
        for i, b in enumerate(BUCKETS, start=1)
    },
    "pending": f"({{r}}.reason IS '{PENDING}')",
}
_COUNTED_TERMS = _LEAD_TERMS_1
_UNCOUNTED_TERMS = {"pending": f"({{r}}.reason IS '{PENDING}')"}
# Rejections only ever add: a commit readmitted later (history arrived) stays counted once.
_REJECT_COLUMNS = {AFTER_DEPLOYMENT: "rejected_after", BEFORE_HISTORY: "rejected_history"}
_UNCOUNTED_TERMS |= {
    col: f"({{r}}.reason IS '{reason}')" for reason, col in _REJECT_COLUMNS.items()
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
    {_upsert("series_totals", ("service", "environment"), _LEAD_TERMS_1)};
END;
CREATE TRIGGER lead_time_changed AFTER UPDATE OF seconds ON lead_times BEGIN
    UPDATE series_totals SET {_delta({k: v for k, v in _LEAD_TERMS_1.items() if k != "lead_count"})}
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


_INCIDENT_RECOVERY = """
    DELETE FROM recoveries WHERE kind = 'incident' AND ref = NEW.id;
    INSERT INTO recoveries (kind, ref, service, environment, recovered_at, seconds)
    SELECT 'incident', NEW.id, NEW.service, NEW.environment, NEW.resolved_at,
           NEW.resolved_at - d.finished_at
    FROM deployments d WHERE d.id = NEW.deployment_id AND NEW.resolved_at >= d.finished_at;
"""
# A successful deployment recovers the failures since the previous successful one.
RECOVERS_FAILURES = """
    INSERT OR REPLACE INTO recoveries (kind, ref, service, environment, recovered_at, seconds)
    SELECT 'deployment', f.id, f.service, f.environment, {finished}, {finished} - f.finished_at
    FROM deployments f
    WHERE f.service = {service} AND f.environment = {environment} AND f.status = 'failure'
      AND f.finished_at < {finished}
      AND f.finished_at > coalesce(
          (SELECT max(finished_at) FROM deployments
           WHERE service = {service} AND environment = {environment}
             AND status = 'success' AND finished_at < {finished}), -1e300)
"""
# A failed deployment is recovered by the next successful one, if it has arrived.
RECOVERED_BY_NEXT = """
    INSERT OR REPLACE INTO recoveries (kind, ref, service, environment, recovered_at, seconds)
    SELECT 'deployment', {id}, {service}, {environment}, s.finished_at, s.finished_at - {finished}
    FROM deployments s
    WHERE s.service = {service} AND s.environment = {environment} AND s.status = 'success'
      AND s.finished_at > {finished}
    ORDER BY s.finished_at LIMIT 1
"""
# The same in a trigger (NEW row) and in the store's own statements (named parameters).
ROW = {
    "id": "NEW.id",
    "service": "NEW.service",
    "environment": "NEW.environment",
    "finished": "NEW.finished_at",
}
PARAMETERS = {
    "id": ":id",
    "service": ":service",
    "environment": ":environment",
    "finished": ":finished",
}

# Schema 2: identity is (service, key); lead-time rows carry why they do not count;
# coverage of history; recoveries; incidents may name a commit as their root cause.
SCHEMA_2 = f"""
DROP TRIGGER deployment_added;
DROP TRIGGER deployment_changed;
DROP TRIGGER lead_time_added;
DROP TRIGGER lead_time_changed;
DROP TRIGGER incident_added;
DROP TRIGGER incident_resolved;
DROP TRIGGER incident_relinked;

CREATE TABLE deployments_v2 (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failure')),
    finished_at REAL NOT NULL,
    sha TEXT,
    rework INTEGER NOT NULL DEFAULT 0,
    incidents INTEGER NOT NULL DEFAULT 0,
    UNIQUE (service, key)
);
INSERT INTO deployments_v2
SELECT id, key, service, environment, status, finished_at, sha, rework, incidents
FROM deployments;
DROP TABLE deployments;
ALTER TABLE deployments_v2 RENAME TO deployments;
CREATE INDEX deployments_series ON deployments (service, environment, status, finished_at);

CREATE TABLE incidents_v2 (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    started_at REAL NOT NULL,
    resolved_at REAL,
    restored REAL,  -- resolved_at - started_at
    deployment_key TEXT,
    deployment_id INTEGER,
    root_cause TEXT,  -- a commit SHA (or its start) that caused the incident
    root_upper TEXT,  -- the first string after every SHA root_cause names
    UNIQUE (service, key)
);
INSERT INTO incidents_v2 (id, key, service, environment, started_at, resolved_at, restored,
    deployment_key, deployment_id)
SELECT id, key, service, environment, started_at, resolved_at, restored, deployment_key,
    deployment_id
FROM incidents;
DROP TABLE incidents;
ALTER TABLE incidents_v2 RENAME TO incidents;
CREATE INDEX incidents_series ON incidents (service, environment, started_at);
CREATE INDEX incidents_window ON incidents (environment, service, resolved_at);
CREATE INDEX incidents_value ON incidents (environment, service, restored, resolved_at);
CREATE INDEX incidents_deployment ON incidents (deployment_id) WHERE deployment_id IS NOT NULL;
CREATE INDEX incidents_deployment_key ON incidents (service, deployment_key)
    WHERE deployment_key IS NOT NULL;
CREATE INDEX incidents_root_cause ON incidents (service, environment)
    WHERE root_cause IS NOT NULL;
CREATE INDEX incidents_unattributed ON incidents (environment, service, started_at)
    WHERE deployment_id IS NULL;

CREATE TABLE lead_times_v2 (
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    sha TEXT NOT NULL,
    deployment_id INTEGER NOT NULL,
    shipped_at REAL NOT NULL,
    seconds REAL,  -- NULL while the commit's time is unknown
    reason TEXT CHECK (reason IN ('{AFTER_DEPLOYMENT}', '{BEFORE_HISTORY}', '{PENDING}')),
    PRIMARY KEY (service, environment, sha)
) WITHOUT ROWID;
INSERT INTO lead_times_v2 (service, environment, sha, deployment_id, shipped_at, seconds)
SELECT service, environment, sha, deployment_id, shipped_at, seconds FROM lead_times;
DROP TABLE lead_times;
ALTER TABLE lead_times_v2 RENAME TO lead_times;
-- The median's indexes lead with `reason`, so counted rows (reason NULL) are one range
-- and the walk stays inside the index (a partial index would need the row to test it).
CREATE INDEX lead_times_window ON lead_times (environment, service, reason, shipped_at);
CREATE INDEX lead_times_value ON lead_times (environment, service, reason, seconds, shipped_at);
CREATE INDEX lead_times_pending ON lead_times (service, sha) WHERE reason = '{PENDING}';
CREATE INDEX lead_times_history ON lead_times (service, environment)
    WHERE reason = '{BEFORE_HISTORY}';

ALTER TABLE commits ADD COLUMN pull TEXT;
ALTER TABLE commits ADD COLUMN head TEXT;
ALTER TABLE commits ADD COLUMN started_at REAL;

ALTER TABLE series_totals ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE series_totals ADD COLUMN rejected_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE series_totals ADD COLUMN rejected_history INTEGER NOT NULL DEFAULT 0;

-- From `since` on, every deployment of the series is known (pollers and backfill).
CREATE TABLE history (
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (service, environment)
) WITHOUT ROWID;

-- Failed deployment recovery time: a failed deployment until the next success
-- (kind 'deployment'), a deployment an incident is tied to until it is resolved ('incident').
CREATE TABLE recoveries (
    kind TEXT NOT NULL,
    ref INTEGER NOT NULL,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    recovered_at REAL NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (kind, ref)
) WITHOUT ROWID;
CREATE INDEX recoveries_window ON recoveries (environment, service, recovered_at);
CREATE INDEX recoveries_value ON recoveries (environment, service, seconds, recovered_at);
INSERT INTO recoveries (kind, ref, service, environment, recovered_at, seconds)
SELECT 'incident', i.id, i.service, i.environment, i.resolved_at, i.resolved_at - d.finished_at
FROM incidents i JOIN deployments d ON d.id = i.deployment_id
WHERE i.resolved_at >= d.finished_at;
INSERT INTO recoveries (kind, ref, service, environment, recovered_at, seconds)
SELECT 'deployment', id, service, environment, next, next - finished_at FROM (
    SELECT f.id, f.service, f.environment, f.finished_at,
        (SELECT min(s.finished_at) FROM deployments s
         WHERE s.service = f.service AND s.environment = f.environment
           AND s.status = 'success' AND s.finished_at > f.finished_at) AS next
    FROM deployments f WHERE f.status = 'failure')
WHERE next IS NOT NULL;

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
CREATE TRIGGER deployment_now_failed AFTER UPDATE OF status ON deployments
WHEN NEW.status = 'failure' AND OLD.status IS NOT 'failure' BEGIN
    {RECOVERED_BY_NEXT.format(**ROW)};
END;
-- A re-run that succeeds is no longer a failure to recover from, and recovers earlier ones.
CREATE TRIGGER deployment_now_succeeded AFTER UPDATE OF status ON deployments
WHEN NEW.status = 'success' AND OLD.status IS NOT 'success' BEGIN
    DELETE FROM recoveries WHERE kind = 'deployment' AND ref = NEW.id;
    {RECOVERS_FAILURES.format(**ROW)};
END;
-- An incident's recovery is measured from its deployment's finish: follow it if it moves.
CREATE TRIGGER deployment_moved AFTER UPDATE OF finished_at ON deployments
WHEN OLD.finished_at != NEW.finished_at BEGIN
    DELETE FROM recoveries WHERE kind = 'incident'
      AND ref IN (SELECT id FROM incidents WHERE deployment_id = NEW.id);
    INSERT INTO recoveries (kind, ref, service, environment, recovered_at, seconds)
    SELECT 'incident', i.id, i.service, i.environment, i.resolved_at,
           i.resolved_at - NEW.finished_at
    FROM incidents i WHERE i.deployment_id = NEW.id AND i.resolved_at >= NEW.finished_at;
END;
-- Split by whether the row counts, so the common case adds only the histogram terms.
CREATE TRIGGER lead_time_added AFTER INSERT ON lead_times WHEN NEW.reason IS NULL BEGIN
    {_upsert("series_totals", ("service", "environment"), _COUNTED_TERMS)};
END;
CREATE TRIGGER lead_time_rejected AFTER INSERT ON lead_times WHEN NEW.reason IS NOT NULL BEGIN
    {_upsert("series_totals", ("service", "environment"), _UNCOUNTED_TERMS)};
END;
CREATE TRIGGER lead_time_changed AFTER UPDATE ON lead_times BEGIN
    UPDATE series_totals SET
        {_delta(_LEAD_TERMS)},
        {
    ", ".join(
        f"{col} = {col} + (NEW.reason IS '{reason}' AND OLD.reason IS NOT '{reason}')"
        for reason, col in _REJECT_COLUMNS.items()
    )
}
    WHERE service = NEW.service AND environment = NEW.environment;
END;
CREATE TRIGGER incident_added AFTER INSERT ON incidents BEGIN
    {_upsert("series_totals", ("service", "environment"), _INCIDENT_TERMS)};
    UPDATE deployments SET incidents = incidents + 1 WHERE id = NEW.deployment_id;
    {_INCIDENT_RECOVERY}
END;
CREATE TRIGGER incident_resolved AFTER UPDATE OF restored ON incidents BEGIN
    UPDATE series_totals SET {_delta(_RESOLVE_TERMS)}
    WHERE service = NEW.service AND environment = NEW.environment;
    {_INCIDENT_RECOVERY}
END;
-- deployments.incidents counts the incidents attributed to it, whoever changes the link.
CREATE TRIGGER incident_relinked AFTER UPDATE OF deployment_id ON incidents
WHEN OLD.deployment_id IS NOT NEW.deployment_id BEGIN
    UPDATE deployments SET incidents = incidents - 1 WHERE id = OLD.deployment_id;
    UPDATE deployments SET incidents = incidents + 1 WHERE id = NEW.deployment_id;
    {_INCIDENT_RECOVERY}
END;
"""

MIGRATIONS: tuple[str, ...] = (SCHEMA_1, SCHEMA_2)


class SchemaError(Exception):
    """The store was written by a newer agent."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The store's schema version (`PRAGMA user_version`; 0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the latest version; return it."""
    version = schema_version(conn)
    if version > len(MIGRATIONS):
        raise SchemaError(f"store schema {version} is newer than this agent ({len(MIGRATIONS)})")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("DORA store migrated to schema %d", number)
    return len(MIGRATIONS)


def split_statements(script: str) -> list[str]:
    """Split a schema script into statements."""
    # Triggers contain ';' inside BEGIN…END, so split with sqlite's own completeness test.
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                out.append(current.strip())
            current = ""
    return out
