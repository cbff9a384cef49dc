"""The time budget for network waits, and the one rule for how long an export may take.

A scope (an invocation, ``with_session``) may set a deadline on the monotonic clock; every request
made inside it waits at most until then, and never longer than the configured timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: Below this, a request is not worth starting: it could not complete.
MIN_USEFUL_S = 0.005

_deadline: ContextVar[float | None] = ContextVar("honeyhive_serverless_deadline", default=None)


def current_deadline() -> float | None:
    return _deadline.get()


def timeout_s(configured_ms: int, deadline: float | None = None) -> float:
    """Seconds a wait may take now: ``configured_ms``, cut to ``deadline`` (default: the scope's)."""
    configured = configured_ms / 1000
    if deadline is None:
        deadline = _deadline.get()
    if deadline is None:
        return configured
    return max(0.0, min(configured, deadline - time.monotonic()))


def flush_deadline(flush_timeout_ms: int, hard_deadline: float | None, reserve_s: float = 0.0) -> float:
    """When an export starting now must be done: ``HH_FLUSH_TIMEOUT_MS`` from now, and ``reserve_s``
    before ``hard_deadline`` (the platform's, or a scope's) when there is one.

    The end of an invocation, the after-response extension and the timeout last gasp all use it.
    """
    flush_by = time.monotonic() + flush_timeout_ms / 1000
    return flush_by if hard_deadline is None else min(flush_by, hard_deadline - reserve_s)


@contextmanager
def deadline_scope(deadline: float | None) -> Iterator[None]:
    """Bound every network wait inside the block by ``deadline`` (``time.monotonic()`` seconds)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)
