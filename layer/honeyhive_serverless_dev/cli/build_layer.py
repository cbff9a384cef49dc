"""``hh-serverless build-layer``: the layer zips, ``layers.json`` and a size table (see ``layer_build``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from honeyhive_serverless_dev.cli import common
from honeyhive_serverless_dev.cli.program import PROG
from honeyhive_serverless_dev.published import ARCHITECTURES


def add_build_layer(subparsers: common.SubParsers) -> None:
    """Add the ``build-layer`` command."""
    parser = subparsers.add_parser(
        "build-layer",
        help="build the Lambda layer zips and layers.json",
        description="Build honeyhive-serverless-layer-py<X.Y>-<arch>.zip for each target, and layers.json.",
    )
    common.add_target_options(parser, "build for")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output directory (default: dist)")
    parser.set_defaults(func=common.reporting_errors(_run_build_layer))


def _run_build_layer(args: argparse.Namespace) -> int:
    from honeyhive_serverless_dev.layer_build import build_all, size_table

    # The builder logs a line as each zip starts and ends (a build takes minutes), shown on a terminal like
    # common.progress; the missing-interpreter warnings always.
    logging.basicConfig(level=logging.INFO if sys.stderr.isatty() else logging.WARNING, format="%(message)s")
    infos = build_all(args.out, args.python, args.arch or ARCHITECTURES)
    common.stdout_line(size_table(infos))
    problems = [problem for info in infos for problem in info.budget_problems()]
    for problem in problems:
        common.stderr_line(f"{PROG}: over budget: {problem}")
    return 1 if problems else 0
