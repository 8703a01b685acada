"""The ``demo`` command: the sample workspace and everything gridmap makes from it."""

from __future__ import annotations

import argparse
from pathlib import Path

from gridmap.cli._common import _out


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's command to `sub`, the ``gridmap`` command's subparsers."""
    p = sub.add_parser("demo", help="build the sample workspace and everything gridmap makes from it")
    p.add_argument("--out", type=Path, default=Path("gridmap-demo"), help="output folder (default gridmap-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from gridmap.demo import run_demo  # deferred: pandas, GeoPandas, SciPy, folium

    written = run_demo(args.out, seed=args.seed)
    _out(f"demo written to {args.out}:")
    for path in written:
        _out(f"  {path}")
    return 0
