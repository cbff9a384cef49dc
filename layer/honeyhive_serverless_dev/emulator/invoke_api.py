"""Lambda's Invoke API in front of emulators, on 127.0.0.1: a client in another process invokes them as it
would deployed functions, with boto3's ``lambda`` client pointed at it (``endpoint_url=front.url``).

>>> with LambdaEmulator("app.handler", task_root=Path("src"), function_name="orders") as emulator, \\
...         InvokeApi(emulator) as front:                                       # doctest: +SKIP
...     client = boto3.client("lambda", endpoint_url=front.url, region_name="us-east-1")
...     client.invoke(FunctionName="orders", Payload=b'{"id": 7}')["Payload"].read()

``POST /2015-03-31/functions/{FunctionName}/invocations`` is answered as Lambda answers a synchronous
invoke. ``X-Amz-Invocation-Type: RequestResponse`` (the default): 200 with the function's response as
the runtime posted it; when the function failed (it raised, timed out or died), 200 with
``X-Amz-Function-Error: Unhandled`` and the error document. ``DryRun``: 204, nothing run.
``X-Amz-Client-Context`` (base64 of a JSON object) is the function's ``context.client_context``;
``X-Amz-Log-Type: Tail`` puts the last 4 KB of what the sandbox wrote during the invocation (as far as
it has arrived) in ``X-Amz-Log-Result``, base64. An empty body is the event ``{}``.

``FunctionName`` is an emulator's ``function_name``, or its ARN (full or partial); the qualifier, if
any, is ``$LATEST``. A request Lambda refuses gets Lambda's error (its ``x-amzn-ErrorType`` header and a
``{"Type", "message"}`` body, which boto3 raises as that error): an unknown function or qualifier
(ResourceNotFoundException, 404), a body that is not JSON or a bad client context
(InvalidRequestContentException, 400), a body over 6 MB (RequestTooLargeException, 413). ``Event``
invocations are not emulated (InvalidParameterValueException, 400).

Each request is answered on a thread of its own; an emulator runs one invocation at a time, so
concurrent invokes of one function wait their turn.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from ..serving import AcceptThread, ChunkedBodyError, read_chunked, shut_down
from .lambda_emulator import ACCOUNT_ID, LambdaEmulator

_INVOCATIONS = re.compile(r"/2015-03-31/functions/(?P<function>[^/]+)/invocations")
#: A function name as Invoke takes it: a name, a partial ARN or an ARN, with an optional qualifier.
_FUNCTION_NAME = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>[a-zA-Z0-9$_-]+))?"
)
#: Lambda's limit on a synchronous invoke's request payload.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
#: How much of the invocation's log ``X-Amz-Log-Type: Tail`` returns, as Lambda does.
LOG_TAIL_BYTES = 4096
LATEST = "$LATEST"


class _Refused(Exception):
    """An invoke Lambda refuses: its HTTP status, its error type and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


class InvokeApi:
    """Lambda's Invoke API for ``emulators`` (by ``function_name``), served from ``start()`` to ``stop()``.

    The emulators are started and stopped by their owner, not here.
    """

    def __init__(self, *emulators: LambdaEmulator) -> None:
        self.functions = {emulator.function_name: emulator for emulator in emulators}
        if len(self.functions) != len(emulators):
            raise ValueError("two emulators have the same function_name")
        self._server: _Server | None = None
        self._accept: AcceptThread | None = None

    def start(self) -> InvokeApi:
        """Listen on an ephemeral port of 127.0.0.1 and serve on a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("InvokeApi can be started once")
        self._server = _Server(self.functions)
        self._accept = AcceptThread(self._server, "lambda-invoke-api").start()
        return self

    def stop(self) -> None:
        """Stop accepting and shut every open connection (an invocation in flight still runs to its end)."""
        if self._accept is not None:
            self._accept.stop()
            self._accept = None
        if self._server is not None:
            self._server.server_close()
            self._server.close_connections()

    def __enter__(self) -> InvokeApi:
        return self.start() if self._server is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the ``endpoint_url`` of a Lambda client."""
        if self._server is None:
            raise RuntimeError("InvokeApi is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, functions: Mapping[str, LambdaEmulator]) -> None:
        self.functions = functions
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (or stop()) resets its connection: nothing to report

    def close_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        shut_down(connections)

    def emulator(self, function: str, qualifier: str | None) -> LambdaEmulator:
        """The emulator ``function`` (as Invoke's path names it) and ``qualifier`` name."""
        match = _FUNCTION_NAME.fullmatch(function)
        emulator = self.functions.get(match["name"]) if match is not None else None
        if (
            match is None
            or emulator is None
            or match["region"] not in (None, emulator.region)
            or match["account"] not in (None, ACCOUNT_ID)
            or (match["qualifier"] or qualifier or LATEST) != LATEST
        ):
            shown = f"{function}:{qualifier}" if qualifier else function
            raise _Refused(404, "ResourceNotFoundException", f"Function not found: {shown}")
        return emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # boto3 keeps its connection alive
    disable_nagle_algorithm = True

    @property
    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""

    def do_POST(self) -> None:
        """Every method goes through here, so that anything but an invoke is answered 404."""
        try:
            status, headers, body = self._invoke()
        except _Refused as refused:
            status, body = refused.status, json.dumps({"Type": "User", "message": refused.message}).encode()
            headers = {"x-amzn-ErrorType": refused.error_type, "Content-Type": "application/json"}
            # The rest of a refused request's body may be unread: the connection cannot carry another.
            self.close_connection = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def _invoke(self) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(self.path)
        route = _INVOCATIONS.fullmatch(parts.path)
        if route is None or self.command != "POST":
            raise _Refused(404, "UnknownOperationException", f"no route for {self.command} {parts.path}")
        qualifier = parse_qs(parts.query).get("Qualifier", [None])[-1]
        emulator = self._server.emulator(unquote(route["function"]), qualifier)
        invocation_type = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type not in ("RequestResponse", "DryRun"):
            raise _Refused(400, "InvalidParameterValueException", f"InvocationType {invocation_type} is not emulated")
        client_context = _client_context(self.headers.get("X-Amz-Client-Context"))
        event = self._payload()
        if invocation_type == "DryRun":
            return 204, {}, b""
        logged = len(emulator.logs)
        try:
            result = emulator.invoke(event, client_context=client_context)
        except ValueError as exc:  # a client context Lambda would refuse (over 3,583 bytes)
            raise _Refused(400, "InvalidRequestContentException", str(exc)) from None
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Executed-Version": LATEST,
            "X-Amzn-RequestId": result.request_id,
        }
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            # Lambda's tail is all the invocation logged: wait for the runtime to ask for its next event
            # (frozen then), so what it logged on the way out (an error's traceback) has been written.
            emulator.wait_frozen(timeout=2.0)
            tail = emulator.logs[logged:].encode()[-LOG_TAIL_BYTES:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        if result.error is not None:
            headers["X-Amz-Function-Error"] = "Unhandled"
            return 200, headers, json.dumps(result.error).encode()
        return 200, headers, result.response

    def _payload(self) -> bytes:
        """The request's body, the event: JSON of at most 6 MB (``{}`` when empty)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            try:
                body = read_chunked(self.rfile, MAX_PAYLOAD_BYTES)
            except ChunkedBodyError as exc:
                raise _Refused(exc.status, _too_large_or_invalid(exc.status), str(exc)) from None
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                raise _Refused(400, "InvalidRequestContentException", "bad Content-Length")
            if length > MAX_PAYLOAD_BYTES:
                raise _Refused(
                    413, "RequestTooLargeException", f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes"
                )
            body = self.rfile.read(length)
        if not body.strip():
            return b"{}"
        try:
            json.loads(body)
        except ValueError as exc:
            raise _Refused(
                400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            ) from None
        return body


def _too_large_or_invalid(status: int) -> str:
    return "RequestTooLargeException" if status == 413 else "InvalidRequestContentException"


def _client_context(header: str | None) -> dict[str, Any] | None:
    """An invoke's ``ClientContext``: base64 of a JSON object, decoded; None when it has none."""
    if not header:
        return None
    try:
        document = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):
        document = None
    if not isinstance(document, dict):
        raise _Refused(
            400, "InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON object"
        )
    return document
