"""`opslens run`: the agent, with the chosen exporters, until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

import uvloop
from aiohttp import web

from agent.app import create_app
from agent.config import Config
from agent.exporters_table import EXPORTER_NAMES
from agent.settings import Settings
from exporters.base import Context

from .common import EXIT_INVALID, add_config_arg, load_or_report

log = logging.getLogger("opslens.run")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the agent")
    p.add_argument("exporter", nargs="?", default="all", choices=[*EXPORTER_NAMES, "all"])
    add_config_arg(p)
    p.add_argument("--listen", help="HOST:PORT (default: agent.listen from the config)")
    p.add_argument("--data-dir", type=Path, help="state folder (default: agent.data_dir)")


def settings_for(args: argparse.Namespace, config: Config) -> Settings:
    chosen = EXPORTER_NAMES if args.exporter == "all" else (args.exporter,)
    data_dir = args.data_dir or (args.config.resolve().parent / config.agent.data_dir)
    ctx = Context(data_dir=data_dir, config_dir=args.config.resolve().parent)
    return Settings(config=config, context=ctx, exporters=chosen)


async def serve(settings: Settings, listen: str) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly."""
    host, _, port = listen.rpartition(":")
    settings.context.data_dir.mkdir(parents=True, exist_ok=True)
    runner = web.AppRunner(create_app(settings), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]"), int(port))
    await site.start()
    log.info(
        "opslens agent listening on http://%s/ (exporters: %s)",
        listen,
        ", ".join(settings.exporters),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
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
    uvloop.run(serve(settings, args.listen or config.agent.listen))
    return 0
