"""HTTP request handling: the server, its handler, the injected faults, and what each HoneyHive route answers.

Every request is recorded before it is answered, so a client that has its answer also finds it in the
record. The server never imports the receiver: it is handed what it needs (the :class:`Settings` it
reads on every request, the :class:`Faults`, a stop event and ``record`` and ``idle_closed`` callbacks).

Like a load balancer in front of HoneyHive, it can serve TLS (the handshake on the connection's own
thread) and close a keep-alive connection left idle between requests.
"""

from __future__ import annotations

import contextlib
import gzip
import hmac
import json
import socket
import ssl
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal, Protocol, cast
from urllib.parse import urlsplit

from honeyhive_serverless.wire import EVENTS_PATH, OTLP_PATH, SESSION_START_PATH

from ..serving import ChunkedBodyError, QuickBindHTTPServer, read_chunked, shut_down
from .experiments import Runs
from .otlp import JSON_TYPES, PROTOBUF_TYPES, ReceivedSpan, decode_trace_request, export_response, media_type

FaultKind = Literal["refuse", "hang", "500", "429", "slow", "401_once", "403"]
FAULT_KINDS: frozenset[str] = frozenset({"refuse", "hang", "500", "429", "slow", "401_once", "403"})

# A dev receiver has no business buffering more than this; a larger Content-Length is a client bug.
MAX_BODY_BYTES = 64 * 1024 * 1024
# A client that connects and never completes the TLS handshake is dropped after this long.
HANDSHAKE_TIMEOUT_S = 10.0


@dataclass
class ReceivedRequest:
    """One HTTP request as the receiver saw it.

    ``status`` is the status it was answered with; 0 means it was never answered (a "hang" fault,
    or the receiver stopped first). ``connection_id`` numbers its TCP connection in the order accepted;
    ``new_connection`` is True for the first request a connection carried; ``tls_resumed`` tells whether
    that connection's TLS handshake resumed an earlier session (None over plain HTTP).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    received_at: float
    connection_id: int
    new_connection: bool
    tls_resumed: bool | None


class _HttpError(Exception):
    """A request answered with ``status`` and ``message`` instead of its route's answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Outcome:
    """What a request is answered with, and what it adds to the record (only when status is 200).

    ``routed``: the request reached one of HoneyHive's routes (past the API key and any fault), so the
    receiver holds it to HoneyHive's contract, whatever it was answered."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    spans: list[ReceivedSpan] = field(default_factory=list)
    session_start: dict[str, Any] | None = None
    event_update: dict[str, Any] | None = None
    routed: bool = False

    @classmethod
    def json(cls, status: int, document: Any, **kwargs: Any) -> Outcome:
        return cls(status, json.dumps(document).encode(), **kwargs)

    @classmethod
    def error(cls, status: int, message: str, **kwargs: Any) -> Outcome:
        return cls.json(status, {"error": message}, **kwargs)


class Settings(Protocol):
    """What the server reads of its receiver on every request (tests change these while it serves)."""

    api_keys: set[str] | None
    delay_ms: float
    connect_delay_ms: float
    session_response_override: dict[str, Any] | None
    runs: Runs

    def admits_update(self, event_id: str) -> bool:
        """Whether ``PUT /events`` for ``event_id`` is answered (a strict receiver refuses unknown events)."""
        ...


# ---- faults


@dataclass
class Fault:
    """An injected fault: its kind, the "slow" delay, and the paths it applies to (None: every path)."""

    kind: str
    delay_s: float
    path_prefix: str | None
    # Set when the fault is cleared or the receiver stops: releases "hang" handlers.
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, route: str) -> bool:
        return self.path_prefix is None or route.startswith(self.path_prefix)


class Faults:
    """The fault in force, if any: the receiver puts it in force and clears it, handler threads take it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: Fault | None = None

    def current(self) -> Fault | None:
        with self._lock:
            return self._fault

    def replace(self, fault: Fault | None) -> Fault | None:
        """Put ``fault`` in force (None: none); returns the one it replaces."""
        with self._lock:
            previous, self._fault = self._fault, fault
            return previous

    def take(self, route: str) -> Fault | None:
        """The request-level fault for ``route``, if any ("401_once" is taken once, then cleared)."""
        with self._lock:
            fault = self._fault
            if fault is None or fault.kind == "refuse" or not fault.matches(route):
                return None
            if fault.kind == "401_once":
                self._fault = None
            return fault


# ---- routes


#: HoneyHive's routes, by method and path.
ROUTES = frozenset({("POST", SESSION_START_PATH), ("PUT", EVENTS_PATH), ("POST", OTLP_PATH)})


def _respond(request: ReceivedRequest, route: str, settings: Settings) -> Outcome:
    """What HoneyHive's API answers ``request`` (its path is ``route``)."""
    if not _authorized(request.headers.get("authorization"), settings.api_keys):
        return Outcome.error(401, "missing or invalid API key")
    outcome = _route(request, route, settings)
    outcome.routed = (request.method, route) in ROUTES
    return outcome


def _route(request: ReceivedRequest, route: str, settings: Settings) -> Outcome:
    try:
        if route == SESSION_START_PATH and request.method == "POST":
            outcome = _session_start(request.body)
            override = settings.session_response_override
            if override is not None:
                outcome.body = json.dumps(override).encode()
            return outcome
        if route == EVENTS_PATH and request.method == "PUT":
            body = _json_object(request.body)
            event_id = body.get("event_id")
            if not isinstance(event_id, str):
                raise _HttpError(400, "event_id (string) is required")
            if not settings.admits_update(event_id):
                raise _HttpError(404, f"no event {event_id!r}: no session was started or auto-created with that id")
            return Outcome.json(200, {"success": True}, event_update=body)
        if route == OTLP_PATH and request.method == "POST":
            return _traces(request)
    except _HttpError as exc:
        return Outcome.error(exc.status, exc.message)
    answer = settings.runs.answer(request.method, request.path, request.body)
    if answer is not None:
        return Outcome.json(*answer)
    return Outcome.error(404, f"no route for {request.method} {route}")


def _authorized(header: str | None, api_keys: set[str] | None) -> bool:
    if api_keys is None:
        return True
    if header is None:
        return False
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    offered = token.strip().encode()
    # compare_digest for every key: the dev receiver should not teach timing-leaky habits.
    return any(hmac.compare_digest(offered, key.encode()) for key in api_keys)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise _HttpError(400, f"invalid JSON body: {exc}") from exc
    if not isinstance(document, dict):
        raise _HttpError(400, "JSON body must be an object")
    return document


def _session_start(body: bytes) -> Outcome:
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
    return Outcome.json(200, answer, session_start=stored)


def _traces(request: ReceivedRequest) -> Outcome:
    content_type = request.headers.get("content-type", "")
    media = media_type(content_type)
    if media not in JSON_TYPES and media not in PROTOBUF_TYPES:
        raise _HttpError(415, f"unsupported Content-Type {content_type!r}")
    try:
        spans = decode_trace_request(request.body, content_type)
    except ValueError as exc:
        raise _HttpError(400, str(exc)) from exc
    body, response_type = export_response(media)
    return Outcome(200, body, response_type, spans=spans)


# ---- HTTP


@dataclass(eq=False)
class Connection:
    """One accepted TCP connection: its number, the socket its handler reads (the TLS one once wrapped),
    whether its handshake resumed a session, and how many requests it has carried."""

    id: int
    sock: socket.socket
    tls_resumed: bool | None = None
    requests: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    disable_nagle_algorithm = True  # small answers must not wait for delayed ACKs
    server_version = "honeyhive-dev-receiver"

    def version_string(self) -> str:
        """The Server header: no Python version, which is noise here."""
        return self.server_version

    @property
    def _server(self) -> Server:
        return cast(Server, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the receiver records requests instead."""

    def handle_one_request(self) -> None:
        """Wait at most the idle timeout for the next request to start, then read and answer it with no
        timeout at all: only an idle connection is closed, never one a request is in flight on."""
        idle_timeout_s = self._server.idle_timeout_s
        if idle_timeout_s is not None:
            self.connection.settimeout(idle_timeout_s)
            try:
                # Buffered bytes (a pipelined request) count at once; otherwise one read that waits.
                started = self.rfile.peek(1)  # type: ignore[attr-defined]
            except TimeoutError:
                self.close_connection = True
                self._server.idle_closed()
                return
            except OSError:
                self.close_connection = True
                return
            self.connection.settimeout(None)
            if not started:  # the client closed it
                self.close_connection = True
                return
        super().handle_one_request()

    def do_POST(self) -> None:
        """Every method goes through one dispatcher, so that unknown routes are answered 404."""
        self._dispatch()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def _read_body(self, headers: Mapping[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            try:
                body = read_chunked(self.rfile, MAX_BODY_BYTES)
            except ChunkedBodyError as exc:
                raise _HttpError(exc.status, str(exc)) from None
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

    def _dispatch(self) -> None:
        server = self._server
        headers = {key.lower(): value for key, value in self.headers.items()}
        connection = server.connection_of(self.request)
        connection.requests += 1
        request = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers=headers,
            body=b"",
            status=0,
            received_at=time.monotonic(),
            connection_id=connection.id,
            new_connection=connection.requests == 1,
            tls_resumed=connection.tls_resumed,
        )
        try:
            try:
                request.body = self._read_body(headers)
            except _HttpError as exc:
                # The rest of the stream cannot be trusted, so answer and drop the connection.
                self._answer(request, Outcome.error(exc.status, exc.message), close=True)
                return
            request.received_at = time.monotonic()
            route = urlsplit(self.path).path
            fault = server.faults.take(route)
            if fault is not None:
                if fault.kind == "hang":
                    # Recorded now so that tests can wait for the request to arrive.
                    server.record(request, None)
                    fault.released.wait()
                    self.close_connection = True
                    return
                if fault.kind == "slow":
                    if server.stopping.wait(fault.delay_s):
                        server.record(request, None)
                        self.close_connection = True
                        return
                elif fault.kind == "500":
                    self._answer(request, Outcome.error(500, "injected fault: 500"))
                    return
                elif fault.kind == "429":
                    outcome = Outcome.error(429, "injected fault: 429", headers=[("Retry-After", "1")])
                    self._answer(request, outcome)
                    return
                elif fault.kind == "401_once":
                    self._answer(request, Outcome.error(401, "injected fault: 401"))
                    return
                elif fault.kind == "403":  # a key HoneyHive knows but that may not do this
                    self._answer(request, Outcome.error(403, "injected fault: 403"))
                    return
            self._answer(request, _respond(request, route, server.settings))
        except OSError:
            # The client went away (or stop() shut the socket): nothing left to answer.
            self.close_connection = True
        except Exception as exc:  # the receiver must never crash on a request
            self.close_connection = True
            if request.status == 0:
                with contextlib.suppress(OSError):
                    self._answer(request, Outcome.error(500, f"receiver error: {exc!r}"), close=True)

    def _answer(self, request: ReceivedRequest, outcome: Outcome, *, close: bool = False) -> None:
        server = self._server
        # The delay stands in for the network round trip: it runs from the request's arrival, so this
        # receiver's own decoding (work HoneyHive does elsewhere, on other machines) hides inside it.
        wait_s = server.settings.delay_ms / 1000.0 - (time.monotonic() - request.received_at)
        if wait_s > 0 and server.stopping.wait(wait_s):
            server.record(request, None)
            self.close_connection = True
            return
        request.status = outcome.status
        # Record before answering, so a client that has its answer also sees it in the record.
        server.record(request, outcome)
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


class Server(QuickBindHTTPServer):
    """A thread per connection, each numbered in the order it was accepted.

    ``tls``: serve HTTPS with this server-side context. ``idle_timeout_s``: close a connection on which no
    request has started for that long, calling ``idle_closed`` for each.
    """

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        settings: Settings,
        faults: Faults,
        stopping: threading.Event,
        record: Callable[[ReceivedRequest, Outcome | None], None],
        idle_closed: Callable[[], None],
        tls: ssl.SSLContext | None = None,
        idle_timeout_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.faults = faults
        self.stopping = stopping
        self.record = record
        self.idle_closed = idle_closed
        self.tls = tls
        self.idle_timeout_s = idle_timeout_s
        self._conn_lock = threading.Lock()
        # By the socket its handler is given: the accepted one, or the TLS socket wrapping it.
        self._connections: dict[socket.socket, Connection] = {}
        self._handler_threads: set[threading.Thread] = set()
        self.accepted = 0
        super().__init__(address, _Handler)

    def listen_again(self) -> None:
        """Listen again on the same port, after the listening socket was closed (a "refuse" fault)."""
        sock = socket.socket(self.address_family, socket.SOCK_STREAM)
        try:
            # The closed connections sit in TIME_WAIT on this port; SO_REUSEADDR lets us bind anyway.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(self.server_address)
            sock.listen(self.request_queue_size)
        except OSError:
            sock.close()
            raise
        self.socket = sock

    def process_request(self, request: Any, client_address: Any) -> None:
        sock = cast(socket.socket, request)
        with self._conn_lock:
            self.accepted += 1
            connection = Connection(self.accepted, sock)
            self._connections[sock] = connection
            thread = threading.Thread(
                target=self._run_connection,
                args=(connection, client_address),
                name=f"hh-dev-receiver-conn-{self.accepted}",
                daemon=True,
            )
            self._handler_threads.add(thread)
        thread.start()

    def _run_connection(self, connection: Connection, client_address: Any) -> None:
        try:
            # A new connection's round trips (TCP's, and TLS's handshake): the client waits this long in the
            # handshake, or, over plain HTTP, for the answer to its first request.
            delay_s = self.settings.connect_delay_ms / 1000.0
            if delay_s > 0 and self.stopping.wait(delay_s):
                self.shutdown_request(connection.sock)
                return
            if self.tls is None or self._handshake(connection):
                self.process_request_thread(connection.sock, client_address)
        finally:
            with self._conn_lock:
                self._connections.pop(connection.sock, None)
                self._handler_threads.discard(threading.current_thread())

    def _handshake(self, connection: Connection) -> bool:
        """Wrap the connection in TLS and complete the handshake (on its own thread, so a slow or failing
        client never holds up the accept loop); False, the connection closed, when it fails."""
        assert self.tls is not None
        with self._conn_lock:
            # Re-keyed under the lock: close_connections() always finds the socket the fd now belongs to.
            del self._connections[connection.sock]
            sock = self.tls.wrap_socket(connection.sock, server_side=True, do_handshake_on_connect=False)
            connection.sock = sock
            self._connections[sock] = connection
        try:
            sock.settimeout(HANDSHAKE_TIMEOUT_S)
            sock.do_handshake()
            sock.settimeout(None)
        except OSError:  # an untrusted certificate, a plain-HTTP client, a timeout, or stop()
            self.shutdown_request(sock)
            return False
        connection.tls_resumed = sock.session_reused
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connection resets are routine for a receiver that injects faults; anything else is a bug
        # worth a traceback, but never worth stopping the server.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def connection_of(self, sock: Any) -> Connection:
        """The connection a handler's socket belongs to (registered until its thread ends)."""
        with self._conn_lock:
            return self._connections[sock]

    def close_connections(self) -> None:
        """Shut every open connection; handler threads then see EOF (or a failed write) and exit."""
        with self._conn_lock:
            socks = list(self._connections)
        shut_down(socks)

    def join_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._conn_lock:
            threads = list(self._handler_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
