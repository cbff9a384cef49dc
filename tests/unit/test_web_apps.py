"""Web apps: ``HoneyHiveASGIMiddleware`` (FastAPI under uvicorn) and ``HoneyHiveWSGIMiddleware`` (Flask
under werkzeug), served for real on loopback. Every request has its own session (``X-Session-ID`` or
baggage in, ``X-Session-ID`` out), and every span, those made while a body streams included, has
reached the receiver by the time the client has read the response's last byte."""

from __future__ import annotations

import http.client
import secrets
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import pytest

import seed_web_apps
import web_apps
from honeyhive_serverless_dev.asgi_serving import served_asgi
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan
from web_servers import Reply, get, wsgi_server

CONCURRENT_REQUESTS = 50

Serve = Callable[[], AbstractContextManager[int]]


@pytest.fixture
def web_env(hh_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> DevReceiver:
    """``hh_env`` on Cloud Run: the export mode is ``invocation``, as on Lambda."""
    monkeypatch.setenv("K_SERVICE", "hh-web-test")
    return hh_env


@pytest.fixture(params=["fastapi", "flask"])
def serve(request: pytest.FixtureRequest, web_env: DevReceiver) -> Iterator[Serve]:
    if request.param == "fastapi":
        yield lambda: served_asgi(web_apps.fastapi_app())
    else:
        yield lambda: wsgi_server(web_apps.flask_app())


def spans_of(receiver: DevReceiver, n: int) -> list[ReceivedSpan]:
    return [span for span in receiver.spans if span.attributes.get("honeyhive_inputs.n") == n]


def server_span(receiver: DevReceiver, session_id: str) -> ReceivedSpan:
    """The middleware's span of the request (FastAPI's own request span is a child of it)."""
    (found,) = [
        span
        for span in receiver.spans_for_session(session_id)
        if span.span_kind == "SERVER" and span.scope_name == "honeyhive_serverless"
    ]
    return found


def test_a_request_gets_its_own_session_and_says_which(serve: Serve, web_env: DevReceiver) -> None:
    with serve() as port:
        reply = get(port, "/chat/7")
    session_id = reply.headers["x-session-id"]
    assert reply.json()["seen_session_id"] == session_id
    # Nothing waited for: the export ends before the response does.
    assert [span.session_id for span in spans_of(web_env, 7)] == [session_id]
    request_span = server_span(web_env, session_id)
    assert request_span.name in {"GET /chat/{n}", "GET /chat/<int:n>"}
    assert request_span.attributes["http.response.status_code"] == 200
    assert request_span.attributes["url.path"] == "/chat/7"
    assert [start["session_id"] for start in web_env.session_starts] == [session_id]


def test_a_credential_in_the_query_never_leaves(serve: Serve, web_env: DevReceiver) -> None:
    with serve() as port:
        reply = get(port, "/chat/5?api_key=opaque-credential-42&q=paris")
    session_id = reply.headers["x-session-id"]
    assert not any(b"opaque-credential-42" in request.body for request in web_env.requests)
    [start] = web_env.session_starts
    assert start["inputs"]["query"] == "api_key=[redacted: api_key]&q=paris"
    assert server_span(web_env, session_id).attributes["url.query"] == "api_key=[redacted: api_key]&q=paris"


@pytest.mark.parametrize("path", ["/stream/{n}", "/stream-sync/{n}"])
def test_spans_made_while_the_body_streams_arrive_before_its_end(serve: Serve, web_env: DevReceiver, path: str) -> None:
    with serve() as port:
        reply = get(port, path.format(n=3))
    assert reply.body == b"".join(f"3:{i};".encode() for i in range(web_apps.CHUNKS))
    session_id = reply.headers["x-session-id"]
    chunks = [span for span in spans_of(web_env, 3) if span.name.endswith("chunk")]
    assert len(chunks) == web_apps.CHUNKS
    assert {span.session_id for span in chunks} == {session_id}
    request_span = server_span(web_env, session_id)
    assert all(span.parent_span_id is not None for span in chunks)
    assert all(request_span.start_ns <= span.start_ns and span.end_ns <= request_span.end_ns for span in chunks)
    assert len({span.request_index for span in [*chunks, request_span]}) == 1  # in one request


def test_concurrent_requests_never_cross_sessions(serve: Serve, web_env: DevReceiver) -> None:
    with serve() as port, ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda n: (n, get(port, f"/stream/{n}")), range(CONCURRENT_REQUESTS)))
    sessions = {n: reply.headers["x-session-id"] for n, reply in replies}
    assert len(set(sessions.values())) == CONCURRENT_REQUESTS
    crossed = [(n, span.name) for n in sessions for span in spans_of(web_env, n) if span.session_id != sessions[n]]
    assert crossed == []
    for n, session_id in sessions.items():
        assert len(spans_of(web_env, n)) == web_apps.CHUNKS
        assert server_span(web_env, session_id).attributes["url.path"] == f"/stream/{n}"


def test_a_session_named_in_the_request_is_joined_without_a_start(serve: Serve, web_env: DevReceiver) -> None:
    named = str(uuid.uuid4())
    from_baggage = str(uuid.uuid4())
    with serve() as port:
        explicit = get(port, "/chat/1", {"X-Session-ID": named, "baggage": f"session_id={from_baggage}"})
        baggage_only = get(port, "/chat/2", {"baggage": f"session_id={from_baggage}"})
    assert explicit.headers["x-session-id"] == named
    assert baggage_only.headers["x-session-id"] == from_baggage
    assert [span.session_id for span in spans_of(web_env, 1)] == [named]
    assert [span.session_id for span in spans_of(web_env, 2)] == [from_baggage]
    assert web_env.session_starts == []


def test_the_callers_trace_is_continued(serve: Serve, web_env: DevReceiver) -> None:
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    with serve() as port:
        reply = get(port, "/chat/4", {"traceparent": f"00-{trace_id}-{parent}-01"})
    request_span = server_span(web_env, reply.headers["x-session-id"])
    assert (request_span.trace_id, request_span.parent_span_id) == (trace_id, parent)


def test_a_bad_session_header_warns_once_and_the_request_runs(
    serve: Serve, web_env: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with serve() as port:
        reply: Reply = get(port, "/chat/5", {"X-Session-ID": "not a session\x01"})
    assert reply.status == 200
    warnings = [r.getMessage() for r in caplog.records if "X-Session-ID" in r.getMessage()]
    assert len(warnings) == 1 and "new session" in warnings[0]
    assert reply.headers["x-session-id"] != "not a session"


def test_an_app_error_is_recorded_and_the_server_answers_as_without_tracing(web_env: DevReceiver) -> None:
    with served_asgi(web_apps.fastapi_app(middleware=None)) as port:
        untraced = get(port, "/fail/6")
    web_env.clear()
    with served_asgi(web_apps.fastapi_app()) as port:
        traced = get(port, "/fail/6")
    assert (traced.status, traced.body) == (untraced.status, untraced.body) == (500, b"Internal Server Error")
    (request_span,) = [
        span for span in web_env.spans if span.span_kind == "SERVER" and span.scope_name == "honeyhive_serverless"
    ]
    assert request_span.status_code == "ERROR"
    assert "request 6 failed" in request_span.attributes["honeyhive_error"]
    assert [span.session_id for span in spans_of(web_env, 6)] == [request_span.session_id]


def test_tracing_off_passes_requests_through(web_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_DISABLE_TRACING", "true")
    with served_asgi(web_apps.fastapi_app()) as port:
        reply = get(port, "/stream/8")
    assert reply.status == 200 and "x-session-id" not in reply.headers
    assert web_env.requests == []


def test_the_middlewares_span_stands_for_fastapis_own(web_env: DevReceiver) -> None:
    """FastAPI's native telemetry starts its request span before the middleware runs and ends it after
    the response: the middleware's span takes its place in the trace, and it is never sent."""
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with served_asgi(web_apps.fastapi_app()) as port:
        reply = get(port, "/chat/9", {"traceparent": f"00-{caller_trace}-{caller_span}-01"})
        failed = get(port, "/fail/10")
    assert failed.status == 500
    session_id = reply.headers["x-session-id"]
    request_span = server_span(web_env, session_id)
    assert (request_span.trace_id, request_span.parent_span_id) == (caller_trace, caller_span)
    fastapi_spans = [span for span in web_env.spans if span.scope_name.startswith("fastapi")]
    assert fastapi_spans, "FastAPI's telemetry is on: its endpoint and serialization spans are here"
    assert all(span.span_kind != "SERVER" for span in fastapi_spans)
    ours = {span.session_id for span in web_env.spans if span.scope_name == "honeyhive_serverless"}
    assert len(ours) == 2 and None not in ours
    assert {span.session_id for span in fastapi_spans} <= ours


@pytest.mark.parametrize("app", ["fastapi", "flask"])
def test_the_seeds_web_server_section_works_unchanged_with_the_middleware(web_env: DevReceiver, app: str) -> None:
    """The seed's session per request (``acreate_session`` in a FastAPI middleware, ``create_session``
    in Flask's ``before_request``) still names each request's session: its spans, its enrichment and its
    ``X-Session-ID``, all in before the response's end."""
    serve = served_asgi(seed_web_apps.fastapi_seed()) if app == "fastapi" else wsgi_server(seed_web_apps.flask_seed())
    path = "/api/chat?message=hi" if app == "fastapi" else "/api/process"
    with serve as port, ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: get(port, path, body={}), range(16)))
    seed_sessions = {
        start["session_id"] for start in web_env.session_starts if start["session_name"].startswith(("api-", "flask-"))
    }
    assert len(seed_sessions) == 16
    for reply in replies:
        assert reply.status == 200
        session_id = reply.headers["x-session-id"]
        assert session_id in seed_sessions
        names = {span.name for span in web_env.spans_for_session(session_id)}
        assert names >= ({"chat_endpoint", "process_message"} if app == "fastapi" else {"process_endpoint"})
        enrichments = [update for update in web_env.event_updates if update.get("event_id") == session_id]
        assert [update["outputs"] for update in enrichments] == [{"status_code": 200}]


def test_a_client_gone_mid_stream_still_gets_its_request_sent(web_env: DevReceiver) -> None:
    """The body's last message never comes: the request ends as the app returns, and leaves then."""
    with served_asgi(web_apps.fastapi_app()) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/slow-stream/11")
        response = connection.getresponse()
        session_id = response.getheader("x-session-id")
        assert response.read(4) == b"11:0"
        connection.close()  # gone, mid-stream

        def request_span_arrived(receiver: DevReceiver) -> bool:
            return any(span.span_kind == "SERVER" and span.session_id == session_id for span in receiver.spans)

        assert web_env.wait_for(request_span_arrived, timeout=10)
    chunks = [span for span in spans_of(web_env, 11) if span.name == "achunk"]
    assert 1 <= len(chunks) < 100
    assert {span.session_id for span in chunks} == {session_id}


@pytest.mark.parametrize("path", ["/stream/{n}", "/chat/{n}"])
@pytest.mark.parametrize("form", ["add_middleware", "wrapped"])
def test_every_span_of_a_request_is_in_its_session_under_its_span_however_the_middleware_is_applied(
    web_env: DevReceiver, form: str, path: str
) -> None:
    """``app.add_middleware(HoneyHiveASGIMiddleware)`` or ``app = HoneyHiveASGIMiddleware(app)``: FastAPI's own
    telemetry, inside the wrapped app, starts its spans from the request's headers, which name the
    middleware's span and session; nothing of a request leaves its session or its trace."""
    callers = {n: (secrets.token_hex(16), secrets.token_hex(8)) for n in range(8)}
    app = web_apps.fastapi_app(middleware="add" if form == "add_middleware" else "wrap")
    with served_asgi(app) as port, ThreadPoolExecutor(8) as pool:

        def request(n: int) -> Reply:
            trace_id, span_id = callers[n]
            return get(port, path.format(n=n), {"traceparent": f"00-{trace_id}-{span_id}-01"})

        replies = dict(zip(callers, pool.map(request, callers), strict=True))

    def complete(receiver: DevReceiver) -> bool:  # wrapped, FastAPI's request span leaves after the body
        received = {span.span_id for span in receiver.spans}
        return all(span.parent_span_id in received for span in receiver.spans if span.scope_name == "fastapi")

    assert web_env.wait_for(complete)
    for n, reply in replies.items():
        session_id, (caller_trace, caller_span) = reply.headers["x-session-id"], callers[n]
        in_trace = [span for span in web_env.spans if span.trace_id == caller_trace]
        assert {span.session_id for span in in_trace} == {session_id}, n
        assert {span.span_id for span in spans_of(web_env, n)} <= {span.span_id for span in in_trace}
        assert {span.scope_name for span in in_trace} >= {"honeyhive_serverless", "fastapi"}
        span_ids = {span.span_id for span in in_trace}
        [root] = [span for span in in_trace if span.parent_span_id not in span_ids]
        assert (root.parent_span_id, root.span_id) == (caller_span, server_span(web_env, session_id).span_id)
