"""`opslens generate`: write every artefact, or with --check report drift."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.generate import drift, render_all, write

from .common import EXIT_INVALID, add_config_arg, load_or_report


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("generate", help="generate rules, routing, dashboards, compose, k8s")
    add_config_arg(p)
    p.add_argument("-o", "--output", type=Path, help="output folder (default: the config's)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 on drift")


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    outdir = args.output or args.config.resolve().parent
    artefacts = render_all(config)
    if args.check:
        drifted = drift(artefacts, outdir)
        if drifted:
            print("generated files differ from the config (run `opslens generate`):")
            for path in drifted:
                print(f"  {path}")
            return 1
        print(f"{len(artefacts)} generated files match {args.config}")
        return 0
    changed = write(artefacts, outdir)
    print(f"wrote {len(changed)} of {len(artefacts)} files under {outdir}")
    return 0
