"""When the runtime client posts an invocation's response or error: learnt in this process, by wrapping
the client's posting methods (the runtime imports its client before the handler's module).

The after_response extension waits for it rather than for a hand-off that may not come; a Managed
Instances worker's export thread starts an invocation's export only once its response has gone, so the
export's work does not hold the GIL while the runtime posts it.
"""

from __future__ import annotations

import functools
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .._log import logger

#: Where the runtime client lives: awslambdaric (PyPI, and the managed runtimes' /var/runtime/awslambdaric),
#: or a top-level module of the runtime's own.
RUNTIME_CLIENT_MODULES = ("awslambdaric.lambda_runtime_client", "lambda_runtime_client")
#: The client classes: the one awslambdaric runs on demand, and its Managed Instances one (4.x).
_CLIENT_CLASSES = ("LambdaRuntimeClient", "LambdaMultiConcurrentRuntimeClient")
#: The runtime client's methods that post an invocation's outcome: (invoke_id, ...).
_POSTING_METHODS = ("post_invocation_result", "post_invocation_error")

#: Responses remembered (one invocation at a time per process: a handful suffices).
_MAX_POSTED = 64

_lock = threading.Lock()
#: Who is told, held weakly: a tracer that is dropped is not kept alive by its subscription.
_subscribers: list[weakref.WeakMethod[Callable[[str], None]]] = []


def watch_runtime_responses(announce: Callable[[str], None]) -> bool:
    """Have the bound method ``announce`` called with each invocation id whose outcome the runtime client
    posts, from now on; False where no runtime client this module knows is loaded."""
    classes = [
        client_class
        for module_name in RUNTIME_CLIENT_MODULES
        for class_name in _CLIENT_CLASSES
        if (client_class := getattr(sys.modules.get(module_name), class_name, None)) is not None
    ]
    if not classes:
        logger.debug("honeyhive: no known runtime client; responses are not watched")
        return False
    with _lock:
        _subscribers.append(weakref.WeakMethod(announce))
        try:
            for client_class in classes:
                for name in _POSTING_METHODS:
                    # Wrapped where it is defined (4.x defines both on a base class the two share).
                    owner = next(cls for cls in client_class.__mro__ if name in vars(cls))
                    setattr(owner, name, _announcing(getattr(owner, name)))
        except (AttributeError, TypeError, StopIteration):
            return False
    return True


def _announce(invoke_id: str) -> None:
    with _lock:
        subscribers = [method for reference in _subscribers if (method := reference()) is not None]
        _subscribers[:] = [reference for reference in _subscribers if reference() is not None]
    for method in subscribers:
        method(invoke_id)


def _announcing(post: Callable[..., Any]) -> Callable[..., Any]:
    """``post`` (a runtime client method taking ``invoke_id`` first), then the subscribers told, even
    when posting fails: the outcome is the runtime's to report, and no one need wait either way."""
    if getattr(post, "__honeyhive_announces__", False):
        return post  # wrapped already (a second subscriber, or a subclass sharing the method)

    @functools.wraps(post)
    def posting(client: Any, invoke_id: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return post(client, invoke_id, *args, **kwargs)
        finally:
            try:
                _announce(str(invoke_id))
            except Exception:  # the runtime's own call must never fail because of tracing
                logger.debug("honeyhive: could not note the posted response", exc_info=True)

    posting.__honeyhive_announces__ = True  # type: ignore[attr-defined]
    return posting


class PostedResponses:
    """The invocations whose response or error the runtime client has posted (the latest few), told to
    :func:`watch_runtime_responses` as :meth:`add`; ``cond`` (the owner's, guarding this too) is notified
    of each."""

    def __init__(self, cond: threading.Condition) -> None:
        self._cond = cond
        self._ids: dict[str, None] = {}

    def add(self, request_id: str) -> None:
        with self._cond:
            self._ids[request_id] = None
            while len(self._ids) > _MAX_POSTED:
                del self._ids[next(iter(self._ids))]
            self._cond.notify_all()

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._ids

    def forget(self, request_id: str) -> None:
        self._ids.pop(request_id, None)
