"""``HH_EXPORT_MODE=after_response``: export after the response, from an in-process Lambda extension.

During init the tracer's pipeline registers an internal extension (this thread) for INVOKE events with the
Extensions API. The handler returns and its response is posted at once; the wrapper hands the
invocation's scope (held spans, session starts and enrichment) to this thread, which exports it and
only then asks for its next event. Lambda freezes the sandbox only when the runtime and every extension have asked
for their next event, so nothing is lost, and the caller does not wait for the export (the billed
duration does).

The extension never holds a sandbox waiting for a hand-off that will not come (a router that calls
the wrapped function on some paths only, an invocation whose tracing failed to start): it learns from
the runtime client itself, in this process, when each invocation's response or error is posted. By
then the wrapper has handed off whatever the invocation will hand off, so the extension exports that
(or nothing) and asks for its next event at once. Where the runtime client is not one it knows
(neither ``awslambdaric``'s nor the managed runtimes' own ``lambda_runtime_client``), it waits for the
hand-off as before, until the invocation's deadline.

Lambda does not let an internal extension register for SHUTDOWN: on SIGTERM (``shutdown``) what is left
is flushed, after an export under way has finished.

Where registration is not possible (not on Lambda, the API refuses, init is over) the tracer falls back
to the ``invocation`` mode with one info line.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time

from .. import variables as var
from .._log import logger
from ..budget import flush_deadline
from ..scope import FlushScope, SessionScope
from .runtime_responses import PostedResponses, watch_runtime_responses
from .shutdown import flush_on_sigterm

EXTENSION_NAME = "honeyhive-serverless"
_API = "/2020-01-01/extension"
#: The export must be over this long before the invocation's deadline.
DEADLINE_RESERVE_S = 0.05


class AfterResponseExtension:
    """The internal extension: one thread that exports each invocation's telemetry after its response."""

    def __init__(self, flush: FlushScope, flush_timeout_ms: int, runtime_api: str) -> None:
        self._flush = flush
        self._flush_timeout_ms = flush_timeout_ms
        self._runtime_api = runtime_api
        self._identifier: str | None = None
        self._pending: dict[str, SessionScope] = {}
        self._cond = threading.Condition()
        #: Held while an export runs, so a shutdown can let it finish.
        self._exporting = threading.Lock()
        #: Whether invocations hand off at all; until a handler is wrapped none does.
        self._expect_hand_offs = False
        #: Invocations whose response or error the runtime has posted (see ``watch_runtime_responses``).
        self._posted = PostedResponses(self._cond)
        self.watching_responses = False

    @classmethod
    def register(cls, flush: FlushScope, flush_timeout_ms: int) -> AfterResponseExtension | None:
        """Register with the Extensions API and start the thread; None (and one info line) if not possible."""
        runtime_api = os.environ.get(var.LAMBDA_RUNTIME_API)
        if not runtime_api:
            logger.info("honeyhive: after_response needs the Lambda Extensions API; exporting per invocation")
            return None
        if os.environ.get(var.LAMBDA_MAX_CONCURRENCY):
            # Managed Instances: several invocations at once in forked workers and no freeze; one
            # extension cannot wait for each worker's hand-offs, and nothing freezes before an export.
            logger.info(
                "honeyhive: after_response does not run on Lambda Managed Instances; each invocation's export"
                " leaves after it on the worker's export thread"
            )
            return None
        exporter = cls(flush, flush_timeout_ms, runtime_api)
        try:
            exporter._register()
        except (OSError, http.client.HTTPException, RuntimeError) as exc:
            logger.info(
                "honeyhive: could not register the after_response extension (%s); exporting per invocation", exc
            )
            return None
        threading.Thread(target=exporter._run, name="honeyhive-extension", daemon=True).start()
        flush_on_sigterm(exporter._shutdown_flush)
        exporter.watching_responses = watch_runtime_responses(exporter._posted.add)
        return exporter

    def expect_hand_offs(self) -> None:
        """A handler was wrapped (during init, before the first INVOKE): from now on each invocation's
        export waits for its hand-off."""
        self._expect_hand_offs = True

    def hand_off(self, request_id: str, scope: SessionScope) -> None:
        """Called by the wrapper as the invocation ends: ``scope`` holds what to export after the response."""
        with self._cond:
            self._pending[request_id] = scope
            self._cond.notify_all()

    def _register(self) -> None:
        conn = http.client.HTTPConnection(self._runtime_api, timeout=2)
        try:
            conn.request(
                "POST",
                f"{_API}/register",
                body=json.dumps({"events": ["INVOKE"]}),
                headers={"Lambda-Extension-Name": EXTENSION_NAME, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            identifier = response.getheader("Lambda-Extension-Identifier")
            if response.status != 200 or not identifier:
                raise RuntimeError(f"register answered HTTP {response.status}")
            self._identifier = identifier
        finally:
            conn.close()

    def _run(self) -> None:
        # No timeout: the next event may be minutes away, and this thread is frozen with the sandbox meanwhile.
        conn = http.client.HTTPConnection(self._runtime_api)
        headers = {"Lambda-Extension-Identifier": self._identifier or ""}
        while True:
            try:
                conn.request("GET", f"{_API}/event/next", headers=headers)
                response = conn.getresponse()
                event = json.loads(response.read() or b"{}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                logger.warning("honeyhive: the after_response extension lost the Extensions API (%s)", exc)
                return
            self._export_invocation(str(event.get("requestId", "")), _monotonic_deadline(event.get("deadlineMs")))

    def _export_invocation(self, request_id: str, deadline: float | None) -> None:
        """Wait for this invocation's hand-off (only if a wrapped handler will make one) or for its
        response without one, then export what was handed off."""
        if self._expect_hand_offs:
            with self._cond:
                self._cond.wait_for(
                    lambda: request_id in self._pending or request_id in self._posted,
                    timeout=None if deadline is None else max(0.0, deadline - time.monotonic()),
                )
                self._posted.forget(request_id)
        self._export_all(deadline)

    def _export_all(self, deadline: float | None) -> None:
        with self._exporting:
            with self._cond:
                pending, self._pending = self._pending, {}
            export_by = flush_deadline(self._flush_timeout_ms, deadline, DEADLINE_RESERVE_S)
            for scope in pending.values():
                scope.export_by(export_by)
                try:
                    self._flush(scope)
                except Exception:
                    logger.exception("honeyhive: after_response export failed")

    def _shutdown_flush(self, deadline: float) -> None:
        """SIGTERM: an export under way finishes first; then whatever is still pending goes."""
        if self._exporting.acquire(timeout=max(0.0, deadline - time.monotonic())):
            self._exporting.release()
        self._export_all(deadline)


def _monotonic_deadline(deadline_ms: object) -> float | None:
    if not isinstance(deadline_ms, int | float):
        return None
    return time.monotonic() + (deadline_ms / 1000 - time.time())
