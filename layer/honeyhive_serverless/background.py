"""Requests that run beside the caller: a session start beside the handler, the session enrichment
beside the span export.

A couple of daemon threads, started on first use and kept for the life of the sandbox (a freeze
suspends them with everything else). Not ``concurrent.futures``: importing it costs a cold start about
7 ms, for the two methods used here.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from ._fork import reset_in_child
from ._log import logger

T = TypeVar("T")


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

    def submit(self, function: Callable[..., T], *args: Any) -> Pending[T]:
        pending: Pending[T] = Pending()
        self.start()
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
            pending._finish(result)


def wait_all(pending: Iterable[Pending[Any]], deadline: float | None) -> None:
    """Wait for every request, until ``deadline`` (``time.monotonic()``) at the latest."""
    for request in pending:
        request.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
