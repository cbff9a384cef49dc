"""``hh-serverless`` subcommands for the Lambda layer: build-layer, publish-layer, instrument, uninstrument.

Each ``add_<name>(subparsers)`` adds its parser and sets ``func`` to a function returning the exit code,
the convention of ``honeyhive_serverless_dev.cli``. Expected failures (a bad target, an
uninstrumentable function, an AWS error) print one line on stderr and exit 1, without a traceback.
boto3 itself is imported only by the commands that call AWS, so the other subcommands do not pay for it.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from honeyhive_serverless.config import EXPORT_MODES
from honeyhive_serverless_dev.aws_tools import (
    DEFAULT_LAYER_NAME,
    AwsToolError,
    InstrumentOptions,
    LambdaClient,
    Plan,
    PublishError,
    instrument,
    layer_name,
    publish_layer,
    uninstrument,
)
from honeyhive_serverless_dev.layer_build import (
    PLATFORMS,
    PYTHON_VERSIONS,
    LayerBuildError,
    build_all,
    read_manifest,
    size_table,
)

if TYPE_CHECKING:  # cli.py imports this module to register the commands: no runtime import back
    from honeyhive_serverless_dev.cli import SubParsers

Command = Callable[[argparse.Namespace], int]


def _reporting_errors(command: Command) -> Command:
    """Turn the errors a user can fix into one ``hh-serverless: error: ...`` line and exit code 1."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (AwsToolError, LayerBuildError, BotoCoreError, ClientError) as exc:
            print(f"hh-serverless: error: {exc}", file=sys.stderr, flush=True)
            return 1

    return run


def _lambda_client(region: str | None) -> LambdaClient:
    import boto3

    return boto3.client("lambda", region_name=region)


def _add_target_options(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--python",
        action="append",
        choices=PYTHON_VERSIONS,
        help=f"Python version to {verb} (repeatable; default: all of {', '.join(PYTHON_VERSIONS)})",
    )
    parser.add_argument(
        "--arch",
        action="append",
        choices=tuple(PLATFORMS),
        help=f"Lambda architecture to {verb} (repeatable; default: both)",
    )


def _add_layer_name_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--layer-name",
        default=DEFAULT_LAYER_NAME,
        metavar="NAME",
        help="layer name; {py} (e.g. 312) and {arch} are filled in (default: %(default)s)",
    )


# --------------------------------------------------------------------------------------------
# build-layer


def add_build_layer(subparsers: SubParsers) -> None:
    """``build-layer``: the layer zips, ``layers.json`` and a size table."""
    parser = subparsers.add_parser(
        "build-layer",
        help="build the Lambda layer zips and layers.json",
        description="Build honeyhive-serverless-layer-py<X.Y>-<arch>.zip for each target, and layers.json.",
    )
    _add_target_options(parser, "build for")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output directory (default: dist)")
    parser.set_defaults(func=_reporting_errors(_run_build_layer))


def _run_build_layer(args: argparse.Namespace) -> int:
    # Progress and the missing-interpreter warnings come through logging; a build takes minutes.
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    infos = build_all(args.out, args.python or PYTHON_VERSIONS, args.arch or tuple(PLATFORMS))
    print(size_table(infos), flush=True)
    problems = [problem for info in infos for problem in info.budget_problems()]
    for problem in problems:
        print(f"hh-serverless: over budget: {problem}", file=sys.stderr, flush=True)
    return 1 if problems else 0


# --------------------------------------------------------------------------------------------
# publish-layer


def add_publish_layer(subparsers: SubParsers) -> None:
    """``publish-layer``: one layer version per zip in ``layers.json``, reused when already published."""
    parser = subparsers.add_parser(
        "publish-layer",
        help="publish the built layer zips to Lambda and print their ARNs",
        description="Publish each selected zip of layers.json as a layer version (reused if already published).",
    )
    parser.add_argument("--region", required=True, help="AWS region to publish in")
    _add_target_options(parser, "publish")
    _add_layer_name_option(parser)
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="where layers.json is (default: dist)")
    parser.set_defaults(func=_reporting_errors(_run_publish_layer))


def _run_publish_layer(args: argparse.Namespace) -> int:
    infos = [
        info
        for info in read_manifest(args.dist)
        if (not args.python or info.python in args.python) and (not args.arch or info.arch in args.arch)
    ]
    if not infos:
        raise PublishError(f"no built layer in {args.dist} matches: run hh-serverless build-layer")
    names = [layer_name(args.layer_name, info.python, info.arch) for info in infos]
    if len(set(names)) < len(names):
        raise PublishError(
            f"--layer-name {args.layer_name} gives {len(names)} layers the same name: "
            "put {py} and {arch} in it, or select one layer with --python and --arch"
        )
    client = _lambda_client(args.region)
    for info, name in zip(infos, names, strict=True):
        published = publish_layer(client, info, name)
        status = "reused existing version" if published.reused else "published"
        print(f"{info.path.name}: {status}", file=sys.stderr, flush=True)
        print(published.arn, flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# instrument / uninstrument


def add_instrument(subparsers: SubParsers) -> None:
    """``instrument``: add the layer, the HH_* variables and the handler redirect to a function."""
    parser = subparsers.add_parser(
        "instrument",
        help="trace an existing Lambda function: add the layer and redirect its handler",
        description=(
            "Add the HoneyHive layer to a Python function, set HH_* variables it does not already have, and "
            "redirect its handler to honeyhive_serverless.handler.handler (the original goes in HH_LAMBDA_HANDLER)."
        ),
    )
    parser.add_argument("--function", required=True, help="function name or ARN")
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    parser.add_argument(
        "--layer-arn", help="layer version ARN (default: newest version of the published layer for the runtime)"
    )
    _add_layer_name_option(parser)
    parser.add_argument("--project", help="HH_PROJECT: the HoneyHive project")
    parser.add_argument("--api-key-secret-arn", help="HH_API_KEY_SECRET_ARN: Secrets Manager secret with the API key")
    parser.add_argument("--source", help="HH_SOURCE: the source/environment label")
    parser.add_argument(
        "--export-mode",
        choices=EXPORT_MODES,
        help="HH_EXPORT_MODE: when spans leave (after_response: after the response, by an in-process extension)",
    )
    parser.add_argument("--force", action="store_true", help="replace HH_* variables the function already has")
    parser.add_argument("--dry-run", action="store_true", help="print the change and make none")
    parser.set_defaults(func=_reporting_errors(_run_instrument))


def _run_instrument(args: argparse.Namespace) -> int:
    options = InstrumentOptions(
        layer_arn=args.layer_arn,
        project=args.project,
        api_key_secret_arn=args.api_key_secret_arn,
        source=args.source,
        export_mode=args.export_mode,
        force=args.force,
    )
    client = _lambda_client(args.region)
    plan = instrument(client, args.function, options, layer_name_template=args.layer_name, dry_run=args.dry_run)
    _report(plan, "instrumented", args.dry_run)
    return 0


def add_uninstrument(subparsers: SubParsers) -> None:
    """``uninstrument``: undo exactly what ``instrument`` did to a function."""
    parser = subparsers.add_parser(
        "uninstrument",
        help="undo instrument on a Lambda function",
        description="Undo what instrument changed (recorded in HH_INSTRUMENTED); other settings are kept.",
    )
    parser.add_argument("--function", required=True, help="function name or ARN")
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    parser.add_argument("--dry-run", action="store_true", help="print the change and make none")
    parser.set_defaults(func=_reporting_errors(_run_uninstrument))


def _run_uninstrument(args: argparse.Namespace) -> int:
    plan = uninstrument(_lambda_client(args.region), args.function, dry_run=args.dry_run)
    _report(plan, "uninstrumented", args.dry_run)
    return 0


def _report(plan: Plan, done: str, dry_run: bool) -> None:
    outcome = "dry run: nothing changed" if dry_run else f"{done} {plan.function_name}"
    print(f"{plan.describe()}\n{outcome}", flush=True)
