"""``hh-serverless dev-server``: a local HoneyHive-compatible receiver that prints session trees as spans arrive,
and every request that breaks HoneyHive's published contract as it arrives."""

from __future__ import annotations

import argparse
import queue
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, TypeAlias

from honeyhive_serverless import variables
from honeyhive_serverless_dev.cli import common

if TYPE_CHECKING:
    from honeyhive_serverless_dev.receiver import DevReceiver, Finding, ReceivedSpan

#: What the printer is handed: the spans of one OTLP request, or the contract findings of one request.
Printable: TypeAlias = "list[ReceivedSpan] | list[Finding]"


def add_dev_server(subparsers: common.SubParsers) -> None:
    """Add the ``dev-server`` command."""
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
    parser.add_argument(
        "--strict",
        action="store_true",
        help="answer as HoneyHive does where its contract refuses: PUT /events for an unknown session gets "
        "404 (what breaks the contract is printed either way)",
    )
    parser.set_defaults(func=_run_dev_server)


def _run_dev_server(args: argparse.Namespace) -> int:
    from honeyhive_serverless_dev.receiver import DevReceiver

    batches: queue.Queue[Printable | None] = queue.Queue()
    receiver = DevReceiver(
        args.host,
        args.port,
        api_keys=set(args.api_keys) if args.api_keys else None,
        delay_ms=args.delay_ms,
        jsonl_path=args.jsonl,
        # Called on handler threads: only enqueue, so printing never delays an answer.
        on_spans=batches.put,
        on_findings=batches.put,
        strict=args.strict,
    )
    stop = threading.Event()
    restore = _install_stop_handlers(stop)
    try:
        receiver.start()
        common.stdout_line(f"HoneyHive dev receiver on {receiver.url}")
        common.stdout_line(f"export {variables.API_URL}={receiver.url}")
        if receiver.api_keys:
            common.stdout_line(f"requiring one of {len(receiver.api_keys)} API key(s) (not shown)")
        mode = "strict: PUT /events for an unknown session is refused" if args.strict else "lenient"
        common.stdout_line(f"holding traffic to HoneyHive's published contract ({mode})")
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
        counts = receiver.contract_report().counts()
        common.stdout_line(
            "HoneyHive dev receiver stopped; contract: "
            + ", ".join(f"{count} {what.replace('_', ' ')}" for what, count in counts.items())
        )
    finally:
        receiver.stop()
        restore()
    return 0


def _print_batches(receiver: DevReceiver, batches: queue.Queue[Printable | None]) -> None:
    """After each OTLP request, print the trees of the sessions that request touched (with what HoneyHive's
    contract found in them); after any request that broke the contract, one line per finding."""
    from honeyhive_serverless_dev.receiver import TRACES_PATH, Finding, ReceivedSpan

    while (batch := batches.get()) is not None:
        spans = [item for item in batch if isinstance(item, ReceivedSpan)]
        if not spans:
            for finding in batch:
                # An OTLP request's findings are in the trees printed for its spans.
                if isinstance(finding, Finding) and finding.request.path != TRACES_PATH:
                    common.stdout_line(f"! contract {finding}")
            continue
        session_ids = {span.session_id for span in spans if span.session_id is not None}
        unsessioned = any(span.session_id is None for span in spans)
        text = receiver.render_sessions(session_ids, include_unsessioned=unsessioned)
        common.stdout_line(f"--- {len(spans)} span(s) received (request #{spans[0].request_index}) ---\n{text}")


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
