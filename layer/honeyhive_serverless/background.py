"""Requests that run beside the caller: a session start beside the handler, the session enrichment
beside the span export.

A couple of daemon threads, started on first use and kept for the life of the sandbox (a freeze
suspends them with everything else). Not ``concurrent.futures``: importing it costs a cold start about
7 ms, for the two methods used here.

While requests run here, the interpreter switches threads every :data:`SWITCH_INTERVAL_S` rather than
every 5 ms. A request waits on the network most of the time, and each time it has something to do (a
connection made, an answer read) it needs the GIL back; beside a handler that computes, it gets it only
when the interpreter next switches. At 5 ms a switch, a TLS connection and a session start beside a
150 ms CPU-bound handler were not done when it returned, and its export waited for them: the first
invocation after a cold start added 114 ms instead of the warm 25 (``make bench``, HTTPS at RTT 20 ms).
The handler loses only what the requests compute. The interval the process had is restored once no
request runs (unless something else changed it meanwhile).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from ._fork import reset_in_child
from ._log import logger

T = TypeVar("T")

#: The interpreter's thread switch interval while requests run beside the caller (its default is 5 ms).
SWITCH_INTERVAL_S = 0.0005


class Pending(Generic[T]):
    """The outcome of a request running beside the caller."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._result: T | None = None

    def result(self, timeout: float | None) -> T | None:
        """The request's result, or None if it failed or is still running after ``timeout`` seconds."""
        self._done.wait(timeout)
        return self._result

    def _finish(self, result: T | None) -> None:
        self._result = result
        self._done.set()


class Background:
    """A small pool of daemon threads for requests whose waits should overlap the caller's."""

    def __init__(self, workers: int = 2) -> None:
        self._workers = workers
        self._after_fork()
        reset_in_child(self._after_fork)

    def _after_fork(self) -> None:
        """A new queue and no threads (a fork's child has none of its parent's): started on next use."""
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Pending[Any]]] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()
        #: Requests submitted and not finished; the switch interval the process had before the first.
        self._running = 0
        self._interval: float | None = None

    def submit(self, function: Callable[..., T], *args: Any) -> Pending[T]:
        pending: Pending[T] = Pending()
        self.start()
        with self._lock:
            self._running += 1
            if self._running == 1:
                self._interval = sys.getswitchinterval()
                sys.setswitchinterval(min(self._interval, SWITCH_INTERVAL_S))
        self._queue.put((function, args, pending))
        return pending

    def start(self) -> None:
        """Start the threads (on first use, or sooner: a cold start's first invocation then saves ~2 ms)."""
        if self._started:
            return
        with self._lock:
            if not self._started:
                for number in range(self._workers):
                    threading.Thread(target=self._work, name=f"honeyhive-{number}", daemon=True).start()
                self._started = True

    def _work(self) -> None:
        while True:
            function, args, pending = self._queue.get()
            result = None
            try:
                result = function(*args)
            except Exception:  # the requests contain their failures; this is the last guard
                logger.exception("honeyhive: background request failed")
            finally:
                self._finished()
            pending._finish(result)

    def _finished(self) -> None:
        with self._lock:
            self._running -= 1
            interval, lowered = self._interval, min(self._interval or SWITCH_INTERVAL_S, SWITCH_INTERVAL_S)
            if self._running == 0 and interval is not None and sys.getswitchinterval() == lowered:
                sys.setswitchinterval(interval)


def wait_all(pending: Iterable[Pending[Any]], deadline: float | None) -> None:
    """Wait for every request, until ``deadline`` (``time.monotonic()``) at the latest."""
    for request in pending:
        request.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
