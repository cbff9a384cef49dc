"""Cloud Functions source file for the tests: loaded by ``functions_framework.create_app(target, source)``.

Each function is registered with functions-framework (outermost) and traced by
``@with_honeyhive_session``. The traced helpers record the request's ``n`` as ``honeyhive_inputs.n``,
so a test can tell which request every span came from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import flask
import functions_framework
import functions_framework.aio
from cloudevents.http import CloudEvent

from honeyhive_serverless import get_tracer, trace, with_honeyhive_session

#: Spans a ``chat_http`` request makes besides the invocation span.
CHAT_HELPER_SPANS = 2
#: Chunks (and spans) a ``stream_http`` response streams.
STREAM_CHUNKS = 3


@trace(event_type="tool")
def retrieve(n: int, question: str) -> list[str]:
    return [f"doc {n} about {word}" for word in question.split()[:2]]


@trace(event_type="model")
def generate(n: int, documents: list[str]) -> str:
    return f"answer {n} from {len(documents)} documents"


@trace(event_type="tool")
def handle_event(n: int, event_type: str) -> str:
    return f"handled {event_type} #{n}"


@trace(event_type="model")
async def agenerate(n: int) -> str:
    await asyncio.sleep(0)
    return f"async answer {n}"


def _request_n(request: flask.Request) -> tuple[int, dict[str, Any]]:
    body = request.get_json(silent=True) if request.is_json else None
    body = body if isinstance(body, dict) else {}
    return int(body.get("n", request.args.get("n", 0))), body


@functions_framework.http
@with_honeyhive_session
def chat_http(request: flask.Request) -> dict[str, Any] | tuple[dict[str, Any], int]:
    """JSON in, JSON out; ``{"status": 201}`` in the body makes it return ``(body, 201)``."""
    n, body = _request_n(request)
    question = str(body.get("question", "what is honeyhive"))
    answer = generate(n, retrieve(n, question))
    payload = {"n": n, "answer": answer, "seen_session_id": get_tracer().session_id}
    if "status" in body:
        return payload, int(body["status"])
    return payload


@functions_framework.http
@with_honeyhive_session
def hello_http(request: flask.Request) -> str:
    """A plain-text response."""
    n, _ = _request_n(request)
    generate(n, [])
    return f"hello {n}"


@trace(event_type="model")
def stream_chunk(n: int, i: int) -> str:
    return f"{n}:{i};"


@functions_framework.http
@with_honeyhive_session
def stream_http(request: flask.Request) -> flask.Response:
    """A streamed response: a generator whose chunks are made (each by a traced call) as the server
    sends them, after the function has returned."""
    n, _ = _request_n(request)

    def body() -> Iterator[str]:
        for i in range(STREAM_CHUNKS):
            yield stream_chunk(n, i)

    return flask.Response(body(), mimetype="text/plain")


@functions_framework.cloud_event
@with_honeyhive_session
def on_event(cloud_event: CloudEvent) -> None:
    data = cloud_event.data if isinstance(cloud_event.data, dict) else {}
    handle_event(int(data.get("n", 0)), str(cloud_event["type"]))


@functions_framework.aio.http
@with_honeyhive_session
async def chat_async(request: Any) -> dict[str, Any]:
    """An async HTTP function (functions-framework's ASGI mode; callable with a Flask request too)."""
    params = getattr(request, "args", None) or getattr(request, "query_params", None) or {}
    n = int(params.get("n", 0))
    answer = await agenerate(n)
    return {"n": n, "answer": answer, "seen_session_id": get_tracer().session_id}


@functions_framework.aio.cloud_event
@with_honeyhive_session
async def on_event_async(cloud_event: CloudEvent) -> None:
    data = cloud_event.data if isinstance(cloud_event.data, dict) else {}
    await agenerate(int(data.get("n", 0)))
