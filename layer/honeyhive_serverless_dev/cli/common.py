"""What the ``hh-serverless`` commands share: the parser types, printing, error reporting and common options.

The bottom of the CLI package: every command module imports this one and nothing imports a command
module but the package's ``__init__``, so the commands never depend on each other or on the parser.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import TypeAlias

from botocore.exceptions import BotoCoreError, ClientError

from honeyhive_serverless_dev.aws_tools import AwsToolError, LambdaClient, Plan
from honeyhive_serverless_dev.layer_build import PLATFORMS, PYTHON_VERSIONS, LayerBuildError
from honeyhive_serverless_dev.published import DEFAULT_LAYER_NAME

PROG = "hh-serverless"

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: What a command's parser sets as ``func``: runs the parsed command, returns the exit code.
Command = Callable[[argparse.Namespace], int]

# The failures a user can fix (a bad target, an uninstrumentable function, an AWS error): reported in
# one line, without a traceback.
USER_ERRORS = (AwsToolError, LayerBuildError, BotoCoreError, ClientError)


def stdout_line(text: str) -> None:
    """Print ``text`` on stdout, flushed: the output is usually a pipe (a test, ``tee``) that wants it now."""
    print(text, flush=True)


def stderr_line(text: str) -> None:
    """Print ``text`` on stderr, flushed (progress and problems, kept apart from a command's result)."""
    print(text, file=sys.stderr, flush=True)


def reporting_errors(command: Command) -> Command:
    """Turn the errors a user can fix into one ``hh-serverless: error: ...`` line and exit code 1."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except USER_ERRORS as exc:
            stderr_line(f"{PROG}: error: {exc}")
            return 1

    return run


def lambda_client(region: str | None) -> LambdaClient:
    """A boto3 Lambda client for ``region`` (None: the AWS configuration's)."""
    # Imported here: boto3 takes a noticeable time to import, and only the commands that call AWS need it.
    import boto3

    return boto3.client("lambda", region_name=region)


def add_target_options(parser: argparse.ArgumentParser, verb: str) -> None:
    """``--python`` and ``--arch``, repeatable: which layer zips a command works on (default: all)."""
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


def add_layer_name_option(parser: argparse.ArgumentParser) -> None:
    """``--layer-name``: the template a published layer's name is made from."""
    parser.add_argument(
        "--layer-name",
        default=DEFAULT_LAYER_NAME,
        metavar="NAME",
        help="layer name; {py} (e.g. 312) and {arch} are filled in (default: %(default)s)",
    )


def add_function_options(parser: argparse.ArgumentParser) -> None:
    """``--function`` and ``--region``: the deployed function a command changes."""
    parser.add_argument("--function", required=True, help="function name or ARN")
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")


def add_dry_run_option(parser: argparse.ArgumentParser) -> None:
    """``--dry-run``: show the plan instead of applying it."""
    parser.add_argument("--dry-run", action="store_true", help="print the change and make none")


def report_plan(plan: Plan, done: str, dry_run: bool) -> None:
    """Print what a function change does, then whether it was made (``done``) or only planned."""
    outcome = "dry run: nothing changed" if dry_run else f"{done} {plan.function_name}"
    stdout_line(f"{plan.describe()}\n{outcome}")
