"""``hh-serverless uninstrument``: undo exactly what ``instrument`` did to functions."""

from __future__ import annotations

import argparse

from honeyhive_serverless_dev.cli import common


def add_uninstrument(subparsers: common.SubParsers) -> None:
    """Add the ``uninstrument`` command."""
    parser = subparsers.add_parser(
        "uninstrument",
        help="undo instrument on Lambda functions",
        description=(
            "Undo what instrument changed (recorded in HH_INSTRUMENTED), the role policy it put included; "
            "other settings are kept."
        ),
    )
    common.add_selection_options(parser, "all functions of the region instrument changed (carrying HH_INSTRUMENTED)")
    common.add_dry_run_option(parser)
    parser.set_defaults(func=common.reporting_errors(_run_uninstrument))


def _run_uninstrument(args: argparse.Namespace) -> int:
    from honeyhive_serverless_dev.instrumenting import uninstrument_functions

    outcomes = uninstrument_functions(common.regional_clients(args), common.selection(args), dry_run=args.dry_run)
    return common.report_outcomes(outcomes, "uninstrumented", args.dry_run)
