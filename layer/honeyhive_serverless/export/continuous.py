"""Lambda Managed Instances: each invocation's export leaves on a thread of its worker, off the request path.

Nothing freezes on Managed Instances: a worker runs on between and during invocations, so an invocation
has no reason to hold its response until its export is sent (on demand it must: the sandbox may freeze
next). In the ``invocation`` and ``after_response`` modes the wrapper hands each invocation's scope (its
held spans, session starts and enrichment) to this worker's export thread as the handler returns, and
the thread sends the scopes in order, each within the flush timeout, and each once the runtime has
posted its invocation's response (``runtime_responses``): sent at once, the export's work would hold the
GIL while the worker's runtime client marshals and posts it. The scopes queued behind the one being sent
leave together in the next request (up to :data:`MAX_BATCH`, within one scope's caps): one request at a
time, a worker could send at most one invocation per round trip to HoneyHive, and invocations coming
faster would queue without end. What is still queued when the worker is shut down is sent within
Lambda's shutdown allowance, on SIGTERM (``shutdown``), or as the interpreter exits.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import deque

from .._fork import reset_in_child
from .._log import logger
from ..scope import FlushScope, SessionScope
from .runtime_responses import PostedResponses, watch_runtime_responses
from .shutdown import SHUTDOWN_FLUSH_S, flush_on_sigterm

#: How long an export waits for its invocation's response to be posted (it is, microseconds to a few
#: milliseconds after the hand-off; a handler called outside the runtime client has none).
RESPONSE_WAIT_S = 0.5
#: At most this many invocations' scopes leave in one request.
MAX_BATCH = 64


class ContinuousExport:
    """One worker's export thread: scopes handed off are sent after their invocations, in order."""

    def __init__(self, flush: FlushScope, flush_timeout_ms: int) -> None:
        #: Whether each export waits for its invocation's response to be posted.
        self.watching_responses = False
        self._flush = flush
        self._flush_timeout_s = flush_timeout_ms / 1000
        self._after_fork()
        reset_in_child(self._after_fork)

    def _after_fork(self) -> None:
        """No queue and no thread: a forked worker has none of its parent's threads."""
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, SessionScope]] = deque()
        #: Invocations whose response the runtime client has posted.
        self._posted = PostedResponses(self._cond)
        #: Scopes handed off and not yet sent (queued, or being sent).
        self._unsent = 0
        #: Callers of :meth:`drain` waiting: the exports go without waiting for their responses.
        self._draining = 0
        self._thread: threading.Thread | None = None

    @classmethod
    def export_thread(cls, flush: FlushScope, flush_timeout_ms: int) -> ContinuousExport:
        """The export for a platform that runs several invocations at once and never freezes
        (``AWS_LAMBDA_MAX_CONCURRENCY`` is set), watching the runtime's responses, with its shutdown flush."""
        export = cls(flush, flush_timeout_ms)
        export.watching_responses = watch_runtime_responses(export._response_posted)
        flush_on_sigterm(export.drain)
        atexit.register(export.drain, None)
        return export

    def hand_off(self, request_id: str, scope: SessionScope) -> None:
        """Called by the wrapper as the invocation ends: ``scope`` is sent after it, on the export thread."""
        with self._cond:
            self._queue.append((request_id, scope))
            self._unsent += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="honeyhive-export", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _response_posted(self, request_id: str) -> None:
        self._posted.add(request_id)  # through the exporter: a forked worker's ``_posted`` is a new one

    def expect_hand_offs(self) -> None:
        """Nothing to arrange: the export thread starts with the first hand-off."""

    def drain(self, deadline: float | None) -> bool:
        """Wait, until ``deadline`` (``time.monotonic()``; None: the shutdown allowance from now), for every
        scope handed off to be sent; whether they were."""
        if deadline is None:
            deadline = time.monotonic() + SHUTDOWN_FLUSH_S
        with self._cond:
            self._draining += 1  # no export waits for a response now
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: self._unsent == 0, max(0.0, deadline - time.monotonic()))
            finally:
                self._draining -= 1

    def _run(self) -> None:
        while True:
            scope, count = self._next_scopes()
            scope.export_by(time.monotonic() + self._flush_timeout_s)
            try:
                self._flush(scope)
            except Exception:
                logger.exception("honeyhive: could not send an invocation's telemetry")
            finally:
                with self._cond:
                    self._unsent -= count
                    self._cond.notify_all()

    def _next_scopes(self) -> tuple[SessionScope, int]:
        """The oldest scope handed off, once its response is posted (bounded), or at once in a drain; with
        what it absorbed of the scopes queued behind it whose responses are posted too; and how many
        scopes that is."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._queue))
            request_id, scope = self._queue[0]
            self._cond.wait_for(lambda: self._sendable(request_id), RESPONSE_WAIT_S)
            self._queue.popleft()
            self._posted.forget(request_id)
            count = 1
            while self._queue and count < MAX_BATCH:
                request_id, later = self._queue[0]
                if not self._sendable(request_id) or not scope.room_for(later):
                    break
                self._queue.popleft()
                self._posted.forget(request_id)
                scope.absorb(later)
                count += 1
        return scope, count

    def _sendable(self, request_id: str) -> bool:
        """Whether the invocation's export may go now: its response is posted (or not watched), or a
        drain is waiting. Called holding ``_cond``."""
        return not self.watching_responses or request_id in self._posted or self._draining > 0
