"""A FastAPI app on Lambda through Mangum, in-process with a Lambda context: under
``@with_honeyhive_session`` (the middleware, inside, joins the invocation's session) and with the
middleware alone. Mangum buffers the app's body, a ``StreamingResponse``'s too: every span, those made as
it streamed included, is at the receiver when the handler returns."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from mangum import Mangum

import web_apps
from honeyhive_serverless import with_honeyhive_session
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver
from trigger_shapes import load_event


def api_event(path: str, session_id: str | None = None) -> dict[str, Any]:
    """An HTTP API (v2) GET of ``path``, naming ``session_id`` in X-Session-ID if given."""
    event = load_event("http_api_v2", session_id=session_id or "unused")
    if session_id is None:
        event["headers"].pop("x-session-id")
    for header in ("content-length", "content-type"):
        event["headers"].pop(header)
    event |= {"routeKey": f"GET {path}", "rawPath": path, "rawQueryString": "", "body": None}
    event.pop("queryStringParameters", None)
    event["requestContext"]["http"] |= {"method": "GET", "path": path}
    return event


def lambda_context(**fields: Any) -> Any:
    """The dev Lambda context, as Mangum's handler takes it (its type is Mangum's protocol, stricter)."""
    return LambdaContext(function_name="fn", **fields)


def session_header(response: dict[str, Any]) -> str:
    (value,) = [v for k, v in response["headers"].items() if k.lower() == "x-session-id"]
    return str(value)


def chunk_spans(receiver: DevReceiver) -> list[Any]:
    return [span for span in receiver.spans if span.name.endswith("chunk")]


@pytest.mark.parametrize("path", ["/stream/5", "/stream-sync/5"])
def test_under_the_wrapper_one_invocation_is_one_session_sent_before_it_returns(
    lambda_env: DevReceiver, path: str
) -> None:
    handler = with_honeyhive_session(Mangum(web_apps.fastapi_app(), lifespan="off"))
    response = handler(api_event(path), lambda_context())
    assert response["statusCode"] == 200
    assert response["body"] == "".join(f"5:{i};" for i in range(web_apps.CHUNKS))
    session_id = session_header(response)
    # Nothing waited for: the invocation's one request is in before the handler returns.
    assert len(lambda_env.otlp_requests()) == 1
    assert {span.session_id for span in lambda_env.spans} == {session_id}
    assert len(chunk_spans(lambda_env)) == web_apps.CHUNKS
    (invocation,) = [s for s in lambda_env.spans if s.span_kind == "SERVER" and s.name == "fn"]
    (request,) = [s for s in lambda_env.spans if s.span_kind == "SERVER" and s.name.startswith("GET")]
    assert request.parent_span_id == invocation.span_id
    assert request.attributes["faas.invocation_id"] == invocation.attributes["faas.invocation_id"]
    assert [start["session_id"] for start in lambda_env.session_starts] == [session_id]


def test_under_the_wrapper_a_session_the_event_names_is_joined(lambda_env: DevReceiver) -> None:
    named = str(uuid.uuid4())
    handler = with_honeyhive_session(Mangum(web_apps.fastapi_app(), lifespan="off"))
    response = handler(api_event("/chat/2", named), lambda_context())
    assert session_header(response) == named
    assert {span.session_id for span in lambda_env.spans} == {named}
    assert lambda_env.session_starts == []


def test_the_middleware_alone_under_mangum_makes_a_session_per_invocation(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Mangum(web_apps.fastapi_app(), lifespan="off")
    context = lambda_context()
    # What the runtime client sets before the invocation, in this (its) process.
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0")
    first = handler(api_event("/stream/1"), context)
    second = handler(api_event("/stream/2"), lambda_context())
    sessions = [session_header(first), session_header(second)]
    assert len(set(sessions)) == 2
    for n, session_id in enumerate(sessions, start=1):
        spans = lambda_env.spans_for_session(session_id)
        assert sorted(s.attributes["honeyhive_inputs.n"] for s in spans if s.name.endswith("chunk")) == [n] * 3
    (request,) = [s for s in lambda_env.spans_for_session(sessions[0]) if s.span_kind == "SERVER"]
    # Mangum's Lambda context names the invocation; the runtime's trace header its X-Ray trace.
    assert request.attributes["faas.invocation_id"] == context.aws_request_id
    assert request.attributes["aws.xray.trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
