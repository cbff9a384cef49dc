"""Tests for the dev receiver and the ``hh-serverless dev-server`` command, over real sockets."""

from __future__ import annotations

import gzip
import http.client
import json
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode

from dev_server_process import DevServerProcess
from honeyhive_serverless.wire import AUTO_CREATE_KEY
from honeyhive_serverless_dev.cli import main
from honeyhive_serverless_dev.receiver import TRACES_PATH, DevReceiver, decode_trace_request

pytestmark = pytest.mark.timeout(30)

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def rx() -> Iterator[DevReceiver]:
    receiver = DevReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


def connect(receiver: DevReceiver, timeout: float = 5.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=timeout)


def call(
    receiver: DevReceiver,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request; a fresh connection unless ``conn`` is given. Returns (status, headers, body)."""
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    all_headers = dict(JSON if isinstance(body, dict) else {})
    all_headers.update(headers or {})
    own = conn is None
    conn = conn or connect(receiver, timeout)
    try:
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        if own:
            conn.close()


class PostingExporter(SpanExporter):
    """Encodes spans with the stock OTLP encoder and POSTs them with http.client."""

    def __init__(self, receiver: DevReceiver, headers: dict[str, str] | None = None) -> None:
        self.receiver = receiver
        self.headers = {**PROTOBUF, **(headers or {})}
        self.statuses: list[int] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = encode_spans(spans).SerializeToString()
        status, _, _ = call(self.receiver, "POST", TRACES_PATH, body, self.headers)
        self.statuses.append(status)
        return SpanExportResult.SUCCESS if status == 200 else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


@pytest.fixture
def tracing(rx: DevReceiver) -> Iterator[tuple[TracerProvider, PostingExporter]]:
    exporter = PostingExporter(rx)
    provider = TracerProvider(resource=Resource.create({"service.name": "fn", "faas.name": "demo"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider, exporter
    finally:
        provider.shutdown()


def encoded_span(
    name: str = "s",
    session_id: str | None = None,
    *,
    auto_create: bool = True,
    sessioned: bool = True,
    **attributes: Any,
) -> bytes:
    """One finished span as a serialized ExportTraceServiceRequest, in session ``session_id`` (a new one when
    None), which it asks HoneyHive to create unless not ``auto_create``; in no session unless ``sessioned``."""
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    if sessioned:
        attributes["honeyhive.session_id"] = session_id or str(uuid.uuid4())
        if auto_create:
            attributes[AUTO_CREATE_KEY] = True
    span = tracer.start_span(name, attributes=attributes)
    span.end()
    assert isinstance(span, ReadableSpan)
    body: bytes = encode_spans([span]).SerializeToString()
    return body


# ---------------------------------------------------------------------------------------------
# OTLP


def test_protobuf_spans_are_decoded_with_types_parents_and_status(
    rx: DevReceiver, tracing: tuple[TracerProvider, PostingExporter]
) -> None:
    provider, exporter = tracing
    tracer = provider.get_tracer("unit")
    session_id = str(uuid.uuid4())
    with tracer.start_as_current_span(
        "handler", attributes={"honeyhive.session_id": session_id, AUTO_CREATE_KEY: True}
    ) as parent:
        parent.set_attribute("honeyhive_event_type", "chain")
        parent.set_attribute("faas.coldstart", True)
        with tracer.start_as_current_span("llm_call") as child:
            child.set_attributes(
                {
                    "honeyhive.session_id": session_id,
                    AUTO_CREATE_KEY: True,  # it is exported first, before its parent
                    "honeyhive_event_type": "model",
                    "honeyhive_inputs.prompt": "hi",
                    "honeyhive_metadata.nested.a": 1,
                    "honeyhive_metrics.latency_ms": 12.5,
                    "honeyhive_feedback.thumbs": True,
                    "tags": ["a", "b"],
                }
            )
            child.add_event("retry", {"attempt": 2})
            child.set_status(Status(StatusCode.ERROR, "boom"))

    assert rx.wait_for_spans(2)
    assert exporter.statuses == [200, 200]
    by_name = {span.name: span for span in rx.spans}
    handler, llm = by_name["handler"], by_name["llm_call"]

    assert llm.parent_span_id == handler.span_id
    assert handler.parent_span_id is None
    assert llm.trace_id == handler.trace_id
    assert re.fullmatch(r"[0-9a-f]{32}", llm.trace_id)
    assert re.fullmatch(r"[0-9a-f]{16}", llm.span_id)
    assert llm.status_code == "ERROR"
    assert llm.status_message == "boom"
    assert handler.status_code == "UNSET"
    assert handler.end_ns >= llm.end_ns >= llm.start_ns >= handler.start_ns > 0
    assert llm.span_kind == "INTERNAL"
    assert llm.scope_name == "unit"

    attrs = llm.attributes
    assert type(attrs["honeyhive_inputs.prompt"]) is str
    assert type(attrs["honeyhive_metadata.nested.a"]) is int
    assert type(attrs["honeyhive_metrics.latency_ms"]) is float
    assert type(attrs["honeyhive_feedback.thumbs"]) is bool
    assert attrs["honeyhive_metrics.latency_ms"] == 12.5
    assert attrs["tags"] == ["a", "b"]
    assert handler.attributes["faas.coldstart"] is True
    assert llm.events == [("retry", {"attempt": 2})]
    assert llm.resource_attributes["service.name"] == "fn"
    assert llm.resource_attributes["faas.name"] == "demo"

    # One request per span (SimpleSpanProcessor): the child ended first.
    assert [span.request_index for span in rx.spans] == [0, 1]
    assert len(rx.otlp_requests()) == 2
    assert {span.name for span in rx.spans_for_session(session_id)} == {"handler", "llm_call"}
    assert rx.spans_for_session("other") == []


def test_protobuf_response_is_an_empty_export_response(rx: DevReceiver) -> None:
    status, headers, body = call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF)
    assert (status, body) == (200, b"")
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["content-length"] == "0"


def test_otlp_json_with_hex_ids_is_accepted(rx: DevReceiver) -> None:
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "fn"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "sdk"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "parentSpanId": "eee19b7ec3c1b173",
                                "name": "json-span",
                                "kind": 3,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [
                                    {"key": "honeyhive.session_id", "value": {"stringValue": "json-session"}},
                                    {"key": AUTO_CREATE_KEY, "value": {"boolValue": True}},
                                    {"key": "i", "value": {"intValue": "7"}},
                                    {"key": "d", "value": {"doubleValue": 1.5}},
                                    {"key": "b", "value": {"boolValue": True}},
                                    {"key": "s", "value": {"stringValue": "x"}},
                                    {"key": "raw", "value": {"bytesValue": "AQI="}},
                                    {
                                        "key": "arr",
                                        "value": {"arrayValue": {"values": [{"intValue": 1}]}},
                                    },
                                    {
                                        "key": "kv",
                                        "value": {
                                            "kvlistValue": {"values": [{"key": "a", "value": {"stringValue": "b"}}]}
                                        },
                                    },
                                ],
                                "status": {"code": 2, "message": "bad"},
                                "unknownField": "ignored",
                            }
                        ],
                    }
                ],
            }
        ]
    }
    status, headers, body = call(rx, "POST", TRACES_PATH, document)
    assert (status, body) == (200, b"{}")
    assert headers["content-type"] == "application/json"
    (span,) = rx.spans
    assert span.name == "json-span"
    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.span_id == "eee19b7ec3c1b174"
    assert span.parent_span_id == "eee19b7ec3c1b173"
    assert span.span_kind == "CLIENT"
    assert span.duration_ms == 1000.0
    assert span.status_code == "ERROR"
    assert span.attributes == {
        "honeyhive.session_id": "json-session",
        AUTO_CREATE_KEY: True,
        "i": 7,
        "d": 1.5,
        "b": True,
        "s": "x",
        "raw": b"\x01\x02",
        "arr": [1],
        "kv": {"a": "b"},
    }
    assert type(span.attributes["i"]) is int


def test_otlp_json_from_protobuf_json_mapping_matches_protobuf(rx: DevReceiver) -> None:
    """protobuf's own JSON mapping (base64 ids) decodes to the same span as the binary body."""
    binary = encoded_span("same", answer=42)
    (expected,) = decode_trace_request(binary)
    message = ExportTraceServiceRequest()
    message.ParseFromString(binary)
    status, _, _ = call(rx, "POST", TRACES_PATH, json_format.MessageToJson(message).encode(), JSON)
    assert status == 200
    (got,) = rx.spans
    assert (got.trace_id, got.span_id, got.attributes) == (expected.trace_id, expected.span_id, expected.attributes)
    assert got.attributes["answer"] == 42


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (b"\xff\xff\xff\xff", PROTOBUF, 400),
        (b"{not json", JSON, 400),
        (b"[1, 2]", JSON, 400),
        (b"x", {"Content-Type": "text/plain"}, 415),
    ],
)
def test_bad_otlp_bodies_are_rejected_and_the_receiver_keeps_going(
    rx: DevReceiver, body: bytes, headers: dict[str, str], expected: int
) -> None:
    status, _, data = call(rx, "POST", TRACES_PATH, body, headers)
    assert status == expected
    assert json.loads(data)["error"]
    assert rx.spans == []
    assert rx.requests[-1].status == expected
    assert call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF)[0] == 200
    assert len(rx.spans) == 1


def test_gzip_body_is_accepted(rx: DevReceiver) -> None:
    body = gzip.compress(encoded_span("zipped"))
    assert call(rx, "POST", TRACES_PATH, body, {**PROTOBUF, "Content-Encoding": "gzip"})[0] == 200
    assert [span.name for span in rx.spans] == ["zipped"]


# ---------------------------------------------------------------------------------------------
# REST endpoints


def test_session_start_returns_given_id(rx: DevReceiver) -> None:
    session = {
        "project": "p",
        "session_name": "n",
        "source": "dev",
        "session_id": "sess-1",
        "inputs": {"q": 1},
    }
    status, _, data = call(rx, "POST", "/session/start", {"session": session})
    assert status == 200
    assert json.loads(data) == {
        "session_id": "sess-1",
        "event_id": "sess-1",
        "org_id": "local",
        "workspace_id": "local",
        "project_id": "local",
    }
    assert rx.session_starts == [session]


def test_session_start_without_id_gets_a_new_uuid(rx: DevReceiver) -> None:
    first = json.loads(call(rx, "POST", "/session/start", {"session": {"project": "p"}})[2])
    second = json.loads(call(rx, "POST", "/session/start", {"session": {"project": "p"}})[2])
    assert uuid.UUID(first["session_id"]).version == 4
    assert first["session_id"] == first["event_id"] != second["session_id"]
    assert [s["session_id"] for s in rx.session_starts] == [first["session_id"], second["session_id"]]


def test_session_response_override_replaces_the_answer(rx: DevReceiver) -> None:
    rx.session_response_override = {"ok": True}
    status, _, data = call(rx, "POST", "/session/start", {"session": {"project": "p"}})
    assert (status, json.loads(data)) == (200, {"ok": True})
    assert len(rx.session_starts) == 1


@pytest.mark.breaks_contract("request-schema", reason="a start with no session object, and one that is no JSON")
def test_session_start_needs_a_session_object(rx: DevReceiver) -> None:
    assert call(rx, "POST", "/session/start", {"project": "p"})[0] == 400
    assert call(rx, "POST", "/session/start", b"nope", JSON)[0] == 400
    assert rx.session_starts == []


@pytest.mark.breaks_contract("request-schema", reason="an update without event_id")
def test_put_events_is_recorded(rx: DevReceiver) -> None:
    assert call(rx, "POST", "/session/start", {"session": {"session_id": "sess-1"}})[0] == 200
    update = {"event_id": "sess-1", "metadata": {"k": "v"}, "outputs": {"answer": 42}}
    status, _, data = call(rx, "PUT", "/events", update)
    assert (status, json.loads(data)) == (200, {"success": True})
    assert rx.event_updates == [update]
    assert call(rx, "PUT", "/events", {"metadata": {}})[0] == 400
    assert len(rx.event_updates) == 1


def test_a_chunked_body_is_read_to_its_last_chunk_and_a_bad_one_refused(rx: DevReceiver) -> None:
    assert call(rx, "POST", "/session/start", {"session": {"session_id": "sess-2"}})[0] == 200
    update = {"event_id": "sess-2", "metadata": {"chunked": True}}
    text = json.dumps(update).encode()
    conn = connect(rx)
    try:
        chunks = iter([text[:7], text[7:]])
        conn.request("PUT", "/events", body=chunks, headers=JSON, encode_chunked=True)
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"success": True})
    finally:
        conn.close()
    assert rx.event_updates == [update]
    with socket.create_connection(("127.0.0.1", rx.port), timeout=5) as raw:
        raw.sendall(b"PUT /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        assert raw.recv(64).startswith(b"HTTP/1.1 400")
    assert len(rx.event_updates) == 1


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/session/start"), ("POST", "/nope")])
def test_unknown_routes_are_404(rx: DevReceiver, method: str, path: str) -> None:
    assert call(rx, method, path)[0] == 404
    assert rx.requests[0].status == 404


def test_requests_are_recorded_with_lowercase_headers(rx: DevReceiver) -> None:
    before = time.monotonic()
    call(rx, "POST", "/session/start", {"session": {"session_id": "e"}}, {"X-Source": "dev"})
    (request,) = rx.requests
    assert (request.method, request.path, request.status) == ("POST", "/session/start", 200)
    assert request.headers["x-source"] == "dev"
    assert json.loads(request.body) == {"session": {"session_id": "e"}}
    assert request.received_at >= before
    assert request.connection_id == 1


# ---------------------------------------------------------------------------------------------
# auth


def test_api_keys_are_enforced() -> None:
    with DevReceiver(api_keys={"good-key"}) as rx:
        body = {"session": {"project": "p"}}
        assert call(rx, "POST", "/session/start", body)[0] == 401
        assert call(rx, "POST", "/session/start", body, {"Authorization": "Bearer bad-key"})[0] == 401
        assert call(rx, "POST", "/session/start", body, {"Authorization": "good-key"})[0] == 401
        assert call(rx, "POST", TRACES_PATH, encoded_span(), {**PROTOBUF, "Authorization": "Bearer x"})[0] == 401
        assert rx.session_starts == [] and rx.spans == []
        assert call(rx, "POST", "/session/start", body, {"Authorization": "Bearer good-key"})[0] == 200
        assert len(rx.session_starts) == 1
        assert [r.status for r in rx.requests] == [401, 401, 401, 401, 200]


# ---------------------------------------------------------------------------------------------
# faults


def test_refuse_closes_the_listener_and_clear_listens_again_on_the_same_port(rx: DevReceiver) -> None:
    port = rx.port
    kept = connect(rx)
    start = {"session": {"session_id": "e"}}
    assert call(rx, "POST", "/session/start", start, conn=kept)[0] == 200

    rx.set_fault("refuse")
    with pytest.raises(ConnectionRefusedError):
        call(rx, "POST", "/session/start", start)
    # The open keep-alive connection was closed too.
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        call(rx, "POST", "/session/start", start, conn=kept)
    kept.close()

    rx.clear_fault()
    assert rx.port == port
    assert call(rx, "POST", "/session/start", start)[0] == 200
    assert len(rx.session_starts) == 2


def test_hang_times_out_the_client_and_stop_returns_promptly() -> None:
    rx = DevReceiver().start()
    try:
        rx.set_fault("hang")
        with pytest.raises(TimeoutError):
            call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF, timeout=0.3)
        assert rx.wait_for(lambda r: len(r.requests) == 1)
        assert rx.requests[0].status == 0  # never answered
        assert rx.spans == []
    finally:
        started = time.monotonic()
        rx.stop()
        assert time.monotonic() - started < 1.0


def test_hang_is_released_by_clear_fault(rx: DevReceiver) -> None:
    rx.set_fault("hang")
    outcome: queue.Queue[BaseException | int] = queue.Queue()

    def client() -> None:
        try:
            outcome.put(call(rx, "GET", "/", timeout=5.0)[0])
        except BaseException as exc:
            outcome.put(exc)

    thread = threading.Thread(target=client)
    thread.start()
    assert rx.wait_for(lambda r: len(r.requests) == 1)
    rx.clear_fault()
    thread.join(5.0)
    # Released without an answer: the connection is closed.
    assert isinstance(outcome.get(timeout=1.0), (ConnectionError, http.client.HTTPException))
    assert call(rx, "GET", "/")[0] == 404


def test_500_fault(rx: DevReceiver) -> None:
    rx.set_fault("500")
    assert call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF)[0] == 500
    assert rx.spans == [] and rx.requests[0].status == 500
    rx.clear_fault()
    assert call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF)[0] == 200
    assert len(rx.spans) == 1
    assert rx.spans[0].request_index == 1  # the index into otlp_requests(), faulted one included


def test_429_fault_has_retry_after(rx: DevReceiver) -> None:
    rx.set_fault("429")
    status, headers, _ = call(rx, "POST", "/session/start", {"session": {"project": "p"}})
    assert (status, headers["retry-after"]) == (429, "1")
    assert rx.session_starts == []


def test_slow_fault_answers_normally_after_the_delay(rx: DevReceiver) -> None:
    rx.set_fault("slow", delay_s=0.2)
    started = time.monotonic()
    assert call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF)[0] == 200
    assert time.monotonic() - started >= 0.2
    assert len(rx.spans) == 1


def test_401_once_then_normal(rx: DevReceiver) -> None:
    rx.set_fault("401_once")
    assert call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF)[0] == 401
    assert call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF)[0] == 200
    assert [r.status for r in rx.requests] == [401, 200]
    assert len(rx.spans) == 1


def test_fault_path_prefix_limits_the_fault(rx: DevReceiver) -> None:
    rx.set_fault("500", path_prefix="/opentelemetry")
    assert call(rx, "POST", "/session/start", {"session": {"project": "p"}})[0] == 200
    assert call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF)[0] == 500


def test_unknown_fault_kind_is_rejected(rx: DevReceiver) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        rx.set_fault("teapot")


def test_delay_ms_delays_every_answer() -> None:
    with DevReceiver(delay_ms=100) as rx:
        started = time.monotonic()
        assert call(rx, "GET", "/")[0] == 404
        assert time.monotonic() - started >= 0.1
        rx.delay_ms = 0


# ---------------------------------------------------------------------------------------------
# connections and waiting


def test_keep_alive_reuses_one_connection(rx: DevReceiver) -> None:
    conn = connect(rx)
    try:
        for i in range(5):
            assert call(rx, "POST", "/session/start", {"session": {"session_id": f"e{i}"}}, conn=conn)[0] == 200
    finally:
        conn.close()
    assert rx.connection_count == 1
    assert {r.connection_id for r in rx.requests} == {1}
    call(rx, "GET", "/")
    assert rx.connection_count == 2
    assert rx.requests[-1].connection_id == 2


def test_wait_for_times_out_and_clear_forgets(rx: DevReceiver) -> None:
    started = time.monotonic()
    assert rx.wait_for_spans(1, timeout=0.05) is False
    assert time.monotonic() - started < 1.0
    call(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF)
    assert rx.wait_for_spans(1, timeout=0)
    rx.clear()
    assert (rx.requests, rx.spans, rx.session_starts, rx.event_updates) == ([], [], [], [])
    assert rx.render_sessions() == ""


def test_wait_for_wakes_on_a_span_from_another_thread(rx: DevReceiver) -> None:
    thread = threading.Thread(target=call, args=(rx, "POST", TRACES_PATH, encoded_span(), PROTOBUF))
    thread.start()
    assert rx.wait_for_spans(1, timeout=5.0)
    thread.join(5.0)


# ---------------------------------------------------------------------------------------------
# output


@pytest.mark.breaks_contract("span-without-session", reason="a span in no session, rendered apart")
def test_render_sessions_and_dump_jsonl(tmp_path: Path) -> None:
    key = "hh-secret-key-123"
    auth = {"Authorization": f"Bearer {key}"}
    live = tmp_path / "live.jsonl"
    with DevReceiver(api_keys={key}, jsonl_path=live) as rx:
        session_id = json.loads(
            call(
                rx,
                "POST",
                "/session/start",
                {"session": {"project": "proj", "session_name": "my-run", "source": "dev"}},
                auth,
            )[2]
        )["session_id"]
        call(rx, "PUT", "/events", {"event_id": session_id, "metadata": {"user": "u1"}}, auth)

        exporter = PostingExporter(rx, auth)
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("t")
        common = {"honeyhive.session_id": session_id}
        with (
            tracer.start_as_current_span(
                "lambda_handler",
                attributes={**common, "honeyhive_event_type": "chain", "faas.coldstart": True},
            ),
            tracer.start_as_current_span(
                "call_model",
                attributes={**common, "honeyhive_event_type": "model", "honeyhive_inputs.prompt": "x" * 500},
            ) as span,
        ):
            span.set_attribute("honeyhive_error", "ValueError: nope")
            span.set_status(Status(StatusCode.ERROR, "nope"))
        provider.shutdown()
        assert rx.wait_for_spans(2)
        call(rx, "POST", TRACES_PATH, encoded_span("orphan", sessioned=False), {**PROTOBUF, **auth})

        text = rx.render_sessions()
        out = tmp_path / "dump.jsonl"
        count = rx.dump_jsonl(out)

    lines = text.splitlines()
    assert key not in text
    assert lines[0].startswith(f"session {session_id}")
    assert "name=my-run" in lines[0] and "project=proj" in lines[0] and "source=dev" in lines[0]
    assert "metadata.user=u1" in lines[0]
    assert lines[1].startswith("  chain lambda_handler") and "faas.coldstart=true" in lines[1]
    assert lines[2].startswith("    model call_model") and "ERROR: nope" in lines[2]
    prompt_value = re.search(r"honeyhive_inputs\.prompt=(\S+)", lines[2])
    assert prompt_value is not None and len(prompt_value.group(1)) == 60
    assert "spans without a session id" in text and "orphan" in text
    assert session_id not in rx.render_sessions(["someone-else"])

    dumped = out.read_text()
    assert key not in dumped and "Bearer ***" in dumped
    records = [json.loads(line) for line in dumped.splitlines()]
    assert len(records) == count
    kinds = [r["kind"] for r in records]
    assert kinds.count("session_start") == 1 and kinds.count("event_update") == 1
    assert kinds.count("span") == 3 and kinds.count("request") == 5
    spans = [r for r in records if r["kind"] == "span"]
    assert {s["name"] for s in spans} == {"lambda_handler", "call_model", "orphan"}
    assert spans[0]["session_id"] == session_id
    # Appended as they arrived: the same items as the final dump.
    assert live.read_text() == dumped


# ---------------------------------------------------------------------------------------------
# CLI


def test_main_without_a_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "dev-server" in capsys.readouterr().err


def test_dev_server_cli_prints_session_trees() -> None:
    with DevServerProcess("--api-key", "k-123") as server:
        try:
            first = server.line()
            match = re.fullmatch(r"HoneyHive dev receiver on (http://127\.0\.0\.1:(\d+))", first)
            assert match, first
            assert server.line(timeout=5) == f"export HH_API_URL={match.group(1)}"

            conn = http.client.HTTPConnection("127.0.0.1", int(match.group(2)), timeout=5)
            body = encoded_span("cli-span", session_id="cli-session", honeyhive_event_type="tool")
            conn.request("POST", TRACES_PATH, body=body, headers={**PROTOBUF, "Authorization": "Bearer k-123"})
            assert conn.getresponse().status == 200
            conn.close()

            seen = server.until("tool cli-span", timeout=5)
            assert any(line.startswith("session cli-session") for line in seen)
            assert not any("k-123" in line for line in seen)
        finally:
            assert server.terminate(timeout=5) == 0
