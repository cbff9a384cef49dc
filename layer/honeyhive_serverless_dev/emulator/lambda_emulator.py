"""The emulator itself: one function run like Lambda, at most one sandbox, and one invocation at a time
(or, as Lambda Managed Instances run it, up to ``max_concurrency`` at once in forked workers).

It holds the function's configuration (and turns it into the sandbox's environment), lays out the
layers, serves the APIs and drives each invocation: a cold start when there is no sandbox, the event
handed over, the response (or a timeout, or the runtime's death) awaited.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sysconfig
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from .. import interpreters
from ..serving import AcceptThread
from .layers import in_layers, lay_out
from .log_socket import SOCKET_VARIABLE, LogSocket
from .sandbox import InvocationResult, Output, Pending, Sandbox, Slot, status_kb
from .server import ApiServer

INIT_TYPES = frozenset({"on-demand", "provisioned-concurrency", "snap-start"})
ACCOUNT_ID = "123456789012"
#: Lambda refuses an invoke whose ``ClientContext`` is longer than this, base64-encoded.
CLIENT_CONTEXT_MAX_BYTES = 3583
# Host variables a sandbox inherits; everything else it sees is set here, so a test's environment never
# leaks into the function.
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYENV_ROOT")
# Variables Lambda sets and refuses to let a function configure.
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_MAX_CONCURRENCY",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)


class LambdaEmulator:
    """Runs one function like Lambda: at most one sandbox, one invocation at a time (several with ``max_concurrency``).

    ``layers``: directories laid out like ``/opt`` (``python/...``) or zip files, merged in order (a later
    layer's file wins). ``python``: None for this interpreter, ``"3.12"`` for a pyenv base interpreter
    (then pass ``runtime_path=[ensure_runtime("3.12", cache)]``), or a path; a base install (not a virtual
    environment) runs through a package-free virtual environment, as Lambda's interpreter has no packages.
    ``runtime_path``: directories playing ``/var/runtime``, after the layers on the path. ``env``: the
    function's variables (Lambda's reserved ones are refused). ``exec_wrapper``, or
    ``AWS_LAMBDA_EXEC_WRAPPER`` in ``env``: a script run as ``wrapper python -c <bootstrap>``; a path
    under ``/opt/`` is looked up in the merged layers first.
    ``freeze``: False never stops the sandbox between invocations.

    ``max_concurrency``: run as Lambda Managed Instances do (the runtime client must speak it: awslambdaric
    4.x). ``AWS_LAMBDA_MAX_CONCURRENCY`` is set, the runtime forks that many workers, each polling
    ``GET /next``, and ``invoke()`` may be called from several threads at once: each event goes to one
    worker, each answer is routed back by request id (and checked against the invocation id the worker
    was given). The sandbox is never frozen, and a timeout is not enforced: at its deadline the
    invocation fails (``Sandbox.Timedout``), the sandbox is left alone and its code goes on (a late answer
    is refused). The workers' output comes through a Unix socket (``_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET``)
    into ``logs``. The init phase ends when every worker has asked for its first event.
    """

    def __init__(
        self,
        handler: str,
        *,
        task_root: Path,
        layers: Sequence[Path] = (),
        python: str | None = None,
        runtime_path: Sequence[Path] = (),
        env: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        memory_mb: int = 512,
        function_name: str = "emulated-function",
        region: str = "us-east-1",
        freeze: bool = True,
        exec_wrapper: str | None = None,
        init_type: str = "on-demand",
        init_timeout_s: float = 10.0,
        shutdown_timeout_s: float = 2.0,
        max_concurrency: int | None = None,
    ) -> None:
        user_env = dict(env or {})
        reserved = sorted(RESERVED_VARIABLES & set(user_env))
        if reserved:
            raise ValueError(f"reserved Lambda variables cannot be set: {', '.join(reserved)}")
        if init_type not in INIT_TYPES:
            raise ValueError(f"init_type must be one of {sorted(INIT_TYPES)}, not {init_type!r}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        self.handler = handler
        self.task_root = Path(task_root).resolve()
        self.layers = [Path(layer) for layer in layers]
        self.interpreter = interpreters.bare_environment(interpreters.resolve_python(python))
        self.runtime_path = [Path(path).resolve() for path in runtime_path]
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.function_name = function_name
        self.region = region
        self.max_concurrency = max_concurrency
        # Managed Instances never freeze an execution environment between invocations.
        self.freeze = freeze and max_concurrency is None
        self.init_type = init_type
        self.init_timeout_s = init_timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self._user_env = user_env
        self._exec_wrapper = exec_wrapper or user_env.get("AWS_LAMBDA_EXEC_WRAPPER")
        self.python_version = ""
        self.opt_dir: Path | None = None

        # One condition, the slot's, guards all sandbox state; HTTP handler threads and invoke() wait on it.
        self._slot = Slot()
        self._invoke_lock = threading.Lock()
        self._cold_starts = 0
        self._closed = False
        self._output = Output()
        self._server: ApiServer | None = None
        self._accept: AcceptThread | None = None
        self._log_socket: LogSocket | None = None
        self._tempdirs: list[Path] = []

    # ---- lifecycle

    def start(self) -> LambdaEmulator:
        """Lay out the layers and start the Runtime API server on 127.0.0.1 (no sandbox yet)."""
        if self._server is not None or self._closed:
            raise RuntimeError("LambdaEmulator can be started once")
        self.python_version = interpreters.python_version(self.interpreter)
        self.opt_dir = lay_out(self.layers, self._tempdirs)
        self._server = ApiServer(self._slot, self)
        self._accept = AcceptThread(self._server, "lambda-emulator").start()
        if self.max_concurrency is not None:
            # Short and private: a Unix socket's path has at most 107 bytes.
            socket_dir = Path(tempfile.mkdtemp(prefix="hh-lmi-"))
            self._tempdirs.append(socket_dir)
            self._log_socket = LogSocket(socket_dir / "logs.sock", self._output).start()
        return self

    def stop(self) -> None:
        """Shut the sandbox down (SIGTERM, and SHUTDOWN to extensions, bounded, where it has extensions or
        workers), kill its process group, stop serving."""
        with self._slot.cond:
            if self._closed:
                return
            self._closed = True
            sandbox = self._slot.sandbox
            if sandbox is not None:
                if sandbox.alive and (sandbox.extensions or sandbox.workers > 1):
                    sandbox.shut_down(self.shutdown_timeout_s)
                self._kill_locked(sandbox)
            self._slot.cond.notify_all()
        if self._accept is not None:
            self._accept.stop()
            self._accept = None
        if self._server is not None:
            self._server.server_close()
            self._server.close_connections()
        if self._log_socket is not None:
            self._log_socket.close()
            self._log_socket = None
        for directory in self._tempdirs:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> LambdaEmulator:
        return self.start() if self._server is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- state

    @property
    def runtime_api(self) -> str:
        """``127.0.0.1:PORT``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        if self._server is None:
            raise RuntimeError("LambdaEmulator is not started")
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def sandbox_pid(self) -> int | None:
        """The runtime process (and process group) id, None when there is no live sandbox."""
        with self._slot.cond:
            sandbox = self._slot.sandbox
            return sandbox.pid if sandbox is not None and sandbox.alive else None

    def sandbox_memory_kb(self, name: str = "VmRSS") -> int:
        """The runtime process's memory figure ``name`` from ``/proc/<pid>/status``, in kB: ``VmRSS`` what
        is resident now, ``VmHWM`` its peak. Readable while the sandbox is frozen; RuntimeError when there
        is no live sandbox."""
        pid = self.sandbox_pid
        if pid is None:
            raise RuntimeError("there is no live sandbox")
        return status_kb(pid, name)

    @property
    def frozen(self) -> bool:
        """True while the sandbox's process group is stopped between invocations."""
        with self._slot.cond:
            return self._slot.sandbox is not None and self._slot.sandbox.frozen

    @property
    def cold_starts(self) -> int:
        """Sandboxes started so far."""
        return self._cold_starts

    @property
    def logs(self) -> str:
        """Everything the sandboxes wrote to stdout and stderr so far (read as it comes: complete for a
        sandbox once it is gone, e.g. after ``stop()``)."""
        return self._output.text()

    def wait_frozen(self, timeout: float = 5.0) -> bool:
        """Wait until the sandbox is frozen; False if it is not within ``timeout`` (or there is none)."""
        slot = self._slot
        with self._slot.cond:
            slot.wait(lambda: slot.sandbox is None or slot.sandbox.frozen, time.monotonic() + timeout)
            return slot.sandbox is not None and slot.sandbox.frozen

    # ---- invoking

    def invoke(
        self,
        event: Any,
        *,
        request_id: str | None = None,
        client_context: Mapping[str, Any] | None = None,
        tenant_id: str | None = None,
    ) -> InvocationResult:
        """Invoke the function with ``event`` (JSON-encoded; bytes are sent as they are), starting a sandbox
        if there is none. Returns when the response or error is posted, or the invocation timed out.

        ``client_context``: what a direct invoke's ``ClientContext`` carries, decoded from its base64
        (``{"custom": {...}}``, optionally ``"client"`` and ``"env"``); the runtime gets it as Lambda's
        ``Lambda-Runtime-Client-Context`` header, and the handler as ``context.client_context``. A
        ``ValueError`` for one Lambda would refuse (not an object, or over 3,583 bytes in base64).
        ``tenant_id``: the tenant of a tenant-isolated function's invoke (``Lambda-Runtime-Aws-Tenant-Id``,
        the handler's ``context.tenant_id`` from awslambdaric 3.5 on).
        """
        body = bytes(event) if isinstance(event, bytes | bytearray) else json.dumps(event).encode()
        client_context_header = None if client_context is None else _client_context_header(client_context)
        request_id = request_id or str(uuid.uuid4())
        # One invocation at a time, unless the sandbox takes several (Managed Instances).
        one_at_a_time = self._invoke_lock if self.max_concurrency is None else contextlib.nullcontext()
        with one_at_a_time, self._slot.cond:
            if self._server is None or self._closed:
                raise RuntimeError("LambdaEmulator is not running")
            sandbox = self._slot.sandbox
            if sandbox is not None and self.max_concurrency is None:
                # After a response an extension may still be working: Lambda waits for it until that
                # invocation's deadline, then resets the sandbox.
                previous = sandbox
                self._slot.wait(lambda: previous.ready or not previous.alive, previous.last_deadline)
                if not (previous.ready and previous.alive):
                    self._kill_locked(previous)
                    sandbox = None
            elif sandbox is not None and not sandbox.alive:
                self._kill_locked(sandbox)
                sandbox = None
            cold = sandbox is None
            if sandbox is None:
                started = time.monotonic()
                try:
                    sandbox = self._spawn_locked()
                except OSError as exc:  # the interpreter or exec wrapper cannot be run
                    entrypoint = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(exc)}
                    return self._failure(request_id, entrypoint, cold=True, init_ms=None, since=started, pid=None)
            # At once for a sandbox past its init; concurrent invocations of a new one wait for its init too.
            error = self._await_init_locked(sandbox)
            if error is not None:
                self._kill_locked(sandbox)
                return self._failure(
                    request_id, error, cold=cold, init_ms=None, since=sandbox.spawned_at, pid=sandbox.pid
                )
            assert sandbox.init_done_at is not None
            init_ms = (sandbox.init_done_at - sandbox.spawned_at) * 1000 if cold else None
            return self._run_locked(
                sandbox,
                request_id,
                body,
                cold=cold,
                init_ms=init_ms,
                client_context=client_context_header,
                tenant_id=tenant_id,
            )

    def kill_sandbox(self) -> None:
        """Kill the sandbox at once, as Lambda reclaims a frozen one: no SHUTDOWN, no SIGTERM."""
        with self._slot.cond:
            if self._slot.sandbox is not None:
                self._kill_locked(self._slot.sandbox)

    def _await_init_locked(self, sandbox: Sandbox) -> dict[str, Any] | None:
        """Wait for the init phase to end; the error that ended it otherwise."""
        self._slot.wait(
            lambda: sandbox.init_done_at is not None or sandbox.init_error is not None or not sandbox.alive,
            sandbox.spawned_at + self.init_timeout_s,
        )
        if sandbox.init_error is not None:
            return sandbox.init_error
        if not sandbox.alive:
            return sandbox.exit_error(None)
        if sandbox.init_done_at is None:
            message = f"Init phase did not complete within {self.init_timeout_s:.2f} seconds"
            if sandbox.workers > 1:
                # A runtime client without multi-concurrency (awslambdaric 3.x) polls from one process only.
                message += f" ({sandbox.runtimes_waiting} of {sandbox.workers} runtime workers asked for an event)"
            return {"errorType": "Sandbox.Timedout", "errorMessage": message}
        return None

    def _run_locked(
        self,
        sandbox: Sandbox,
        request_id: str,
        body: bytes,
        *,
        cold: bool,
        init_ms: float | None,
        client_context: str | None,
        tenant_id: str | None,
    ) -> InvocationResult:
        now = time.monotonic()
        pending = Pending(
            request_id=request_id,
            body=body,
            trace_id=f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={os.urandom(8).hex()};Sampled=0",
            deadline_ms=int((time.time() + self.timeout_s) * 1000),
            deadline=now + self.timeout_s,
            published_at=now,
            cold=cold,
            init_ms=init_ms,
            client_context=client_context,
            tenant_id=tenant_id,
            invocation_id=None if self.max_concurrency is None else str(uuid.uuid4()),
        )
        sandbox.last_deadline = pending.deadline
        sandbox.thaw()
        for extension in sandbox.extensions.values():
            if "INVOKE" in extension.events:
                extension.invoke(
                    pending,
                    {
                        "eventType": "INVOKE",
                        "deadlineMs": pending.deadline_ms,
                        "requestId": request_id,
                        "invokedFunctionArn": self.function_arn,
                        "tracing": {"type": "X-Amzn-Trace-Id", "value": pending.trace_id},
                    },
                )
        sandbox.queued.append(pending)
        self._slot.cond.notify_all()
        self._slot.wait(lambda: pending.invocation is not None or not sandbox.alive, pending.deadline)
        if pending.invocation is not None:
            return pending.invocation
        if not sandbox.alive:
            since = pending.delivered_at or pending.published_at
            error = sandbox.exit_error(request_id)
        else:
            # The deadline runs from the invocation's start (as Lambda's does): so does a timeout's duration.
            since = pending.published_at
            message = f"{request_id} Task timed out after {self.timeout_s:.2f} seconds"
            error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
            if self.max_concurrency is not None:
                # Managed Instances do not enforce timeouts: the invocation fails, the sandbox is left
                # alone (the event is still handed over if no worker has taken it yet) and its answer,
                # when it comes, is refused.
                pending.invocation = self._failure(
                    request_id, error, cold=cold, init_ms=init_ms, since=since, pid=sandbox.pid
                )
                return pending.invocation
        # Killed whether it timed out or died: what is left of its process group goes too.
        self._kill_locked(sandbox)
        return self._failure(request_id, error, cold=cold, init_ms=init_ms, since=since, pid=sandbox.pid)

    @staticmethod
    def _failure(
        request_id: str, error: dict[str, Any], *, cold: bool, init_ms: float | None, since: float, pid: int | None
    ) -> InvocationResult:
        now = time.monotonic()
        return InvocationResult(request_id, None, error, cold, init_ms, (now - since) * 1000, now, sandbox_pid=pid)

    # ---- the sandbox

    def _spawn_locked(self) -> Sandbox:
        self._slot.generation += 1
        wrapper = in_layers(self._exec_wrapper, self.opt_dir) if self._exec_wrapper else None
        sandbox = Sandbox.start(
            self._slot.generation,
            self.interpreter,
            wrapper,
            cwd=self.task_root,
            env=self._sandbox_env(),
            cond=self._slot.cond,
            freeze=self.freeze,
            output=self._output,
            workers=self.max_concurrency or 1,
        )
        self._slot.sandbox = sandbox
        self._cold_starts += 1
        return sandbox

    def _sandbox_env(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
        # The interpreter's directory first, like /var/lang/bin; layers' bin/ last, like /opt/bin.
        path = [str(Path(self.interpreter).parent), env.get("PATH", os.defpath)]
        if self.opt_dir is not None:
            path.append(str(self.opt_dir / "bin"))
        env["PATH"] = os.pathsep.join(path)
        env.update(self._user_env)
        python_path = [str(self.task_root)]
        if self.opt_dir is not None:
            python_path += [
                str(self.opt_dir / "python" / "lib" / f"python{self.python_version}" / "site-packages"),
                str(self.opt_dir / "python"),
            ]
        python_path += [str(path) for path in self.runtime_path]
        if self._user_env.get("PYTHONPATH"):
            python_path.append(self._user_env["PYTHONPATH"])
        runtime_dir = self.runtime_path[0] if self.runtime_path else Path(sysconfig.get_paths()["purelib"])
        stream = f"{datetime.now(timezone.utc):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(python_path),
                # Lambda has no user site-packages; a base interpreter must not pick up the host's.
                "PYTHONNOUSERSITE": "1",
                "_HANDLER": self.handler,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_python{self.python_version}",
                "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_INITIALIZATION_TYPE": self.init_type,
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": stream,
                "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
                "LAMBDA_TASK_ROOT": str(self.task_root),
                "LAMBDA_RUNTIME_DIR": str(runtime_dir),
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                # Fake credentials, as the function's role would provide real ones: boto3 signs requests
                # (to a local endpoint) without ever finding the developer's own credentials.
                "AWS_ACCESS_KEY_ID": "ASIAEMULATEDLAMBDA00",
                "AWS_SECRET_ACCESS_KEY": "emulated-lambda-not-a-secret",
                "AWS_SESSION_TOKEN": "emulated-lambda-session",
            }
        )
        if self._exec_wrapper:
            env["AWS_LAMBDA_EXEC_WRAPPER"] = self._exec_wrapper
        if self.max_concurrency is not None:
            assert self._log_socket is not None
            env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(self.max_concurrency)
            env[SOCKET_VARIABLE] = str(self._log_socket.path)
        return env

    def _kill_locked(self, sandbox: Sandbox) -> None:
        sandbox.kill()
        if self._slot.sandbox is sandbox:
            self._slot.sandbox = None
        # Releases the handler threads still waiting on the sandbox's behalf.
        self._slot.cond.notify_all()
        # Bounded: a grandchild that left the process group may hold the pipe open.
        sandbox.reader.join(timeout=1.0)


def _client_context_header(client_context: Mapping[str, Any]) -> str:
    """The ``Lambda-Runtime-Client-Context`` header for an invoke's decoded ``ClientContext``: a JSON object
    with Lambda's ``custom``, ``client`` and ``env`` members (null where the caller sent none)."""
    if not isinstance(client_context, Mapping):
        raise ValueError(f"client_context must be a mapping (a JSON object), not {type(client_context).__name__}")
    as_sent = json.dumps(dict(client_context), separators=(",", ":")).encode()
    encoded_bytes = 4 * ((len(as_sent) + 2) // 3)  # its base64 length, as the caller sends it
    if encoded_bytes > CLIENT_CONTEXT_MAX_BYTES:
        raise ValueError(
            f"client_context is {encoded_bytes} bytes in base64; Lambda takes at most {CLIENT_CONTEXT_MAX_BYTES}"
        )
    document: dict[str, Any] = {"custom": None, "client": None, "env": None, **client_context}
    return json.dumps(document)
