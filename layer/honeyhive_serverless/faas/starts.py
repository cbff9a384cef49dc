"""Cold, warm, proactive, provisioned or restored: how each invocation's sandbox started."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from .. import variables as var
from .handler_name import HandlerConfigError, parse_handler_name

#: A sandbox whose first event comes this long after its init was proactively initialised.
PROACTIVE_INIT_AFTER_S = 1.0
INIT_WATCH_INTERVAL_S = 0.005
INIT_WATCH_LIMIT_S = 10.0


class StartTracker:
    """Tells the first invocation of a sandbox from the rest, as callers experience it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._initialised_at = time.monotonic()
        self._first = True
        self._restored = False
        self._watching = False

    def mark_initialised(self) -> None:
        """Called while the sandbox initialises (a handler is wrapped): the clock for proactive init."""
        with self._lock:
            if self._first:
                self._initialised_at = time.monotonic()

    def watch_handler_import(self, env: Mapping[str, str] | None = None) -> None:
        """Mark the end of init when the module ``_HANDLER`` names has finished importing.

        A handler is usually decorated part-way through that import; work below it (loading a model,
        say) is still init that the caller of an on-demand cold start waits through, not idle time of
        a proactively initialised sandbox. Python says nothing when an import ends, so a daemon thread
        looks every few milliseconds, for at most the init phase (Lambda's limit is 10 s).
        """
        try:
            module, _ = parse_handler_name((os.environ if env is None else env).get(var.LAMBDA_HANDLER_SETTING))
        except HandlerConfigError:
            return  # no handler to watch, or the redirect, which marks the end of init itself
        spec = getattr(sys.modules.get(module), "__spec__", None)
        if spec is None or not getattr(spec, "_initializing", False):
            return
        with self._lock:
            self._watching = True
        threading.Thread(target=self._await_import, args=(spec,), name="honeyhive-init", daemon=True).start()

    def _await_import(self, spec: Any) -> None:
        give_up = time.monotonic() + INIT_WATCH_LIMIT_S
        while getattr(spec, "_initializing", False) and time.monotonic() < give_up:
            time.sleep(INIT_WATCH_INTERVAL_S)
        self.mark_initialised()
        with self._lock:
            self._watching = False

    def mark_restored(self) -> None:
        """A SnapStart restore: the next invocation is the first of a new sandbox."""
        with self._lock:
            self._first = True
            self._restored = True

    def next_start(self, env: Mapping[str, str]) -> str:
        """``cold``, ``restored``, ``proactive``, ``provisioned`` or ``warm``."""
        with self._lock:
            if not self._first:
                return "warm"
            self._first = False
            if self._restored:
                self._restored = False
                return "restored"
            if env.get(var.LAMBDA_INITIALIZATION_TYPE) == "provisioned-concurrency":
                return "provisioned"
            # Still watching the handler's import: it ended within the last look, so the event came
            # right after init.
            if not self._watching and time.monotonic() - self._initialised_at > PROACTIVE_INIT_AFTER_S:
                return "proactive"
            return "cold"


starts = StartTracker()
