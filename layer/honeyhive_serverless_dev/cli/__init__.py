"""The ``hh-serverless`` command line (``pip install 'honeyhive-serverless[cli]'``).

``--help`` and ``--version`` answer with the runtime alone. Before a command runs, the entry point checks
for the ``cli`` extra's distributions: without them the command would end in an ImportError traceback,
where one line naming what to install will do. The extra's list is read from the installed package's
metadata, so it has one source (pyproject.toml).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
from collections.abc import Callable

from honeyhive_serverless_dev.cli.program import DISTRIBUTION, EXTRA, PROG

__all__ = ["main", "missing_requirements"]

EXIT_USAGE = 2
_EXTRA_MARKER = re.compile(rf"""extra\s*==\s*["']{EXTRA}["']""")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def missing_requirements() -> list[str]:
    """The distributions of the ``cli`` extra that are not installed (by name, in the extra's order)."""
    try:
        requirements = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:  # run from sources that were never installed
        return []
    missing = []
    for requirement in requirements:
        name = _NAME.match(requirement)
        if name is None or not _EXTRA_MARKER.search(requirement):
            continue
        try:
            importlib.metadata.distribution(name.group())
        except importlib.metadata.PackageNotFoundError:
            missing.append(name.group())
    return missing


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (2, with one line, when the cli extra is missing)."""
    from honeyhive_serverless_dev.cli.parser import build_parser

    parser = build_parser()
    args = parser.parse_args(argv)  # --help and --version end here, extra or not
    command: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    missing = missing_requirements()
    if missing:
        print(
            f"{PROG} {args.command}: needs {', '.join(missing)}: pip install '{DISTRIBUTION}[{EXTRA}]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return command(args)
