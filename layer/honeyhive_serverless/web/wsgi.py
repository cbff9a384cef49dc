"""``HoneyHiveWSGIMiddleware``: a session per request of a WSGI app (Flask, Django, any).

>>> from flask import Flask  # doctest: +SKIP
>>> app = Flask(__name__)  # doctest: +SKIP
>>> app.wsgi_app = HoneyHiveWSGIMiddleware(app.wsgi_app)  # doctest: +SKIP

The request runs in a context of its own, and so does each step of its body: a streamed body (a Flask
generator) makes its spans in the request's session, and the telemetry is sent as the body runs out,
before the server writes the response's end (see ``body``).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from .._log import logger
from ..wire import SESSION_HEADER
from .body import BodyEnd
from .request import WebRequest, lambda_facts
from .request_trace import RequestMiddleware

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class HoneyHiveWSGIMiddleware(RequestMiddleware[WSGIApp]):
    """Trace each request of ``app`` in its own HoneyHive session; options as
    :class:`~honeyhive_serverless.web.HoneyHiveASGIMiddleware`'s."""

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        # Its own context: nothing the request attaches reaches the server's thread, and the body's
        # steps, run after this returns, run in it too.
        context = contextvars.copy_context()
        return context.run(self._call, context, environ, start_response)

    def _call(self, context: contextvars.Context, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request = self.begin_request(partial(_web_request, environ))
        if request is None:
            return self.app(environ, start_response)

        length: list[int | None] = [None]

        def traced_start_response(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            try:
                length[0] = _content_length(headers)
                request.response_started(int(status.split(" ", 1)[0]), _route(environ))
                session_id = request.session_header()
                if session_id and not any(name.lower() == SESSION_HEADER.lower() for name, _ in headers):
                    headers = [*headers, (SESSION_HEADER, session_id)]
            except Exception:
                logger.exception("honeyhive: could not add the session to the response")
            return start_response(status, headers, *rest)

        try:
            body = self.app(environ, traced_start_response)
        except BaseException as error:
            request.end(error)
            raise
        return BodyEnd(body, context, request.end, lambda: length[0])


def _web_request(environ: Environ) -> WebRequest:
    headers = [
        (key[5:].replace("_", "-").lower(), str(value)) for key, value in environ.items() if key.startswith("HTTP_")
    ]
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "/"))
    return WebRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")),
        path=path,
        query=str(environ.get("QUERY_STRING", "")),
        scheme=str(environ.get("wsgi.url_scheme", "http")),
        headers=headers,
        invocation=lambda_facts(headers, path, os.environ),
    )


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    value = next((value for name, value in headers if name.lower() == "content-length"), None)
    return int(value) if value is not None and value.strip().isdigit() else None


def _route(environ: Environ) -> str | None:
    """Flask's route template for the request, once routed (werkzeug keeps the matched rule)."""
    request = environ.get("werkzeug.request")
    rule = getattr(request, "url_rule", None)
    return getattr(rule, "rule", None)
