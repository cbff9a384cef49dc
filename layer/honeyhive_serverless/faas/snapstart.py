"""SnapStart: after a restore, the next invocation is a new sandbox's first, and old sockets are dead."""

from __future__ import annotations

import os
import random

from .. import variables as var
from ..tracer import cached_tracer
from .starts import starts

_registered = False


def register_restore_hook() -> None:
    """Register :func:`after_restore` with the runtime's ``snapshot_restore_py``, when it is there."""
    global _registered  # noqa: PLW0603 - once per process
    if _registered:
        return
    _registered = True
    if os.environ.get(var.LAMBDA_INITIALIZATION_TYPE) != "snap-start":
        return  # restores happen only where the init is a snapshot's: no other cold start pays the import
    try:  # the runtime's own module; imported once, when the first handler is wrapped
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return
    register_after_restore(after_restore)


def after_restore() -> None:
    """Mark the next invocation as restored, re-seed ``random`` and drop pooled connections."""
    starts.mark_restored()
    # Every clone of a snapshot starts with the same generator state; our ids use os.urandom, but the
    # user's code may rely on random.
    random.seed()
    tracer = cached_tracer()
    if tracer is not None:
        tracer.drop_connections()
