"""Plain handlers for the emulator tests: module state, errors, timeouts, exits, environment, layers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

COUNT = 0
_CHILD: subprocess.Popen[bytes] | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Counts invocations of this process and reports what the runtime handed over."""
    global COUNT
    COUNT += 1
    if isinstance(event, dict) and "raise" in event:
        raise ValueError(event["raise"])
    import awslambdaric

    return {
        "count": COUNT,
        "pid": os.getpid(),
        "event": event,
        "request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "cwd": os.getcwd(),
        "sys_path": sys.path,
        "version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "awslambdaric": awslambdaric.__file__,
        # Lambda-Runtime-Aws-Tenant-Id, as awslambdaric hands it over (from 3.5 on).
        "tenant_id": context.tenant_id,
        "env": dict(os.environ),
    }


def sleepy(event: Any, context: Any) -> dict[str, Any]:
    """Starts a child process once (it must die with the sandbox), then sleeps as told."""
    global _CHILD
    if _CHILD is None:
        _CHILD = subprocess.Popen(["sleep", "60"])
    time.sleep(event["seconds"])
    return {"pid": os.getpid(), "child_pid": _CHILD.pid}


def exit_now(event: Any, context: Any) -> None:
    """Dies mid-invocation without answering."""
    os._exit(event["code"])


def wrapped(event: Any, context: Any) -> dict[str, Any]:
    """What an exec wrapper redirects to by rewriting _HANDLER."""
    return {
        "marker": os.environ.get("EMU_WRAPPER_MARKER"),
        "original_handler": os.environ.get("ORIG_HANDLER"),
        "exec_wrapper": os.environ.get("AWS_LAMBDA_EXEC_WRAPPER"),
    }


def layers(event: Any, context: Any) -> dict[str, Any]:
    """Imports modules the test's layers provide (and one the task root shadows)."""
    import both_layers
    import layer_mod
    import layer_mod2
    import shadowed

    return {
        "layer_mod": layer_mod.VALUE,
        "layer_mod2": layer_mod2.VALUE,
        "both_layers": both_layers.VALUE,
        "shadowed": shadowed.VALUE,
        "layer_wrapper": os.environ.get("LAYER_WRAPPER"),
    }


def client_context(event: Any, context: Any) -> dict[str, Any]:
    """What the runtime made of the invoke's client context (``context.client_context``, None without one)."""
    found = context.client_context
    if found is None:
        return {"client_context": None}
    client = found.client
    return {
        "client_context": {
            "custom": found.custom,
            "env": found.env,
            "client": None if client is None else {name: getattr(client, name) for name in client.__slots__},
        }
    }


def rendezvous(event: Any, context: Any) -> dict[str, Any]:
    """Connects to the test's ``port`` and answers once the test says go: the test says it only when as many
    invocations as it wants are connected at once, so they can only all answer if they run concurrently."""
    with socket.create_connection(("127.0.0.1", event["port"])) as connection:
        go = connection.recv(16)
    return {"pid": os.getpid(), "go": go.decode(), "index": event["index"]}
