"""Export runs: which FOCUS files count when a folder holds several runs of one export.

Cloud exports rewrite the same billing period many times a month. Azure cost exports write
each run into its own folder (`<export>/<YYYYMMDD-YYYYMMDD>/<run time>/<guid>/`) with a
`manifest.json` (`exportConfig`, `runInfo.runId`, `runInfo.submittedTime`,
`runInfo.startDate`, `blobs[].blobName`/`byteCount`); AWS Data Exports write
`data/BILLING_PERIOD=YYYY-MM/` and `metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`
(`exportArn`, `executionId`, `dataFiles`). Counting every run overstates month to date by
the number of runs. The rules, all pure functions here:

1. Manifest runs: per export and billing period, only the newest complete run counts
   (newest by submitted time, else by the manifest's modification time). A run is
   complete when every file its manifest lists is present with the listed size. Files of
   older or incomplete runs are not read.
2. Files no manifest lists form one run per folder, dated by their newest file.
3. When two runs hold rows for the same provider, billing account and billing period on
   overlapping days, only the better run counts for that slice: a manifest run beats a
   folder run, then the newer run wins. Runs on disjoint days (daily extracts) both count.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from .model import CORRECTION, Ledger, Line, merge, month_of

_PERIOD = re.compile(r"BILLING_PERIOD=(\d{4})-?(\d{2})")
_RANGE = re.compile(r"(?:^|/)(\d{4})(\d{2})\d{2}-\d{8}(?:/|$)")


def tail(path: str) -> tuple[str, ...]:
    """The last two components of a path or URL: how a listed file is found locally.

    Exports are synced to local disk under any prefix (`aws s3 sync`, `azcopy`), so a
    manifest's full blob name or S3 URI is matched by its folder and file name, which are
    unique per run (a run id or a billing period partition).
    """
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    return tuple(parts[-2:])


def _timestamp(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    # Azure writes 7 fractional digits; fromisoformat reads at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _period(*texts: object) -> str:
    """The billing period ("YYYY-MM") named by a date, a partition or a date-range folder."""
    for text in texts:
        if not isinstance(text, str):
            continue
        if m := _PERIOD.search(text) or _RANGE.search(text.replace("\\", "/")):
            return f"{m[1]}-{m[2]}"
        if when := _timestamp(text):
            return month_of(when.date())
        if re.fullmatch(r"\d{8}T\d{6}(\.\d+)?Z", text):  # AWS's basic format
            return f"{text[:4]}-{text[4:6]}"
    return ""


@dataclass(frozen=True)
class Manifest:
    """One export run, as its manifest describes it."""

    path: str
    export: str  # the export's identity: Azure resource id / name, AWS export ARN
    period: str  # billing period "YYYY-MM", "" when the manifest does not say
    run_id: str
    submitted: datetime | None
    files: tuple[tuple[str, int | None], ...]  # listed blob name or URI, byte count


def parse_manifest(path: str, text: str) -> Manifest | None:
    """Read an Azure or AWS export manifest; None for any other JSON; ValueError if broken."""
    try:
        return _manifest(path, json.loads(text))
    except (KeyError, TypeError, OverflowError, RecursionError, AttributeError) as exc:
        raise ValueError(f"not an export manifest ({type(exc).__name__}: {exc})") from None


def _manifest(path: str, doc: object) -> Manifest | None:
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("blobs"), list) and isinstance(doc.get("runInfo"), dict):
        config = doc.get("exportConfig") or {}
        run = doc["runInfo"]
        files = tuple(
            (str(b["blobName"]), int(b["byteCount"]) if "byteCount" in b else None)
            for b in doc["blobs"]
            if isinstance(b, dict) and b.get("blobName")
        )
        return Manifest(
            path,
            str(config.get("resourceId") or config.get("exportName") or ""),
            _period(run.get("startDate"), *(f for f, _ in files[:1])),
            str(run.get("runId") or ""),
            _timestamp(run.get("submittedTime")),
            files,
        )
    if isinstance(doc.get("dataFiles"), list):
        files = tuple((str(f), None) for f in doc["dataFiles"] if isinstance(f, str))
        billing = doc.get("billingPeriod") or {}
        start = billing.get("start") if isinstance(billing, dict) else None
        return Manifest(
            path,
            str(doc.get("exportArn") or doc.get("exportName") or ""),
            _period(start, path, *(f for f, _ in files[:1])),
            str(doc.get("executionId") or ""),
            None,
            files,
        )
    return None


def _closest(name: str, candidates: list[str]) -> list[str]:
    """The candidates sharing the most trailing path components with a listed name."""
    if len(candidates) < 2:
        return candidates
    wanted = [p for p in name.replace("\\", "/").split("/") if p]

    def shared(path: str) -> int:
        have = [p for p in path.replace("\\", "/").split("/") if p]
        n = 0
        while n < min(len(have), len(wanted)) and have[-1 - n] == wanted[-1 - n]:
            n += 1
        return n

    best = max(shared(c) for c in candidates)
    return [c for c in candidates if shared(c) == best]


@dataclass(frozen=True)
class Run:
    """The files of one export run, and how it ranks against overlapping runs."""

    name: str
    files: tuple[str, ...]
    from_manifest: bool
    when: float  # submitted time, else the newest modification time (Unix seconds)

    @property
    def rank(self) -> tuple[bool, float, str]:
        return (self.from_manifest, self.when, self.name)


@dataclass(frozen=True)
class ExportPlan:
    """Which files to read, grouped into runs, and which are skipped and why."""

    runs: tuple[Run, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)


def plan(
    files: Mapping[str, tuple[int, float]],
    manifests: Iterable[tuple[Manifest, float]],
) -> ExportPlan:
    """Group `files` (path → size, mtime) into runs using `manifests` (with their mtimes)."""
    by_tail: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in files:
        by_tail[tail(path)].append(path)
    groups: dict[tuple[str, str], list[tuple[Manifest, float, list[str], bool]]] = defaultdict(list)
    listed: set[str] = set()
    for manifest, mtime in manifests:
        found: list[str] = []
        complete = True
        for name, size in manifest.files:
            matches = _closest(name, by_tail.get(tail(name), []))
            if len(matches) != 1 or (size is not None and files[matches[0]][0] != size):
                complete = False
            found += matches
        listed.update(found)
        groups[(manifest.export, manifest.period)].append((manifest, mtime, found, complete))
    runs: list[Run] = []
    skipped: dict[str, str] = {}
    for candidates in groups.values():
        usable = [c for c in candidates if c[3]]

        def when(c: tuple[Manifest, float, list[str], bool]) -> float:
            return c[0].submitted.timestamp() if c[0].submitted else c[1]

        best = max(usable, key=lambda c: (when(c), c[0].run_id), default=None)
        for c in candidates:
            manifest, _, found, ok = c
            if c is best:
                runs.append(Run(manifest.path, tuple(sorted(found)), True, when(c)))
                continue
            why = (
                f"superseded by the newer run {best[0].run_id or best[0].path}"
                if ok and best is not None
                else f"incomplete run {manifest.run_id or manifest.path} (listed files missing)"
            )
            for path in found:
                skipped.setdefault(path, why)
    # A file listed by the chosen run is never skipped because an older run listed it too.
    chosen = {p for r in runs for p in r.files}
    skipped = {p: why for p, why in skipped.items() if p not in chosen}
    folders: dict[str, list[str]] = defaultdict(list)
    for path in files:
        if path not in listed:
            folders[path.rsplit("/", 1)[0] if "/" in path else "."].append(path)
    for folder, paths in folders.items():
        newest = max(files[p][1] for p in paths)
        runs.append(Run(folder, tuple(sorted(paths)), False, newest))
    return ExportPlan(tuple(sorted(runs, key=lambda r: r.name)), skipped)


Slice = tuple[str, str, str]  # provider, billing account, billing period


def _slice(line: Line, day: date) -> Slice:
    return (line.scope[0], line.billing_account, line.period or month_of(day))


def combine(
    runs: Iterable[Run], ledgers: Mapping[str, Ledger]
) -> tuple[Ledger, dict[str, list[str]]]:
    """Merge the runs' ledgers, each slice counted from one run where runs overlap in days.

    Returns the merged ledger and, per run, the slices it lost ("provider billing account
    period") to a better run.
    """
    runs = [r for r in runs if any(p in ledgers for p in r.files)]
    days: dict[Slice, dict[str, set[date]]] = defaultdict(lambda: defaultdict(set))
    for run in runs:
        for path in run.files:
            for line, series in ledgers.get(path, {}).items():
                for day in series:
                    target = days[_slice(line, day)][run.name]
                    if line.kind != CORRECTION:
                        target.add(day)
    rank = {r.name: r.rank for r in runs}
    lost: dict[Slice, set[str]] = defaultdict(set)
    for key, by_run in days.items():
        if len(by_run) < 2:
            continue
        ordered = sorted(by_run, key=lambda name: rank[name], reverse=True)
        kept: list[set[date]] = [by_run[ordered[0]]]
        for name in ordered[1:]:
            if any(by_run[name] & k for k in kept):
                lost[key].add(name)
            else:
                kept.append(by_run[name])
    ledger: Ledger = {}
    for run in runs:
        for path in run.files:
            part = ledgers.get(path)
            if part is None:
                continue
            if not lost:
                merge(ledger, part)
                continue
            for line, series in part.items():
                keep = {d: a for d, a in series.items() if run.name not in lost[_slice(line, d)]}
                if keep:
                    merge(ledger, {line: keep})
    notes: dict[str, list[str]] = defaultdict(list)
    for (provider, account, period), names in sorted(lost.items()):
        for name in sorted(names):
            notes[name].append(f"{provider} {account} {period}".replace("  ", " "))
    return ledger, dict(notes)
