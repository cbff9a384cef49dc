"""``HoneyHiveASGIMiddleware``: a session per HTTP request of an ASGI app (FastAPI, Starlette).

>>> from fastapi import FastAPI  # doctest: +SKIP
>>> app = FastAPI()  # doctest: +SKIP
>>> app.add_middleware(HoneyHiveASGIMiddleware)  # doctest: +SKIP

A FastAPI app can also be wrapped, ``app = HoneyHiveASGIMiddleware(app)``, as any ASGI app. Inside, FastAPI's
own telemetry (on whenever a tracer provider is set, as ``get_tracer()`` sets one; OpenTelemetry's ASGI
middleware does the same) replaces the context with what the request's headers say: so the app is
handed the request with its ``traceparent``, ``tracestate`` and ``baggage`` headers replaced by the
middleware's span and session (``RequestTrace.context_headers``), and what it starts from them is in
the request's session. Wrapped, FastAPI's request span is a child of the middleware's, and leaves just
after the body's end (it ends after the last message is out), with what else ended after it.

Added with ``add_middleware`` (best), the middleware runs inside FastAPI's request span: the
middleware's request span stands for it (same place in the trace, same attributes), and FastAPI's,
which would end only after the response is out, is not sent. FastAPI's spans of the endpoint, its
dependencies and its serialization are children of the middleware's, in the session, either way.

The request's telemetry is sent when the app sends the body's last message, before that message goes
on to the server: a ``StreamingResponse``'s spans, made as it streams, are in it. The export runs on a
worker thread, so the event loop goes on serving other requests meanwhile.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any

from .. import variables as var
from .._log import logger
from ..faas.aws_lambda import deadline_of, xray_trace_id
from ..wire import SESSION_HEADER
from .request import LambdaFacts, WebRequest, lambda_facts
from .request_trace import RequestMiddleware, RequestTrace

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SESSION_HEADER = SESSION_HEADER.lower().encode("latin-1")


class HoneyHiveASGIMiddleware(RequestMiddleware[ASGIApp]):
    """Trace each HTTP request of ``app`` in its own HoneyHive session (websockets and lifespan pass by).

    Options as ``@with_honeyhive_session``'s (argument > ``HH_*`` variable > default): ``session_name``
    (text, or a callable of the request's method, path and query; default ``"<METHOD> <path>"``),
    ``capture_request`` / ``capture_response`` (``HH_CAPTURE_EVENT`` / ``HH_CAPTURE_RESPONSE``: the
    method, path and query; the status code), ``return_session_id`` (``X-Session-ID`` on the
    response), ``event_type`` (``chain``), ``tracer`` (``get_tracer()``).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        request = self.begin_request(partial(_web_request, scope), _fastapi_request_span(scope))
        if request is None:
            await self.app(scope, receive, send)
            return
        inner = _with_context_headers(scope, request)

        async def traced_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                _response_started(request, inner, message)
            elif kind == "http.response.body" and not message.get("more_body", False):
                await _off_the_loop(request.body_ended)
            await send(message)

        try:
            await self.app(inner, receive, traced_send)
        except BaseException as error:
            await _off_the_loop(partial(request.body_ended, error))
            raise
        finally:
            await _off_the_loop(request.send_remaining)
            request.close()


def _fastapi_request_span(scope: Scope) -> Any:
    """The request span FastAPI's own telemetry started before this middleware ran, if it did."""
    return getattr(scope.get("fastapi.telemetry"), "span", None)


def _with_context_headers(scope: Scope, request: RequestTrace) -> Scope:
    """The scope the app is handed: a copy whose context headers name the request's span and session
    (the scope itself when there are none, or they could not be made)."""
    try:
        headers, replaced = request.context_headers()
        if not headers:
            return scope
        pairs = scope.get("headers", ())
        kept = [(name, value) for name, value in pairs if bytes(name).decode("latin-1").lower() not in replaced]
        added = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    except Exception:
        logger.exception("honeyhive: could not hand the app the request's context (its own telemetry may not see it)")
        return scope
    return {**scope, "headers": [*kept, *added]}


def _web_request(scope: Scope) -> WebRequest:
    pairs = scope.get("headers", ())
    headers = [(bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1")) for name, value in pairs]
    return WebRequest(
        method=str(scope.get("method", "GET")),
        path=str(scope.get("path", "/")),
        query=bytes(scope.get("query_string", b"")).decode("latin-1"),
        scheme=str(scope.get("scheme", "http")),
        headers=headers,
        invocation=_lambda_facts(scope, headers),
    )


def _lambda_facts(scope: Scope, headers: list[tuple[str, str]]) -> LambdaFacts:
    """The invocation's deadline, request id and X-Ray trace id, on Lambda: from Mangum's ``aws.context``
    (in the runtime's process, whose environment has the trace header), else from the Lambda Web
    Adapter's header."""
    context = scope.get("aws.context")
    if context is not None:
        request_id = getattr(context, "aws_request_id", None)
        return LambdaFacts(
            deadline_of(context),
            request_id if isinstance(request_id, str) else None,
            xray_trace_id=xray_trace_id(os.environ.get(var.XRAY_TRACE_HEADER)),
        )
    return lambda_facts(headers, str(scope.get("path", "/")), os.environ)


def _response_started(request: RequestTrace, scope: Scope, message: Message) -> None:
    try:
        route = getattr(scope.get("route"), "path", None)
        request.response_started(int(message.get("status", 200)), route if isinstance(route, str) else None)
        session_id = request.session_header()
        headers = list(message.get("headers", ()))
        if session_id and not any(bytes(name).lower() == _SESSION_HEADER for name, _ in headers):
            message["headers"] = [*headers, (_SESSION_HEADER, session_id.encode("latin-1"))]
    except Exception:
        logger.exception("honeyhive: could not add the session to the response")


async def _off_the_loop(call: Callable[[], None]) -> None:
    """Run ``call`` (it waits on the network) on a worker thread, in this task's context, so the event
    loop serves other requests meanwhile; in place where the loop is not asyncio's."""
    try:
        import asyncio

        loop = asyncio.get_running_loop()
    except RuntimeError:
        call()
        return
    await loop.run_in_executor(None, contextvars.copy_context().run, call)
