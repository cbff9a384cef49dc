"""``hh-serverless instrument``: add the layer, the ``HH_*`` variables and the handler redirect to functions;
on a function instrumented already, bring its layer and variables up to date in place."""

from __future__ import annotations

import argparse

from honeyhive_serverless.config import EXPORT_MODES
from honeyhive_serverless.instrumentors import instrumentors_variable
from honeyhive_serverless_dev.cli import common


def add_instrument(subparsers: common.SubParsers) -> None:
    """Add the ``instrument`` command."""
    parser = subparsers.add_parser(
        "instrument",
        help="trace existing Lambda functions: add the layer and redirect their handlers",
        description=(
            "Add the HoneyHive layer to Python functions, set HH_* variables they do not already have, and "
            "redirect their handlers to honeyhive_serverless.handler.handler (the original goes in "
            "HH_LAMBDA_HANDLER). A function instrumented already is brought up to date in place: the new layer "
            "version replaces the one instrument attached, the variables instrument set take the values given now "
            "(and keep theirs otherwise); one instrumented the same way already is left alone (no update). Run it "
            "after every deploy (a deploy puts back the configuration it manages): --tag selects the functions by "
            "tag. A function that cannot be instrumented is reported; the others still are."
        ),
    )
    common.add_selection_options(
        parser, "all Python zip functions of the region (with --no-layer, container image functions too)"
    )
    layer = parser.add_mutually_exclusive_group()
    layer.add_argument(
        "--layer-arn",
        help="layer version ARN (default: the one the SSM parameter PREFIX/pythonX.Y/ARCH/latest holds)",
    )
    layer.add_argument(
        "--no-layer",
        dest="layer",
        action="store_false",
        help="add no layer: the function bundles honeyhive-serverless (the only way for container images)",
    )
    common.add_parameter_prefix_option(parser)
    parser.add_argument(
        "--project", help="HH_PROJECT: the HoneyHive project (without it, and none set, spans are filed under none)"
    )
    # Which of these go together is InstrumentOptions' to say, for the API and the command line alike.
    parser.add_argument(
        "--api-key-secret-arn",
        metavar="ARN",
        help="HH_API_KEY_SECRET_ARN: the full ARN of the Secrets Manager secret with the key (an ingestion key, "
        "recommended, or API key)",
    )
    parser.add_argument(
        "--api-key-ssm-parameter",
        metavar="NAME|ARN",
        help="HH_API_KEY_SSM_PARAMETER: SSM SecureString parameter with the key (ingestion or API key)",
    )
    parser.add_argument(
        "--no-key",
        action="store_true",
        help="instrument functions that have no key source (nothing is sent to HoneyHive until they get one)",
    )
    parser.add_argument(
        "--grant-secret-read",
        action="store_true",
        help="put an inline policy on each function's role allowing secretsmanager:GetSecretValue on that secret",
    )
    parser.add_argument("--source", help="HH_SOURCE: the source/environment label")
    parser.add_argument(
        "--export-mode",
        choices=EXPORT_MODES,
        help="HH_EXPORT_MODE: when spans leave (after_response: after the response, by an in-process extension)",
    )
    parser.add_argument(
        "--instrumentors",
        type=_instrumentors,
        help="HH_INSTRUMENTORS: LLM libraries to trace with the layer's instrumentors, e.g. openai,anthropic, "
        "or all (-name leaves one out)",
    )
    parser.add_argument("--force", action="store_true", help="replace HH_* variables the function already has")
    common.add_dry_run_option(parser)
    parser.set_defaults(func=common.reporting_errors(_run_instrument))


def _run_instrument(args: argparse.Namespace) -> int:
    from honeyhive_serverless_dev.instrumenting import instrument_functions
    from honeyhive_serverless_dev.planning import InstrumentOptions

    options = InstrumentOptions(
        layer_arn=args.layer_arn,
        project=args.project,
        api_key_secret_arn=args.api_key_secret_arn,
        api_key_ssm_parameter=args.api_key_ssm_parameter,
        source=args.source,
        export_mode=args.export_mode,
        instrumentors=args.instrumentors,
        force=args.force,
        layer=args.layer,
        grant_secret_read=args.grant_secret_read,
        no_key=args.no_key,
    )
    outcomes = instrument_functions(
        common.regional_clients(args),
        common.selection(args),
        options,
        parameter_prefix=args.parameter_prefix,
        dry_run=args.dry_run,
    )
    return common.report_outcomes(outcomes, "instrumented", args.dry_run)


def _instrumentors(value: str) -> str:
    try:
        return instrumentors_variable(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("instrumentors: ")) from None
