"""Zero-code entry point: set the function's handler to ``honeyhive_serverless.handler.handler``.

The real handler goes in ``HH_LAMBDA_HANDLER`` (``module.function`` or ``dir/module.function``); it is
imported and wrapped with ``@with_honeyhive_session``, options from ``HH_*`` variables. The import
happens when the runtime asks this module for ``handler``, so an error in the user's module reaches
the runtime as the user's own exception, not as a failure to import this module.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

HANDLER_VARIABLE = "HH_LAMBDA_HANDLER"
THIS_HANDLER = "honeyhive_serverless.handler.handler"


class HandlerConfigError(RuntimeError):
    """``HH_LAMBDA_HANDLER`` is missing or malformed: an init error that names the variable."""


def parse_handler_name(value: str | None) -> tuple[str, str]:
    """``(module, function)`` from ``module.function`` or ``dir/module.function``.

    >>> parse_handler_name("src/app.main")
    ('src.app', 'main')
    """
    if value is None or not value.strip():
        raise HandlerConfigError(f"{HANDLER_VARIABLE} is not set: put the function's real handler in it")
    text = value.strip()
    module, _, function = text.rpartition(".")
    module = module.replace("/", ".").strip(".")
    if not module or not function.isidentifier():
        raise HandlerConfigError(f"{HANDLER_VARIABLE}={text!r} is not of the form module.function")
    if f"{module}.{function}" == THIS_HANDLER:
        raise HandlerConfigError(f"{HANDLER_VARIABLE} names this wrapper itself; set it to the real handler")
    return module, function


def load_user_handler(value: str | None = None) -> Callable[..., Any]:
    """Import the handler ``HH_LAMBDA_HANDLER`` names; the user's import errors propagate unchanged."""
    module_name, function_name = parse_handler_name(os.environ.get(HANDLER_VARIABLE) if value is None else value)
    module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise HandlerConfigError(f"{HANDLER_VARIABLE}: module {module_name!r} has no callable {function_name!r}")
    return function  # type: ignore[no-any-return]


_wrapped: Callable[..., Any] | None = None


def __getattr__(name: str) -> Any:
    global _wrapped  # noqa: PLW0603 - built once per sandbox, at the runtime's first lookup
    if name != "handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _wrapped is None:
        from .faas import starts
        from .wrapper import with_honeyhive_session

        _wrapped = with_honeyhive_session(load_user_handler())
        starts.mark_initialised()  # the user's module is imported: the runtime asks for events next
    return _wrapped
