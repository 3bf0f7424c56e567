"""Typed records the parsers produce and the store keeps, and the errors parsers raise."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["pending", "success", "failure"]

# Rework rules shared by every provider (README of the exporter lists them).
HOTFIX_REF = re.compile(r"(^|/)(hotfix|hot-fix)([/_-]|$)", re.I)
HOTFIX_LABELS = frozenset({"hotfix", "hot-fix", "rework", "revert"})
# The parent of a commit that starts a new branch (a push whose `before` is all zeros).
NEW_BRANCH = ""
REVERT_MESSAGE = re.compile(r'^Revert "|This reverts commit [0-9a-f]{7,40}', re.M)


class BadInput(ValueError):
    """A body that cannot be accepted; `field` names the offending JSON path."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class OutOfRange(BadInput):
    """A timestamp outside EARLIEST .. now + LATEST_AHEAD: webhooks refuse it, pollers drop it."""


# Label values (service, environment) end up in every DORA series: bounded and printable.
MAX_LABEL = 128
MAX_TEXT = 200
# Timestamps before this, or more than a day ahead of the agent's clock, are a sender's
# bug (a zero or year-9999 date) that would pin gauges such as the last deployment time.
EARLIEST = 946684800.0  # 2000-01-01T00:00:00Z
LATEST_AHEAD = 86400.0
# The reason pollers count an item dropped for a time outside that range under.
OUT_OF_RANGE = "out_of_range"


def unprintable(value: str) -> str | None:
    """Why a string cannot be stored or exposed: a control character or a lone surrogate."""
    for ch in value:
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            return "must not contain NUL or control characters"
        if 0xD800 <= code <= 0xDFFF:
            return "must not contain unpaired surrogates (not valid UTF-8)"
    return None


def checked_text(value: Any, where: str, limit: int = MAX_TEXT) -> str:
    """A non-empty printable string of at most `limit` characters, stripped."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadInput(where, f"expected a non-empty string of at most {limit} characters")
    if problem := unprintable(value):
        raise BadInput(where, problem)
    return value.strip()


def label_value(value: Any, where: str) -> str:
    """A value that becomes a Prometheus label (service, environment): at most 128 characters."""
    return checked_text(value, where, MAX_LABEL)


def printable(value: Any, where: str) -> Any:
    """`value` unchanged if it is not a string or is printable; BadInput naming `where` if not."""
    if isinstance(value, str) and (problem := unprintable(value)):
        raise BadInput(where, problem)
    return value


def in_range(ts: float, where: str, now: float) -> float:
    """`ts` if within EARLIEST .. now + LATEST_AHEAD, else OutOfRange naming `where`."""
    if not EARLIEST <= ts <= now + LATEST_AHEAD:
        raise OutOfRange(where, f"{iso_or_raw(ts)} is outside 2000-01-01 .. now + 1 day")
    return ts


def iso_or_raw(ts: float) -> str:
    try:
        return iso(ts)
    except (OverflowError, OSError, ValueError):
        return repr(ts)


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit as history knows it: `parent` is its first parent where a push told us.

    A pull/merge request's merge or squash commit carries `pull` (the request's number),
    `head` (its last commit, from which the store walks the branch back to its first
    commit) and, once known, `started_at`: the author time of the request's first commit.
    """

    service: str
    sha: str
    committed_at: float | None
    parent: str | None = None
    rework: bool = False
    pull: str | None = None
    head: str | None = None
    started_at: float | None = None


@dataclass(frozen=True, slots=True)
class ShippedCommit:
    """A commit a deployment ships, dated by `change_start` (None: not known yet)."""

    sha: str
    committed_at: float | None
    rework: bool = False


@dataclass(frozen=True, slots=True)
class Deployment:
    """One deployment and the commits it ships.

    `commits` None means: work them out from the stored history (webhooks). A
    `ShippedCommit` is dated by its sender (generic events, git); a `Commit` is a fact
    from a forge's API that the store merges with what webhooks told it, then dates.
    """

    key: str
    service: str
    environment: str
    status: Status
    finished_at: float
    sha: str | None = None
    rework: bool = False
    commits: tuple[ShippedCommit | Commit, ...] | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident; it names its cause by `deployment_key` or `root_cause` (a commit SHA)."""

    key: str
    service: str
    environment: str
    started_at: float
    resolved_at: float | None = None
    deployment_key: str | None = None
    root_cause: str | None = None


@dataclass(frozen=True, slots=True)
class Coverage:
    """A poller has read every deployment of the series finished since `since`."""

    service: str
    environment: str
    since: float


Record = Commit | Deployment | Incident | Coverage


@dataclass(frozen=True, slots=True)
class Batch:
    """What one delivery yields; stored in one transaction, skipped if `delivery` was seen.

    `strict` batches (webhooks, events) are all or nothing: a record that conflicts with a
    stored one rejects the batch (409). Pollers send lenient batches: a conflicting record
    is skipped and reported. `paths` names each record's place in the body, for the 409.
    """

    records: tuple[Record, ...] = ()
    delivery: str | None = None
    ignored: str | None = field(default=None)
    strict: bool = True
    paths: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.records


TIMES = ("finished_at", "started_at", "resolved_at", "committed_at")


def check_records(batch: Batch, now: float) -> Batch:
    """Refuse a batch holding a value no label or store may take, naming where it came from.

    Parsers check the fields they read; this catches any other string (an id, a SHA) with a
    control character or a lone surrogate (which SQLite cannot encode as UTF-8), and any
    time outside EARLIEST .. now + LATEST_AHEAD (named as the record's field).
    """
    for n, record in enumerate(batch.records):
        where = batch.paths[n] if n < len(batch.paths) else ""
        prefix = f"{where}." if where else ""
        for name in ("service", "environment"):
            if isinstance(value := getattr(record, name, None), str):
                label_value(value, f"{prefix}{name}")
        _check_values(record, prefix, now)
        for i, commit in enumerate(getattr(record, "commits", None) or ()):
            _check_values(commit, f"{prefix}commits[{i}].", now)
    return batch


def _check_values(record: object, prefix: str, now: float) -> None:
    for name in record.__slots__:  # type: ignore[attr-defined]
        value = getattr(record, name)
        if isinstance(value, str):
            printable(value, f"{prefix}{name}")
        elif name in TIMES and isinstance(value, float):
            in_range(value, f"{prefix}{name}", now)


def ignored(reason: str, delivery: str | None = None) -> Batch:
    return Batch((), delivery, reason)


_GITLAB_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) ?(UTC|[+-]\d{4})$")
_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: Any, where: str, now: float | None = None) -> float:
    """Parse RFC 3339 and GitLab's `2021-04-28 21:50:00 +0200` / `... UTC` forms to unix time.

    With `now`, a time outside EARLIEST .. now + LATEST_AHEAD is OutOfRange.
    """
    if not isinstance(value, str) or not value:
        raise BadInput(where, "expected an RFC 3339 timestamp string")
    text = value.strip()
    if match := _GITLAB_TIME.match(text):
        zone = "+0000" if match.group(3) == "UTC" else match.group(3)
        text = f"{match.group(1)}T{match.group(2)}{zone}"
    # Python before 3.12 keeps at most 6 fraction digits; Alertmanager sends 9.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6], text, count=1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(where, f"{value[:64]!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise BadInput(where, f"{value[:64]!r} has no time zone")
    try:
        ts = parsed.timestamp()
    except (OverflowError, ValueError):
        raise OutOfRange(where, f"{value[:64]!r} is outside 2000-01-01 .. now + 1 day") from None
    return ts if now is None else in_range(ts, where, now)


def parse_optional_time(value: Any, where: str, now: float | None = None) -> float | None:
    """Like parse_time; null, empty and Go's zero time mean "not set"."""
    if value is None or value == "" or (isinstance(value, str) and value.startswith("0001-01-01")):
        return None
    return parse_time(value, where, now)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_revert(message: Any) -> bool:
    """Whether a commit message says it reverts; a message that is not text does not."""
    return isinstance(message, str) and bool(REVERT_MESSAGE.search(message))


def change_start(
    authored: float | None, pull_first: float | None, merges_pull: bool
) -> float | None:
    """When the change a commit ships started: the one lead-time rule of every source.

    A merge or squash commit of a pull/merge request starts at the earlier of its own
    author time and the request's first commit; it is unknown (None) until that first
    commit's time is known. Any other commit starts at its author time.
    """
    if not merges_pull:
        return authored
    if pull_first is None:
        return None
    return pull_first if authored is None else min(authored, pull_first)
