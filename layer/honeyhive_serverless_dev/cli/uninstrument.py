"""``hh-serverless uninstrument``: undo exactly what ``instrument`` did to a function."""

from __future__ import annotations

import argparse

from honeyhive_serverless_dev.aws_tools import uninstrument
from honeyhive_serverless_dev.cli.common import (
    SubParsers,
    add_dry_run_option,
    add_function_options,
    lambda_client,
    report_plan,
    reporting_errors,
)


def add_uninstrument(subparsers: SubParsers) -> None:
    """Add the ``uninstrument`` command."""
    parser = subparsers.add_parser(
        "uninstrument",
        help="undo instrument on a Lambda function",
        description="Undo what instrument changed (recorded in HH_INSTRUMENTED); other settings are kept.",
    )
    add_function_options(parser)
    add_dry_run_option(parser)
    parser.set_defaults(func=reporting_errors(_run_uninstrument))


def _run_uninstrument(args: argparse.Namespace) -> int:
    plan = uninstrument(lambda_client(args.region), args.function, dry_run=args.dry_run)
    report_plan(plan, "uninstrumented", args.dry_run)
    return 0
