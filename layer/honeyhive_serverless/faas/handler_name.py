"""The one rule for a handler setting (``module.function`` or ``dir/module.function``), shared by the
zero-code redirect and the cold-start tracker."""

from __future__ import annotations

from .. import variables as var


class HandlerConfigError(RuntimeError):
    """``HH_LAMBDA_HANDLER`` is missing or malformed: an init error that names the variable."""


def parse_handler_name(value: str | None) -> tuple[str, str]:
    """``(module, function)`` from ``module.function`` or ``dir/module.function``.

    >>> parse_handler_name("src/app.main")
    ('src.app', 'main')
    """
    if value is None or not value.strip():
        raise HandlerConfigError(f"{var.LAMBDA_HANDLER} is not set: put the function's real handler in it")
    text = value.strip()
    module, _, function = text.rpartition(".")
    module = module.replace("/", ".").strip(".")
    if not module or not function.isidentifier():
        raise HandlerConfigError(f"{var.LAMBDA_HANDLER}={text!r} is not of the form module.function")
    if f"{module}.{function}" == var.REDIRECT_HANDLER:
        raise HandlerConfigError(f"{var.LAMBDA_HANDLER} names this wrapper itself; set it to the real handler")
    return module, function
