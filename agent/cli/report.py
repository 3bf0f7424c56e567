"""`opslens report`: render the review from Prometheus to a file or stdout, or mail it."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp

from agent.config import Config
from agent.config.reports import PERIODS, ScheduledReport
from agent.report.collect import make_report
from agent.report.mail import MailError, build_message, send, smtp_password
from agent.report.model import Report
from agent.report.prometheus import PrometheusClient
from agent.report.render import FORMATS, ReportRenderer

from .common import EXIT_INVALID, add_config_arg, load_or_report

EXIT_INCOMPLETE = 1


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="render the cost, delivery, reliability and alerts review")
    add_config_arg(p)
    p.add_argument("--period", choices=PERIODS, help="default: the report's, else 7d")
    p.add_argument("--prometheus", metavar="URL", help="default: reports.prometheus_url")
    p.add_argument("--format", choices=FORMATS, default="html")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    p.add_argument("--report", metavar="NAME", help="a report of reports.scheduled")
    p.add_argument("--send", action="store_true", help="mail it to the report's recipients")


def _chosen(args: argparse.Namespace, config: Config) -> ScheduledReport | str | None:
    """Find the configured report to follow: None for an ad-hoc review, or an error."""
    if args.report:
        found = config.reports.get(args.report)
        if found is None:
            names = ", ".join(r.name for r in config.reports.scheduled) or "none configured"
            return f"no report {args.report!r} in reports.scheduled ({names})"
        return found
    if args.send:
        reviews = [r for r in config.reports.scheduled if r.kind == "review"]
        if len(reviews) != 1:
            names = ", ".join(r.name for r in reviews) or "none configured"
            return f"--send needs --report NAME to know the recipients (reviews: {names})"
        return reviews[0]
    return None


async def _make(config: Config, url: str, chosen: ScheduledReport | None, period: str) -> Report:
    async with aiohttp.ClientSession() as session:
        return await make_report(
            config,
            PrometheusClient(session, url),
            kind=chosen.kind if chosen else "review",
            period=period,
            now=time.time(),
            zone=config.reports.zone(chosen),
        )


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    chosen = _chosen(args, config)
    if isinstance(chosen, str):
        print(f"opslens report: {chosen}", file=sys.stderr)
        return EXIT_INVALID
    period = args.period or (chosen.effective_period if chosen else "7d")
    url = args.prometheus or config.reports.prometheus_url
    report = asyncio.run(_make(config, url, chosen, period))
    renderer = ReportRenderer()
    output = renderer.render(report, args.format)
    if args.output:
        args.output.write_text(output, encoding="utf-8")
    elif not args.send:
        sys.stdout.write(output)
    for section in report.missing:
        print(
            f"opslens report: section {section.title} is missing: {section.error}", file=sys.stderr
        )
    status = EXIT_INCOMPLETE if report.missing else 0
    if args.send:
        assert chosen is not None
        try:
            smtp = config.notify.smtp
            msg = build_message(
                report, renderer.html(report), renderer.text(report), smtp.sender, chosen.recipients
            )
            send(msg, smtp, smtp_password(smtp, args.config.resolve().parent))
        except MailError as exc:
            print(f"opslens report: {exc}", file=sys.stderr)
            return EXIT_INCOMPLETE
        print(
            f"opslens report: sent {report.title!r} to {', '.join(chosen.recipients)}",
            file=sys.stderr,
        )
    return status
