"""A local AWS Lambda emulator: a Runtime and Extensions API server that drives the real ``awslambdaric``.

The sandbox is the runtime interface client that Lambda's Python runtimes use, started the way Lambda's
bootstrap starts it (the handler read from ``_HANDLER`` when it starts, ``AWS_LAMBDA_EXEC_WRAPPER``
honoured) in its own process group, with Lambda's variables, the layers laid out as ``/opt`` and the task
root first on the path. Its lifecycle is Lambda's: a cold start is a new process, a warm invocation reuses
it, between invocations the whole process group is frozen (SIGSTOP) once the runtime and every extension
have asked for their next event, and thawed (SIGCONT) just before the next one; a timeout kills it.

>>> with LambdaEmulator("app.handler", task_root=Path("src")) as emulator:   # doctest: +SKIP
...     first = emulator.invoke({"question": "?"})        # first.cold is True
...     second = emulator.invoke({"question": "?"})       # same process, second.cold is False

Not emulated: memory limits, the read-only file system (``__pycache__`` is written next to the task root
and layer sources as usual, so cold starts here never pay the recompilation a layer without ``.pyc``
files pays on Lambda's read-only ``/opt``), external extensions started from ``/opt/extensions``, the
Telemetry and Logs APIs, and the snapshot of SnapStart (``restore/next`` answers at once). As Lambda does,
an internal extension (a thread of the runtime) may not register for SHUTDOWN; an extension counts as
external when its ``Lambda-Extension-Name`` is a file in the layers' ``extensions/`` directory.

With ``max_concurrency`` it runs as Lambda Managed Instances do (awslambdaric 4.x): the runtime forks that
many workers, which take events at once, are never frozen and whose timeouts are not enforced.

Modules, each importing only those before it: ``runtime`` (the ``/var/runtime`` directory of a base
interpreter), ``layers`` (``/opt``), ``sandbox`` (the runtime's process and its lifecycle), ``server`` (the
HTTP server: Runtime and Extensions APIs), ``log_socket`` (the Unix socket Managed Instances' workers write
their output to), ``lambda_emulator`` (:class:`LambdaEmulator`), ``invoke_api`` (:class:`InvokeApi`,
Lambda's Invoke API in front of emulators, for boto3 clients in other processes). Beside them, importing none:
``web_adapter``, a stand-in for the AWS Lambda Web Adapter's layer, for web-app tests.
"""

from __future__ import annotations

from ..interpreters import resolve_python
from .invoke_api import InvokeApi
from .lambda_emulator import INIT_TYPES, LambdaEmulator
from .runtime import MANAGED_INSTANCES_PYTHON, MANAGED_INSTANCES_RUNTIME_CLIENT, ensure_runtime
from .sandbox import InvocationResult

__all__ = [
    "INIT_TYPES",
    "MANAGED_INSTANCES_PYTHON",
    "MANAGED_INSTANCES_RUNTIME_CLIENT",
    "InvocationResult",
    "InvokeApi",
    "LambdaEmulator",
    "ensure_runtime",
    "resolve_python",
]
