"""The ``hh-serverless`` command line.

Subcommands register themselves in ``SUBCOMMANDS``: each entry is an ``_add_<name>(subparsers)``
function that adds its parser and sets ``func`` (a ``Callable[[argparse.Namespace], int]``).
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TypeAlias

from honeyhive_serverless_dev.invoke_cli import add_invoke
from honeyhive_serverless_dev.layer_cli import add_build_layer, add_instrument, add_publish_layer, add_uninstrument
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _print(text: str) -> None:
    # Flushed on every line: the output is usually a pipe (a test, `tee`) that wants it now.
    print(text, flush=True)


# --------------------------------------------------------------------------------------------
# dev-server


def _add_dev_server(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "dev-server",
        help="run a local HoneyHive-compatible receiver and print session trees as spans arrive",
        description="Run a local HoneyHive-compatible receiver; point HH_API_URL at it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: 0, any free port)")
    parser.add_argument("--jsonl", metavar="FILE", help="append every received item to FILE as JSON lines")
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        action="append",
        dest="api_keys",
        help="require 'Authorization: Bearer KEY' (repeatable; default: no auth)",
    )
    parser.add_argument(
        "--delay-ms", type=float, default=0.0, help="delay every answer by N ms (simulated network RTT)"
    )
    parser.set_defaults(func=_run_dev_server)


def _run_dev_server(args: argparse.Namespace) -> int:
    batches: queue.Queue[list[ReceivedSpan] | None] = queue.Queue()
    receiver = DevReceiver(
        args.host,
        args.port,
        api_keys=set(args.api_keys) if args.api_keys else None,
        delay_ms=args.delay_ms,
        jsonl_path=args.jsonl,
        # Called on handler threads: only enqueue, so printing never delays an answer.
        on_spans=batches.put,
    )
    stop = threading.Event()
    restore = _install_stop_handlers(stop)
    try:
        receiver.start()
        _print(f"HoneyHive dev receiver on {receiver.url}")
        _print(f"export HH_API_URL={receiver.url}")
        if receiver.api_keys:
            _print(f"requiring one of {len(receiver.api_keys)} API key(s) (not shown)")
        printer = threading.Thread(target=_print_batches, args=(receiver, batches), name="hh-dev-printer", daemon=True)
        printer.start()
        try:
            # A timeout keeps the main thread responsive to signals on every platform.
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        receiver.stop()
        batches.put(None)
        printer.join(timeout=5.0)
        _print("HoneyHive dev receiver stopped")
    finally:
        receiver.stop()
        restore()
    return 0


def _print_batches(receiver: DevReceiver, batches: queue.Queue[list[ReceivedSpan] | None]) -> None:
    """After each OTLP request, print the trees of the sessions that request touched."""
    while (batch := batches.get()) is not None:
        session_ids = {span.session_id for span in batch if span.session_id is not None}
        unsessioned = any(span.session_id is None for span in batch)
        text = receiver.render_sessions(session_ids, include_unsessioned=unsessioned)
        _print(f"--- {len(batch)} span(s) received (request #{batch[0].request_index}) ---\n{text}")


def _install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    """Make SIGINT and SIGTERM set ``stop``; returns a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers can only be installed from the main thread

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


# --------------------------------------------------------------------------------------------
# Entry point

# Extend by appending an `_add_<name>(subparsers)` function; its parser must set `func`.
SUBCOMMANDS: list[Callable[[SubParsers], None]] = [
    _add_dev_server,
    add_build_layer,
    add_publish_layer,
    add_instrument,
    add_uninstrument,
    add_invoke,
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="hh-serverless", description="Developer tools for honeyhive-serverless.")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
