"""Zero-code entry point: set the function's handler to ``honeyhive_serverless.handler.handler``.

The real handler goes in ``HH_LAMBDA_HANDLER`` (``module.function`` or ``dir/module.function``); it is
imported and wrapped with ``@with_honeyhive_session``, options from ``HH_*`` variables, after the tracer
is built (and the ``HH_INSTRUMENTORS`` applied). The import
happens when the runtime asks this module for ``handler``, so an error in the user's module reaches
the runtime as the user's own exception, not as a failure to import this module.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from . import variables as var
from .faas.handler_name import HandlerConfigError, parse_handler_name
from .faas.starts import starts
from .tracer import get_tracer
from .wrapper import with_honeyhive_session

__all__ = ["HandlerConfigError", "load_user_handler", "parse_handler_name"]


def load_user_handler(value: str | None = None) -> Callable[..., Any]:
    """Import the handler ``HH_LAMBDA_HANDLER`` names; the user's import errors propagate unchanged."""
    module_name, function_name = parse_handler_name(os.environ.get(var.LAMBDA_HANDLER) if value is None else value)
    module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise HandlerConfigError(f"{var.LAMBDA_HANDLER}: module {module_name!r} has no callable {function_name!r}")
    return function  # type: ignore[no-any-return]


_wrapped: Callable[..., Any] | None = None


def __getattr__(name: str) -> Any:
    global _wrapped  # noqa: PLW0603 - built once per sandbox, at the runtime's first lookup
    if name != "handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _wrapped is None:
        # The tracer first: HH_INSTRUMENTORS patch the user's LLM libraries before the user's module
        # imports them (an instrumentor that wraps module functions misses names imported before it).
        get_tracer()
        _wrapped = with_honeyhive_session(load_user_handler())
        starts.mark_initialised()  # the user's module is imported: the runtime asks for events next
    return _wrapped
