"""`opslens run`: the agent, with the chosen exporters, until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

import uvloop
from aiohttp import web

from agent.app import create_app, reload
from agent.config import Config
from agent.exporters_table import EXPORTER_NAMES
from agent.settings import Settings
from agent.web.connections import CappedSite
from agent.web.keys import AGENT
from agent.web.protocol import AgentRunner
from exporters.base import Context

from .common import EXIT_INVALID, add_config_arg, load_or_report

log = logging.getLogger("opslens.run")


def exporter_list(value: str) -> str:
    """`all`, or exporter names separated by commas (`dora,app`): one agent of several."""
    names = value.split(",")
    if value != "all" and (not set(names) <= set(EXPORTER_NAMES) or len(set(names)) < len(names)):
        choices = ", ".join(EXPORTER_NAMES)
        raise argparse.ArgumentTypeError(f"{value!r}: use all, or distinct names of {choices}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the agent")
    p.add_argument(
        "exporter",
        nargs="?",
        default="all",
        type=exporter_list,
        metavar="{all,cost,dora,app[,...]}",
        help="the exporters to run: all, one, or several separated by commas",
    )
    add_config_arg(p)
    p.add_argument("--listen", help="HOST:PORT (default: agent.listen from the config)")
    p.add_argument("--data-dir", type=Path, help="state folder (default: agent.data_dir)")


def settings_for(args: argparse.Namespace, config: Config) -> Settings:
    chosen = EXPORTER_NAMES if args.exporter == "all" else tuple(args.exporter.split(","))
    data_dir = args.data_dir or (args.config.resolve().parent / config.agent.data_dir)
    ctx = Context(data_dir=data_dir, config_dir=args.config.resolve().parent)
    return Settings(config=config, context=ctx, exporters=chosen, config_path=args.config)


class StartupError(Exception):
    """The agent cannot start; the message is the one line the operator reads."""


def _writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise StartupError(f"data directory {folder} is not writable: {exc.strerror}") from None


async def start(settings: Settings, listen: str) -> tuple[web.Application, web.AppRunner]:
    """Start the exporters and listen: idle keep-alives closed, connections capped."""
    host, _, port = listen.rpartition(":")
    _writable(settings.context.data_dir)
    app = create_app(settings)
    agent = settings.config.agent
    runner = AgentRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=agent.idle_timeout.total_seconds(),
    )
    try:
        await runner.setup()
    except Exception as exc:  # the exporters' start: a store that cannot open, say
        raise StartupError(f"cannot start the exporters: {exc}") from None
    site = CappedSite(
        runner, host.strip("[]"), int(port), agent.max_connections, app[AGENT].connections
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise StartupError(f"cannot listen on {listen}: {reason}") from None
    log.info(
        "opslens agent listening on http://%s/ (exporters: %s)",
        listen,
        ", ".join(settings.exporters),
    )
    return app, runner


async def serve(settings: Settings, listen: str) -> None:
    """Serve until SIGTERM or SIGINT, reload on SIGHUP, then shut down cleanly."""
    app, runner = await start(settings, listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[list[str]]] = set()

    def on_sighup() -> None:
        task = asyncio.ensure_future(reload(app))
        reloads.add(task)  # keep a reference until it is done
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    settings = settings_for(args, config)
    try:
        uvloop.run(serve(settings, args.listen or config.agent.listen))
    except StartupError as exc:
        print(f"opslens run: {exc}", file=sys.stderr)
        return 1
    return 0
