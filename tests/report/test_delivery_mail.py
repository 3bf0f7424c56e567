"""Reports mailed through a local SMTP sink: `opslens report --send`, and `opslens run`
sending a scheduled report once, across a restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiohttp import web

from agent.app import create_app
from agent.config import parse
from agent.report.scheduler import SCHEDULER, ReportScheduler
from agent.settings import Settings
from exporters.base import Context
from tests.report import history
from tests.report.conftest import History
from tests.support.sinks import Mail, smtp_sink
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLI = (sys.executable, "-m", "agent", "report")


def parts(mail: Mail) -> dict[str, str]:
    msg = mail.message
    assert msg.get_content_type() == "multipart/alternative"
    out = {}
    for part in msg.iter_parts():
        assert isinstance(part, EmailMessage)
        out[part.get_content_type()] = part.get_content()
    return out


def test_send_mails_text_and_html_to_the_reports_recipients(
    loaded_prometheus: History, tmp_path: Path
) -> None:
    with smtp_sink() as sink:
        config = loaded_prometheus.config_file(tmp_path, sink.smarthost)
        done = subprocess.run(
            [*CLI, "-c", str(config), "--send"],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 0, done.stderr
        assert len(sink.mails) == 1
        mail = sink.mails[0]
    assert mail.mail_from == "opslens@example.com"
    assert mail.rcpt_to == ["finance@example.com", "eng-leads@example.com"]
    assert mail.message["Subject"] == "acme: review, last 7 days"
    body = parts(mail)
    assert set(body) == {"text/plain", "text/html"}
    assert "AmazonRDS" in body["text/plain"] and "<svg" not in body["text/plain"]
    assert body["text/html"].lstrip().startswith("<!doctype html>")
    assert 'data-chart="gauge"' in body["text/html"] and "<script" not in body["text/html"]


def test_send_failure_is_reported_without_a_traceback(
    loaded_prometheus: History, tmp_path: Path
) -> None:
    config = loaded_prometheus.config_file(tmp_path, "127.0.0.1:1")
    done = subprocess.run(
        [*CLI, "-c", str(config), "--report", "weekly-review", "--send"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "opslens report: sending through 127.0.0.1:1 failed" in done.stderr
    assert "Traceback" not in done.stderr


def _daily_at(loaded: History, smarthost: str, at: float) -> str:
    """The test config with both reports due every day at the time of `at` (UTC)."""
    clock = datetime.fromtimestamp(at, UTC).strftime("%H:%M")
    text = history.config_text(loaded.url, smarthost)
    text = text.replace("{weekly: friday 09:00}", f'{{daily: "{clock}"}}')
    return text.replace('{daily: "08:00"}', f'{{daily: "{clock}"}}')


def _subjects(mails: list[Mail]) -> list[str]:
    return sorted(str(m.message["Subject"]) for m in mails)


async def _run_agent(settings: Settings) -> ReportScheduler:
    """Start the agent as `opslens run` does, wait for the scheduler's first pass, stop it."""
    runner = web.AppRunner(create_app(settings, exporters=[]))
    await runner.setup()
    try:
        slot = runner.app[SCHEDULER]
        deadline = time.monotonic() + 60
        while slot.scheduler is None or slot.scheduler.passes < 1:
            assert time.monotonic() < deadline, "the report scheduler made no pass"
            await asyncio.sleep(0.05)
        return slot.scheduler
    finally:
        await runner.cleanup()


def test_scheduled_report_is_sent_once_across_a_restart(
    loaded_prometheus: History, tmp_path: Path
) -> None:
    due = loaded_prometheus.end  # the weekly history ends at the scheduled time
    with smtp_sink() as sink:
        config = parse(_daily_at(loaded_prometheus, sink.smarthost, due), "scheduled.yaml")
        # The agent comes up 30 seconds after the report came due.
        settings = Settings(
            config, Context(data_dir=tmp_path, clock=lambda: due + 30), exporters=()
        )
        asyncio.run(_run_agent(settings))
        mails = wait_until(lambda: len(sink.mails) >= 2 and sink.mails, what="the reports")
        assert _subjects(mails) == ["acme: daily alert digest", "acme: review, last 7 days"]
        review = next(m for m in mails if "review" in str(m.message["Subject"]))
        assert review.rcpt_to == ["finance@example.com", "eng-leads@example.com"]
        assert (tmp_path / "reports-sent.json").exists()

        # Restarted a minute later: the same occurrences are not sent again.
        later = Settings(config, Context(data_dir=tmp_path, clock=lambda: due + 90), exporters=())
        asyncio.run(_run_agent(later))  # its first pass has run when this returns
        assert len(sink.mails) == 2

        # A day later the next occurrences go out.
        tomorrow = Settings(
            config, Context(data_dir=tmp_path, clock=lambda: due + 86400 + 30), exporters=()
        )
        asyncio.run(_run_agent(tomorrow))
        wait_until(lambda: len(sink.mails) == 4, what="the next day's reports")
    html = parts(review)["text/html"]
    # Made as of the scheduled time: the same week as the on-demand review.
    assert "2,930 USD" in html
