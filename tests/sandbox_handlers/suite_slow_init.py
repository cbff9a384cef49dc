"""An on-demand cold start whose init phase is slow after the handler is decorated (a model or client
loaded at module level, below the handler): the caller waits through all of it, so it is a cold start."""

from __future__ import annotations

import time

from suite import handler

__all__ = ["handler"]

LOAD_S = 1.3
time.sleep(LOAD_S)  # e.g. loading a model: still the init phase of an on-demand start
