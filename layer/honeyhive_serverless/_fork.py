"""Fork safety: state a forked child must not share with its parent is reset in the child.

Lambda Managed Instances run several Python workers forked from one parent (awslambdaric's
multi-concurrent mode), and a tracer built in the parent before the fork comes along into each. Threads
do not survive a fork, and a pooled connection is one socket shared with the parent (whose TLS state
the child would corrupt). Each owner of such state registers its own reset here; the registration
holds it weakly, so a tracer that is dropped is not kept alive by it.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable


def reset_in_child(method: Callable[[], None]) -> None:
    """Call the bound ``method`` in every child forked after this, while its object lives."""
    if not hasattr(os, "register_at_fork"):
        return
    reference = weakref.WeakMethod(method)

    def after_fork() -> None:
        reset = reference()
        if reset is not None:
            reset()

    os.register_at_fork(after_in_child=after_fork)
