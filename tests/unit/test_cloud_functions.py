"""Google Cloud Functions end to end: functions-framework apps built from ``gcf_functions.py``, traced by
``@with_honeyhive_session``, sending to the dev receiver.

HTTP functions name their session in ``X-Session-ID`` or the JSON body's ``session_id`` and answer with
``X-Session-ID``; CloudEvent functions name it in the ``sessionid`` extension or ``data.session_id``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flask
import functions_framework
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

import gcf_functions
from conftest import TESTS
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan
from web_servers import get, wsgi_server

SOURCE = str(TESTS / "gcf_functions.py")
SERVICE = "hh-test-service"
EVENT_TYPE = "com.example.honeyhive.test"
EVENT_SOURCE = "https://example.com/honeyhive-tests"
CONCURRENT_REQUESTS = 200
WORKERS = 24

Encoder = Callable[[CloudEvent], tuple[dict[str, str], Any]]
ENCODERS: dict[str, Encoder] = {"structured": to_structured, "binary": to_binary}
create_app: Callable[..., Any] = functions_framework.create_app  # untyped upstream


@pytest.fixture
def gcf_env(hh_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevReceiver]:
    """``hh_env`` on Cloud Functions; undoes what ``create_app`` does to ``sys.path``/``sys.modules``."""
    monkeypatch.setenv("K_SERVICE", SERVICE)
    monkeypatch.setattr(sys, "path", list(sys.path))
    saved_module = sys.modules.get("gcf_functions")
    yield hh_env
    if saved_module is not None:
        sys.modules["gcf_functions"] = saved_module
    else:
        sys.modules.pop("gcf_functions", None)


def make_app(monkeypatch: pytest.MonkeyPatch, target: str, signature_type: str = "http") -> Any:
    # create_app writes FUNCTION_TARGET into os.environ itself; setting it first lets monkeypatch undo it.
    monkeypatch.setenv("FUNCTION_TARGET", target)
    return create_app(target, SOURCE, signature_type)


def flask_app(monkeypatch: pytest.MonkeyPatch, target: str, signature_type: str = "http") -> flask.Flask:
    app = make_app(monkeypatch, target, signature_type)
    assert isinstance(app, flask.Flask)
    return app


def invocation_span(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    [span] = [s for s in spans if s.span_kind == "SERVER"]
    assert span.name == name
    return span


def new_session_id(receiver: DevReceiver) -> str:
    """The id of the one session started at the receiver."""
    assert len(receiver.session_starts) == 1, receiver.session_starts
    session_id = receiver.session_starts[0]["session_id"]
    assert isinstance(session_id, str)
    return session_id


# ------------------------------------------------------------------------------------------------
# HTTP functions


def test_http_header_session_id_is_linked_and_returned(gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    session_id = str(uuid.uuid4())
    client = flask_app(monkeypatch, "chat_http").test_client()

    response = client.post("/", json={"n": 1, "question": "why spans"}, headers={"X-Session-ID": session_id})

    assert response.status_code == 200
    assert response.headers["X-Session-ID"] == session_id
    assert response.get_json() == {
        "n": 1,
        "answer": "answer 1 from 2 documents",
        "seen_session_id": session_id,
    }
    assert gcf_env.session_starts == []  # linked: no session start
    assert len(gcf_env.spans) == 1 + gcf_functions.CHAT_HELPER_SPANS
    assert {span.session_id for span in gcf_env.spans} == {session_id}
    span = invocation_span(gcf_env.spans, "chat_http")
    assert span.attributes["faas.trigger"] == "http"
    assert span.attributes["cloud.provider"] == "gcp"
    assert span.attributes["faas.name"] == "chat_http"
    assert span.attributes["honeyhive.source"] == "cloud-function"
    helpers = sorted(s.name for s in gcf_env.spans if s.span_kind != "SERVER")
    assert helpers == ["generate", "retrieve"]
    assert all(s.parent_span_id == span.span_id for s in gcf_env.spans if s.name == "retrieve")


def test_http_body_session_id_is_linked_and_a_tuple_response_keeps_its_status(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = str(uuid.uuid4())
    client = flask_app(monkeypatch, "chat_http").test_client()

    response = client.post("/", json={"session_id": session_id, "n": 2, "status": 201})

    assert response.status_code == 201
    assert response.headers["X-Session-ID"] == session_id
    assert response.get_json()["seen_session_id"] == session_id
    assert gcf_env.session_starts == []
    assert len(gcf_env.spans) == 1 + gcf_functions.CHAT_HELPER_SPANS
    assert {span.session_id for span in gcf_env.spans} == {session_id}


def test_http_without_session_id_starts_a_new_session(gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    client = flask_app(monkeypatch, "chat_http").test_client()

    response = client.post("/", json={"n": 3})

    assert response.status_code == 200
    session_id = new_session_id(gcf_env)
    assert response.headers["X-Session-ID"] == session_id
    assert response.get_json()["seen_session_id"] == session_id
    start = gcf_env.session_starts[0]
    assert start["source"] == "cloud-function"
    assert start["session_name"] == "cloud-function-chat_http"
    assert start["project"] == "test-project"
    assert len(gcf_env.spans) == 1 + gcf_functions.CHAT_HELPER_SPANS
    assert {span.session_id for span in gcf_env.spans} == {session_id}
    assert {span.attributes["honeyhive.source"] for span in gcf_env.spans} == {"cloud-function"}
    span = invocation_span(gcf_env.spans, "chat_http")
    assert span.attributes["honeyhive_inputs.event.body.n"] == 3
    assert span.attributes["honeyhive_inputs.event.method"] == "POST"


def test_http_bad_header_session_id_warns_once_and_starts_a_new_session(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = flask_app(monkeypatch, "chat_http").test_client()

    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        response = client.post("/", json={"n": 4}, headers={"X-Session-ID": "not-a-session-id"})

    assert response.status_code == 200
    warnings = [r for r in caplog.records if r.name.startswith("honeyhive_serverless")]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "X-Session-ID" in warnings[0].getMessage()
    session_id = new_session_id(gcf_env)
    assert response.headers["X-Session-ID"] == session_id
    assert {span.session_id for span in gcf_env.spans} == {session_id}


def test_http_plain_string_response_gets_the_header(gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    session_id = str(uuid.uuid4())
    client = flask_app(monkeypatch, "hello_http").test_client()

    response = client.get("/?n=5", headers={"X-Session-ID": session_id})

    assert response.status_code == 200
    assert response.get_data(as_text=True) == "hello 5"
    assert response.headers["X-Session-ID"] == session_id
    assert gcf_env.session_starts == []
    assert {span.session_id for span in gcf_env.spans} == {session_id}
    assert sorted(span.name for span in gcf_env.spans) == ["generate", "hello_http"]


# ------------------------------------------------------------------------------------------------
# CloudEvent functions


def post_cloud_event(
    monkeypatch: pytest.MonkeyPatch, encoding: str, data: dict[str, Any], **extensions: str
) -> tuple[CloudEvent, int]:
    client = flask_app(monkeypatch, "on_event", "cloudevent").test_client()
    event = CloudEvent({"type": EVENT_TYPE, "source": EVENT_SOURCE, **extensions}, data)
    headers, body = ENCODERS[encoding](event)
    response = client.post("/", headers=headers, data=body)
    return event, response.status_code


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_cloud_event_sessionid_extension_is_linked(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    session_id = str(uuid.uuid4())
    event, status = post_cloud_event(monkeypatch, encoding, {"n": 6}, sessionid=session_id)

    assert status == 200
    assert gcf_env.session_starts == []
    assert len(gcf_env.spans) == 2
    assert {span.session_id for span in gcf_env.spans} == {session_id}
    span = invocation_span(gcf_env.spans, "on_event")
    assert span.attributes["faas.trigger"] == "pubsub"
    assert span.attributes["faas.invocation_id"] == event["id"]
    assert span.attributes["cloud.provider"] == "gcp"
    [helper] = [s for s in gcf_env.spans if s.name == "handle_event"]
    assert helper.attributes["honeyhive_inputs.n"] == 6
    assert helper.attributes["honeyhive_inputs.event_type"] == EVENT_TYPE


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_cloud_event_traceparent_extension_continues_the_callers_trace(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    _, status = post_cloud_event(monkeypatch, encoding, {"n": 8}, traceparent=f"00-{trace_id}-{span_id}-01")

    assert status == 200
    span = invocation_span(gcf_env.spans, "on_event")
    assert (span.trace_id, span.parent_span_id) == (trace_id, span_id)
    assert span.session_id == new_session_id(gcf_env)  # the distributed tracing extension has no baggage


def test_http_traceparent_and_baggage_continue_the_callers_trace_and_session(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, trace_id, span_id = str(uuid.uuid4()), "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    client = flask_app(monkeypatch, "chat_http").test_client()
    headers = {"traceparent": f"00-{trace_id}-{span_id}-01", "baggage": f"session_id={session_id}"}

    response = client.post("/", json={"n": 9, "question": "why spans"}, headers=headers)

    assert response.status_code == 200
    assert response.headers["X-Session-ID"] == session_id
    assert gcf_env.session_starts == []
    span = invocation_span(gcf_env.spans, "chat_http")
    assert (span.trace_id, span.parent_span_id) == (trace_id, span_id)
    assert {s.session_id for s in gcf_env.spans} == {session_id}


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_cloud_event_data_session_id_is_linked(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    session_id = str(uuid.uuid4())
    _, status = post_cloud_event(monkeypatch, encoding, {"n": 7, "session_id": session_id})

    assert status == 200
    assert gcf_env.session_starts == []
    assert len(gcf_env.spans) == 2
    assert {span.session_id for span in gcf_env.spans} == {session_id}


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_cloud_event_without_session_id_starts_a_new_session(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    _, status = post_cloud_event(monkeypatch, encoding, {"n": 8})

    assert status == 200
    session_id = new_session_id(gcf_env)
    assert gcf_env.session_starts[0]["source"] == "cloud-function"
    assert gcf_env.session_starts[0]["session_name"] == "cloud-function-on_event"
    assert len(gcf_env.spans) == 2
    assert {span.session_id for span in gcf_env.spans} == {session_id}


# ------------------------------------------------------------------------------------------------
# Concurrency


def request_n(span: ReceivedSpan) -> int:
    """The ``n`` of the request a span came from (helpers record it as an input; the invocation span
    captures the request body)."""
    value = span.attributes.get("honeyhive_inputs.n", span.attributes.get("honeyhive_inputs.event.body.n"))
    assert isinstance(value, int), span
    return value


def test_a_streamed_response_is_traced_to_its_end_before_the_server_finishes_it(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a real server: the chunks are made after the function returned, as the body streams; their
    spans are the invocation's and have reached the receiver when the client has the response's end."""
    app = flask_app(monkeypatch, "stream_http")
    with wsgi_server(app) as port, ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda n: (n, get(port, f"/?n={n}")), range(16)))
    for n, reply in replies:
        assert reply.body == "".join(f"{n}:{i};" for i in range(gcf_functions.STREAM_CHUNKS)).encode()
        session_id = reply.headers["x-session-id"]
        spans = gcf_env.spans_for_session(session_id)  # nothing waited for
        invocation = invocation_span(spans, "stream_http")
        chunks = [span for span in spans if span.name == "stream_chunk"]
        assert [span.attributes["honeyhive_inputs.n"] for span in chunks] == [n] * gcf_functions.STREAM_CHUNKS
        assert all(span.parent_span_id == invocation.span_id for span in chunks)
        assert all(span.end_ns <= invocation.end_ns for span in chunks)
        assert len({span.request_index for span in spans}) == 1  # the invocation's one request
    assert len(gcf_env.session_starts) == 16


def test_a_streamed_response_read_by_the_test_client_leaves_no_context_behind(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invocation runs in a context of its own: a caller that never reads the body still finds its
    own context as it was."""
    from opentelemetry import context as otel_context

    client = flask_app(monkeypatch, "stream_http").test_client()
    before = otel_context.get_current()
    response = client.get("/?n=4", buffered=False)
    assert otel_context.get_current() is before
    assert response.get_data() == b"4:0;4:1;4:2;"
    response.close()
    assert otel_context.get_current() is before
    assert len([span for span in gcf_env.spans if span.name == "stream_chunk"]) == gcf_functions.STREAM_CHUNKS


def test_concurrent_requests_never_share_a_session(gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    app = flask_app(monkeypatch, "chat_http")
    session_ids = [str(uuid.uuid4()) for _ in range(CONCURRENT_REQUESTS)]

    def call(n: int) -> tuple[int, str | None, str | None]:
        response = app.test_client().post(
            "/", json={"n": n, "question": f"question {n}"}, headers={"X-Session-ID": session_ids[n]}
        )
        return response.status_code, response.headers.get("X-Session-ID"), response.get_json()["seen_session_id"]

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(call, range(CONCURRENT_REQUESTS)))

    assert [status for status, _, _ in results] == [200] * CONCURRENT_REQUESTS
    wrong_header = [n for n, (_, header, _) in enumerate(results) if header != session_ids[n]]
    assert wrong_header == []
    wrong_inside = [n for n, (_, _, seen) in enumerate(results) if seen != session_ids[n]]
    assert wrong_inside == []
    assert gcf_env.session_starts == []
    spans = list(gcf_env.spans)
    assert len(spans) == CONCURRENT_REQUESTS * (1 + gcf_functions.CHAT_HELPER_SPANS)
    crossed = [
        (span.name, request_n(span), span.session_id)
        for span in spans
        if span.session_id != session_ids[request_n(span)]
    ]
    assert crossed == []
    per_request: dict[int, int] = {}
    for span in spans:
        per_request[request_n(span)] = per_request.get(request_n(span), 0) + 1
    assert per_request == {n: 1 + gcf_functions.CHAT_HELPER_SPANS for n in range(CONCURRENT_REQUESTS)}


# ------------------------------------------------------------------------------------------------
# Async functions


def run_async(function: Any, *args: Any) -> Any:
    """Await an async function (typed by functions-framework as a plain HTTP function) to completion."""
    return asyncio.run(function(*args))


def test_async_function_with_a_flask_request_links_and_traces(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTION_TARGET", "chat_async")
    session_id = str(uuid.uuid4())
    app = flask.Flask(__name__)

    with app.test_request_context("/?n=9", headers={"X-Session-ID": session_id}):
        request = flask.request._get_current_object()  # type: ignore[attr-defined]
        result = run_async(gcf_functions.chat_async, request)

    assert isinstance(result, flask.Response)
    assert result.headers["X-Session-ID"] == session_id
    assert result.get_json() == {"n": 9, "answer": "async answer 9", "seen_session_id": session_id}
    assert gcf_env.session_starts == []
    assert {span.session_id for span in gcf_env.spans} == {session_id}
    span = invocation_span(gcf_env.spans, "chat_async")
    [helper] = [s for s in gcf_env.spans if s.name == "agenerate"]
    assert helper.attributes["honeyhive_inputs.n"] == 9
    assert helper.parent_span_id == span.span_id


def test_async_function_without_session_id_starts_a_new_session(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTION_TARGET", "chat_async")
    app = flask.Flask(__name__)

    with app.test_request_context("/?n=10"):
        request = flask.request._get_current_object()  # type: ignore[attr-defined]
        result = run_async(gcf_functions.chat_async, request)

    session_id = new_session_id(gcf_env)
    assert isinstance(result, flask.Response)
    assert result.headers["X-Session-ID"] == session_id
    assert result.get_json()["seen_session_id"] == session_id
    assert len(gcf_env.spans) == 2
    assert {span.session_id for span in gcf_env.spans} == {session_id}


async def asgi_call(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request through an ASGI app (Starlette's TestClient would need httpx, not installed)."""
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "localhost", **headers}.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], response_headers, content


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_async_cloud_event_function_in_asgi_mode_links_the_session(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    app = make_app(monkeypatch, "on_event_async", "cloudevent")
    assert not isinstance(app, flask.Flask)  # functions-framework's ASGI (Starlette) app
    session_id = str(uuid.uuid4())
    event = CloudEvent({"type": EVENT_TYPE, "source": EVENT_SOURCE, "sessionid": session_id}, {"n": 11})
    headers, body = ENCODERS[encoding](event)

    status, _, _ = asyncio.run(asgi_call(app, "POST", "/", dict(headers), body))

    assert status == 200
    assert gcf_env.session_starts == []
    assert len(gcf_env.spans) == 2
    assert {span.session_id for span in gcf_env.spans} == {session_id}
    span = invocation_span(gcf_env.spans, "on_event_async")
    assert span.attributes["cloud.provider"] == "gcp"


def test_async_http_function_in_asgi_mode_links_the_session(
    gcf_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(monkeypatch, "chat_async")
    assert not isinstance(app, flask.Flask)
    session_id = str(uuid.uuid4())

    status, headers, _ = asyncio.run(asgi_call(app, "GET", "/?n=12", {"X-Session-ID": session_id}))

    assert status == 200
    assert gcf_env.session_starts == []
    assert {span.session_id for span in gcf_env.spans} == {session_id}
    assert invocation_span(gcf_env.spans, "chat_async").attributes["cloud.provider"] == "gcp"
    assert headers.get("x-session-id") == session_id
