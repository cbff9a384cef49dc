"""Lambda's shutdown: SIGTERM, then 500 ms for the runtime (an internal extension cannot register for
SHUTDOWN). What an exporter still holds is sent within that, and SIGTERM then does what it did before.

Python runs signal handlers on the main thread only, and only the main thread may set them: where the
runtime client waits for events on another thread (python3.12 and later, and each worker of Lambda
Managed Instances) the handler runs; on older runtimes the main thread waits inside the client and it
cannot, but then nothing is left either (each invocation's export ends before its freeze).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

#: What of Lambda's 500 ms shutdown allowance the SIGTERM flush may use.
SHUTDOWN_FLUSH_S = 0.4


def flush_on_sigterm(flush: Callable[[float], object]) -> bool:
    """On SIGTERM, ``flush(deadline)`` (a ``time.monotonic()`` instant ``SHUTDOWN_FLUSH_S`` away), then the
    handler that was there before, or the default (the process ends). False where it cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        return False  # only the main thread may set signal handlers
    previous: Any = None

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        flush(time.monotonic() + SHUTDOWN_FLUSH_S)
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        os.kill(os.getpid(), signal.SIGTERM)

    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError):
        return False
    return True
