"""Google Cloud Functions through the same wrapper: a Flask request or a CloudEvent as the argument.

An HTTP function names its session in the ``X-Session-ID`` header or a JSON body's ``session_id``, and
its response carries ``X-Session-ID``; a CloudEvent function names it in a ``sessionid`` extension
attribute or ``data.session_id``. Flask and cloudevents are imported only to shape a response.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from .events import CLOUDEVENT_EXTENSION, SESSION_FIELD, SESSION_HEADER, SessionLookup
from .faas import Invocation


def describe(argument: Any, env: Mapping[str, str]) -> Invocation | None:
    """An :class:`Invocation` when ``argument`` is a Flask request or a CloudEvent, else None."""
    if _is_flask_request(argument):
        return _invocation(
            env,
            event=_request_summary(argument),
            lookup=_http_lookup(argument),
            invocation_id=argument.headers.get("Function-Execution-Id") or str(uuid.uuid4()),
        )
    if _is_cloud_event(argument):
        return _invocation(
            env,
            event={"attributes": dict(argument.get_attributes()), "data": argument.data},
            lookup=_cloud_event_lookup(argument),
            invocation_id=str(argument.get("id") or uuid.uuid4()),
        )
    return None


def with_session_header(response: Any, session_id: str) -> Any:
    """A Flask response made from a view's return value, with ``X-Session-ID`` set."""
    import flask

    made = flask.make_response(response)
    made.headers["X-Session-ID"] = session_id
    return made


def _invocation(env: Mapping[str, str], *, event: Any, lookup: SessionLookup, invocation_id: str) -> Invocation:
    return Invocation(
        platform="cloud-function",
        event=event,
        lookup=lookup,
        invocation_id=invocation_id,
        function_name=env.get("FUNCTION_TARGET") or env.get("K_SERVICE"),
        function_version=env.get("K_REVISION"),
        region=env.get("FUNCTION_REGION") or env.get("GOOGLE_CLOUD_REGION"),
        memory_mb=env.get("FUNCTION_MEMORY_MB"),
    )


def _is_flask_request(argument: Any) -> bool:
    module = type(argument).__module__
    return module.startswith(("flask", "werkzeug")) and hasattr(argument, "headers")


def _is_cloud_event(argument: Any) -> bool:
    return type(argument).__module__.startswith("cloudevents") and hasattr(argument, "get_attributes")


def _http_lookup(request: Any) -> SessionLookup:
    header = request.headers.get(SESSION_HEADER)
    if header is not None:
        return SessionLookup("http", header, "header X-Session-ID")
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, Mapping) and SESSION_FIELD in body:
        return SessionLookup("http", body[SESSION_FIELD], "body.session_id")
    return SessionLookup("http")


def _cloud_event_lookup(event: Any) -> SessionLookup:
    extension = event.get(CLOUDEVENT_EXTENSION)
    if extension is not None:
        return SessionLookup("cloudevent", extension, "extension sessionid")
    data = event.data
    if isinstance(data, Mapping) and SESSION_FIELD in data:
        return SessionLookup("cloudevent", data[SESSION_FIELD], "data.session_id")
    return SessionLookup("cloudevent")


def _request_summary(request: Any) -> dict[str, Any]:
    """What of an HTTP request is worth capturing as the session's inputs."""
    summary: dict[str, Any] = {"method": request.method, "path": request.path}
    if request.args:
        summary["query"] = request.args.to_dict()
    body = request.get_json(silent=True) if request.is_json else None
    if body is not None:
        summary["body"] = body
    return summary
