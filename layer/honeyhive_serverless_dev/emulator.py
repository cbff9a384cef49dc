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
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from .serving import accept_loop

__all__ = ["INIT_TYPES", "Invocation", "LambdaEmulator", "ensure_runtime", "resolve_python"]

RUNTIME_API = "/2018-06-01/runtime"
EXTENSION_API = "/2020-01-01/extension"
# What Lambda's Python bootstrap runs: the handler comes from _HANDLER as the process starts, so an exec
# wrapper that rewrites _HANDLER redirects it (passing the handler as an argument would bypass that).
BOOTSTRAP_CODE = "import os, sys; from awslambdaric.__main__ import main; main([sys.argv[0], os.environ['_HANDLER']])"
INIT_TYPES = frozenset({"on-demand", "provisioned-concurrency", "snap-start"})
EXTENSION_EVENTS = frozenset({"INVOKE", "SHUTDOWN"})
#: How long Lambda lets a runtime with only internal extensions shut down after SIGTERM.
INTERNAL_SHUTDOWN_S = 0.5
ACCOUNT_ID = "123456789012"
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
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)
# How long a freeze waits for every thread of the runtime process to be seen stopped, so that
# ``frozen_at`` means "stopped", not "signal sent". Threads stop within microseconds unless one is in
# uninterruptible I/O.
STOP_CONFIRM_S = 0.05
KILL_WAIT_S = 5.0
_RESULT_PATH = re.compile(re.escape(RUNTIME_API) + r"/invocation/(?P<id>[^/]+)/(?P<kind>response|error)")
_PYENV_VERSION = re.compile(r"\d+\.\d+\.\d+")


@dataclass
class Invocation:
    """The outcome of one invocation.

    ``payload`` is the response parsed as JSON (raw text when it is not JSON; None on error). ``error``
    is the error document (``errorType``, ``errorMessage``...) posted to ``/error`` or ``/init/error``,
    or one the emulator made: ``Sandbox.Timedout``, ``Runtime.ExitError``, ``Runtime.InvalidEntrypoint``.
    ``duration_ms`` runs from the event handed to the runtime to the response posted (for a timeout, from
    the invocation's start, when its deadline starts running, to the kill); ``init_ms`` (cold
    starts only) from the process start to the runtime and every extension asking for the first event.
    ``response_at`` and ``frozen_at`` are ``time.monotonic()`` values (the same clock in every process
    of this machine); ``frozen_at`` is set later, when the sandbox is frozen after this invocation.
    """

    request_id: str
    payload: Any
    error: dict[str, Any] | None
    cold: bool
    init_ms: float | None
    duration_ms: float
    response_at: float
    frozen_at: float | None = None
    sandbox_pid: int | None = None

    @property
    def ok(self) -> bool:
        """True when the handler returned a response."""
        return self.error is None


@dataclass(eq=False)
class _Extension:
    identifier: str
    name: str
    events: frozenset[str]
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    waiting: bool = False

    @property
    def idle(self) -> bool:
        """In GET /event/next with no event left to take."""
        return self.waiting and not self.queue


@dataclass(eq=False)
class _Pending:
    """An event handed (or about to be handed) to the runtime."""

    request_id: str
    body: bytes
    trace_id: str
    deadline_ms: int
    deadline: float
    published_at: float
    cold: bool
    init_ms: float | None
    delivered_at: float | None = None
    invocation: Invocation | None = None


@dataclass(eq=False)
class _Sandbox:
    generation: int
    process: subprocess.Popen[bytes]
    spawned_at: float
    reader: threading.Thread
    exit_code: int | None = None
    # The runtime asked for its first event: the init phase is over and registration closed.
    initialised: bool = False
    init_done_at: float | None = None
    init_error: dict[str, Any] | None = None
    runtime_waiting: bool = False
    extensions: dict[str, _Extension] = field(default_factory=dict)
    next_event: _Pending | None = None
    current: _Pending | None = None
    frozen: bool = False
    last_deadline: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    @property
    def ready(self) -> bool:
        """The runtime is in GET /next and every extension in GET /event/next, with nothing to take."""
        return (
            self.runtime_waiting
            and self.next_event is None
            and all(extension.idle for extension in self.extensions.values())
        )


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json_answer(status: int, document: Any, headers: Mapping[str, str] | None = None) -> _Answer:
    return _Answer(status, json.dumps(document).encode(), dict(headers or {}))


def _error_answer(status: int, error_type: str, message: str) -> _Answer:
    return _json_answer(status, {"errorType": error_type, "errorMessage": message})


_ACCEPTED = _json_answer(202, {"status": "OK"})


def _error_document(body: bytes, error_type: str | None) -> dict[str, Any]:
    """The error a runtime or extension posted; the type header fills in a body that lacks one."""
    try:
        document = json.loads(body) if body else {}
    except ValueError:
        document = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(document, dict):
        document = {"errorMessage": document}
    document.setdefault("errorType", error_type or "Unknown")
    return document


def _decode_payload(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# Interpreters and the runtime directory


def resolve_python(spec: str | None) -> str:
    """The interpreter for ``spec``: None is this interpreter, ``"3.12"`` the newest pyenv 3.12.x (else
    ``python3.12`` on PATH, pyenv shims excepted), anything with a ``/`` a path. LookupError if none."""
    if spec is None:
        return sys.executable
    if os.sep in spec:
        if not os.access(spec, os.X_OK):
            raise LookupError(f"{spec} is not an executable interpreter")
        return spec
    if not re.fullmatch(r"3\.\d+", spec):
        raise LookupError(f"{spec!r} is neither a version like 3.12 nor a path to an interpreter")
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installed = [
        (tuple(int(part) for part in path.parents[1].name.split(".")), path)
        for path in root.glob(f"versions/{spec}.*/bin/python{spec}")
        if _PYENV_VERSION.fullmatch(path.parents[1].name)
    ]
    if installed:
        return str(max(installed)[1])
    # A pyenv shim for a version that is installed but not selected fails when run: skip shims.
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = Path(directory) / f"python{spec}"
        if "shims" not in candidate.parts and os.access(candidate, os.X_OK):
            return str(candidate)
    raise LookupError(f"no Python {spec} found in {root / 'versions'} or on PATH")


def _python_version(interpreter: str) -> str:
    """``"3.12"`` for an interpreter (asked only when it is not this one)."""
    if interpreter == sys.executable:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    return subprocess.run([interpreter, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def ensure_runtime(python_version: str, cache_dir: Path) -> Path:
    """A directory playing ``/var/runtime`` for a base interpreter: ``awslambdaric`` (the version this
    environment has) and boto3 (Lambda's runtime ships it), pip-installed with THAT interpreter into
    ``cache_dir/runtime-py3.X`` once (native parts must match it). Safe across concurrent processes."""
    interpreter = resolve_python(python_version)
    version = _python_version(interpreter)
    try:
        awslambdaric = f"awslambdaric=={importlib.metadata.version('awslambdaric')}"
    except importlib.metadata.PackageNotFoundError:
        awslambdaric = "awslambdaric"
    requirements = [awslambdaric, "boto3"]
    target = cache_dir / f"runtime-py{version}"
    stamp = ".hh-runtime"
    wanted = "\n".join(requirements)

    def installed() -> bool:
        with contextlib.suppress(OSError):
            return (target / stamp).read_text() == wanted
        return False

    if installed():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".runtime-py{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return target
        # Installed beside the target and renamed into place, so a failed install leaves nothing half-done.
        staging = Path(tempfile.mkdtemp(prefix=f".runtime-py{version}-", dir=cache_dir))
        try:
            command = [interpreter, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]
            result = subprocess.run(
                [*command, "--target", str(staging), *requirements],
                check=False,
                capture_output=True,
                text=True,
                env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},
                timeout=900,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"pip could not install {' '.join(requirements)} for {interpreter}:\n{result.stderr}"
                )
            (staging / stamp).write_text(wanted)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


# --------------------------------------------------------------------------------------------
# Layers


def _replace(path: Path) -> None:
    """Clear ``path`` for a later layer's file (Lambda extracts layers in order, later ones win)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _link_tree(source: Path, opt: Path) -> None:
    """Merge a layer directory into ``opt`` as symlinks (fast, and tracebacks still point at the source)."""
    for root, dirs, files in os.walk(source):
        here = Path(root)
        target_dir = opt / here.relative_to(source)
        if target_dir.is_symlink():
            # An earlier layer's file or linked directory: never write through it into that layer.
            target_dir.unlink()
        target_dir.mkdir(exist_ok=True)
        # os.walk lists symlinked directories among dirs without entering them: link them like files.
        for name in [*files, *(name for name in dirs if (here / name).is_symlink())]:
            link = target_dir / name
            _replace(link)
            link.symlink_to(here / name)


def _extract_zip(archive_path: Path, opt: Path) -> None:
    """Extract a layer zip into ``opt``, keeping the Unix permission bits (exec wrappers need +x)."""
    root = opt.resolve()
    with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
            target = Path(os.path.normpath(root / info.filename))
            if root not in target.parents:
                raise ValueError(f"{archive_path}: {info.filename!r} would land outside the layer")
            if info.is_dir():
                if target.is_symlink():
                    target.unlink()
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace(target)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)


# --------------------------------------------------------------------------------------------
# The HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection alive
    # Headers and body go out in separate writes: with Nagle on, each answer waits ~40 ms for the
    # client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def version_string(self) -> str:
        return "hh-lambda-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length) if length > 0 else b"")

    def _dispatch(self, body: bytes) -> None:
        generation = self.server.generation_of(self.connection)
        path = urlsplit(self.path).path
        answer = self.server.emulator._route(self.command, path, self.headers, body, generation)
        if answer is None:  # the sandbox this connection belongs to is gone
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, emulator: LambdaEmulator) -> None:
        self.emulator = emulator
        self._lock = threading.Lock()
        self._generations: dict[socket.socket, int] = {}
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Each connection belongs to the sandbox that existed when it was accepted (the previous one is
        # reaped before the next starts), so a connection left over from a killed sandbox never takes an
        # event or registers an extension for the next one.
        with self._lock:
            self._generations[request] = self.emulator._generation
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._generations.pop(request, None)
        super().shutdown_request(request)

    def generation_of(self, connection: socket.socket) -> int:
        with self._lock:
            return self._generations.get(connection, -1)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sandbox killed mid-request resets its connections; nothing to report

    def close_connections(self) -> None:
        with self._lock:
            connections = list(self._generations)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _wait_stopped(pid: int) -> None:
    """Return once every thread of ``pid`` is stopped (or gone), at most STOP_CONFIRM_S later."""
    deadline = time.monotonic() + STOP_CONFIRM_S
    while time.monotonic() < deadline:
        try:
            states = []
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/stat", "rb") as stat:
                    # "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ")".
                    states.append(stat.read().rpartition(b")")[2].split()[0])
        except (OSError, IndexError):
            return  # the process (or a thread) is gone, or there is no /proc
        if all(state in (b"T", b"t", b"Z", b"X") for state in states):
            return
        time.sleep(0.0002)


# --------------------------------------------------------------------------------------------
# The emulator


class LambdaEmulator:
    """Runs one function like Lambda: at most one sandbox, one invocation at a time.

    ``layers``: directories laid out like ``/opt`` (``python/...``) or zip files, merged in order (a later
    layer's file wins). ``python``: None for this interpreter, ``"3.12"`` for a pyenv base interpreter
    (then pass ``runtime_path=[ensure_runtime("3.12", cache)]``), or a path. ``runtime_path``: directories
    playing ``/var/runtime``, after the layers on the path. ``env``: the function's variables (Lambda's
    reserved ones are refused). ``exec_wrapper``, or ``AWS_LAMBDA_EXEC_WRAPPER`` in ``env``: a script run
    as ``wrapper python -c <bootstrap>``; a path under ``/opt/`` is looked up in the merged layers first.
    ``freeze``: False never stops the sandbox between invocations.
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
    ) -> None:
        user_env = dict(env or {})
        reserved = sorted(RESERVED_VARIABLES & set(user_env))
        if reserved:
            raise ValueError(f"reserved Lambda variables cannot be set: {', '.join(reserved)}")
        if init_type not in INIT_TYPES:
            raise ValueError(f"init_type must be one of {sorted(INIT_TYPES)}, not {init_type!r}")
        self.handler = handler
        self.task_root = Path(task_root).resolve()
        self.layers = [Path(layer) for layer in layers]
        self.interpreter = resolve_python(python)
        self.runtime_path = [Path(path).resolve() for path in runtime_path]
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.function_name = function_name
        self.region = region
        self.freeze = freeze
        self.init_type = init_type
        self.init_timeout_s = init_timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self._user_env = user_env
        self._exec_wrapper = exec_wrapper or user_env.get("AWS_LAMBDA_EXEC_WRAPPER")
        self.python_version = ""
        self.opt_dir: Path | None = None

        # One condition guards all sandbox state; HTTP handler threads and invoke() wait on it.
        self._cond = threading.Condition()
        self._invoke_lock = threading.Lock()
        self._sandbox: _Sandbox | None = None
        self._generation = 0
        self._cold_starts = 0
        self._closed = False
        self._log_lock = threading.Lock()
        self._log: list[str] = []
        self._server: _Server | None = None
        self._accept: tuple[threading.Thread, socket.socket, socket.socket] | None = None
        self._tempdirs: list[Path] = []

    # ---- lifecycle

    def start(self) -> LambdaEmulator:
        """Lay out the layers and start the Runtime API server on 127.0.0.1 (no sandbox yet)."""
        if self._server is not None or self._closed:
            raise RuntimeError("LambdaEmulator can be started once")
        self.python_version = _python_version(self.interpreter)
        self.opt_dir = self._prepare_opt()
        server = _Server(self)
        server.socket.setblocking(False)
        wake_r, wake_w = socket.socketpair()
        thread = threading.Thread(target=accept_loop, args=(server, wake_r), name="lambda-emulator", daemon=True)
        self._server = server
        self._accept = (thread, wake_r, wake_w)
        thread.start()
        return self

    def stop(self) -> None:
        """Shut the sandbox down (SHUTDOWN to extensions, bounded), kill its process group, stop serving."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            sandbox = self._sandbox
            if sandbox is not None:
                if sandbox.alive and sandbox.extensions:
                    self._shutdown_locked(sandbox)
                self._kill_locked(sandbox)
            self._cond.notify_all()
        if self._accept is not None:
            thread, wake_r, wake_w = self._accept
            self._accept = None
            with contextlib.suppress(OSError):
                wake_w.send(b"x")
            thread.join()
            wake_r.close()
            wake_w.close()
        if self._server is not None:
            self._server.server_close()
            self._server.close_connections()
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
        with self._cond:
            sandbox = self._sandbox
            return sandbox.pid if sandbox is not None and sandbox.alive else None

    @property
    def frozen(self) -> bool:
        """True while the sandbox's process group is stopped between invocations."""
        with self._cond:
            return self._sandbox is not None and self._sandbox.frozen

    @property
    def cold_starts(self) -> int:
        """Sandboxes started so far."""
        return self._cold_starts

    @property
    def logs(self) -> str:
        """Everything the sandboxes wrote to stdout and stderr so far (read as it comes: complete for a
        sandbox once it is gone, e.g. after ``stop()``)."""
        with self._log_lock:
            return "".join(self._log)

    def wait_frozen(self, timeout: float = 5.0) -> bool:
        """Wait until the sandbox is frozen; False if it is not within ``timeout`` (or there is none)."""
        with self._cond:
            self._wait_locked(lambda: self._sandbox is None or self._sandbox.frozen, time.monotonic() + timeout)
            return self._sandbox is not None and self._sandbox.frozen

    # ---- invoking

    def invoke(self, event: Any, *, request_id: str | None = None) -> Invocation:
        """Invoke the function with ``event`` (JSON-encoded; bytes are sent as they are), starting a sandbox
        if there is none. Returns when the response or error is posted, or the invocation timed out."""
        body = bytes(event) if isinstance(event, bytes | bytearray) else json.dumps(event).encode()
        request_id = request_id or str(uuid.uuid4())
        with self._invoke_lock, self._cond:
            if self._server is None or self._closed:
                raise RuntimeError("LambdaEmulator is not running")
            sandbox = self._sandbox
            if sandbox is not None:
                # After a response an extension may still be working: Lambda waits for it until that
                # invocation's deadline, then resets the sandbox.
                previous = sandbox
                self._wait_locked(lambda: previous.ready or not previous.alive, previous.last_deadline)
                if not (previous.ready and previous.alive):
                    self._kill_locked(previous)
                    sandbox = None
            cold = sandbox is None
            init_ms: float | None = None
            if sandbox is None:
                started = time.monotonic()
                try:
                    sandbox = self._spawn_locked()
                except OSError as exc:  # the interpreter or exec wrapper cannot be run
                    entrypoint = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(exc)}
                    return self._failure(request_id, entrypoint, cold=True, init_ms=None, since=started, pid=None)
                error = self._await_init_locked(sandbox)
                if error is not None:
                    self._kill_locked(sandbox)
                    return self._failure(
                        request_id, error, cold=True, init_ms=None, since=sandbox.spawned_at, pid=sandbox.pid
                    )
                assert sandbox.init_done_at is not None
                init_ms = (sandbox.init_done_at - sandbox.spawned_at) * 1000
            return self._run_locked(sandbox, request_id, body, cold=cold, init_ms=init_ms)

    def kill_sandbox(self) -> None:
        """Kill the sandbox at once, as Lambda reclaims a frozen one: no SHUTDOWN, no SIGTERM."""
        with self._cond:
            if self._sandbox is not None:
                self._kill_locked(self._sandbox)

    def _await_init_locked(self, sandbox: _Sandbox) -> dict[str, Any] | None:
        """Wait for the init phase to end; the error that ended it otherwise."""
        self._wait_locked(
            lambda: sandbox.ready or sandbox.init_error is not None or not sandbox.alive,
            sandbox.spawned_at + self.init_timeout_s,
        )
        if sandbox.init_error is not None:
            return sandbox.init_error
        if not sandbox.alive:
            return self._exit_error(sandbox, None)
        if not sandbox.ready:
            message = f"Init phase did not complete within {self.init_timeout_s:.2f} seconds"
            return {"errorType": "Sandbox.Timedout", "errorMessage": message}
        return None

    def _run_locked(
        self, sandbox: _Sandbox, request_id: str, body: bytes, *, cold: bool, init_ms: float | None
    ) -> Invocation:
        now = time.monotonic()
        pending = _Pending(
            request_id=request_id,
            body=body,
            trace_id=f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={os.urandom(8).hex()};Sampled=0",
            deadline_ms=int((time.time() + self.timeout_s) * 1000),
            deadline=now + self.timeout_s,
            published_at=now,
            cold=cold,
            init_ms=init_ms,
        )
        sandbox.last_deadline = pending.deadline
        self._thaw_locked(sandbox)
        for extension in sandbox.extensions.values():
            if "INVOKE" in extension.events:
                extension.queue.append(
                    {
                        "eventType": "INVOKE",
                        "deadlineMs": pending.deadline_ms,
                        "requestId": request_id,
                        "invokedFunctionArn": self.function_arn,
                        "tracing": {"type": "X-Amzn-Trace-Id", "value": pending.trace_id},
                    }
                )
        sandbox.next_event = pending
        self._cond.notify_all()
        self._wait_locked(lambda: pending.invocation is not None or not sandbox.alive, pending.deadline)
        if pending.invocation is not None:
            return pending.invocation
        if not sandbox.alive:
            since = pending.delivered_at or pending.published_at
            error = self._exit_error(sandbox, request_id)
        else:
            # The deadline runs from the invocation's start (as Lambda's does): so does a timeout's duration.
            since = pending.published_at
            message = f"{request_id} Task timed out after {self.timeout_s:.2f} seconds"
            error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
        # Killed whether it timed out or died: what is left of its process group goes too.
        self._kill_locked(sandbox)
        return self._failure(request_id, error, cold=cold, init_ms=init_ms, since=since, pid=sandbox.pid)

    @staticmethod
    def _failure(
        request_id: str, error: dict[str, Any], *, cold: bool, init_ms: float | None, since: float, pid: int | None
    ) -> Invocation:
        now = time.monotonic()
        return Invocation(request_id, None, error, cold, init_ms, (now - since) * 1000, now, sandbox_pid=pid)

    @staticmethod
    def _exit_error(sandbox: _Sandbox, request_id: str | None) -> dict[str, Any]:
        code = sandbox.exit_code
        status = f"signal: {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
        prefix = f"RequestId: {request_id} " if request_id else ""
        return {"errorType": "Runtime.ExitError", "errorMessage": f"{prefix}Error: Runtime exited with error: {status}"}

    # ---- the sandbox process

    def _spawn_locked(self) -> _Sandbox:
        self._generation += 1
        command = [self.interpreter, "-c", BOOTSTRAP_CODE]
        wrapper = self._resolved_wrapper()
        if wrapper:
            command.insert(0, wrapper)
        spawned_at = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=self.task_root,
            env=self._sandbox_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group: freezing, thawing and killing reach everything it started.
            start_new_session=True,
        )
        assert process.stdout is not None
        reader = threading.Thread(target=self._read_output, args=(process.stdout,), name="sandbox-output", daemon=True)
        sandbox = _Sandbox(self._generation, process, spawned_at, reader)
        reader.start()
        threading.Thread(target=self._reap, args=(sandbox,), name="sandbox-reaper", daemon=True).start()
        self._sandbox = sandbox
        self._cold_starts += 1
        return sandbox

    def _resolved_wrapper(self) -> str | None:
        wrapper = self._exec_wrapper
        if wrapper and wrapper.startswith("/opt/") and self.opt_dir is not None:
            in_layers = self.opt_dir / wrapper.removeprefix("/opt/")
            if in_layers.exists():
                return str(in_layers)
        return wrapper

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
        return env

    def _prepare_opt(self) -> Path | None:
        """The layers as one /opt: a single directory as it is, otherwise merged into a temporary one."""
        if not self.layers:
            return None
        if len(self.layers) == 1 and self.layers[0].is_dir():
            return self.layers[0].resolve()
        opt = Path(tempfile.mkdtemp(prefix="hh-lambda-opt-"))
        self._tempdirs.append(opt)
        for layer in self.layers:
            if layer.is_dir():
                _link_tree(layer.resolve(), opt)
            elif zipfile.is_zipfile(layer):
                _extract_zip(layer, opt)
            else:
                raise ValueError(f"layer {layer} is neither a directory nor a zip file")
        return opt

    def _read_output(self, stream: IO[bytes]) -> None:
        # Raw reads of whatever is there, so output shows up while the process runs, not per line.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = stream.fileno()
        with stream:
            while chunk := os.read(fd, 65536):
                text = decoder.decode(chunk)
                with self._log_lock:
                    self._log.append(text)
        with self._log_lock:
            self._log.append(decoder.decode(b"", final=True))

    def _reap(self, sandbox: _Sandbox) -> None:
        code = sandbox.process.wait()
        with self._cond:
            sandbox.exit_code = code
            self._cond.notify_all()

    def _signal_group(self, sandbox: _Sandbox, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sandbox.pid, signum)

    def _thaw_locked(self, sandbox: _Sandbox) -> None:
        if sandbox.frozen:
            self._signal_group(sandbox, signal.SIGCONT)
            sandbox.frozen = False

    def _maybe_freeze_locked(self, sandbox: _Sandbox) -> None:
        """Freeze once the last invocation is answered, the runtime is back in GET /next and every extension
        in GET /event/next: Lambda never freezes a sandbox an extension is still working in."""
        pending = sandbox.current
        if (
            not self.freeze
            or sandbox.frozen
            or not sandbox.alive
            or pending is None
            or pending.invocation is None
            or pending.invocation.frozen_at is not None
            or not sandbox.ready
        ):
            return
        self._signal_group(sandbox, signal.SIGSTOP)
        _wait_stopped(sandbox.pid)
        sandbox.frozen = True
        pending.invocation.frozen_at = time.monotonic()
        self._cond.notify_all()

    def _shutdown_locked(self, sandbox: _Sandbox) -> None:
        """Lambda's shutdown phase with extensions: SIGTERM to the runtime, SHUTDOWN to the extensions
        registered for it, then wait (bounded) until they ask for the next event or the process exits."""
        self._thaw_locked(sandbox)
        with contextlib.suppress(ProcessLookupError):
            os.kill(sandbox.pid, signal.SIGTERM)
        deadline_ms = int((time.time() + self.shutdown_timeout_s) * 1000)
        targets = [extension for extension in sandbox.extensions.values() if "SHUTDOWN" in extension.events]
        for extension in targets:
            extension.queue.append({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": deadline_ms})
        self._cond.notify_all()
        if targets:
            self._wait_locked(
                lambda: not sandbox.alive or all(extension.idle for extension in targets),
                time.monotonic() + self.shutdown_timeout_s,
            )
        else:
            # Internal extensions only: the runtime gets Lambda's 500 ms to end after SIGTERM.
            self._wait_locked(lambda: not sandbox.alive, time.monotonic() + INTERNAL_SHUTDOWN_S)

    def _kill_locked(self, sandbox: _Sandbox) -> None:
        # SIGKILL ends stopped processes too: no SIGCONT needed first.
        self._signal_group(sandbox, signal.SIGKILL)
        self._wait_locked(lambda: not sandbox.alive, time.monotonic() + KILL_WAIT_S)
        sandbox.frozen = False
        if self._sandbox is sandbox:
            self._sandbox = None
        # Releases the handler threads still waiting on the sandbox's behalf.
        self._cond.notify_all()
        # Bounded: a grandchild that left the process group may hold the pipe open.
        sandbox.reader.join(timeout=1.0)

    def _wait_locked(self, predicate: Callable[[], bool], deadline: float | None) -> bool:
        """Wait on the condition until ``predicate()`` (True) or the monotonic ``deadline`` (False)."""
        while not predicate():
            if deadline is None:
                self._cond.wait()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._cond.wait(remaining)
        return True

    # ---- the Runtime and Extensions APIs (called on server threads)

    def _route(self, method: str, path: str, headers: Message, body: bytes, generation: int) -> _Answer | None:
        if method == "GET":
            if path == f"{RUNTIME_API}/invocation/next":
                return self._runtime_next(generation)
            if path == f"{EXTENSION_API}/event/next":
                return self._extension_next(generation, headers.get("Lambda-Extension-Identifier", ""))
            if path == f"{RUNTIME_API}/restore/next":
                return _Answer(200)  # SnapStart: "restored" at once, in the same process
        elif method == "POST":
            match = _RESULT_PATH.fullmatch(path)
            if match:
                return self._runtime_result(generation, match["id"], match["kind"] == "error", headers, body)
            if path in (f"{RUNTIME_API}/init/error", f"{RUNTIME_API}/restore/error"):
                return self._init_error(
                    generation, _error_document(body, headers.get("Lambda-Runtime-Function-Error-Type"))
                )
            if path == f"{EXTENSION_API}/init/error":
                error_type = headers.get("Lambda-Extension-Function-Error-Type")
                return self._init_error(generation, _error_document(body, error_type))
            if path == f"{EXTENSION_API}/register":
                return self._register(generation, headers.get("Lambda-Extension-Name", ""), body)
        return _error_answer(404, "InvalidRequest", f"no such endpoint: {method} {path}")

    def _sandbox_for(self, generation: int) -> _Sandbox | None:
        sandbox = self._sandbox
        return sandbox if sandbox is not None and sandbox.generation == generation else None

    def _note_ready_locked(self, sandbox: _Sandbox) -> None:
        if sandbox.init_done_at is None and sandbox.ready:
            sandbox.init_done_at = time.monotonic()

    def _runtime_next(self, generation: int) -> _Answer | None:
        with self._cond:
            sandbox = self._sandbox_for(generation)
            if sandbox is None:
                return None
            sandbox.initialised = True
            sandbox.runtime_waiting = True
            self._note_ready_locked(sandbox)
            self._maybe_freeze_locked(sandbox)
            self._cond.notify_all()
            self._wait_locked(lambda: self._sandbox is not sandbox or sandbox.next_event is not None, None)
            pending = sandbox.next_event
            sandbox.runtime_waiting = False
            if self._sandbox is not sandbox or pending is None:
                return None
            sandbox.next_event = None
            sandbox.current = pending
            pending.delivered_at = time.monotonic()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": pending.request_id,
            "Lambda-Runtime-Deadline-Ms": str(pending.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": pending.trace_id,
        }
        return _Answer(200, pending.body, headers)

    def _runtime_result(
        self, generation: int, request_id: str, is_error: bool, headers: Message, body: bytes
    ) -> _Answer | None:
        now = time.monotonic()
        with self._cond:
            sandbox = self._sandbox_for(generation)
            if sandbox is None:
                return None
            pending = sandbox.current
            if pending is None or pending.request_id != request_id or pending.delivered_at is None:
                return _error_answer(400, "InvalidRequestID", f"no invocation {request_id} in progress")
            if pending.invocation is not None:
                return _error_answer(403, "InvalidStateTransition", f"invocation {request_id} was already answered")
            if is_error:
                payload = None
                error: dict[str, Any] | None = _error_document(body, headers.get("Lambda-Runtime-Function-Error-Type"))
            else:
                payload, error = _decode_payload(body), None
            duration_ms = (now - pending.delivered_at) * 1000
            pending.invocation = Invocation(
                request_id, payload, error, pending.cold, pending.init_ms, duration_ms, now, sandbox_pid=sandbox.pid
            )
            self._cond.notify_all()
        return _ACCEPTED

    def _init_error(self, generation: int, error: dict[str, Any]) -> _Answer | None:
        with self._cond:
            sandbox = self._sandbox_for(generation)
            if sandbox is None:
                return None
            if sandbox.init_done_at is not None:
                return _error_answer(403, "InvalidStateTransition", "the init phase is over")
            sandbox.init_error = error
            self._cond.notify_all()
        return _ACCEPTED

    def _register(self, generation: int, name: str, body: bytes) -> _Answer | None:
        if not name:
            return _error_answer(400, "InvalidRequest", "the Lambda-Extension-Name header is required")
        try:
            events = json.loads(body or b"{}").get("events", [])
        except (ValueError, AttributeError):
            return _error_answer(400, "InvalidRequest", "the body must be a JSON object like {'events': [...]}")
        if not isinstance(events, list) or not set(events) <= EXTENSION_EVENTS:
            return _error_answer(400, "Extension.InvalidEventType", f"events must be among {sorted(EXTENSION_EVENTS)}")
        external = self.opt_dir is not None and (self.opt_dir / "extensions" / name).is_file()
        if "SHUTDOWN" in events and not external:
            return _error_answer(400, "Extension.InvalidEventType", "internal extensions may not register for SHUTDOWN")
        with self._cond:
            sandbox = self._sandbox_for(generation)
            if sandbox is None:
                return None
            if sandbox.initialised:
                return _error_answer(403, "Extension.RegistrationError", "extensions register during the init phase")
            extension = _Extension(str(uuid.uuid4()), name, frozenset(events))
            sandbox.extensions[extension.identifier] = extension
            self._cond.notify_all()
        document = {"functionName": self.function_name, "functionVersion": "$LATEST", "handler": self.handler}
        return _json_answer(200, document, {"Lambda-Extension-Identifier": extension.identifier})

    def _extension_next(self, generation: int, identifier: str) -> _Answer | None:
        with self._cond:
            sandbox = self._sandbox_for(generation)
            if sandbox is None:
                return None
            extension = sandbox.extensions.get(identifier)
            if extension is None:
                return _error_answer(403, "Extension.UnknownExtensionIdentifier", f"unknown extension {identifier!r}")
            extension.waiting = True
            self._note_ready_locked(sandbox)
            self._maybe_freeze_locked(sandbox)
            self._cond.notify_all()
            self._wait_locked(lambda: self._sandbox is not sandbox or bool(extension.queue), None)
            extension.waiting = False
            if self._sandbox is not sandbox or not extension.queue:
                return None
            event = extension.queue.popleft()
            self._cond.notify_all()
        return _json_answer(200, event, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})
