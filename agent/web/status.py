"""`GET /`: the agent's status page, from the same templates and look as the reports."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import jinja2
from aiohttp import web

from agent import __version__
from agent.report.render import environment
from agent.report.scheduler import STATE_FILE, SentStore

from .keys import AGENT

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ago(then: float | None, now: float) -> str:
    return "never" if then is None else f"{now - then:.0f}s ago"


def _schedule(text: dict[str, str | None]) -> str:
    every, when = next((k, v) for k, v in text.items() if v is not None)
    return f"{every} {when}"


def status_handler(
    authorized: Callable[[web.Request], bool], env: jinja2.Environment | None = None
) -> Handler:
    """Build the page handler around `authorized`, the agent's own bearer-token check."""
    template = (env or environment()).get_template("status.html.j2")

    async def status_page(request: web.Request) -> web.StreamResponse:
        # The page shows upstream errors (URLs, paths): as private as /metrics.
        if not authorized(request):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        runtime, settings = request.app[AGENT].runtime, request.app[AGENT].settings
        now = time.time()
        sources = [
            {
                "exporter": s.exporter,
                "name": s.name,
                "state": "up" if s.up else ("pending" if not s.polls else "down"),
                "ago": _ago(s.last_success, now),
                "error": s.last_error or "",
                # A poller may say more than up/down (FOCUS: the first row it had to drop).
                "detail": getattr(loop.source, "detail", None) or "",
            }
            for loop in runtime.loops
            for s in (loop.state,)
        ]
        store = SentStore(settings.context.data_dir / STATE_FILE)
        reports = []
        for r in settings.config.reports.scheduled:
            last = store.last(r.name)
            zone = settings.config.reports.zone(r)
            reports.append(
                {
                    "name": r.name,
                    "schedule": _schedule(r.schedule.model_dump()) + f" {zone.key}",
                    "period": "1d" if r.kind == "daily_digest" else r.effective_period,
                    "recipients": len(r.recipients),
                    "last_sent": "never"
                    if last is None
                    else datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%d %H:%M UTC"),
                }
            )
        page = template.render(
            version=__version__,
            project=settings.config.project,
            exporters=", ".join(e.name for e in runtime.exporters),
            sources=sources,
            reports=reports,
        )
        return web.Response(text=page, content_type="text/html")

    return status_page
