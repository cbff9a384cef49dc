"""``hh-serverless uninstrument``: undo exactly what ``instrument`` did to a function."""

from __future__ import annotations

import argparse

from honeyhive_serverless_dev.aws_tools import uninstrument
from honeyhive_serverless_dev.cli import common


def add_uninstrument(subparsers: common.SubParsers) -> None:
    """Add the ``uninstrument`` command."""
    parser = subparsers.add_parser(
        "uninstrument",
        help="undo instrument on a Lambda function",
        description="Undo what instrument changed (recorded in HH_INSTRUMENTED); other settings are kept.",
    )
    common.add_function_options(parser)
    common.add_dry_run_option(parser)
    parser.set_defaults(func=common.reporting_errors(_run_uninstrument))


def _run_uninstrument(args: argparse.Namespace) -> int:
    plan = uninstrument(common.lambda_client(args.region), args.function, dry_run=args.dry_run)
    common.report_plan(plan, "uninstrumented", args.dry_run)
    return 0
