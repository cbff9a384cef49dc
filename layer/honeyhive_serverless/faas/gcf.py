"""Google Cloud Functions through the same wrapper: a request or a CloudEvent as the argument.

An HTTP function names its session in the ``X-Session-ID`` header or a JSON body's ``session_id``, and
its response carries ``X-Session-ID``; a CloudEvent function names it in a ``sessionid`` extension
attribute or ``data.session_id``. Requests are Flask's, or Starlette's under functions-framework's
async mode (``functions_framework.aio``), where the body can only be read by awaiting it, so there
the header alone names the session. Flask and Starlette are imported only to shape a response.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping
from typing import Any

from .. import variables as var
from ..carriers import event_carrier, header_carrier
from ..triggers import SessionLookup
from ..wire import CLOUDEVENT_SESSION_EXTENSION, SESSION_FIELD, SESSION_HEADER
from .facts import InvocationFacts


def describe(argument: Any, env: Mapping[str, str]) -> InvocationFacts | None:
    """An :class:`InvocationFacts` when ``argument`` is an HTTP request or a CloudEvent, else None."""
    framework = request_framework(argument)
    if framework is not None:
        invocation = _invocation(
            env,
            event=_request_summary(argument, framework),
            lookup=_http_lookup(argument, framework),
            invocation_id=argument.headers.get("Function-Execution-Id") or str(uuid.uuid4()),
        )
        return invocation._replace(extra={"framework": framework}, carriers=(header_carrier(argument.headers.items()),))
    if _is_cloud_event(argument):
        attributes = dict(argument.get_attributes())
        invocation = _invocation(
            env,
            event={"attributes": attributes, "data": argument.data},
            lookup=_cloud_event_lookup(argument),
            invocation_id=str(argument.get("id") or uuid.uuid4()),
        )
        return invocation._replace(carriers=(event_carrier("cloudevent", attributes),))
    return None


def with_session_header(response: Any, session_id: str, framework: str) -> Any:
    """The HTTP response a view's return value becomes, with ``X-Session-ID`` set."""
    if framework == "starlette":
        return _starlette_response(response, session_id)
    import flask  # only a Flask function has it, and only to shape its response

    made = flask.make_response(response)
    made.headers[SESSION_HEADER] = session_id
    return made


def streamed_response(result: Any, framework: str) -> Any:
    """The Flask response a view's return value becomes when its body streams after the view returns
    (a generator, or a response made from one), else None. Only a Flask function imports Flask."""
    if framework != "flask":
        return None
    import flask

    if not isinstance(result, flask.Response):
        first = result[0] if isinstance(result, tuple) and result else result
        if not inspect.isgenerator(first):
            return None
        result = flask.make_response(result)
    return result if result.is_streamed else None


def _starlette_response(response: Any, session_id: str) -> Any:
    # The same conversions functions_framework.aio applies to a view's return value. Imported here:
    # only an async function has Starlette.
    from starlette.responses import JSONResponse, Response

    content, status = response if isinstance(response, tuple) and len(response) == 2 else (response, 200)
    if isinstance(content, dict):
        return JSONResponse(content, status_code=status, headers={SESSION_HEADER: session_id})
    if isinstance(content, str | bytes):
        return Response(content, status_code=status, headers={SESSION_HEADER: session_id})
    if isinstance(response, Response):
        response.headers[SESSION_HEADER] = session_id
    return response


def _invocation(env: Mapping[str, str], *, event: Any, lookup: SessionLookup, invocation_id: str) -> InvocationFacts:
    return InvocationFacts(
        platform="cloud-function",
        event=event,
        lookup=lookup,
        invocation_id=invocation_id,
        function_name=env.get(var.GCF_FUNCTION_TARGET) or env.get(var.CLOUD_RUN_SERVICE),
        function_version=env.get(var.CLOUD_RUN_REVISION),
        region=env.get(var.GCF_FUNCTION_REGION) or env.get(var.GOOGLE_CLOUD_REGION),
        memory_mb=env.get(var.GCF_FUNCTION_MEMORY_MB),
    )


def request_framework(argument: Any) -> str | None:
    """``flask`` or ``starlette`` for an HTTP request object, else None."""
    module = type(argument).__module__
    if not hasattr(argument, "headers"):
        return None
    if module.startswith(("flask", "werkzeug")):
        return "flask"
    if module.startswith("starlette"):
        return "starlette"
    return None


def _is_cloud_event(argument: Any) -> bool:
    return type(argument).__module__.startswith("cloudevents") and hasattr(argument, "get_attributes")


def _http_lookup(request: Any, framework: str) -> SessionLookup:
    header = request.headers.get(SESSION_HEADER)
    if header is not None:
        return SessionLookup("http", header, f"header {SESSION_HEADER}")
    body = _json_body(request, framework)
    if isinstance(body, Mapping) and SESSION_FIELD in body:
        return SessionLookup("http", body[SESSION_FIELD], "body.session_id")
    return SessionLookup("http")


def _json_body(request: Any, framework: str) -> Any:
    if framework == "flask" and request.is_json:
        return request.get_json(silent=True)
    return None


def _cloud_event_lookup(event: Any) -> SessionLookup:
    extension = event.get(CLOUDEVENT_SESSION_EXTENSION)
    if extension is not None:
        return SessionLookup("cloudevent", extension, "extension sessionid")
    data = event.data
    if isinstance(data, Mapping) and SESSION_FIELD in data:
        return SessionLookup("cloudevent", data[SESSION_FIELD], "data.session_id")
    return SessionLookup("cloudevent")


def _request_summary(request: Any, framework: str) -> dict[str, Any]:
    """What of an HTTP request is worth capturing as the session's inputs."""
    path = request.path if framework == "flask" else request.url.path
    query = request.args if framework == "flask" else request.query_params
    summary: dict[str, Any] = {"method": request.method, "path": path}
    if query:
        summary["query"] = dict(query)
    body = _json_body(request, framework)
    if body is not None:
        summary["body"] = body
    return summary
