"""A background thread that keeps counting, written to a file: it stops exactly while the sandbox is frozen."""

from __future__ import annotations

import os
import struct
import threading
import time
from typing import Any

TICK_S = 0.005
_ticks = 0
_ticked = threading.Condition()
_thread: threading.Thread | None = None


def _tick(path: str) -> None:
    global _ticks
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    while True:
        with _ticked:
            _ticks += 1
            os.pwrite(fd, struct.pack("<Q", _ticks), 0)
            _ticked.notify_all()
        time.sleep(TICK_S)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Starts the ticker on the first call; answers once it has ticked during this invocation."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_tick, args=(event["path"],), daemon=True)
        _thread.start()
    with _ticked:
        seen = _ticks
        advanced = _ticked.wait_for(lambda: _ticks > seen, timeout=5.0)
        return {"ticks": _ticks, "advanced": advanced, "pid": os.getpid()}
