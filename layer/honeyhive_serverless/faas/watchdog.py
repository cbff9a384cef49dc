"""One daemon thread that runs a callback when an armed moment passes before it is disarmed.

The handler wrapper arms it for each invocation, shortly before the deadline, and disarms it when the
handler returns: an invocation that is about to time out still gets its spans out. A disarmed entry
can never fire, so nothing fires in a later invocation (after a freeze, the clock has jumped).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from .._fork import reset_in_child
from .._log import logger


class Watchdog:
    """Many armed entries, one thread, started on first use."""

    def __init__(self) -> None:
        self._tickets = itertools.count(1)
        self._after_fork()
        reset_in_child(self._after_fork)

    def _after_fork(self) -> None:
        """Nothing armed and no thread: the parent's timers are its invocations', not the child's."""
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, Callable[[], None]]] = {}
        self._thread: threading.Thread | None = None
        #: The moment the thread sleeps until (None: until it is told of an entry).
        self._wake_at: float | None = None

    def arm(self, at: float, callback: Callable[[], None]) -> int:
        """Run ``callback`` at ``at`` (``time.monotonic()``) unless disarmed first; returns a ticket."""
        with self._cond:
            ticket = next(self._tickets)
            self._armed[ticket] = (at, callback)
            self._start_locked()
            # The thread is woken only for an entry due before the moment it sleeps until: invocation after
            # invocation arms a later moment than the last, and each wake-up took the GIL from a handler.
            if self._wake_at is None or at < self._wake_at:
                self._cond.notify()
        return ticket

    def start(self) -> None:
        """Start the thread now (during init), so that the first invocation does not pay for it (~1 ms)."""
        with self._cond:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="honeyhive-watchdog", daemon=True)
            self._thread.start()

    def disarm(self, ticket: int) -> None:
        """Never run the entry of ``ticket``. The thread is not woken: at the entry's moment it finds it
        gone and sleeps until the next one."""
        with self._cond:
            self._armed.pop(ticket, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._next_due()
                while due is None:
                    self._wake_at = None
                    self._cond.wait()
                    due = self._next_due()
                ticket, at, callback = due
                wait = at - time.monotonic()
                if wait > 0:
                    self._wake_at = at
                    self._cond.wait(wait)
                    continue
                del self._armed[ticket]
            try:
                callback()
            except Exception:
                logger.exception("honeyhive: timeout handler failed")

    def _next_due(self) -> tuple[int, float, Callable[[], None]] | None:
        if not self._armed:
            return None
        ticket = min(self._armed, key=lambda t: self._armed[t][0])
        at, callback = self._armed[ticket]
        return ticket, at, callback


watchdog = Watchdog()
