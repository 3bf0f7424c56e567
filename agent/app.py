"""The agent's aiohttp application: `/metrics`, health, status page, reload, exporter routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field, replace

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric

from agent.config import ConfigError, load
from agent.exporters_table import build_exporter, web_setup
from agent.report import scheduler as report_scheduler
from agent.runtime import Runtime
from agent.settings import Settings
from agent.web.connections import ConnectionStats
from agent.web.errors import json_errors
from agent.web.keys import AGENT
from agent.web.status import status_handler
from exporters.auth import bearer_ok
from exporters.base import Exporter

log = logging.getLogger("opslens.agent")

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(eq=False)  # a registered collector must stay hashable
class ReloadStatus:
    """The outcome of the last config (re)load, as Prometheus exposes its own."""

    successful: bool = True
    last_success: float = 0.0
    attempts: int = 0

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "opslens_config_last_reload_successful",
            "1 if the last config reload succeeded, 0 if it was refused (opslens agent).",
            value=1.0 if self.successful else 0.0,
        )
        yield GaugeMetricFamily(
            "opslens_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load or reload (opslens agent).",
            value=self.last_success,
        )


@dataclass
class AgentState:
    """What a reload swaps as one: the settings, the runtime and the metrics token."""

    settings: Settings
    runtime: Runtime
    metrics_token: str | None
    reload: ReloadStatus
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Cleared while a reload swaps the runtime: ingest waits instead of reaching a store
    # that is closing.
    serving: asyncio.Event = field(default_factory=asyncio.Event)
    connections: ConnectionStats = field(default_factory=ConnectionStats)

    def exporter(self, name: str) -> Exporter | None:
        return next((e for e in self.runtime.exporters if e.name == name), None)


def _runtime(
    exporters: Sequence[Exporter],
    settings: Settings,
    status: ReloadStatus,
    connections: ConnectionStats,
) -> Runtime:
    timeout = settings.config.agent.poll_timeout
    return Runtime(
        exporters,
        clock=settings.context.clock,
        agent_collectors=[status, connections],
        # Both only grow, so their sum changes whenever either does.
        agent_generation=lambda: status.attempts + connections.refused,
        poll_timeout=timeout.total_seconds() if timeout is not None else None,
    )


def create_app(settings: Settings, exporters: Sequence[Exporter] | None = None) -> web.Application:
    """Build the agent: exporters from the config (or given), poll loops, routes."""
    config = settings.config
    app = web.Application(client_max_size=config.agent.max_body_bytes, middlewares=[json_errors])
    if exporters is None:
        exporters = [build_exporter(name, config, settings.context) for name in settings.exporters]
    status = ReloadStatus(last_success=settings.context.clock())
    connections = ConnectionStats()
    app[AGENT] = AgentState(
        settings,
        _runtime(exporters, settings, status, connections),
        _metrics_token(settings),
        status,
        connections=connections,
    )
    app.cleanup_ctx.append(_runtime_ctx)
    report_scheduler.install(app)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload_route)
    app.router.add_get("/", status_handler(_authorized))
    for name in dict.fromkeys(e.name for e in exporters):
        if setup := web_setup(name):
            setup(app)
    return app


async def _runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    state = app[AGENT]
    await state.runtime.start()
    state.serving.set()
    yield
    state.serving.clear()
    async with state.lock:  # a reload in progress finishes first
        await state.runtime.stop()


async def reload(app: web.Application) -> list[str]:
    """Re-read the config file and swap in new exporters; return the problems, [] on success.

    A config that does not load is refused and the running one goes on. The old runtime
    stops before the new one starts, because the DORA store has one writer at a time.
    """
    state = app[AGENT]
    async with state.lock:
        path = state.settings.config_path
        problems = await _reload(state) if path else ["the agent was not started from a file"]
        state.reload.successful = not problems
        if problems:
            for problem in problems:
                log.error("config reload refused, keeping the running config: %s", problem)
        else:
            state.reload.last_success = state.settings.context.clock()
            log.info("config reloaded from %s", path)
        # Last: the exposition is cached by this count, so a scrape rendering meanwhile
        # (in a worker thread) can never keep the old outcome under the new key.
        state.reload.attempts += 1
        return problems


async def _reload(state: AgentState) -> list[str]:
    old = state.settings
    assert old.config_path is not None
    try:
        config = await asyncio.to_thread(load, old.config_path)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    fixed = ("listen", "data_dir", "max_connections", "idle_timeout")
    if changed := [k for k in fixed if getattr(config.agent, k) != getattr(old.config.agent, k)]:
        log.warning("agent.%s: takes effect at the next restart", ", agent.".join(changed))
    settings = replace(old, config=config)
    try:
        exporters = [build_exporter(n, config, settings.context) for n in settings.exporters]
    except Exception as exc:  # a constructor that refuses its section, say
        return [f"cannot build the exporters: {exc}"]
    state.serving.clear()
    try:
        await state.runtime.stop()
        runtime = _runtime(exporters, settings, state.reload, state.connections)
        try:
            await runtime.start()
        except Exception as exc:
            await runtime.stop()
            previous = [build_exporter(n, old.config, old.context) for n in old.exporters]
            state.runtime = _runtime(previous, old, state.reload, state.connections)
            await state.runtime.start()
            return [f"the new config did not start ({exc}); the previous one runs again"]
        state.settings = settings
        state.runtime = runtime
        state.metrics_token = _metrics_token(settings)
        return []
    finally:
        state.serving.set()


def _metrics_token(settings: Settings) -> str | None:
    """The bearer token for /metrics and /, read once; "" (deny all) when unreadable."""
    env_name = settings.config.agent.metrics_token_env
    if env_name is None:
        return None
    token = settings.context.secret(env_name)
    if not token:
        log.error("%s is set in the config but not in the environment: denying /metrics", env_name)
        return ""
    return token


def _authorized(request: web.Request) -> bool:
    return bearer_ok(request.headers.get("Authorization", ""), request.app[AGENT].metrics_token)


def _denied() -> web.Response:
    return web.json_response({"error": "missing or wrong bearer token"}, status=401)


async def reload_route(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _denied()
    problems = await reload(request.app)
    if problems:
        return web.json_response(
            {"error": "config reload refused", "problems": problems}, status=422
        )
    return web.json_response({"reloaded": True})


async def metrics(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _denied()
    openmetrics = "application/openmetrics-text" in request.headers.get("Accept", "")
    compress = "gzip" in request.headers.get("Accept-Encoding", "")
    # Rendering after a poll can take seconds for large cost exports: keep it off the
    # event loop so webhooks are still answered; cached scrapes return at once anyway.
    endpoint = request.app[AGENT].runtime.endpoint
    body = await asyncio.to_thread(endpoint.body, openmetrics, compress)
    response = web.Response(body=body)
    response.headers["Content-Type"] = OPENMETRICS_TYPE if openmetrics else TEXT_TYPE
    if compress:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept, Accept-Encoding"
    return response


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OpsLens agent is healthy.\n")


async def ready(request: web.Request) -> web.Response:
    runtime = request.app[AGENT].runtime
    if runtime.ready:
        return web.Response(text="OpsLens agent is ready.\n")
    waiting = [f"{s.exporter}/{s.name}" for s in runtime.states() if not s.settled]
    return web.Response(status=503, text=f"waiting for first poll of: {', '.join(waiting)}\n")
