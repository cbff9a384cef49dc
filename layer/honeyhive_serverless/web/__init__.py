"""Web apps: a HoneyHive session per request, for ASGI (FastAPI, Starlette) and WSGI (Flask) apps.

For apps with no handler to wrap: under the Lambda Web Adapter, on Cloud Run, behind any web server,
and under Mangum. Each request gets its own session (``X-Session-ID`` or baggage in, ``X-Session-ID``
out) and its spans are sent as the response body ends, streamed bodies included, before the platform
may freeze the sandbox or throttle the CPU.

>>> from honeyhive_serverless.web import HoneyHiveASGIMiddleware, HoneyHiveWSGIMiddleware

FastAPI: ``app.add_middleware(HoneyHiveASGIMiddleware)``; Flask:
``app.wsgi_app = HoneyHiveWSGIMiddleware(app.wsgi_app)``. Importing this package imports neither
framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .asgi import HoneyHiveASGIMiddleware
    from .wsgi import HoneyHiveWSGIMiddleware

__all__ = ["HoneyHiveASGIMiddleware", "HoneyHiveWSGIMiddleware"]

#: Imported on first use: the Lambda wrapper imports ``web.body`` (a streamed body's end), and a cold
#: start should not pay for the middlewares with it.
_EXPORTS = {"HoneyHiveASGIMiddleware": ".asgi", "HoneyHiveWSGIMiddleware": ".wsgi"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
