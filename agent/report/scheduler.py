"""Send the configured reports from `opslens run`, each once per scheduled time.

The last occurrence sent of each report is recorded in the data dir before the next one
is considered, so a restart neither sends a report twice nor forgets one that came due
while the agent was down (within `CATCH_UP`). Occurrence arithmetic is pure and runs on
wall-clock time in the report's zone, so `friday 09:00` stays 09:00 across DST changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from agent.config import Config
from agent.config.reports import ScheduledReport, When
from agent.settings import Settings
from agent.web.keys import AGENT

from .collect import make_report
from .mail import build_message, send, smtp_password
from .model import Report
from .prometheus import PrometheusClient
from .render import ReportRenderer

log = logging.getLogger("opslens.reports")

# A report that came due while the agent was down is still sent this long afterwards;
# older ones are skipped: a Monday copy of Friday's review helps nobody.
CATCH_UP = timedelta(hours=12)
# While sections are missing (Prometheus restarting, say), retry for this long before
# sending the report as it is, marked incomplete.
RETRY_INCOMPLETE = timedelta(hours=1)
# The longest sleep between passes: bounds the delay after a clock jump or a failure.
MAX_SLEEP = 60.0
STATE_FILE = "reports-sent.json"
SCHEDULER: web.AppKey[SchedulerSlot] = web.AppKey("report_scheduler")


def _at(day: datetime, when: When, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, when.hour, when.minute, tzinfo=tz)


def latest_occurrence(when: When, tz: ZoneInfo, now: datetime) -> datetime:
    """Return the most recent scheduled time at or before `now`."""
    local = now.astimezone(tz)
    if when.every == "daily":
        candidate = _at(local, when, tz)
        return candidate if candidate <= now else _at(local - timedelta(days=1), when, tz)
    if when.every == "weekly":
        assert when.weekday is not None
        back = (local.weekday() - when.weekday) % 7
        candidate = _at(local - timedelta(days=back), when, tz)
        return candidate if candidate <= now else _at(local - timedelta(days=back + 7), when, tz)
    assert when.day is not None
    candidate = _at(local.replace(day=when.day), when, tz)
    if candidate <= now:
        return candidate
    previous = (local.replace(day=1) - timedelta(days=1)).replace(day=when.day)
    return _at(previous, when, tz)


def next_occurrence(when: When, tz: ZoneInfo, now: datetime) -> datetime:
    """Return the first scheduled time strictly after `now`."""
    local = now.astimezone(tz)
    for ahead in range(0, 33):
        day = local + timedelta(days=ahead)
        if when.weekday is not None and day.weekday() != when.weekday:
            continue
        if when.day is not None and day.day != when.day:
            continue
        candidate = _at(day, when, tz)
        if candidate > now:
            return candidate
    raise AssertionError(f"no occurrence of {when} within a month of {now}")


class SentStore:
    """The last occurrence sent per report, as JSON in the data dir, replaced atomically."""

    def __init__(self, path: Path):
        self._path = path

    def _read(self) -> dict[str, dict[str, float]]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # A damaged file must not stop every report: start over, loudly.
            log.error("cannot read %s (%s): treating every report as never sent", self._path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def last(self, name: str) -> float | None:
        entry = self._read().get(name)
        return float(entry["occurrence"]) if entry else None

    def record(self, name: str, occurrence: float, sent_at: float) -> None:
        data = self._read()
        data[name] = {"occurrence": occurrence, "sent_at": sent_at}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".reports-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self._path)


Maker = Callable[[ScheduledReport, float], Awaitable[Report]]
Sender = Callable[[ScheduledReport, Report], Awaitable[None]]


class ReportScheduler:
    """Decide which reports are due, make and send them, and record each send."""

    def __init__(
        self,
        config: Config,
        store: SentStore,
        make: Maker,
        send: Sender,
        clock: Callable[[], float],
    ):
        self._config = config
        self._store = store
        self._make = make
        self._send = send
        self._clock = clock
        self.passes = 0  # completed passes, for tests and the log

    def _due(self, report: ScheduledReport, now: float) -> datetime | None:
        tz = self._config.reports.zone(report)
        occurrence = latest_occurrence(report.schedule.when(), tz, datetime.fromtimestamp(now, tz))
        if now - occurrence.timestamp() > CATCH_UP.total_seconds():
            return None
        last = self._store.last(report.name)
        if last is not None and last >= occurrence.timestamp():
            return None
        return occurrence

    async def run_once(self) -> list[str]:
        """Send every report that is due and not yet sent; return their names."""
        sent = []
        for scheduled in self._config.reports.scheduled:
            now = self._clock()
            occurrence = self._due(scheduled, now)
            if occurrence is None:
                continue
            try:
                # As of the scheduled time, so a late send covers the same period.
                report = await self._make(scheduled, occurrence.timestamp())
                if (
                    report.missing
                    and now - occurrence.timestamp() < RETRY_INCOMPLETE.total_seconds()
                ):
                    missing = ", ".join(s.title for s in report.missing)
                    log.warning("report %s: %s missing; retrying", scheduled.name, missing)
                    continue
                await self._send(scheduled, report)
            except Exception:
                # Whatever broke (SMTP down, a bug in one report), the loop must live on
                # for the other reports and the next occurrence.
                log.exception("report %s: sending failed; retrying", scheduled.name)
                continue
            self._store.record(scheduled.name, occurrence.timestamp(), self._clock())
            log.info("report %s sent to %s", scheduled.name, ", ".join(scheduled.recipients))
            sent.append(scheduled.name)
        self.passes += 1
        return sent

    def seconds_to_next(self) -> float:
        """Return the seconds until any report is next due (at most MAX_SLEEP)."""
        now = self._clock()
        waits = [MAX_SLEEP]
        for report in self._config.reports.scheduled:
            tz = self._config.reports.zone(report)
            upcoming = next_occurrence(report.schedule.when(), tz, datetime.fromtimestamp(now, tz))
            waits.append(upcoming.timestamp() - now)
        return max(0.5, min(waits))

    async def run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.seconds_to_next())


def agent_scheduler(settings: Settings, session: aiohttp.ClientSession) -> ReportScheduler:
    """Build the scheduler of `opslens run`: Prometheus over `session`, mail via notify.smtp."""
    config = settings.config
    renderer = ReportRenderer()

    async def make(scheduled: ScheduledReport, now: float) -> Report:
        client = PrometheusClient(session, config.reports.prometheus_url)
        return await make_report(
            config,
            client,
            kind=scheduled.kind,
            period=scheduled.effective_period,
            now=now,
            zone=config.reports.zone(scheduled),
        )

    async def deliver(scheduled: ScheduledReport, report: Report) -> None:
        smtp = config.notify.smtp
        msg = build_message(
            report, renderer.html(report), renderer.text(report), smtp.sender, scheduled.recipients
        )
        password = smtp_password(smtp, settings.context.config_dir)
        await asyncio.to_thread(send, msg, smtp, password)

    store = SentStore(settings.context.data_dir / STATE_FILE)
    return ReportScheduler(config, store, make, deliver, settings.context.clock)


@dataclass
class SchedulerSlot:
    """Where the running scheduler is published, for the status page and tests."""

    scheduler: ReportScheduler | None = None


def install(app: web.Application) -> None:
    """Run the report scheduler with the agent when the config schedules any report."""
    app[SCHEDULER] = SchedulerSlot()
    app.cleanup_ctx.append(_scheduler_ctx)


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    # Read once: a config reload changes the scheduled reports at the next start.
    settings = app[AGENT].settings
    if not settings.config.reports.scheduled:
        yield
        return
    async with aiohttp.ClientSession() as session:
        scheduler = agent_scheduler(settings, session)
        app[SCHEDULER].scheduler = scheduler
        task = asyncio.create_task(scheduler.run(), name="opslens-report-scheduler")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
