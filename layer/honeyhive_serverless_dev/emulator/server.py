"""The HTTP server a sandbox talks to: Lambda's Runtime API and Extensions API, on 127.0.0.1.

The runtime client asks for its next event, posts responses and errors; extensions register and ask
for theirs. Each connection belongs to the sandbox that existed when it was accepted, so one left
over from a killed sandbox never takes an event or registers an extension for the next one. A
request that waits (``/invocation/next``, ``/event/next``) waits on the slot's condition, on its
handler thread.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..serving import read_chunked, shut_down
from .layers import is_external_extension
from .sandbox import Extension, InvocationResult, Slot

RUNTIME_API = "/2018-06-01/runtime"
INVOCATION_ID_HEADER = "Lambda-Runtime-Invocation-Id"
EXTENSION_API = "/2020-01-01/extension"
#: The most of a streamed (chunked) response the emulator buffers: far above anything a test streams.
STREAMED_RESPONSE_MAX_BYTES = 256 * 1024 * 1024
EXTENSION_EVENTS = frozenset({"INVOKE", "SHUTDOWN"})
_RESULT_PATH = re.compile(re.escape(RUNTIME_API) + r"/invocation/(?P<id>[^/]+)/(?P<kind>response|error)")


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json_answer(status: int, document: Any, headers: Mapping[str, str] | None = None) -> _Answer:
    return _Answer(status, json.dumps(document).encode(), dict(headers or {}))


def _error_answer(status: int, error_type: str, message: str) -> _Answer:
    return _json_answer(status, {"errorType": error_type, "errorMessage": message})


_ACCEPTED = _json_answer(202, {"status": "OK"})


def _error_document(body: bytes, error_type: str | None) -> dict[str, Any]:
    """The error a runtime or extension posted; the type header fills in a body that lacks one."""
    try:
        document = json.loads(body) if body else {}
    except ValueError:
        document = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(document, dict):
        document = {"errorMessage": document}
    document.setdefault("errorType", error_type or "Unknown")
    return document


def _decode_payload(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection alive
    # Headers and body go out in separate writes: with Nagle on, each answer waits ~40 ms for the
    # client's delayed ACK.
    disable_nagle_algorithm = True
    server: ApiServer

    def version_string(self) -> str:
        return "hh-lambda-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # A streamed response (Lambda-Runtime-Function-Response-Mode: streaming): it is complete, and
            # the invocation answered, when its last chunk arrives. Trailers (a streamed error) are skipped.
            self._dispatch(read_chunked(self.rfile, STREAMED_RESPONSE_MAX_BYTES))
            return
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length) if length > 0 else b"")

    def _dispatch(self, body: bytes) -> None:
        generation = self.server.generation_of(self.connection)
        path = urlsplit(self.path).path
        answer = self.server.route(self.command, path, self.headers, body, generation)
        if answer is None:  # the sandbox this connection belongs to is gone
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)


class Function(Protocol):
    """What the APIs tell of the function they serve (the emulator's attributes, read as they are)."""

    handler: str
    function_name: str
    function_arn: str
    # The merged layers: an extension named like a file in their ``extensions/`` directory is external,
    # and only external extensions may register for SHUTDOWN.
    opt_dir: Path | None


class ApiServer(ThreadingHTTPServer):
    """The Runtime and Extensions APIs of ``function``, for the sandboxes of ``slot``."""

    daemon_threads = True

    def __init__(self, slot: Slot, function: Function) -> None:
        self.slot = slot
        self.function = function
        self._lock = threading.Lock()
        self._generations: dict[socket.socket, int] = {}
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Each connection belongs to the sandbox that existed when it was accepted (the previous one is
        # reaped before the next starts).
        with self._lock:
            self._generations[request] = self.slot.generation
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._generations.pop(request, None)
        super().shutdown_request(request)

    def generation_of(self, connection: socket.socket) -> int:
        with self._lock:
            return self._generations.get(connection, -1)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sandbox killed mid-request resets its connections; nothing to report

    def close_connections(self) -> None:
        with self._lock:
            connections = list(self._generations)
        shut_down(connections)

    # ---- the APIs (called on handler threads); None: the connection's sandbox is gone, drop it

    def route(self, method: str, path: str, headers: Message, body: bytes, generation: int) -> _Answer | None:
        if method == "GET":
            if path == f"{RUNTIME_API}/invocation/next":
                return self._runtime_next(generation)
            if path == f"{EXTENSION_API}/event/next":
                return self._extension_next(generation, headers.get("Lambda-Extension-Identifier", ""))
            if path == f"{RUNTIME_API}/restore/next":
                return _Answer(200)  # SnapStart: "restored" at once, in the same process
        elif method == "POST":
            match = _RESULT_PATH.fullmatch(path)
            if match:
                return self._runtime_result(generation, match["id"], match["kind"] == "error", headers, body)
            if path in (f"{RUNTIME_API}/init/error", f"{RUNTIME_API}/restore/error"):
                return self._init_error(
                    generation, _error_document(body, headers.get("Lambda-Runtime-Function-Error-Type"))
                )
            if path == f"{EXTENSION_API}/init/error":
                error_type = headers.get("Lambda-Extension-Function-Error-Type")
                return self._init_error(generation, _error_document(body, error_type))
            if path == f"{EXTENSION_API}/register":
                return self._register(generation, headers.get("Lambda-Extension-Name", ""), body)
        return _error_answer(404, "InvalidRequest", f"no such endpoint: {method} {path}")

    def _runtime_next(self, generation: int) -> _Answer | None:
        slot = self.slot
        with slot.cond:
            sandbox = slot.current(generation)
            if sandbox is None:
                return None
            sandbox.initialised = True
            sandbox.runtimes_waiting += 1
            sandbox.note_ready()
            sandbox.freeze_if_done()
            slot.cond.notify_all()
            # Under Managed Instances several workers wait here at once: each event goes to one of them.
            slot.wait(lambda: slot.sandbox is not sandbox or bool(sandbox.queued), None)
            sandbox.runtimes_waiting -= 1
            if slot.sandbox is not sandbox or not sandbox.queued:
                return None
            pending = sandbox.queued.popleft()
            sandbox.current = pending
            sandbox.in_flight[pending.request_id] = pending
            pending.delivered_at = time.monotonic()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": pending.request_id,
            "Lambda-Runtime-Deadline-Ms": str(pending.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function.function_arn,
            "Lambda-Runtime-Trace-Id": pending.trace_id,
        }
        if pending.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = pending.client_context
        if pending.tenant_id is not None:
            headers["Lambda-Runtime-Aws-Tenant-Id"] = pending.tenant_id
        if pending.invocation_id is not None:
            headers[INVOCATION_ID_HEADER] = pending.invocation_id
        return _Answer(200, pending.body, headers)

    def _runtime_result(
        self, generation: int, request_id: str, is_error: bool, headers: Message, body: bytes
    ) -> _Answer | None:
        now = time.monotonic()
        with self.slot.cond:
            sandbox = self.slot.current(generation)
            if sandbox is None:
                return None
            pending = sandbox.in_flight.get(request_id)
            if pending is None or pending.invocation_id != headers.get(INVOCATION_ID_HEADER, pending.invocation_id):
                return _error_answer(400, "InvalidRequestID", f"no invocation {request_id} in progress")
            del sandbox.in_flight[request_id]
            if pending.invocation is not None:
                # Managed Instances: the deadline passed and the invocation failed, its code went on.
                return _error_answer(403, "InvalidStateTransition", f"invocation {request_id} already failed")
            assert pending.delivered_at is not None
            if is_error:
                payload = None
                error: dict[str, Any] | None = _error_document(body, headers.get("Lambda-Runtime-Function-Error-Type"))
            else:
                payload, error = _decode_payload(body), None
            duration_ms = (now - pending.delivered_at) * 1000
            pending.invocation = InvocationResult(
                request_id,
                payload,
                error,
                pending.cold,
                pending.init_ms,
                duration_ms,
                now,
                sandbox_pid=sandbox.pid,
                extensions_next_at=pending.extensions_next_at,
                response=b"" if is_error else body,
            )
            self.slot.cond.notify_all()
        return _ACCEPTED

    def _init_error(self, generation: int, error: dict[str, Any]) -> _Answer | None:
        with self.slot.cond:
            sandbox = self.slot.current(generation)
            if sandbox is None:
                return None
            if sandbox.init_done_at is not None:
                return _error_answer(403, "InvalidStateTransition", "the init phase is over")
            sandbox.init_error = error
            self.slot.cond.notify_all()
        return _ACCEPTED

    def _register(self, generation: int, name: str, body: bytes) -> _Answer | None:
        if not name:
            return _error_answer(400, "InvalidRequest", "the Lambda-Extension-Name header is required")
        try:
            events = json.loads(body or b"{}").get("events", [])
        except (ValueError, AttributeError):
            return _error_answer(400, "InvalidRequest", "the body must be a JSON object like {'events': [...]}")
        if not isinstance(events, list) or not set(events) <= EXTENSION_EVENTS:
            return _error_answer(400, "Extension.InvalidEventType", f"events must be among {sorted(EXTENSION_EVENTS)}")
        if "SHUTDOWN" in events and not is_external_extension(self.function.opt_dir, name):
            return _error_answer(400, "Extension.InvalidEventType", "internal extensions may not register for SHUTDOWN")
        with self.slot.cond:
            sandbox = self.slot.current(generation)
            if sandbox is None:
                return None
            if sandbox.initialised:
                return _error_answer(403, "Extension.RegistrationError", "extensions register during the init phase")
            extension = Extension(str(uuid.uuid4()), name, frozenset(events))
            sandbox.extensions[extension.identifier] = extension
            self.slot.cond.notify_all()
        function = self.function
        document = {"functionName": function.function_name, "functionVersion": "$LATEST", "handler": function.handler}
        return _json_answer(200, document, {"Lambda-Extension-Identifier": extension.identifier})

    def _extension_next(self, generation: int, identifier: str) -> _Answer | None:
        arrived_at = time.monotonic()
        slot = self.slot
        with slot.cond:
            sandbox = slot.current(generation)
            if sandbox is None:
                return None
            extension = sandbox.extensions.get(identifier)
            if extension is None:
                return _error_answer(403, "Extension.UnknownExtensionIdentifier", f"unknown extension {identifier!r}")
            extension.arrived(arrived_at)
            sandbox.note_ready()
            sandbox.freeze_if_done()
            slot.cond.notify_all()
            slot.wait(lambda: slot.sandbox is not sandbox or bool(extension.queue), None)
            extension.waiting = False
            if slot.sandbox is not sandbox or not extension.queue:
                return None
            event = extension.queue.popleft()
            slot.cond.notify_all()
        return _json_answer(200, event, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})
