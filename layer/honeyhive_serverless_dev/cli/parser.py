"""The top-level parser of ``hh-serverless``, with one module per command.

Each command module has an ``add_<name>(subparsers)`` function that adds its parser and sets ``func``
(a :data:`common.Command`); what several commands share lives in ``common``. Imports go one way: this
module imports the commands, the commands import ``common``, and no command imports another. Building
the parser needs only the runtime's dependencies (see ``common``), so ``--help`` and ``--version``
answer without the ``cli`` extra.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from honeyhive_serverless.version import __version__
from honeyhive_serverless_dev.cli import common
from honeyhive_serverless_dev.cli.build_layer import add_build_layer
from honeyhive_serverless_dev.cli.dev_server import add_dev_server
from honeyhive_serverless_dev.cli.instrument import add_instrument
from honeyhive_serverless_dev.cli.invoke import add_invoke
from honeyhive_serverless_dev.cli.program import PROG
from honeyhive_serverless_dev.cli.publish_layer import add_publish_layer
from honeyhive_serverless_dev.cli.uninstrument import add_uninstrument

__all__ = ["SUBCOMMANDS", "build_parser"]

# Extend by appending an `add_<name>(subparsers)` function; its parser must set `func`.
SUBCOMMANDS: list[Callable[[common.SubParsers], None]] = [
    add_dev_server,
    add_build_layer,
    add_publish_layer,
    add_instrument,
    add_uninstrument,
    add_invoke,
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Build, publish and attach the honeyhive-serverless Lambda layer; run handlers like Lambda.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser
