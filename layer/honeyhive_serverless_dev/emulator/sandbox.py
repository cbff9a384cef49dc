"""The sandbox: the runtime's process in its own process group, signalled through Lambda's lifecycle.

Started the way Lambda's bootstrap starts the runtime; frozen between invocations (SIGSTOP to the
whole group, confirmed in ``/proc``) once the runtime and every extension wait for their next event;
thawed (SIGCONT) just before the next one; shut down (SIGTERM to the runtime, SHUTDOWN to the
extensions); killed (SIGKILL to the group, which ends stopped processes too).

A function has one sandbox at a time, in its :class:`Slot`. The slot's condition guards every
sandbox's state: ``invoke()`` and the API server's handler threads wait on it, and every method of
:class:`Sandbox` but :meth:`Sandbox.start` is called with it held.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# What Lambda's Python bootstrap runs: the handler comes from _HANDLER as the process starts, so an exec
# wrapper that rewrites _HANDLER redirects it (passing the handler as an argument would bypass that).
BOOTSTRAP_CODE = "import os, sys; from awslambdaric.__main__ import main; main([sys.argv[0], os.environ['_HANDLER']])"
#: How long Lambda lets a runtime with only internal extensions shut down after SIGTERM.
INTERNAL_SHUTDOWN_S = 0.5
# How long a freeze waits for every thread of the runtime process to be seen stopped, so that
# ``frozen_at`` means "stopped", not "signal sent". Threads stop within microseconds unless one is in
# uninterruptible I/O.
STOP_CONFIRM_S = 0.05
KILL_WAIT_S = 5.0


@dataclass
class InvocationResult:
    """The outcome of one invocation.

    ``payload`` is the response parsed as JSON (raw text when it is not JSON; None on error), ``response``
    its bytes as the runtime posted them (empty on error). ``error`` is the error document (``errorType``,
    ``errorMessage``...) posted to ``/error`` or ``/init/error``, or one the emulator made:
    ``Sandbox.Timedout``, ``Runtime.ExitError``, ``Runtime.InvalidEntrypoint``. ``duration_ms`` runs from
    the event handed to the runtime to the response posted (for a timeout, from the invocation's start,
    when its deadline starts running, to the kill); ``init_ms`` (cold starts only) from the process start
    to the runtime and every extension asking for the first event.
    ``response_at`` and ``frozen_at`` are ``time.monotonic()`` values (the same clock in every process
    of this machine); ``frozen_at`` is set later, when the sandbox is frozen after this invocation.
    ``extensions_next_at``: for each extension (by name) that took this invocation's INVOKE event, when
    its next ``GET /event/next`` arrived (it is done with the invocation); filled in as they arrive,
    complete once the sandbox is frozen (or ready, without freezing).
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
    extensions_next_at: dict[str, float] = field(default_factory=dict)
    response: bytes = b""

    @property
    def ok(self) -> bool:
        """True when the handler returned a response."""
        return self.error is None


@dataclass(eq=False)
class Extension:
    """An extension registered in a sandbox, and the events queued for it."""

    identifier: str
    name: str
    events: frozenset[str]
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    waiting: bool = False
    # The invocation whose INVOKE event is queued or being worked on, until the extension asks for more.
    invoked: Pending | None = None

    @property
    def idle(self) -> bool:
        """In GET /event/next with no event left to take."""
        return self.waiting and not self.queue

    def invoke(self, pending: Pending, event: dict[str, Any]) -> None:
        """Queue ``pending``'s INVOKE ``event``."""
        self.queue.append(event)
        self.invoked = pending

    def arrived(self, at: float) -> None:
        """The extension asked for its next event (at ``at``): after taking an INVOKE, it is done with it."""
        self.waiting = True
        if self.invoked is not None and not self.queue:
            self.invoked.extensions_next_at.setdefault(self.name, at)
            self.invoked = None


@dataclass(eq=False)
class Pending:
    """An event handed (or about to be handed) to the runtime."""

    request_id: str
    body: bytes
    trace_id: str
    deadline_ms: int
    deadline: float
    published_at: float
    cold: bool
    init_ms: float | None
    #: The ``Lambda-Runtime-Client-Context`` header (JSON), for an invoke that carried a client context.
    client_context: str | None = None
    #: The ``Lambda-Runtime-Aws-Tenant-Id`` header, for an invoke of a tenant-isolated function.
    tenant_id: str | None = None
    #: The ``Lambda-Runtime-Invocation-Id`` header (Managed Instances): the runtime client echoes it on
    #: its response, so an answer posted for the wrong invocation is refused.
    invocation_id: str | None = None
    delivered_at: float | None = None
    invocation: InvocationResult | None = None
    # Shared with the invocation's result, which may be made before the extensions are done.
    extensions_next_at: dict[str, float] = field(default_factory=dict)


def wait_until(cond: threading.Condition, predicate: Callable[[], bool], deadline: float | None) -> bool:
    """Wait on ``cond`` (held) until ``predicate()`` (True) or the monotonic ``deadline`` (False)."""
    while not predicate():
        if deadline is None:
            cond.wait()
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        cond.wait(remaining)
    return True


class Output:
    """Everything the sandboxes wrote to stdout and stderr, read as it comes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[str] = []

    def text(self) -> str:
        """What was read so far (complete for a sandbox once it is gone)."""
        with self._lock:
            return "".join(self._chunks)

    def write(self, text: str) -> None:
        with self._lock:
            self._chunks.append(text)

    def read_from(self, stream: IO[bytes]) -> None:
        """Read ``stream`` to its end (on a thread of its own), then close it."""
        # Raw reads of whatever is there, so output shows up while the process runs, not per line.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = stream.fileno()
        with stream:
            while chunk := os.read(fd, 65536):
                self.write(decoder.decode(chunk))
        self.write(decoder.decode(b"", final=True))

    def read_lines_from(self, stream: IO[bytes]) -> None:
        """Read ``stream`` to its end a whole line at a time (on a thread of its own), then close it: lines
        of several writers reading into one output never mix."""
        with stream:
            for line in stream:
                self.write(line.decode("utf-8", "replace"))


@dataclass(eq=False)
class Sandbox:
    """One runtime process, and what the Runtime and Extensions APIs know of it."""

    generation: int
    process: subprocess.Popen[bytes]
    spawned_at: float
    reader: threading.Thread
    cond: threading.Condition
    # False: never stopped between invocations.
    freeze: bool
    # How many runtime processes poll GET /next: 1, or AWS_LAMBDA_MAX_CONCURRENCY forked workers.
    workers: int = 1
    exit_code: int | None = None
    # The runtime asked for its first event: the init phase is over and registration closed.
    initialised: bool = False
    init_done_at: float | None = None
    init_error: dict[str, Any] | None = None
    # Runtime processes in GET /next.
    runtimes_waiting: int = 0
    extensions: dict[str, Extension] = field(default_factory=dict)
    # Events not yet taken by a runtime process, in order.
    queued: deque[Pending] = field(default_factory=deque)
    # Events handed over and not yet answered, by request id: where a posted answer is routed.
    in_flight: dict[str, Pending] = field(default_factory=dict)
    # The last event handed over (whose answer a freeze waits for).
    current: Pending | None = None
    frozen: bool = False
    last_deadline: float = 0.0

    @classmethod
    def start(
        cls,
        generation: int,
        interpreter: str,
        wrapper: str | None,
        *,
        cwd: Path,
        env: Mapping[str, str],
        cond: threading.Condition,
        freeze: bool,
        output: Output,
        workers: int = 1,
    ) -> Sandbox:
        """Start the runtime as Lambda's bootstrap does (through ``wrapper`` when there is one), with its
        output read into ``output``. OSError when the interpreter or the wrapper cannot be run."""
        command = [interpreter, "-c", BOOTSTRAP_CODE]
        if wrapper:
            command.insert(0, wrapper)
        spawned_at = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group: freezing, thawing and killing reach everything it started.
            start_new_session=True,
        )
        assert process.stdout is not None
        reader = threading.Thread(target=output.read_from, args=(process.stdout,), name="sandbox-output", daemon=True)
        sandbox = cls(generation, process, spawned_at, reader, cond, freeze, workers)
        reader.start()
        threading.Thread(target=sandbox._reap, name="sandbox-reaper", daemon=True).start()
        return sandbox

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    @property
    def ready(self) -> bool:
        """Every runtime process is in GET /next and every extension in GET /event/next, with nothing to
        take."""
        return (
            self.runtimes_waiting >= self.workers
            and not self.queued
            and all(extension.idle for extension in self.extensions.values())
        )

    def note_ready(self) -> None:
        """The first time the sandbox is ready, its init phase is over."""
        if self.init_done_at is None and self.ready:
            self.init_done_at = time.monotonic()

    def thaw(self) -> None:
        if self.frozen:
            self._signal_group(signal.SIGCONT)
            self.frozen = False

    def freeze_if_done(self) -> None:
        """Freeze once the last invocation is answered, the runtime is back in GET /next and every extension
        in GET /event/next: Lambda never freezes a sandbox an extension is still working in."""
        pending = self.current
        if (
            not self.freeze
            or self.frozen
            or not self.alive
            or pending is None
            or pending.invocation is None
            or pending.invocation.frozen_at is not None
            or not self.ready
        ):
            return
        self._signal_group(signal.SIGSTOP)
        _wait_stopped(self.pid)
        self.frozen = True
        pending.invocation.frozen_at = time.monotonic()
        self.cond.notify_all()

    def shut_down(self, timeout_s: float) -> None:
        """Lambda's shutdown phase: SIGTERM to the runtime, SHUTDOWN to the extensions registered for it,
        then wait (bounded) until they ask for the next event or the process exits.

        Under ``AWS_LAMBDA_MAX_CONCURRENCY`` the SIGTERM goes to each worker the runtime forked, whose
        runtime then ends as they have: awslambdaric (4.2.2) forwards no signal to its workers, and how
        Lambda signals them is not documented; the emulator takes it that every process of an environment
        that ends is told, as each is on a host that stops."""
        self.thaw()
        for pid in self._workers() if self.workers > 1 else (self.pid,):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline_ms = int((time.time() + timeout_s) * 1000)
        targets = [extension for extension in self.extensions.values() if "SHUTDOWN" in extension.events]
        for extension in targets:
            extension.queue.append({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": deadline_ms})
        self.cond.notify_all()
        if targets:
            wait_until(
                self.cond,
                lambda: not self.alive or all(extension.idle for extension in targets),
                time.monotonic() + timeout_s,
            )
        else:
            # Internal extensions only: the runtime gets Lambda's 500 ms to end after SIGTERM.
            wait_until(self.cond, lambda: not self.alive, time.monotonic() + INTERNAL_SHUTDOWN_S)

    def kill(self) -> None:
        """SIGKILL to the group (it ends stopped processes too: no SIGCONT first), then wait, bounded, for
        the runtime to be reaped."""
        self._signal_group(signal.SIGKILL)
        wait_until(self.cond, lambda: not self.alive, time.monotonic() + KILL_WAIT_S)
        self.frozen = False

    def exit_error(self, request_id: str | None) -> dict[str, Any]:
        """The error Lambda reports for a runtime that exited (during ``request_id``, if any)."""
        code = self.exit_code
        status = f"signal: {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
        prefix = f"RequestId: {request_id} " if request_id else ""
        return {"errorType": "Runtime.ExitError", "errorMessage": f"{prefix}Error: Runtime exited with error: {status}"}

    def _reap(self) -> None:
        code = self.process.wait()
        with self.cond:
            self.exit_code = code
            self.cond.notify_all()

    def _workers(self) -> list[int]:
        """The processes the runtime forked (Linux's ``children`` list of each of its threads)."""
        pids: list[int] = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.pid}/task").iterdir():
                pids += [int(pid) for pid in (task / "children").read_text().split()]
        return pids

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


class Slot:
    """Where a function's one sandbox lives (None before the first and after a kill), with the count of
    sandboxes started (a connection belongs to the generation it was accepted in) and the condition
    that guards it all."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.sandbox: Sandbox | None = None
        self.generation = 0

    def current(self, generation: int) -> Sandbox | None:
        """The sandbox, if it is still the one of ``generation``."""
        sandbox = self.sandbox
        return sandbox if sandbox is not None and sandbox.generation == generation else None

    def wait(self, predicate: Callable[[], bool], deadline: float | None) -> bool:
        """:func:`wait_until` on the slot's condition (held)."""
        return wait_until(self.cond, predicate, deadline)


def status_kb(pid: int, name: str) -> int:
    """The figure ``name`` of ``/proc/<pid>/status`` in kB (``VmRSS``, ``VmHWM``...); a stopped process
    has one too."""
    prefix = f"{name}:"
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(prefix):
                return int(line.split()[1])
    raise KeyError(f"no {name} in /proc/{pid}/status")


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
