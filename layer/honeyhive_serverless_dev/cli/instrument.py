"""``hh-serverless instrument``: add the layer, the ``HH_*`` variables and the handler redirect to a function."""

from __future__ import annotations

import argparse

from honeyhive_serverless.config import EXPORT_MODES
from honeyhive_serverless_dev.aws_tools import InstrumentOptions, instrument
from honeyhive_serverless_dev.cli import common


def add_instrument(subparsers: common.SubParsers) -> None:
    """Add the ``instrument`` command."""
    parser = subparsers.add_parser(
        "instrument",
        help="trace an existing Lambda function: add the layer and redirect its handler",
        description=(
            "Add the HoneyHive layer to a Python function, set HH_* variables it does not already have, and "
            "redirect its handler to honeyhive_serverless.handler.handler (the original goes in HH_LAMBDA_HANDLER)."
        ),
    )
    common.add_function_options(parser)
    parser.add_argument(
        "--layer-arn", help="layer version ARN (default: newest version of the published layer for the runtime)"
    )
    common.add_layer_name_option(parser)
    parser.add_argument("--project", help="HH_PROJECT: the HoneyHive project")
    parser.add_argument("--api-key-secret-arn", help="HH_API_KEY_SECRET_ARN: Secrets Manager secret with the API key")
    parser.add_argument("--source", help="HH_SOURCE: the source/environment label")
    parser.add_argument(
        "--export-mode",
        choices=EXPORT_MODES,
        help="HH_EXPORT_MODE: when spans leave (after_response: after the response, by an in-process extension)",
    )
    parser.add_argument("--force", action="store_true", help="replace HH_* variables the function already has")
    common.add_dry_run_option(parser)
    parser.set_defaults(func=common.reporting_errors(_run_instrument))


def _run_instrument(args: argparse.Namespace) -> int:
    options = InstrumentOptions(
        layer_arn=args.layer_arn,
        project=args.project,
        api_key_secret_arn=args.api_key_secret_arn,
        source=args.source,
        export_mode=args.export_mode,
        force=args.force,
    )
    client = common.lambda_client(args.region)
    plan = instrument(client, args.function, options, layer_name_template=args.layer_name, dry_run=args.dry_run)
    common.report_plan(plan, "instrumented", args.dry_run)
    return 0
