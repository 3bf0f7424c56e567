"""`opslens check`: promtool, amtool, kubectl and cross-artefact checks, as a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.verify import REQUIRED_TOOLS, Result, verify

from .common import EXIT_INVALID, add_config_arg, load_or_report

EXIT_FAILED = 1
EXIT_TOOL_MISSING = 3


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check", help="run promtool/amtool/kubectl on the generated files")
    add_config_arg(p)
    p.add_argument("-o", "--output", type=Path, help="generated folder (default: the config's)")


def table(results: list[Result]) -> str:
    width = max(len(r.name) for r in results)
    lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    for r in results:
        status = "ok" if r.ok else ("MISSING" if r.missing_tool else "FAIL")
        detail = r.detail.splitlines() or [""]
        lines.append(f"{r.name:<{width}}  {status:<6}  {detail[0]}")
        lines += [f"{'':<{width}}          {more}" for more in detail[1:]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    outdir = args.output or args.config.resolve().parent
    results = verify(config, outdir)
    print(table(results))
    missing = sorted({r.missing_tool for r in results if r.missing_tool})
    if missing:
        print(
            f"\nmissing: {', '.join(missing)}; install the Debian packages "
            "prometheus and prometheus-alertmanager (apt-get install prometheus "
            "prometheus-alertmanager) or run `make test`"
        )
        return EXIT_TOOL_MISSING if set(missing) & set(REQUIRED_TOOLS) else EXIT_FAILED
    return 0 if all(r.ok for r in results) else EXIT_FAILED
