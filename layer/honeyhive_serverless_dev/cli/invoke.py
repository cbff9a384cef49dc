"""``hh-serverless invoke``: run a handler locally the way Lambda runs it (see the ``emulator`` package).

Its own problems (a bad event, ``--env`` or ``--python``) print one ``hh-serverless invoke: ...`` line
on stdout and exit 2; a handler that fails makes the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from honeyhive_serverless import variables
from honeyhive_serverless_dev.cli import common
from honeyhive_serverless_dev.cli.program import PROG

if TYPE_CHECKING:
    from honeyhive_serverless_dev.emulator import InvocationResult

# Width of a response shown on an invocation's line.
RESPONSE_WIDTH = 200
DEFAULT_RUNTIME_CACHE = Path.home() / ".cache" / "honeyhive-serverless"
# What --receiver sends with: the dev receiver accepts any key.
RECEIVER_API_KEY = "hh-local-dev-key"
RECEIVER_PROJECT = "local-dev"


def add_invoke(subparsers: common.SubParsers) -> None:
    """Add the ``invoke`` command."""
    parser = subparsers.add_parser(
        "invoke",
        help="run a handler locally like Lambda (cold and warm starts, freezes, timeouts)",
        description=(
            "Run HANDLER through the real awslambdaric against a local Runtime API, as Lambda would: "
            "a new process for a cold start, the same one (frozen in between) for warm invocations."
        ),
    )
    parser.add_argument(
        "handler", metavar="HANDLER", help="the handler, e.g. app.handler (module path from the task root)"
    )
    parser.add_argument(
        "--event", required=True, metavar="FILE|JSON", help="the event: a JSON file, JSON text, or - for stdin"
    )
    parser.add_argument("-n", type=int, default=1, metavar="N", help="invoke N times (default: 1)")
    parser.add_argument(
        "--layer",
        action="append",
        default=[],
        type=Path,
        metavar="DIR|ZIP",
        help="a layer laid out like /opt (python/...), directory or zip; repeatable, later layers win",
    )
    parser.add_argument(
        "--python", metavar="3.X", help="run on this Python (a pyenv version or a path; default: this interpreter)"
    )
    parser.add_argument(
        "--runtime-cache",
        type=Path,
        default=DEFAULT_RUNTIME_CACHE,
        metavar="DIR",
        help=f"where --python's awslambdaric and boto3 get installed (default: {DEFAULT_RUNTIME_CACHE})",
    )
    parser.add_argument(
        "--no-freeze", action="store_true", help="never freeze (SIGSTOP) the sandbox between invocations"
    )
    parser.add_argument(
        "--task-root", type=Path, default=Path("."), metavar="DIR", help="the function's code (default: .)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="function timeout in seconds (default: 30)"
    )
    parser.add_argument(
        "--memory", type=int, default=512, metavar="MB", help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default: 512)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="a variable of the function (repeatable)"
    )
    parser.add_argument(
        "--receiver",
        action="store_true",
        help="point HH_API_URL at an embedded dev receiver and print the sessions the invocations produced",
    )
    parser.set_defaults(func=_run_invoke)


def _load_event(value: str) -> Any:
    """The event ``--event`` gives: stdin's JSON (``-``), a file's, or the JSON text itself. A ValueError
    names the value and what is wrong with it."""
    path = Path(value)
    if value == "-":
        where, text = "- (stdin)", sys.stdin.read()
    elif path.is_file():
        try:
            where, text = value, path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"--event {value}: cannot read it ({exc.strerror or exc})") from exc
    else:
        where, text = "", value
    try:
        return json.loads(text)
    except ValueError as exc:  # UnicodeDecodeError too
        if not where:
            raise ValueError(f"--event {value}: no such file, and not JSON text either ({exc})") from exc
        raise ValueError(f"--event {where}: not JSON ({exc})") from exc


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--env wants K=V, got {pair!r}")
        env[name] = value
    return env


def _describe(index: int, invocation: InvocationResult) -> str:
    parts = [f"#{index} {'cold' if invocation.cold else 'warm'}"]
    if invocation.init_ms is not None:
        parts.append(f"init {invocation.init_ms:.1f} ms")
    parts.append(f"duration {invocation.duration_ms:.1f} ms")
    if invocation.error is not None:
        outcome = f"ERROR {invocation.error.get('errorType')}: {invocation.error.get('errorMessage')}"
    else:
        outcome = json.dumps(invocation.payload)
    if len(outcome) > RESPONSE_WIDTH:
        outcome = outcome[: RESPONSE_WIDTH - 3] + "..."
    return "  ".join(parts) + f"  -> {outcome}"


def _refuse(problem: object) -> int:
    """Report a problem with the command itself (not with the handler): exit code 2."""
    common.stdout_line(f"{PROG} invoke: {problem}")
    return 2


def _run_invoke(args: argparse.Namespace) -> int:
    from honeyhive_serverless_dev.emulator import LambdaEmulator, ensure_runtime
    from honeyhive_serverless_dev.receiver import DevReceiver

    try:
        event = _load_event(args.event)
        env = _parse_env(args.env)
    except (OSError, ValueError) as exc:
        return _refuse(exc)
    if args.n < 1:
        return _refuse("-n must be at least 1")
    try:
        # A base interpreter has no awslambdaric of its own: Lambda's runtime directory provides it.
        runtime_path = [ensure_runtime(args.python, args.runtime_cache)] if args.python else []
    except (LookupError, RuntimeError) as exc:  # no such Python, or pip failed
        return _refuse(exc)

    receiver = None
    if args.receiver:
        receiver = DevReceiver().start()
        env.setdefault(variables.PROJECT, RECEIVER_PROJECT)
        env.update({variables.API_URL: receiver.url, variables.API_KEY: RECEIVER_API_KEY})
    failures = 0
    try:
        emulator = LambdaEmulator(
            args.handler,
            task_root=args.task_root,
            layers=args.layer,
            python=args.python,
            runtime_path=runtime_path,
            env=env,
            timeout_s=args.timeout,
            memory_mb=args.memory,
            freeze=not args.no_freeze,
        )
        with emulator:
            receiver_note = f", dev receiver {receiver.url}" if receiver is not None else ""
            common.stdout_line(
                f"{args.handler} on Python {emulator.python_version}, Runtime API {emulator.runtime_api}{receiver_note}"
            )
            for index in range(1, args.n + 1):
                invocation = emulator.invoke(event)
                failures += invocation.error is not None
                common.stdout_line(_describe(index, invocation))
        # After stop(): the sandbox is gone, so its output is complete.
        if emulator.logs.strip():
            common.stdout_line("--- sandbox output ---\n" + emulator.logs.rstrip("\n"))
        if receiver is not None:
            sessions = receiver.render_sessions()
            common.stdout_line("--- sessions ---\n" + (sessions.rstrip("\n") or "(none received)"))
    except ValueError as exc:  # a bad layer or a reserved variable
        return _refuse(exc)
    finally:
        if receiver is not None:
            receiver.stop()
    return 1 if failures else 0
