"""A local HoneyHive-compatible receiver ("dev receiver") for tests and local development.

It answers the part of the HoneyHive API that the tracer uses (session start, session enrichment and
OTLP/HTTP span export), records everything it receives, renders sessions as trees, and can inject
faults (refused connections, hangs, 500/429/401 answers, slowness) so that export paths can be
tested against real sockets instead of mocks.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import gzip
import hmac
import json
import socket
import socketserver
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from honeyhive_serverless_dev.serving import accept_loop

__all__ = [
    "EVENTS_PATH",
    "FAULT_KINDS",
    "SESSION_START_PATH",
    "TRACES_PATH",
    "DevReceiver",
    "FaultKind",
    "ReceivedRequest",
    "ReceivedSpan",
    "decode_trace_request",
]

SESSION_START_PATH = "/session/start"
EVENTS_PATH = "/events"
TRACES_PATH = "/opentelemetry/v1/traces"

FaultKind = Literal["refuse", "hang", "500", "429", "slow", "401_once"]
FAULT_KINDS: frozenset[str] = frozenset({"refuse", "hang", "500", "429", "slow", "401_once"})

# A dev receiver has no business buffering more than this; a larger Content-Length is a client bug.
MAX_BODY_BYTES = 64 * 1024 * 1024
# Width of one attribute value in render_sessions().
VALUE_WIDTH = 60
# How many key attributes a span line shows before "+N more".
MAX_SPAN_ATTRIBUTES = 8
MAX_ENRICHMENT_ITEMS = 6

_STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}
_KIND_NAMES = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf", ""})
_JSON_TYPES = frozenset({"application/json"})


@dataclass
class ReceivedRequest:
    """One HTTP request as the receiver saw it.

    ``status`` is the status it was answered with; 0 means it was never answered (a "hang" fault,
    or the receiver stopped first).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    received_at: float
    connection_id: int


@dataclass
class ReceivedSpan:
    """One decoded OTLP span, with attribute values as plain Python values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    status_code: str
    status_message: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    resource_attributes: dict[str, Any]
    request_index: int
    span_kind: str = "INTERNAL"
    scope_name: str = ""

    @property
    def session_id(self) -> str | None:
        """The HoneyHive session this span belongs to, if it carries one."""
        for key in ("honeyhive.session_id", "traceloop.association.properties.session_id"):
            value = self.attributes.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    @property
    def duration_ms(self) -> float:
        """End minus start, in milliseconds."""
        return (self.end_ns - self.start_ns) / 1e6


# --------------------------------------------------------------------------------------------
# OTLP decoding


def _any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return _kv_dict(value.kvlist_value.values)
    # string_value, bool_value, int_value, double_value, bytes_value map to str/bool/int/float/bytes.
    return getattr(value, which)


def _kv_dict(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in pairs}


_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _hex_ids_to_base64(node: Any) -> Any:
    """Rewrite hex trace/span ids to base64.

    OTLP/JSON carries ids as hex, while protobuf's JSON mapping reads bytes fields as base64. A hex id
    (16 or 32 digits) cannot be mistaken for the base64 of a valid id (12 or 24 characters), so
    bodies written either way are accepted.
    """
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str) and len(value) in (16, 32) and set(value) <= _HEX_DIGITS:
                out[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def decode_trace_request(body: bytes, content_type: str = "application/x-protobuf") -> list[ReceivedSpan]:
    """Decode an OTLP ``ExportTraceServiceRequest`` (protobuf or OTLP/JSON) into spans.

    ``request_index`` of the returned spans is -1; the receiver fills it in. Raises ValueError for a
    body that does not decode, or a content type that is neither protobuf nor JSON.
    """
    media = _media_type(content_type)
    message = ExportTraceServiceRequest()
    if media in _JSON_TYPES:
        try:
            document = json.loads(body) if body.strip() else {}
            if not isinstance(document, dict):
                raise ValueError("top level must be an object")
            json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
        except (ValueError, TypeError, json_format.ParseError) as exc:
            raise ValueError(f"invalid OTLP/JSON body: {exc}") from exc
    elif media in _PROTOBUF_TYPES:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise ValueError(f"invalid OTLP protobuf body: {exc}") from exc
    else:
        raise ValueError(f"unsupported content type {content_type!r}")

    spans: list[ReceivedSpan] = []
    for resource_spans in message.resource_spans:
        resource = _kv_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=_STATUS_NAMES.get(span.status.code, str(span.status.code)),
                        status_message=span.status.message,
                        attributes=_kv_dict(span.attributes),
                        events=[(event.name, _kv_dict(event.attributes)) for event in span.events],
                        resource_attributes=dict(resource),
                        request_index=-1,
                        span_kind=_KIND_NAMES.get(span.kind, str(span.kind)),
                        scope_name=scope_spans.scope.name,
                    )
                )
    return spans


# --------------------------------------------------------------------------------------------
# Request handling


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Outcome:
    """What a request is answered with, and what it adds to the record (only when status is 200)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    spans: list[ReceivedSpan] = field(default_factory=list)
    session_start: dict[str, Any] | None = None
    event_update: dict[str, Any] | None = None

    @classmethod
    def json(cls, status: int, document: Any, **kwargs: Any) -> _Outcome:
        return cls(status, json.dumps(document).encode(), **kwargs)

    @classmethod
    def error(cls, status: int, message: str, **kwargs: Any) -> _Outcome:
        return cls.json(status, {"error": message}, **kwargs)


@dataclass
class _Fault:
    kind: str
    delay_s: float
    path_prefix: str | None
    # Set when the fault is cleared or the receiver stops: releases "hang" handlers.
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, route: str) -> bool:
        return self.path_prefix is None or route.startswith(self.path_prefix)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise _HttpError(400, f"invalid JSON body: {exc}") from exc
    if not isinstance(document, dict):
        raise _HttpError(400, "JSON body must be an object")
    return document


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    disable_nagle_algorithm = True  # small answers must not wait for delayed ACKs
    server_version = "honeyhive-dev-receiver"

    def version_string(self) -> str:
        """The Server header: no Python version, which is noise here."""
        return self.server_version

    @property
    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the receiver records requests instead."""

    def do_POST(self) -> None:
        """Every method goes through one dispatcher, so that unknown routes are answered 404."""
        self._dispatch()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def _read_body(self, headers: Mapping[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        else:
            raw_length = headers.get("content-length", "0").strip() or "0"
            try:
                length = int(raw_length)
            except ValueError:
                raise _HttpError(400, f"bad Content-Length {raw_length!r}") from None
            if length < 0 or length > MAX_BODY_BYTES:
                raise _HttpError(413 if length > 0 else 400, f"bad Content-Length {length}")
            body = self.rfile.read(length)
            if len(body) != length:
                raise _HttpError(400, "connection closed before the body was complete")
        encoding = headers.get("content-encoding", "identity").strip().lower()
        try:
            if encoding == "gzip":
                return gzip.decompress(body)
            if encoding == "deflate":
                return zlib.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise _HttpError(400, f"bad {encoding} body: {exc}") from exc
        if encoding not in ("identity", ""):
            raise _HttpError(415, f"unsupported Content-Encoding {encoding!r}")
        return body

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _HttpError(400, "bad chunk size") from None
            if size == 0:
                # Skip trailers up to the blank line that ends the message.
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise _HttpError(413, "body too large")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise _HttpError(400, "connection closed inside a chunk")
            parts.append(chunk)
            self.rfile.readline(1024)

    def _dispatch(self) -> None:
        receiver = self._server.receiver
        headers = {key.lower(): value for key, value in self.headers.items()}
        request = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers=headers,
            body=b"",
            status=0,
            received_at=time.monotonic(),
            connection_id=self._server.connection_id(self.request),
        )
        try:
            try:
                request.body = self._read_body(headers)
            except _HttpError as exc:
                # The rest of the stream cannot be trusted, so answer and drop the connection.
                self._answer(request, _Outcome.error(exc.status, exc.message), close=True)
                return
            request.received_at = time.monotonic()
            route = urlsplit(self.path).path
            fault = receiver._take_fault(route)
            if fault is not None:
                if fault.kind == "hang":
                    # Recorded now so that tests can wait for the request to arrive.
                    receiver._record(request, None)
                    fault.released.wait()
                    self.close_connection = True
                    return
                if fault.kind == "slow":
                    if receiver._stopping.wait(fault.delay_s):
                        receiver._record(request, None)
                        self.close_connection = True
                        return
                elif fault.kind == "500":
                    self._answer(request, _Outcome.error(500, "injected fault: 500"))
                    return
                elif fault.kind == "429":
                    outcome = _Outcome.error(429, "injected fault: 429", headers=[("Retry-After", "1")])
                    self._answer(request, outcome)
                    return
                elif fault.kind == "401_once":
                    self._answer(request, _Outcome.error(401, "injected fault: 401"))
                    return
            self._answer(request, receiver._route(request, route))
        except OSError:
            # The client went away (or stop() shut the socket): nothing left to answer.
            self.close_connection = True
        except Exception as exc:  # the receiver must never crash on a request
            self.close_connection = True
            if request.status == 0:
                with contextlib.suppress(OSError):
                    self._answer(request, _Outcome.error(500, f"receiver error: {exc!r}"), close=True)

    def _answer(self, request: ReceivedRequest, outcome: _Outcome, *, close: bool = False) -> None:
        receiver = self._server.receiver
        # The delay stands in for the network round trip: it runs from the request's arrival, so this
        # receiver's own decoding (work HoneyHive does elsewhere, on other machines) hides inside it.
        wait_s = receiver.delay_ms / 1000.0 - (time.monotonic() - request.received_at)
        if wait_s > 0 and receiver._stopping.wait(wait_s):
            receiver._record(request, None)
            self.close_connection = True
            return
        request.status = outcome.status
        # Record before answering, so a client that has its answer also sees it in the record.
        receiver._record(request, outcome)
        self.send_response(outcome.status)
        self.send_header("Content-Type", outcome.content_type)
        self.send_header("Content-Length", str(len(outcome.body)))
        for name, value in outcome.headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if outcome.body:
            self.wfile.write(outcome.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], receiver: DevReceiver) -> None:
        self.receiver = receiver
        self._conn_lock = threading.Lock()
        self._conn_ids: dict[socket.socket, int] = {}
        self._handler_threads: set[threading.Thread] = set()
        self.accepted = 0
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can take seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        sock = cast(socket.socket, request)
        with self._conn_lock:
            self.accepted += 1
            self._conn_ids[sock] = self.accepted
            thread = threading.Thread(
                target=self._run_connection,
                args=(sock, client_address),
                name=f"hh-dev-receiver-conn-{self.accepted}",
                daemon=True,
            )
            self._handler_threads.add(thread)
        thread.start()

    def _run_connection(self, sock: socket.socket, client_address: Any) -> None:
        try:
            self.process_request_thread(sock, client_address)
        finally:
            with self._conn_lock:
                self._conn_ids.pop(sock, None)
                self._handler_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connection resets are routine for a receiver that injects faults; anything else is a bug
        # worth a traceback, but never worth stopping the server.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def connection_id(self, sock: Any) -> int:
        with self._conn_lock:
            return self._conn_ids.get(sock, 0)

    def close_connections(self) -> None:
        """Shut every open connection; handler threads then see EOF (or a failed write) and exit."""
        with self._conn_lock:
            socks = list(self._conn_ids)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def join_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._conn_lock:
            threads = list(self._handler_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


# --------------------------------------------------------------------------------------------
# The receiver


class DevReceiver:
    """A local HoneyHive-compatible HTTP receiver that records what it gets.

    Use as ``with DevReceiver() as rx: ...`` or ``rx = DevReceiver().start(); ...; rx.stop()``.
    Everything recorded lives in ``requests``, ``spans``, ``session_starts`` and ``event_updates``;
    read them under ``wait_for`` or after the client has its answer (requests are recorded before
    they are answered).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: set[str] | None = None,
        delay_ms: float = 0.0,
        jsonl_path: str | Path | None = None,
        on_spans: Callable[[list[ReceivedSpan]], None] | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self.api_keys: set[str] | None = set(api_keys) if api_keys is not None else None
        self.delay_ms: float = delay_ms
        self.jsonl_path: Path | None = Path(jsonl_path) if jsonl_path is not None else None
        self.on_spans = on_spans
        # When set, POST /session/start answers 200 with exactly this JSON body (the session is still
        # recorded): lets tests exercise clients against malformed or partial answers.
        self.session_response_override: dict[str, Any] | None = None

        self._cond = threading.Condition(threading.RLock())
        self.requests: list[ReceivedRequest] = []
        self.spans: list[ReceivedSpan] = []
        self.session_starts: list[dict[str, Any]] = []
        self.event_updates: list[dict[str, Any]] = []
        self._log: list[tuple[str, Any]] = []
        self._otlp_count = 0
        self._session_seen_ns: dict[str, int] = {}
        self._jsonl_warned = False
        self._fault: _Fault | None = None

        # Serialises start/stop/fault changes; never taken by handler threads.
        self._lifecycle = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._accept: tuple[threading.Thread, socket.socket, socket.socket] | None = None
        self._stopped = False

    # ---- lifecycle

    def start(self) -> DevReceiver:
        """Bind, listen and serve in a daemon thread; returns self."""
        with self._lifecycle:
            if self._server is not None or self._stopped:
                raise RuntimeError("DevReceiver can be started once")
            self._server = _Server((self._host, self._requested_port), self)
            self._server.socket.setblocking(False)
            self._start_accepting()
        return self

    def stop(self) -> None:
        """Stop serving, close every socket and release hanging handlers. Idempotent."""
        with self._lifecycle:
            if self._stopped:
                return
            self._stopped = True
            self._stopping.set()
            with self._cond:
                fault = self._fault
            if fault is not None:
                fault.released.set()
            server = self._server
            if server is None:
                return
            self._stop_accepting()
            server.close_connections()
            server.join_handlers(timeout=2.0)

    def __enter__(self) -> DevReceiver:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (stays the same across "refuse" faults)."""
        if self._server is None:
            raise RuntimeError("DevReceiver is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (what HH_API_URL should be set to)."""
        host = self._host if ":" not in self._host else f"[{self._host}]"
        return f"http://{host}:{self.port}"

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far (not reset by clear())."""
        return self._server.accepted if self._server is not None else 0

    def _start_accepting(self) -> None:
        assert self._server is not None
        wake_r, wake_w = socket.socketpair()
        thread = threading.Thread(
            target=accept_loop, args=(self._server, wake_r), name="hh-dev-receiver-accept", daemon=True
        )
        self._accept = (thread, wake_r, wake_w)
        thread.start()

    def _stop_accepting(self) -> None:
        """Stop the accept loop and close the listening socket, so new connections are refused."""
        assert self._server is not None
        if self._accept is not None:
            thread, wake_r, wake_w = self._accept
            self._accept = None
            with contextlib.suppress(OSError):
                wake_w.send(b"x")
            thread.join()
            wake_r.close()
            wake_w.close()
        self._server.socket.close()

    def _relisten(self) -> None:
        """Listen again on the same port after a "refuse" fault."""
        assert self._server is not None
        sock = socket.socket(self._server.address_family, socket.SOCK_STREAM)
        try:
            # The closed connections sit in TIME_WAIT on this port; SO_REUSEADDR lets us bind anyway.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(self._server.server_address)
            sock.listen(self._server.request_queue_size)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._server.socket = sock
        self._start_accepting()

    # ---- faults

    def set_fault(self, kind: FaultKind | str, *, delay_s: float = 1.0, path_prefix: str | None = None) -> None:
        """Inject a fault until clear_fault() ("401_once" clears itself after one request).

        ``path_prefix`` limits request-level faults to matching paths; ``delay_s`` is the "slow" delay.
        "refuse" closes the listening socket and every open connection.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        with self._lifecycle:
            if kind == "refuse" and (self._server is None or self._stopped):
                raise RuntimeError("a 'refuse' fault needs a running receiver")
            self._clear_fault_locked()
            with self._cond:
                self._fault = _Fault(kind, delay_s, path_prefix)
            if kind == "refuse":
                assert self._server is not None
                self._stop_accepting()
                self._server.close_connections()

    def clear_fault(self) -> None:
        """Back to normal: release hanging requests, and listen again after "refuse"."""
        with self._lifecycle:
            self._clear_fault_locked()

    def _clear_fault_locked(self) -> None:
        with self._cond:
            fault, self._fault = self._fault, None
        if fault is None:
            return
        fault.released.set()
        if fault.kind == "refuse" and not self._stopped:
            self._relisten()

    def _take_fault(self, route: str) -> _Fault | None:
        with self._cond:
            fault = self._fault
            if fault is None or fault.kind == "refuse" or not fault.matches(route):
                return None
            if fault.kind == "401_once":
                self._fault = None
            return fault

    # ---- routing (called from handler threads)

    def _authorized(self, header: str | None) -> bool:
        if self.api_keys is None:
            return True
        if header is None:
            return False
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        offered = token.strip().encode()
        # compare_digest for every key: the dev receiver should not teach timing-leaky habits.
        return any(hmac.compare_digest(offered, key.encode()) for key in self.api_keys)

    def _route(self, request: ReceivedRequest, route: str) -> _Outcome:
        if not self._authorized(request.headers.get("authorization")):
            return _Outcome.error(401, "missing or invalid API key")
        try:
            if route == SESSION_START_PATH and request.method == "POST":
                outcome = self._session_start(request.body)
                override = self.session_response_override
                if override is not None:
                    outcome.body = json.dumps(override).encode()
                return outcome
            if route == EVENTS_PATH and request.method == "PUT":
                body = _json_object(request.body)
                if not isinstance(body.get("event_id"), str):
                    raise _HttpError(400, "event_id (string) is required")
                return _Outcome.json(200, {"success": True}, event_update=body)
            if route == TRACES_PATH and request.method == "POST":
                return self._traces(request)
        except _HttpError as exc:
            return _Outcome.error(exc.status, exc.message)
        return _Outcome.error(404, f"no route for {request.method} {route}")

    @staticmethod
    def _session_start(body: bytes) -> _Outcome:
        document = _json_object(body)
        session = document.get("session")
        if not isinstance(session, dict):
            raise _HttpError(400, 'body must be {"session": {...}}')
        session_id = session.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            session_id = str(uuid.uuid4())
        # The stored dict carries the id that was handed out, so it can be matched with spans.
        stored = {**session, "session_id": session_id}
        answer = {
            "session_id": session_id,
            "event_id": session_id,
            "org_id": "local",
            "workspace_id": "local",
            "project_id": "local",
        }
        return _Outcome.json(200, answer, session_start=stored)

    @staticmethod
    def _traces(request: ReceivedRequest) -> _Outcome:
        content_type = request.headers.get("content-type", "")
        media = _media_type(content_type)
        if media not in _JSON_TYPES and media not in _PROTOBUF_TYPES:
            raise _HttpError(415, f"unsupported Content-Type {content_type!r}")
        try:
            spans = decode_trace_request(request.body, content_type)
        except ValueError as exc:
            raise _HttpError(400, str(exc)) from exc
        if media in _JSON_TYPES:
            return _Outcome(200, b"{}", "application/json", spans=spans)
        response = ExportTraceServiceResponse().SerializeToString()
        return _Outcome(200, response, "application/x-protobuf", spans=spans)

    # ---- recording

    def _record(self, request: ReceivedRequest, outcome: _Outcome | None) -> None:
        """Record a request and, when it was answered 200, its payload; wake every waiter."""
        new_spans: list[ReceivedSpan] = []
        with self._cond:
            self.requests.append(request)
            items: list[tuple[str, Any]] = [("request", request)]
            if urlsplit(request.path).path == TRACES_PATH:
                request_index = self._otlp_count
                self._otlp_count += 1
            else:
                request_index = -1
            if outcome is not None and outcome.status == 200:
                if outcome.session_start is not None:
                    self.session_starts.append(outcome.session_start)
                    self._session_seen_ns.setdefault(outcome.session_start["session_id"], time.time_ns())
                    items.append(("session_start", outcome.session_start))
                if outcome.event_update is not None:
                    self.event_updates.append(outcome.event_update)
                    items.append(("event_update", outcome.event_update))
                for span in outcome.spans:
                    span.request_index = request_index
                    self.spans.append(span)
                    items.append(("span", span))
                new_spans = outcome.spans
            self._log.extend(items)
            if self.jsonl_path is not None:
                self._append_jsonl(self.jsonl_path, items)
            self._cond.notify_all()
        if new_spans and self.on_spans is not None:
            try:
                self.on_spans(list(new_spans))
            except Exception as exc:  # a listener bug must not break the receiver
                print(f"hh dev receiver: on_spans failed: {exc!r}", file=sys.stderr)

    def _append_jsonl(self, path: Path, items: list[tuple[str, Any]]) -> None:
        try:
            with path.open("a", encoding="utf-8") as out:
                for kind, item in items:
                    out.write(self._jsonl_line(kind, item))
        except OSError as exc:
            if not self._jsonl_warned:
                self._jsonl_warned = True
                print(f"hh dev receiver: cannot write {path}: {exc}", file=sys.stderr)

    # ---- queries

    def wait_for(self, predicate: Callable[[DevReceiver], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(self)`` is true (checked on every record); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_for_spans(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``n`` spans have been recorded."""
        return self.wait_for(lambda rx: len(rx.spans) >= n, timeout)

    def spans_for_session(self, session_id: str) -> list[ReceivedSpan]:
        """Spans whose ``honeyhive.session_id`` is ``session_id``, in arrival order."""
        with self._cond:
            return [span for span in self.spans if span.session_id == session_id]

    def otlp_requests(self) -> list[ReceivedRequest]:
        """Requests to the OTLP traces path (faulted and rejected ones included)."""
        with self._cond:
            return [r for r in self.requests if urlsplit(r.path).path == TRACES_PATH]

    def clear(self) -> None:
        """Forget everything recorded (the connection count is kept)."""
        with self._cond:
            self.requests.clear()
            self.spans.clear()
            self.session_starts.clear()
            self.event_updates.clear()
            self._log.clear()
            self._otlp_count = 0
            self._session_seen_ns.clear()
            self._cond.notify_all()

    # ---- output

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers fit for printing: the Authorization credential (and any API key) become ``***``."""
        redacted: dict[str, str] = {}
        for name, value in headers.items():
            shown = value
            if name.lower() == "authorization":
                scheme, sep, _ = value.strip().partition(" ")
                shown = f"{scheme} ***" if sep else "***"
            elif self.api_keys and any(key and key in value for key in self.api_keys):
                shown = "***"
            redacted[name] = shown
        return redacted

    def _jsonl_line(self, kind: str, item: Any) -> str:
        record: dict[str, Any] = {"kind": kind}
        if isinstance(item, ReceivedRequest):
            record.update(
                method=item.method,
                path=item.path,
                headers=self.redact_headers(item.headers),
                status=item.status,
                received_at=item.received_at,
                connection_id=item.connection_id,
                body_bytes=len(item.body),
            )
        elif isinstance(item, ReceivedSpan):
            record.update(dataclasses.asdict(item))
            record["session_id"] = item.session_id
        else:
            record.update({key: value for key, value in item.items() if key != "kind"})
        return json.dumps(record, default=_json_default) + "\n"

    def dump_jsonl(self, path: str | Path) -> int:
        """Write every recorded item (requests, session starts, event updates, spans) as JSON lines.

        Returns the number of lines. Bytes become hex; Authorization headers are redacted.
        """
        with self._cond:
            lines = [self._jsonl_line(kind, item) for kind, item in self._log]
        Path(path).write_text("".join(lines), encoding="utf-8")
        return len(lines)

    def render_sessions(self, session_ids: Iterable[str] | None = None, *, include_unsessioned: bool = True) -> str:
        """Every session (or just ``session_ids``) as a text tree of its spans.

        Spans without a session id are listed last when ``include_unsessioned``.
        """
        with self._cond:
            spans = list(self.spans)
            starts = list(self.session_starts)
            updates = list(self.event_updates)
            seen = dict(self._session_seen_ns)
        return _render(
            spans,
            starts,
            updates,
            seen,
            None if session_ids is None else set(session_ids),
            include_unsessioned=include_unsessioned,
        )


# --------------------------------------------------------------------------------------------
# Rendering


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _short(value: Any, width: int = VALUE_WIDTH) -> str:
    """One-line text for a value, at most ``width`` characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, bytes):
        text = value.hex()
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = json.dumps(value, default=_json_default, ensure_ascii=False)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for key, item in value.items():
            out.extend(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, value)]


def _deep_merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _deep_merge(current, value)
        else:
            into[key] = dict(value) if isinstance(value, dict) else value


def _key_attributes(attributes: Mapping[str, Any]) -> list[str]:
    keys = [key for key in ("faas.coldstart", "honeyhive_error") if key in attributes]
    for prefix in ("honeyhive_inputs.", "honeyhive_outputs."):
        keys.extend(sorted(key for key in attributes if key.startswith(prefix)))
    return keys


def _span_line(span: ReceivedSpan, depth: int) -> str:
    event_type = span.attributes.get("honeyhive_event_type", "span")
    duration = span.duration_ms
    # Two decimals below 10 ms: in-process tool spans are often well under a millisecond.
    shown_duration = f"{duration:.2f}" if duration < 10 else f"{duration:.1f}"
    parts = [f"{'  ' * depth}{_short(event_type, 20)} {_short(span.name)}  {shown_duration} ms"]
    if span.status_code == "ERROR":
        parts.append(f"ERROR: {_short(span.status_message)}" if span.status_message else "ERROR")
    keys = _key_attributes(span.attributes)
    shown = [f"{key}={_short(span.attributes[key])}" for key in keys[:MAX_SPAN_ATTRIBUTES]]
    if len(keys) > MAX_SPAN_ATTRIBUTES:
        shown.append(f"+{len(keys) - MAX_SPAN_ATTRIBUTES} more")
    if shown:
        parts.append(" ".join(shown))
    return "  ".join(parts)


def _span_tree(spans: list[ReceivedSpan], depth: int) -> list[str]:
    def order(span: ReceivedSpan) -> tuple[int, str]:
        return (span.start_ns, span.span_id)

    known = {span.span_id for span in spans}
    children: dict[str | None, list[ReceivedSpan]] = {}
    for span in spans:
        # A parent that was not exported here (e.g. the platform's own span) makes this a root.
        parent = span.parent_span_id if span.parent_span_id in known else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=order)

    lines: list[str] = []
    printed: set[int] = set()

    def walk(span: ReceivedSpan, level: int) -> None:
        if id(span) in printed:  # duplicate span ids or parent cycles must not loop forever
            return
        printed.add(id(span))
        lines.append(_span_line(span, level))
        for child in children.get(span.span_id, []):
            walk(child, level + 1)

    for root in children.get(None, []):
        walk(root, depth)
    # Spans caught in a parent cycle have no root; show them rather than lose them.
    for span in sorted(spans, key=order):
        walk(span, depth)
    return lines


def _first_attribute(spans: Iterable[ReceivedSpan], key: str) -> Any:
    for span in spans:
        if key in span.attributes:
            return span.attributes[key]
    return None


def _session_header(
    session_id: str,
    start: Mapping[str, Any] | None,
    enrichment: Mapping[str, Any] | None,
    spans: list[ReceivedSpan],
) -> str:
    start = start or {}
    name = start.get("session_name") or _first_attribute(spans, "honeyhive.session_name")
    project = start.get("project") or _first_attribute(spans, "honeyhive.project")
    source = start.get("source") or _first_attribute(spans, "honeyhive.source")
    parts = [
        f"session {session_id}",
        f"name={_short(name) if name is not None else '-'}",
        f"project={_short(project) if project is not None else '-'}",
        f"source={_short(source) if source is not None else '-'}",
        f"spans={len(spans)}",
    ]
    errors = sum(1 for span in spans if span.status_code == "ERROR")
    if errors:
        parts.append(f"errors={errors}")
    if not start:
        parts.append("(no session start seen)")
    if enrichment:
        flat = _flatten(enrichment)
        shown = [f"{key}={_short(value)}" for key, value in flat[:MAX_ENRICHMENT_ITEMS]]
        if len(flat) > MAX_ENRICHMENT_ITEMS:
            shown.append(f"+{len(flat) - MAX_ENRICHMENT_ITEMS} more")
        parts.append("enriched: " + " ".join(shown))
    return "  ".join(parts)


def _render(
    spans: list[ReceivedSpan],
    starts: list[dict[str, Any]],
    updates: list[dict[str, Any]],
    seen_ns: Mapping[str, int],
    wanted: set[str] | None,
    *,
    include_unsessioned: bool,
) -> str:
    by_session: dict[str, list[ReceivedSpan]] = {}
    unsessioned: list[ReceivedSpan] = []
    for span in spans:
        session_id = span.session_id
        if session_id is None:
            unsessioned.append(span)
        else:
            by_session.setdefault(session_id, []).append(span)
    start_by_id: dict[str, dict[str, Any]] = {}
    for start in starts:
        start_by_id.setdefault(str(start["session_id"]), start)
    enrichment: dict[str, dict[str, Any]] = {}
    for update in updates:
        merged = enrichment.setdefault(str(update["event_id"]), {})
        _deep_merge(merged, {key: value for key, value in update.items() if key != "event_id"})

    session_ids = set(by_session) | set(start_by_id)
    if wanted is not None:
        session_ids &= wanted

    def order(session_id: str) -> tuple[int, str]:
        times = [span.start_ns for span in by_session.get(session_id, [])]
        if session_id in seen_ns:
            times.append(seen_ns[session_id])
        return (min(times) if times else 0, session_id)

    blocks: list[str] = []
    for session_id in sorted(session_ids, key=order):
        session_spans = by_session.get(session_id, [])
        lines = [_session_header(session_id, start_by_id.get(session_id), enrichment.get(session_id), session_spans)]
        lines.extend(_span_tree(session_spans, 1))
        blocks.append("\n".join(lines))
    if include_unsessioned and unsessioned:
        lines = [f"spans without a session id  spans={len(unsessioned)}"]
        lines.extend(_span_tree(unsessioned, 1))
        blocks.append("\n".join(lines))
    return "".join(block + "\n" for block in blocks)
