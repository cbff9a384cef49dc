"""What the ``hh-serverless`` commands share: the parser types, printing, error reporting and common options.

The bottom of the CLI package: every command module imports this one and nothing imports a command
module but the package's ``__init__``, so the commands never depend on each other or on the parser.

Building the parser needs nothing but the runtime's own dependencies, so ``--help`` and ``--version``
answer without the ``cli`` extra: what needs the extra (boto3, the layer builder's ``packaging``, the
dev receiver's ``jsonschema``) is imported by a command when it runs, never by this module or by a
command module's top.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeAlias

from honeyhive_serverless_dev.cli.program import PROG
from honeyhive_serverless_dev.published import ARCHITECTURES, DEFAULT_PARAMETER_PREFIX
from honeyhive_serverless_dev.runtimes import PYTHON_VERSIONS

if TYPE_CHECKING:
    from honeyhive_serverless_dev.aws_api import Client
    from honeyhive_serverless_dev.instrumenting import AwsClients, Outcome, Selection

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: What a command's parser sets as ``func``: runs the parsed command, returns the exit code.
Command = Callable[[argparse.Namespace], int]


def user_errors() -> tuple[type[Exception], ...]:
    """The failures a user can fix (a bad target, an uninstrumentable function, an AWS error), reported in
    one line without a traceback; imported when a command runs (botocore is the cli extra's)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from honeyhive_serverless_dev.aws_api import AwsToolError
    from honeyhive_serverless_dev.layer_build import LayerBuildError

    return (AwsToolError, LayerBuildError, BotoCoreError, ClientError)


def stdout_line(text: str) -> None:
    """Print ``text`` on stdout, flushed: the output is usually a pipe (a test, ``tee``) that wants it now."""
    print(text, flush=True)


def stderr_line(text: str) -> None:
    """Print ``text`` on stderr, flushed (progress and problems, kept apart from a command's result)."""
    print(text, file=sys.stderr, flush=True)


def progress(text: str) -> None:
    """One line of progress on a long step (a layer build, a region's publishing), on stderr, and only when
    stderr is a terminal: a script, a pipe or a CI log gets the result alone."""
    if sys.stderr.isatty():
        stderr_line(text)


def reporting_errors(command: Command) -> Command:
    """Turn the errors a user can fix into one ``hh-serverless: error: ...`` line and exit code 1."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except user_errors() as exc:
            stderr_line(f"{PROG}: error: {exc}")
            return 1

    return run


def aws_client(service: str, region: str | None) -> Client:
    """A boto3 client of ``service`` (``lambda``, ``ssm``, ``iam``) for ``region`` (None: the AWS configuration's)."""
    # Imported here: boto3 takes a noticeable time to import, and only the commands that call AWS need it.
    import boto3

    return boto3.client(service, region_name=region)


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
        choices=ARCHITECTURES,
        help=f"Lambda architecture to {verb} (repeatable; default: both)",
    )


def add_parameter_prefix_option(parser: argparse.ArgumentParser) -> None:
    """``--parameter-prefix``: where the SSM parameters naming the published layers are."""
    parser.add_argument(
        "--parameter-prefix",
        default=DEFAULT_PARAMETER_PREFIX,
        metavar="PATH",
        help="SSM parameter path of the published layer ARNs: PATH/python3.12/arm64/latest (default: %(default)s)",
    )


def add_selection_options(parser: argparse.ArgumentParser, all_help: str) -> None:
    """``--function`` and ``--tag`` (each repeatable, together or apart), or ``--function-regex`` or ``--all``
    alone; and ``--region``. Which go together is ``Selection``'s to say, checked when it is made."""
    parser.add_argument("--function", action="append", metavar="NAME", help="function name or ARN (repeatable)")
    parser.add_argument(
        "--tag",
        action="append",
        metavar="KEY=VALUE",
        help="the functions carrying this tag (repeatable: those carrying all of them; with --function, those "
        "named too), e.g. aws:cloudformation:stack-name=my-stack",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--function-regex", type=_regex, metavar="RE", help="the functions whose whole name matches RE")
    group.add_argument("--all", action="store_true", help=all_help)
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")


def selection(args: argparse.Namespace) -> Selection:
    """The functions :func:`add_selection_options` selected."""
    from honeyhive_serverless_dev.instrumenting import Selection

    return Selection(
        names=tuple(args.function or ()),
        pattern=args.function_regex,
        everything=args.all,
        tags=tuple(args.tag or ()),
    )


def regional_clients(args: argparse.Namespace) -> AwsClients:
    """The clients of the ``--region`` of a command that changes functions."""
    from honeyhive_serverless_dev.instrumenting import AwsClients

    return AwsClients(lambda service: aws_client(service, args.region))


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {text!r} ({exc})") from exc


def add_dry_run_option(parser: argparse.ArgumentParser) -> None:
    """``--dry-run``: show the plans instead of applying them."""
    parser.add_argument("--dry-run", action="store_true", help="print the changes and make none")


def report_outcomes(outcomes: Iterable[Outcome], done: str, dry_run: bool) -> int:
    """Print each function's plan and whether it was applied (``done``, or ``already done`` when it changed
    nothing), or why not; the exit code.

    Plans go to stdout, refusals and skips to stderr as ``hh-serverless: FUNCTION: reason``; the
    exit code is 1 when any function was refused or failed, the others done all the same.
    """
    code = 0
    for outcome in outcomes:
        if outcome.plan is not None:
            if dry_run:
                result = "dry run: nothing changed"
            elif outcome.plan.changes_nothing:  # no update was made: it was as asked already
                result = f"already {done} {outcome.function_name}"
            else:
                result = f"{done} {outcome.function_name}"
            stdout_line(f"{outcome.plan.describe()}\n{result}")
        elif outcome.skipped is not None:
            stderr_line(f"{PROG}: {outcome.function_name}: skipped: {outcome.skipped}")
        else:
            stderr_line(f"{PROG}: {outcome.function_name}: {outcome.problem}")
            code = 1
    return code
